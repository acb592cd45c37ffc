"""`verify --store` hands chunks to worker processes and checks others itself while the one
due is not ready. Whatever the workers' pace, every chunk is checked once and the results come
in chunk order, with no more than a few held back (a pool stands in for the processes here,
its results ready when the schedule drawn says, then never: taken only when due)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.tlog import audit
from projections.tlog.audit import Checked, Chunk


class _Result:
    def __init__(self, value: Checked, ready: Callable[[], bool]) -> None:
        self.value, self._ready = value, ready

    def ready(self) -> bool:
        return self._ready()

    def get(self) -> Checked:
        return self.value


class _Pool:
    def __init__(self, ready: Iterator[bool]) -> None:
        self.ready, self.given = ready, list[int]()

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def apply_async(self, func: Callable[[Chunk], Checked], args: tuple[Chunk]) -> _Result:
        self.given.append(args[0].start)
        return _Result(func(*args), lambda: next(self.ready, False))


def _checked(chunk: Chunk) -> Checked:
    return Checked([chunk.start.to_bytes(4, "big")])


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(0, 40),
    processes=st.integers(2, 5),
    ready=st.lists(st.booleans(), max_size=200),
)
def test_every_chunk_is_checked_once_and_comes_in_order(
    count: int, processes: int, ready: list[bool]
) -> None:
    chunks = [Chunk(i * 4, i * 4 + 4, i * 10, i * 10 + 9, 2) for i in range(count)]
    pool = _Pool(iter(ready))
    here: list[int] = []

    def check_here(db: Any, mapper: Any, chunk: Chunk) -> Checked:
        here.append(chunk.start)
        return _checked(chunk)

    class Context:
        def Pool(self, workers: int, **kwargs: Any) -> _Pool:  # the library's name
            assert workers == processes - 1
            return pool

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "PARALLEL_FROM", 0)
        patch.setattr(audit.multiprocessing, "get_context", lambda method: Context())
        patch.setattr(audit, "check_chunk", check_here)
        patch.setattr(audit, "_check_in_worker", _checked)
        out = []
        for checked in audit._checked(None, None, chunks, "postgresql://x", processes):  # type: ignore[arg-type]
            out.append(checked.levels[0])
            # Not checked before it was due more than a few chunks ahead.
            assert len(here) + len(pool.given) <= len(out) + 6 * processes
    assert out == [c.start.to_bytes(4, "big") for c in chunks]
    assert sorted(here + pool.given) == [c.start for c in chunks]  # each once, somewhere
