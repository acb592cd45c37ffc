"""`custody verify --store` on a large store checks its chunks in worker processes beside its
own: the same outcome as one process, a finding in a later chunk named as precisely, on both
stores. The chunks and the threshold are made small here so that the demo spans several."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import Container, build
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key
from projections.tlog import audit
from projections.tlog.store import NODES, node_key
from tests.support import POTUS_OBAMA, stored_state

ORIGIN = "test.example/log"


@pytest.fixture
def signed(demo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.setattr(audit, "CHUNK_LEVEL", 2)
    monkeypatch.setattr(audit, "PARALLEL_FROM", 10)
    key = tmp_path / "log.key"
    create_key(key, ORIGIN)
    container = build(Settings(database_url=demo_url, log_key_file=key, log_origin=ORIGIN))
    assert container.integrator is not None and container.checkpointer is not None
    container.integrator.integrate()
    container.checkpointer.checkpoint()
    try:
        yield container
    finally:
        container.close()


def run(container: Container, processes: int) -> audit.Audit:
    assert container.log is not None
    return audit.audit_store(
        container.ledger,
        container.log,
        None,
        database_url=container.settings.database_url,
        processes=processes,
    )


def test_worker_processes_check_the_demo_as_one_process_does(
    signed: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    pools: list[int] = []
    context = audit.multiprocessing.get_context("spawn")

    class Counted:
        def Pool(self, processes: int, **kwargs: Any) -> Any:  # the library's name
            pools.append(processes)
            return context.Pool(processes, **kwargs)

    monkeypatch.setattr(audit.multiprocessing, "get_context", lambda method: Counted())
    alone = run(signed, 1)
    assert pools == []  # one process: no pool
    shared = run(signed, 3)
    assert pools == [2]  # this process checks chunks beside two workers
    assert alone.finding is None and shared.finding is None
    assert (shared.entries, shared.nodes, shared.checkpoints) == (43, 82, 1)
    assert (alone.entries, alone.nodes, alone.checkpoints) == (43, 82, 1)


def test_an_edit_in_a_later_chunk_is_named_by_the_worker_that_finds_it(
    signed: Container,
) -> None:
    state, position = stored_state(signed, POTUS_OBAMA, 6)
    edited = json.loads(state)
    edited["reason"] += " (edited)"
    stored_state(signed, POTUS_OBAMA, 6, json.dumps(edited).encode("utf-8"))
    assert signed.log is not None
    leaf = signed.log.leaf_at_position(position)
    assert leaf is not None and leaf.index >= 5  # not in the first chunk
    found = run(signed, 2)
    assert found.finding is not None
    assert (found.finding.leaf_index, found.finding.position) == (leaf.index, position)
    assert (found.finding.stream, found.finding.version) == (POTUS_OBAMA, 6)
    assert found.finding.what == "the stored event differs from the entry the tree holds"
    assert found.entries == leaf.index  # every leaf before it checked and folded


def _damage(container: Container, *nodes: tuple[int, int]) -> None:
    db = container.projector.db
    with db.transaction() as curs:  # the node table has no trigger
        for level, index in nodes:
            query = db.sql("UPDATE {t} SET hash = %s WHERE node = %s", t=NODES)
            db.execute(curs, query, (bytes(32), node_key(level, index)))


@pytest.mark.parametrize("processes", [1, 2])
def test_a_damaged_node_is_named_by_the_chunk_that_holds_it_or_above_the_chunks(
    signed: Container, processes: int
) -> None:
    """Each chunk compares the nodes of its own subtree; the nodes above the chunks' level are
    compared at the end. Of several damaged nodes, the lowest (by level, then index) is named,
    whichever chunk holds it, after every entry and checkpoint agreed."""
    _damage(signed, (4, 1))  # above the chunks: the 16 leaves [16, 32)
    found = run(signed, processes)
    assert found.finding is not None and found.entries == 43 and found.checkpoints == 1
    assert (
        found.finding.what == "the stored node hash at level 4, index 1 is not the recomputed one"
    )
    _damage(signed, (1, 15), (0, 9))  # in the chunks [28, 32) and [8, 12)
    found = run(signed, processes)
    assert found.finding is not None
    assert (
        found.finding.what == "the stored node hash at level 0, index 9 is not the recomputed one"
    )
