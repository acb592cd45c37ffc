"""Backfill speed (issue 5): `import` of a JSON Lines file vs one append per event.

Three ways to load the same history (registrations, then handovers across the accounts), all
under the same rules:
  http    one HTTP request per event, in order, against `custody serve` (the way a client
          without `import` would load it; the server projects as it goes), until a read of
          the last account written shows the read models caught up;
  single  one `register_account`/`append` call (one transaction) per event, in-process, read
          models left behind (the library's own single-append rate: the stricter baseline);
  import  `custody import`'s path: everything checked, then written in one transaction, then
          the read models brought up to date, as the command does before it returns.
Runs on SQLite and PostgreSQL. Every measurement starts from its own copy of the same store,
first an empty one, then one holding --preload events (imported once, read models up to date;
an SQLite file copied, a PostgreSQL database made from a template), so no method runs on a
store grown by another's events, and the second start shows what the store's size costs each.
The methods' order turns each round; medians reported.

    python bench/bench_import.py [--accounts 500] [--handovers 10] [--rounds 3] [--preload 55000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from bench_http import Connection, Server
from psycopg.sql import SQL, Identifier

from api.bootstrap import build
from ledger.backfill import import_file
from ledger.commands import AssignHolder, Holder, RegisterAccount
from ledger.settings import Settings

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/"
T0 = datetime(2015, 1, 1, tzinfo=UTC)


def lines(accounts: int, handovers: int, tag: str) -> Iterator[dict[str, object]]:
    """Registrations of `accounts` accounts, then `handovers` rounds of a new holder on each."""
    ids = [str(uuid.uuid4()) for _ in range(accounts)]
    for n, aid in enumerate(ids):
        yield {"type": "account_registered", "account_id": aid, "platform": "x",
               "handle": f"{tag}{n}", "office": f"office-{n}", "effective_at": T0.isoformat()}  # fmt: skip
    for k in range(handovers):
        for n, aid in enumerate(ids):
            yield {"type": "holder_assigned", "account_id": aid,
                   "holder": {"id": f"p{n}-{k}", "name": f"Person {n} {k}"},
                   "effective_at": (T0 + timedelta(days=k + 1)).isoformat()}  # fmt: skip


def write_history(path: Path, accounts: int, handovers: int, tag: str) -> None:
    """`lines(...)` as a JSON Lines file that `custody import` reads, written line by line (a
    million lines are never held at once)."""
    with path.open("w", encoding="utf-8") as out:
        for line in lines(accounts, handovers, tag):
            out.write(json.dumps(line) + "\n")


def single(url: str, accounts: int, handovers: int, tag: str) -> float:
    """Events per second, one `register_account`/`append` call (one transaction) per event."""
    c = build(Settings(database_url=url))
    ledger = c.ledger
    t = time.perf_counter()
    ids = [
        ledger.register_account(
            RegisterAccount(
                platform="x", handle=f"{tag}{n}", office=f"office-{n}", effective_at=T0
            ),
            actor="bench",
        ).account_id
        for n in range(accounts)
    ]
    for k in range(handovers):
        for n, aid in enumerate(ids):
            ledger.append(
                aid,
                AssignHolder(
                    holder=Holder(id=f"p{n}-{k}", name=f"Person {n} {k}"),
                    effective_at=T0 + timedelta(days=k + 1),
                ),
                actor="bench",
            )
    seconds = time.perf_counter() - t
    c.close()
    return accounts * (handovers + 1) / seconds


def over_http(url: str, accounts: int, handovers: int, tag: str, folder: Path) -> float:
    """Events per second, one request per event from one client, in file order."""
    c = build(Settings(database_url=url))
    try:
        token = c.access.issue(f"bench-{tag.strip('_')}", "admin")
    finally:
        c.close()
    server = Server(url, folder / f"serve-{tag}.log", 1)
    try:
        server.wait_ready()
        ids: dict[str, str] = {}
        with Connection(server.base_url, {"Authorization": f"Bearer {token}"}) as client:
            started = time.perf_counter()
            for line in lines(accounts, handovers, tag):
                body = {k: v for k, v in line.items() if k not in ("type", "account_id")}
                if line["type"] == "account_registered":
                    status, text = client.post("/v1/accounts", body)
                    ids[str(line["account_id"])] = json.loads(text)["account_id"]
                else:
                    path = f"/v1/accounts/{ids[str(line['account_id'])]}/events"
                    status, text = client.post(path, {"type": line["type"], **body})
                if status != 201:
                    raise RuntimeError(f"HTTP {status}: {text[:300]!r}")
                last = ids[str(line["account_id"])]
            # Done when the read models hold it all, as import is: the server's projector may be
            # behind the last request. A read of the last account written waits for it (or, on
            # the embedded store, applies the log itself), as any client's next read would.
            status, text = client.get(f"/v1/accounts/{last}", {})
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {text[:300]!r}")
            while json.loads(client.get("/health", {})[1]).get("lag", 1):  # 503: no lag field
                time.sleep(0.005)
            seconds = time.perf_counter() - started
    finally:
        server.stop()
    return accounts * (handovers + 1) / seconds


def imported(url: str, accounts: int, handovers: int, tag: str, folder: Path) -> float:
    """Events per second of `custody import`'s path, read models included."""
    path = folder / f"{tag}.jsonl"
    write_history(path, accounts, handovers, tag)
    c = build(Settings(database_url=url))
    t = time.perf_counter()
    report = import_file(c.ledger, path, actor="bench", catch_up=c.catch_up_import)
    seconds = time.perf_counter() - t
    assert c.projector.lag() == 0 and report.behind is None
    c.close()
    return report.written / seconds


class Stores:
    """Every measurement starts from its own copy of the same store: empty, or holding a
    preloaded history (imported once, read models up to date). So no method runs on a store
    that another method's events have grown, and the two starts show how size matters."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.run = uuid.uuid4().hex[:8]
        self.databases: list[str] = []  # PostgreSQL databases made here, dropped at the end
        self.n = 0

    def _pg(self, sql: str, *names: str) -> None:
        with psycopg.connect(PG_SERVER + "postgres", autocommit=True) as conn:
            conn.execute(SQL(sql).format(*map(Identifier, names)))

    def template(self, store: str, events: int, accounts: int, handovers: int) -> str | None:
        """The start holding `events` events (None: the empty start)."""
        if events == 0:
            return None
        per_account = handovers + 1
        path = self.folder / "preload.jsonl"
        write_history(path, -(-events // per_account), handovers, "pre_")
        if store == "sqlite":
            name = str(self.folder / "template.db")
            url = f"sqlite:///{name}"
        else:
            name = f"bench_import_{self.run}_template"
            self._pg("CREATE DATABASE {}", name)
            self.databases.append(name)
            url = PG_SERVER + name
        c = build(Settings(database_url=url))
        try:
            import_file(c.ledger, path, actor="bench", catch_up=c.catch_up_import)
            assert c.projector.lag() == 0
        finally:
            c.close()  # the last SQLite connection checkpoints the WAL into the file
        if store == "pg":  # as autovacuum would leave it (it may be off on a test server)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM (ANALYZE)")
        return name

    def fresh(self, store: str, template: str | None) -> str:
        """The URL of a new store, a copy of `template` (or empty)."""
        self.n += 1
        if store == "sqlite":
            path = self.folder / f"store{self.n}.db"
            if template is not None:
                shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        name = f"bench_import_{self.run}_{self.n}"
        self._pg("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY", name,
                 template or "template0")  # fmt: skip
        self.databases.append(name)
        return PG_SERVER + name

    def discard(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        else:
            name = url.rsplit("/", 1)[1]
            self._pg("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            self.databases.remove(name)

    def close(self) -> None:
        failed = []
        for name in reversed(self.databases):
            try:
                self._pg("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            except psycopg.Error as e:
                failed.append(f"{name}: {e}")
        if failed:
            raise RuntimeError("could not drop " + "; ".join(failed))


METHODS = ("http", "single", "import")


def measure(method: str, url: str, args: argparse.Namespace, folder: Path) -> float:
    """Events per second of one way of loading the history into the store at `url`."""
    a, h = args.accounts, args.handovers
    if method == "http":
        return over_http(url, a, h, "h_", folder)
    if method == "single":
        return single(url, a, h, "s_")
    return imported(url, a, h, "i_", folder)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--handovers", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3,
                    help="a multiple of 3: each method then goes first equally often")  # fmt: skip
    ap.add_argument("--preload", type=int, default=55_000,
                    help="events in the larger start (0: measure on empty stores only)")  # fmt: skip
    args = ap.parse_args()
    per_account = args.handovers + 1  # the preload is whole accounts' histories
    starts = [0, -(-args.preload // per_account) * per_account] if args.preload else [0]
    # results[start][store][method]: events/s per round
    results: dict[int, dict[str, dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stores = Stores(folder)
        try:
            for events in starts:
                templates = {
                    s: stores.template(s, events, args.accounts, args.handovers)
                    for s in ("pg", "sqlite")
                }
                results[events] = {s: {m: [] for m in METHODS} for s in templates}
                for r in range(args.rounds):
                    for store, template in templates.items():
                        # The order of the methods turns each round: a slow spell hits all.
                        turn = r % len(METHODS)
                        for method in METHODS[turn:] + METHODS[:turn]:
                            url = stores.fresh(store, template)
                            try:
                                rate = measure(method, url, args, folder)
                            finally:
                                stores.discard(url)
                            results[events][store][method].append(rate)
        finally:
            stores.close()
    n = args.accounts * (args.handovers + 1)
    print(f"\nbackfill of {n:,} events, median of {args.rounds} rounds, each method on a fresh"
          " copy of the start")  # fmt: skip
    print(f"{'start':<14}{'store':<8}{'http/s':>8}{'single/s':>10}{'import/s':>10}"
          f"{'vs http':>9}{'per round':>13}{'vs single':>11}")  # fmt: skip
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for events, by_store in results.items():
        start = f"{events:,} events" if events else "empty"
        for store, rates in by_store.items():
            med = {m: statistics.median(v) for m, v in rates.items()}
            ratios = [i / h for i, h in zip(rates["import"], rates["http"], strict=True)]
            summary.setdefault(start, {})[store] = med
            print(
                f"{start:<14}{store:<8}{med['http']:>8,.0f}{med['single']:>10,.0f}"
                f"{med['import']:>10,.0f}{med['import'] / med['http']:>8.1f}x"
                f"{min(ratios):>7.1f}-{max(ratios):>4.1f}x{med['import'] / med['single']:>10.1f}x"
            )
    print(
        "target (issue 5): import >= 10x one HTTP request per event, the 'vs http' column;"
        " 'vs single' is the stricter in-process baseline (import/s includes the read models)"
    )
    print(json.dumps({"events": n, "medians": summary, "rounds": results}))


if __name__ == "__main__":
    main()
