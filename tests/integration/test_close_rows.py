"""Withdrawing rows of a bitemporal table (`Db.close_rows`): one statement on PostgreSQL, a
statement per row on SQLite, the same rows closed at the same times on both."""

from __future__ import annotations

from ledger.application import CustodyLedger
from projections.db import Db
from projections.findings import FINDINGS
from projections.models import Segments

SEGMENTS = Segments.table


def _known_to(db: Db, table: str, column: str) -> dict[tuple[str, str], int | None]:
    query = db.sql(f"SELECT {column}, row_key, known_to FROM {{t}}", t=table)
    return {(str(s), str(k)): t for s, k, t in db.fetchall(query)}


def test_the_open_rows_named_are_closed_at_their_times_the_first_naming_one_twice_wins(
    store_ledger: CustodyLedger,
) -> None:
    db = Db(store_ledger.recorder)
    for table, column in ((SEGMENTS, "account_id"), (FINDINGS, "office")):
        name = f"close_{table.name}"
        with db.transaction() as curs:
            db.execute(curs, table.ddl(db, name))
            row: list[object] = [None] * len(table.columns)
            at = {c: i for i, c in enumerate(table.columns)}
            rows = []
            for stream, key, known_to in (
                ("a", "k1", None), ("a", "k2", None), ("b", "k1", None),
                ("b", "k2", 5),  # closed already: stays as it was
            ):  # fmt: skip
                row[at[column]], row[at["row_key"]], row[at["known_to"]] = stream, key, known_to
                rows.append(tuple(row))
            db.insert_rows(curs, name, table.columns, rows)
        with db.transaction() as curs:
            closes = [(10, "a", "k1"), (11, "b", "k1"), (12, "a", "k1"), (13, "b", "k2")]
            db.close_rows(curs, name, column, closes)
        assert _known_to(db, name, column) == {
            ("a", "k1"): 10,  # named twice: closed by the first
            ("a", "k2"): None,  # not named
            ("b", "k1"): 11,
            ("b", "k2"): 5,
        }
