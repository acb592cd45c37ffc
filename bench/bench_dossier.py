"""Dossiers and changes at scale on PostgreSQL (issue 20), service level and over HTTP.

Records through the ledger an account of 1,000 events whose custody in a window changes 50
times, and a dispute about that window; bulk-loads generated histories around them
(`bench_queries.load`: 10 events per account), rebuilds the read models and integrates the
verifiable log (signed checkpoints), then times, at a small and a large store in the same run:
the custody changes for the window (50 versions) and the JSON dossier of the dispute (every
event with its inclusion proof, the answers at each change), in process and over HTTP against
`custody serve`. The small store is the baseline: the ratio says what the store's size costs.

    python bench/bench_dossier.py                       # 10k vs 1M events (about 10 minutes)
    python bench/bench_dossier.py --accounts 10000      # 10k vs 100k events
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from bench_http import Connection, Server
from bench_queries import PG, load, rebuild_in_subprocess, timed
from psycopg.sql import SQL, Identifier

from api.bootstrap import build
from api.http.dossier_schemas import dossier_body
from ledger.commands import AssignHolder, Holder, ObserveAudience, RegisterAccount
from ledger.dispute_commands import OpenDispute
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key

EVENTS = 1_000
VERSIONS = 50
START = datetime(2031, 1, 1, tzinfo=UTC)  # after every generated history
WINDOW = (START + timedelta(days=400), START + timedelta(days=400 + VERSIONS + 1))
ORIGIN = "bench.example/dossier"


def record_subjects(settings: Settings) -> tuple[uuid.UUID, uuid.UUID]:
    """The 1,000-event account and a dispute about the window; their ids."""
    c = build(settings)
    ledger, actor = c.ledger, "bench"
    # A personal account that speaks for no office: an office's findings would be evaluated
    # at each of its 1,000 record times by a rebuild, which is not what this measures (and
    # which, in one transaction, outlasts PostgreSQL's idle-in-transaction timeout: see the
    # closing note of issue 20).
    account = ledger.register_account(
        RegisterAccount(platform="x", handle="@BenchDossier", ownership="personal",
                        owner=Holder(id="bench-owner", name="Bench Owner"), effective_at=START),
        actor=actor,
    ).account_id  # fmt: skip
    # Audience observations before and after the window (they change no custody) and one
    # handover a day in it: the window's custody has 50 versions, the stream 1,000 events.
    before = (EVENTS - 1 - VERSIONS) // 2
    for n in range(before):
        when = START + timedelta(hours=n * 20)
        ledger.append(account, ObserveAudience(followers=n, effective_at=when), actor=actor)
    for n in range(VERSIONS):
        when = WINDOW[0] + timedelta(days=n, hours=12)
        ledger.append(account, AssignHolder(holder=_who(n), effective_at=when), actor=actor)
    for n in range(EVENTS - 1 - VERSIONS - before):
        when = WINDOW[1] + timedelta(days=n)
        ledger.append(account, ObserveAudience(followers=1000 + n, effective_at=when), actor=actor)
    dispute = ledger.open_dispute(
        OpenDispute.parse(
            {
                "subject": {"account_id": str(account)},
                "window": {"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()},
                "claim": "The handovers in this window are recorded on the wrong days.",
            }
        ),
        actor=actor,
    ).account_id
    c.close()
    return account, dispute


def _who(n: int) -> Holder:
    return Holder(id=f"bench-holder-{n}", name=f"Bench Holder {n}")


def integrate(settings: Settings) -> float:
    """Integrate the whole log into the tree and sign a checkpoint; the seconds it took."""
    started = time.perf_counter()
    c = build(settings)
    assert c.integrator is not None and c.checkpointer is not None
    while c.integrator.integrate():
        pass
    c.checkpointer.checkpoint()
    c.close()
    return time.perf_counter() - started


def measure(
    settings: Settings, account: uuid.UUID, dispute: uuid.UUID, samples: int
) -> dict[str, dict[str, float]]:
    """p50 and p99 of each answer, in process and over HTTP (`custody serve`, one worker)."""
    c = build(settings)
    window = {"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()}
    service: dict[str, Callable[[], Any]] = {
        "custody changes": lambda: c.queries.custody_changes(account, *WINDOW),
        # Serialised as the door serialises it (orjson).
        "dossier (JSON)": lambda: orjson.dumps(dossier_body(c.dossiers.for_dispute(dispute))),
    }
    body = dossier_body(c.dossiers.for_dispute(dispute))
    assert len(body["changes"]["versions"]) == VERSIONS, len(body["changes"]["versions"])
    assert len(body["events"]) == EVENTS and body["proof"] is not None
    out = {
        f"{name}, service": timed(ask, samples, warm=max(samples // 10, 5))
        for name, ask in service.items()
    }
    c.close()
    server = Server(str(settings.database_url), Path(tempfile.mktemp(suffix=".log")), 1)
    try:
        server.wait_ready()
        server.settle()
        with Connection(server.base_url, {}) as http:
            paths = {
                "custody changes": (f"/v1/accounts/{account}/custody/changes", window),
                "dossier (JSON)": (f"/v1/disputes/{dispute}/dossier", {}),
            }
            for name, (path, params) in paths.items():

                def ask(path: str = path, params: dict[str, str] = params) -> None:
                    status, _ = http.get(path, params)
                    assert status == 200, status

                out[f"{name}, HTTP"] = timed(ask, samples, warm=max(samples // 10, 5))
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--accounts", type=int, default=100_000, help="accounts at the large size")
    ap.add_argument("--small", type=int, default=1_000, help="accounts at the small size")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--url", default=PG)
    args = ap.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="bench-dossier-"))
    create_key(folder / "log.key", ORIGIN)
    # `custody serve` (a subprocess) reads its settings from the environment, as this does.
    os.environ.update(
        CUSTODY_LOG_KEY_FILE=str(folder / "log.key"),
        CUSTODY_LOG_ORIGIN=ORIGIN,
        CUSTODY_PUBLIC_READS="true",
        CUSTODY_READ_WAIT_SECONDS="120",
    )
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(schema)))
    url = f"{args.url}?schema={schema}"
    settings = Settings(database_url=url)
    report: dict[str, Any] = {}
    try:
        account, dispute = record_subjects(settings)
        events = EVENTS + 1 + load(url, 0, args.small)
        rebuild_in_subprocess(url)
        report["integrate_small_s"] = integrate(settings)
        report["small"] = {"events": events, **measure(settings, account, dispute, args.samples)}
        events += load(url, args.small, args.accounts - args.small)
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(
                SQL("ANALYZE {}.{}").format(Identifier(schema), Identifier("custody_events"))
            )
        rebuild_in_subprocess(url)
        report["integrate_large_s"] = integrate(settings)
        report["large"] = {"events": events, **measure(settings, account, dispute, args.samples)}
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(schema)))
    small, large = report["small"], report["large"]
    print(f"\n{VERSIONS} versions in the window, a dossier of {EVENTS:,} events; "
          f"{small['events']:,} vs {large['events']:,} events in the store (PostgreSQL)")  # fmt: skip
    head = ("answer", "p50 small", "p99 small", "p50 large", "p99 large", "p50 ratio")
    print(f"{head[0]:<26}" + "".join(f"{h:>11}" for h in head[1:]))
    for name in (k for k in small if k != "events"):
        s, g = small[name], large[name]
        cells = [s["p50_ms"], s["p99_ms"], g["p50_ms"], g["p99_ms"]]
        ratio = g["p50_ms"] / s["p50_ms"]
        print(f"{name:<26}" + "".join(f"{v:>9.2f}ms" for v in cells) + f"{ratio:>11.2f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
