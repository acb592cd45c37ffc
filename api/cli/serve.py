"""`custody serve`, `custody project` and `custody rebuild`: running the ledger."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from api.bootstrap import DemoRefused, build, load_demo
from api.cli.common import (
    EXIT_OK,
    EXIT_PORT_IN_USE,
    EXIT_USAGE,
    GLOBAL,
    cannot_listen,
    opened,
    progress,
    settings_of,
)
from projections.catalogue import BY_NAME
from projections.rebuild import Rebuilder


def serve(args: argparse.Namespace) -> int:
    """Run the API (and the read-model worker in-process unless told otherwise).

    With several workers (PostgreSQL only; by default one per CPU there) uvicorn serves from
    them and this process supervises them and runs the read-model worker, so projecting never
    competes with requests for one interpreter lock. The embedded SQLite store is served by
    one process.
    """
    # The web server is imported by the one command that serves: every other command starts
    # without it (a third of a second).
    import uvicorn

    from api.http.app import create_app

    overrides: dict[str, Any] = {}
    if args.public_reads:
        overrides["public_reads"] = True
    if args.no_worker:
        overrides["embedded_projections"] = False
    settings = settings_of(args, **overrides)
    postgres = settings.store().kind == "postgres"
    if args.workers is None:
        args.workers = (os.cpu_count() or 1) if postgres else 1
    if args.workers < 1:
        print("custody serve: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    if not 0 <= args.port <= 65535:
        print("custody serve: --port must be 0 to 65535", file=sys.stderr)
        return EXIT_USAGE
    if args.port and (busy := cannot_listen(args.host, args.port)) is not None:
        print(f"custody serve: {busy}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    if args.workers > 1 and not postgres:
        print(
            "custody serve: --workers > 1 needs PostgreSQL (CUSTODY_DATABASE_URL=postgresql://...);"
            " the embedded SQLite store is served by one process",
            file=sys.stderr,
        )
        return EXIT_USAGE
    container = build(settings)
    try:  # the app's lifespan closes it too; closing twice is harmless
        if args.demo:
            try:
                print(f"demo: {load_demo(container)}", file=sys.stderr)
            except DemoRefused as e:
                print(f"custody serve: {e.detail}", file=sys.stderr)
                return EXIT_USAGE
        print(
            f"custody serve: {container.settings.store().description} on "
            f"http://{args.host}:{args.port}/"
            + (f" ({args.workers} worker processes)" if args.workers > 1 else ""),
            file=sys.stderr,
        )
        if args.workers == 1:
            app = create_app(container=container, run_worker=not args.no_worker)
            try:
                uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
            except SystemExit as e:
                if e.code != 3:
                    raise
                # uvicorn has logged why it could not listen; its status 3 means the store here.
                return EXIT_USAGE
            return EXIT_OK
        # The worker processes build their own containers from the same settings, through the
        # environment (Settings reads CUSTODY_*); they wait for this process to project.
        settings.export_to_environment(embedded_projections=False, supervisor_pid=os.getpid())
        if not args.no_worker:
            container.start_worker()
        uvicorn.run(
            "api.http.app:create_serving_app",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="warning",
        )
    finally:
        container.close()
    return EXIT_OK


def project(args: argparse.Namespace) -> int:
    """Follow the log and keep the read models up to date until interrupted."""
    with opened(args) as container:
        container.projector.embedded = False
        print(
            f"custody project: following {container.settings.store().description} "
            f"(lag {container.projector.lag()}); Ctrl-C to stop",
            file=sys.stderr,
        )
        if args.once:
            applied = container.projector.catch_up()
            print(f"applied {applied} events; lag {container.projector.lag()}")
            return EXIT_OK
        container.start_worker()
        stopping: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
        try:
            while not stopping:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def rebuild(args: argparse.Namespace) -> int:
    """Rebuild one read model (or all) from the log, switching it in atomically."""
    names = list(dict.fromkeys(args.names)) or None  # each once, in the order given
    unknown = [n for n in names or () if n not in BY_NAME]
    if unknown:
        print(
            f"unknown read model(s): {', '.join(unknown)}; choose from {', '.join(BY_NAME)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    which = ",".join(names) if names else "all"
    with opened(args) as container, progress(f"rebuild {which}") as bar:
        started = time.monotonic()
        position = Rebuilder(container.projector).rebuild(names, progress=bar)
    took = time.monotonic() - started
    print(f"rebuilt {which} up to log position {position} in {took:.1f}s")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    s = sub.add_parser("serve", parents=[GLOBAL], help="run the HTTP API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--public-reads", action="store_true", help="let GETs through without a token")
    s.add_argument(
        "--no-worker",
        action="store_true",
        help="a separate `custody project` keeps the read models",
    )
    s.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data first, into a store without custody events (tokens may be "
        "there); a store that already holds the demo starts as it is",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        help="API worker processes; more than one needs PostgreSQL, and the read-model worker "
        "then runs in the supervising process (default: one per CPU on PostgreSQL, one on "
        "SQLite, where one process serves and projects)",
    )
    s.set_defaults(func=serve)

    s = sub.add_parser(
        "project", parents=[GLOBAL], help="run the read-model worker (follows the log)"
    )
    s.add_argument("--once", action="store_true", help="catch up once and exit")
    s.set_defaults(func=project)

    s = sub.add_parser("rebuild", parents=[GLOBAL], help="rebuild read models from the log")
    s.add_argument("names", nargs="*", metavar="NAME", help="read model(s); all when omitted")
    s.set_defaults(func=rebuild)
