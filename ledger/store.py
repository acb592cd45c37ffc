"""Small reads of the log the library does not offer, for the two stores we support."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier


@lru_cache(maxsize=64)
def _on_log(template: str, schema: str, table: str) -> bytes:
    """A statement on the log table, rendered once (psycopg renders a composed statement on
    every execution)."""
    return SQL(template).format(Identifier(schema), Identifier(table)).as_bytes()


def _pg(recorder: PostgresApplicationRecorder, template: str) -> bytes:
    return _on_log(template, recorder.datastore.schema, recorder.events_table_name)


def log_head(recorder: ApplicationRecorder) -> int:
    """The highest log position, in one query (the library's method retries for seconds)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = _pg(recorder, "SELECT MAX(notification_id) FROM {}.{}")
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, prepare=True)
            row = curs.fetchone()
            value = None if row is None else next(iter(row.values()))
            return int(value or 0)
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(f"SELECT MAX(rowid) FROM {recorder.events_table_name}")
            row = curs.fetchone()
            return int(row[0] or 0) if row else 0
    raise TypeError(f"unsupported recorder {type(recorder).__name__}")


def position_of(recorder: ApplicationRecorder, originator_id: UUID, version: int) -> int | None:
    """The global log position of one stored event, or None if it is not stored."""
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = _pg(
            recorder,
            "SELECT notification_id FROM {}.{} WHERE originator_id = %s AND originator_version = %s",
        )
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id, version), prepare=True)
            row = curs.fetchone()
            return None if row is None else int(row["notification_id"])
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(
                f"SELECT rowid FROM {recorder.events_table_name} "
                "WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, version),
            )
            row = curs.fetchone()
            return None if row is None else int(row[0])
    raise TypeError(f"unsupported recorder {type(recorder).__name__}")


def stored_streams(
    recorder: ApplicationRecorder, ids: Iterable[UUID]
) -> dict[UUID, list[StoredEvent]]:
    """The stored events of several streams, oldest first, in one query per 500 streams (the
    library reads one stream per query). A stream with no events maps to an empty list."""
    wanted = list(dict.fromkeys(ids))
    out: dict[UUID, list[StoredEvent]] = {i: [] for i in wanted}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        if isinstance(recorder, PostgresApplicationRecorder):
            statement = _pg(
                recorder,
                "SELECT originator_id, originator_version, topic, state FROM {}.{} "
                "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version",
            )
            with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(statement, (chunk,), prepare=True)
                rows = [tuple(r.values()) for r in curs.fetchall()]
        elif isinstance(recorder, SQLiteApplicationRecorder):
            marks = ", ".join(["?"] * len(chunk))
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {recorder.events_table_name} WHERE originator_id IN ({marks}) "
                    "ORDER BY originator_id, originator_version",
                    tuple(i.hex for i in chunk),
                )
                rows = [tuple(r) for r in curs.fetchall()]
        else:
            raise TypeError(f"unsupported recorder {type(recorder).__name__}")
        for oid, version, topic, state in rows:
            aid = oid if isinstance(oid, UUID) else UUID(str(oid))
            out[aid].append(StoredEvent(aid, int(version), topic, bytes(state)))
    return out
