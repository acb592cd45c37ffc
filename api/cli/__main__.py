"""`python -m api.cli`: the `custody` command."""

import sys

from api.cli import main

if __name__ == "__main__":  # not when a worker process (`verify --store`) imports it again
    sys.exit(main())
