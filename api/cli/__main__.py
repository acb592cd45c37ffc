"""`python -m api.cli`: the `custody` command."""

import sys

from api.cli import main

sys.exit(main())
