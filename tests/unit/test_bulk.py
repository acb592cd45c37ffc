"""The collector pause nests, spans threads, and restores what it found."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from ledger.bulk import collector_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_resumes_only_when_the_last_section_ends() -> None:
    inner_started, outer_may_end = threading.Event(), threading.Event()
    seen = []

    def other() -> None:
        with collector_paused():
            inner_started.set()
            outer_may_end.wait(5)
        seen.append(gc.isenabled())

    with collector_paused():
        assert not gc.isenabled()
        worker = threading.Thread(target=other)
        worker.start()
        assert inner_started.wait(5)
    assert not gc.isenabled()  # the other thread's section is still running
    outer_may_end.set()
    worker.join(5)
    assert seen == [True] and gc.isenabled()


def test_a_collector_that_was_off_stays_off_and_errors_still_resume() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("bulk work failed")
    assert gc.isenabled()
