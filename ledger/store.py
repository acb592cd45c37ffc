"""Small reads of the log the library does not offer, for the two stores we support."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier


def log_head(recorder: ApplicationRecorder) -> int:
    """The highest log position, in one query (the library's method retries for seconds)."""
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = SQL("SELECT MAX(notification_id) FROM {}.{}").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
        )
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
        statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE originator_id = %s AND originator_version = %s"
        ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
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
