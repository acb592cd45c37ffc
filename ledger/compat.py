"""Every use of a private name of a library we depend on, in one place.

Each hook leans on something the library does not promise (a private method or attribute, a
marker its own code reads). `tests/unit/test_compat.py` has a test per hook that fails with the
hook's name when the library renames or changes what it leans on; the version pins in
`pyproject.toml` are the first line of defence, those tests the second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg.errors
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import Recording
from psycopg import Connection
from psycopg_pool import ConnectionPool

F = TypeVar("F", bound=Callable[..., Any])


def save_aggregates(
    app: Application[UUID],
    aggregates: Iterable[Any],
    *,
    order: Sequence[tuple[UUID, int]] | None = None,
) -> tuple[list[Recording[UUID]], Mapping[UUID, Any]]:
    """eventsourcing's `Application.save`, without its per-object runtime Protocol checks
    (`ProcessingEvent.collect_events` asks each object whether it is an aggregate or an event;
    everything the ledger saves is an aggregate). Built on the steps `save` itself takes:
    `_record`, `_take_snapshots`, `_notify`. Returns the recordings and the aggregates saved.
    `order` lists (stream, version) pairs: those events are recorded in that order, the others
    (index streams) after them, each stream's events still in version order."""
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    if order:
        rank = {key: i for i, key in enumerate(order)}
        last = len(rank)
        processing.events.sort(
            key=lambda e: rank.get((e.originator_id, e.originator_version), last)
        )
    recordings = app._record(processing)
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings, processing.aggregates


def undecorated(method: F) -> F:
    """The function under eventsourcing's `@retry` decorator (kept by `functools.wraps` as
    `__wrapped__`), to wrap it in a retry policy of our own instead."""
    return method.__wrapped__  # type: ignore[attr-defined, no-any-return]


def replace_pool_check(
    pool: ConnectionPool[Any],
    check: Callable[[Connection[Any]], None],
    *,
    replacing: Callable[[Connection[Any]], None],
) -> bool:
    """Swap the connection check psycopg_pool runs before handing out a connection (the
    `check` argument it keeps as `_check`), if it is `replacing`. False, and the pool keeps its
    own check, if the attribute is not there or holds something else."""
    if getattr(pool, "_check", None) is not replacing:
        return False
    pool._check = check
    return True


def as_pydantic_init(init: F) -> F:
    """Mark a `BaseModel.__init__` override as pydantic's own, so that pydantic builds nested
    values of the model without calling it (it reads `__pydantic_base_init__` to decide)."""
    init.__pydantic_base_init__ = True  # type: ignore[attr-defined]
    return init


_ORIGIN = re.compile(r"originator_id '(?P<stream>[^']*)' and originator_version (?P<version>\d+)")


def mapper_error_origin(error: BaseException) -> tuple[str, int] | None:
    """The stream and version eventsourcing's `MapperDeserialisationError` names, which it says
    only in its message (`... originator_id 'ID' and originator_version N: ...`); None if the
    message does not say them."""
    found = _ORIGIN.search(str(error))
    return (found["stream"], int(found["version"])) if found else None


# psycopg's wait functions raise this private exception when the timeout they were given
# expires (`Connection.wait(gen, interval, timeout)`); `ledger.pgbounds` turns it into NoAnswer.
WAIT_TIMEOUT: type[Exception] = psycopg.errors._WaitTimeout


def bound_pool(
    pool: ConnectionPool[Any],
    *,
    connection_class: type[Connection[Any]],
    kwargs: Mapping[str, Any],
    reconnect_timeout: float,
) -> None:
    """Change, before it opens, how a pool eventsourcing built makes connections: of
    `connection_class`, with `kwargs` added to its connection parameters, and giving up
    reconnecting after `reconnect_timeout`. psycopg_pool takes these as constructor arguments
    only; it reads them, as the attributes `connection_class`, `kwargs` and
    `reconnect_timeout`, each time it connects."""
    assert isinstance(pool.kwargs, dict), "eventsourcing passes the pool a dict of kwargs"
    pool.connection_class = connection_class
    pool.kwargs.update(kwargs)
    pool.reconnect_timeout = reconnect_timeout
