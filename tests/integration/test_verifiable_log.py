"""The verifiable log on each real store: the tree holds every custody event as its entry, in
log order, whatever the rounds of integration; checkpoints are signed once per tree and never
over a tree that contradicts the last one; `custody verify --store` names any stored row that
was edited, deleted or reordered behind the triggers' back; a restore rebuilds the same tree."""

from __future__ import annotations

import base64
import itertools
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ledger.application import CustodyLedger
from ledger.backfill import custody_events
from ledger.commands import AssignHolder, Holder
from ledger.fold import Fact
from ledger.settings import Settings
from ledger.tlog import merkle
from ledger.tlog.entry import entry_bytes
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Checkpoint, Signer, open_checkpoint
from projections.tlog.integrate import Checkpointer, CheckpointRefused, Integrator
from projections.tlog.service import LogService
from projections.tlog.store import CHECKPOINTS, NODES, STRIDE, LogStore, node_key
from tests.stories import ACTOR, LATER
from tests.strategies import Applied, Step, command_steps, run_steps
from tests.support import PG_URL, POTUS_OBAMA, US_HISTORY, append_only_lifted, cli, stored_state

Capture = pytest.CaptureFixture[str]
ORIGIN = "records.example.org/custody-log"
DEMO_EVENTS = len(US_HISTORY.read_text(encoding="utf-8").splitlines())  # 43 custody events


@dataclass(frozen=True)
class Expected:
    """An entry as recomputed here from the ledger's own records, and where it must be."""

    position: int
    stream: UUID
    version: int
    entry: bytes


def demo_accounts() -> list[UUID]:
    lines = US_HISTORY.read_text(encoding="utf-8").splitlines()
    return list(dict.fromkeys(UUID(json.loads(line)["account_id"]) for line in lines))


def expected_entries(ledger: CustodyLedger, accounts: list[UUID]) -> list[Expected]:
    """Every custody event of `accounts` as an entry, in log order, each chained to the leaf
    hash of its stream's entry before: computed from `ledger.records`, not from the log."""
    records = sorted(
        (r for a in accounts for r in ledger.records(a)), key=lambda r: r.position or 0
    )
    last: dict[UUID, bytes] = {}
    out = []
    for r in records:
        fact = Fact(r.version, r.type, r.effective_at, r.recorded_at, r.actor, r.reason,
                    r.evidence, r.data)  # fmt: skip
        entry = entry_bytes(r.account_id, fact, last.get(r.account_id))
        last[r.account_id] = merkle.leaf_hash(entry)
        assert r.position is not None
        out.append(Expected(r.position, r.account_id, r.version, entry))
    return out


def stored_nodes(container: Container) -> dict[tuple[int, int], bytes]:
    """Every row of the node table, as (level, index) -> hash."""
    db = container.projector.db
    rows = db.fetchall(db.sql("SELECT node, hash FROM {t}", t=NODES))
    return {divmod(int(key), STRIDE): bytes(h) for key, h in rows}


def nodes_of(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree of the tree of these leaf hashes, grown in one go."""
    frontier = merkle.Frontier()
    out: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        out.update(((level, index), h) for level, index, h in frontier.append(leaf))
    return out


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def keyed_settings(url: str, key_file: Path) -> Settings:
    return Settings(database_url=url, log_key_file=key_file, log_origin=ORIGIN)


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return create_key(tmp_path / "log.key", ORIGIN)


@pytest.fixture
def keyed(demo_url: str, tmp_path: Path, signer: Signer) -> Iterator[Container]:
    """The demo's store, opened with the log's signing key: nothing integrated yet."""
    container = build(keyed_settings(demo_url, tmp_path / "log.key"))
    yield container
    container.close()


def _pieces(container: Container) -> tuple[LogStore, Integrator, Checkpointer, LogService]:
    assert container.log is not None and container.integrator is not None
    assert container.checkpointer is not None and container.log_service is not None
    return container.log, container.integrator, container.checkpointer, container.log_service


def _grow(container: Container, *holders: str) -> None:
    """Append custody events to the Obama-era @POTUS (each a new holder, so none is refused)."""
    for n, name in enumerate(holders):
        command = AssignHolder(holder=Holder(id=name, name=name.title()),
                               effective_at=LATER + timedelta(days=n))  # fmt: skip
        container.ledger.append(POTUS_OBAMA, command, actor=ACTOR)


# -- 1. the tree holds every custody event, in log order ---------------------------------------


def test_the_tree_holds_each_custody_event_of_the_demo_as_its_entry_in_log_order(
    keyed: Container,
) -> None:
    store, integrator, _, service = _pieces(keyed)
    ledger = keyed.ledger
    assert store.tip() == (0, 0)  # nothing is integrated until asked
    expected = expected_entries(ledger, demo_accounts())
    assert len(expected) == DEMO_EVENTS == 43
    assert integrator.integrate() == 43
    assert store.tip() == (43, ledger.head())
    leaves = store.leaves(0, 100)
    assert [(x.index, x.position, x.stream, x.version, x.entry) for x in leaves] == [
        (i, e.position, e.stream, e.version, e.entry) for i, e in enumerate(expected)
    ]
    hashes = [merkle.leaf_hash(e.entry) for e in expected]
    assert [x.leaf_hash for x in leaves] == hashes
    for size in range(1, 44):  # the root at every size, three ways, against an independent one
        root = merkle.root_of(hashes[:size])
        assert merkle.root_at(store.nodes, size) == root, size
        assert service.consistency(size, size)["root_to"] == b64(root), size
        assert service.inclusion(size - 1, size)["root"] == b64(root), size
    assert stored_nodes(keyed) == nodes_of(hashes)  # every complete subtree, nothing else
    # Integrating again finds nothing new and changes nothing.
    before = (store.tip(), stored_nodes(keyed))
    assert integrator.integrate() == 0
    assert (store.tip(), stored_nodes(keyed)) == before


@contextmanager
def fresh_store(kind_of: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty store of the same kind as `kind_of` (one per hypothesis example)."""
    if kind_of.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/{uuid.uuid4().hex}.db"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    schema = psycopg.sql.Identifier(name)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(schema))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(schema))


def _chunks(steps: list[Step], cuts: list[int]) -> list[list[Step]]:
    bounds = sorted({0, len(steps), *(min(c, len(steps)) for c in cuts)})
    return [steps[a:b] for a, b in itertools.pairwise(bounds)]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=command_steps(max_steps=18),
    cuts=st.lists(st.integers(0, 18), max_size=4),
    batch_size=st.integers(1, 6),
)
def test_integrating_in_any_rounds_gives_the_tree_integrating_at_once_gives(
    store_url: str, tmp_path: Path, steps: list[Step], cuts: list[int], batch_size: int
) -> None:
    """Appends in random batches, integration (in rounds of a random size) after each: the
    stored tree is exactly the one grown from all the entries at once, and every proof the
    service gives verifies against independently computed roots."""
    with fresh_store(store_url, tmp_path) as url:
        container = build(Settings(database_url=url))
        try:
            assert container.log is not None and container.log_service is not None
            integrator = Integrator(container.ledger, container.log, batch_size=batch_size)
            applied: Applied | None = None
            sizes = []
            for chunk in _chunks(steps, cuts):
                applied = run_steps(container.ledger, chunk, continuing=applied)
                integrator.integrate()
                sizes.append(container.log.tip()[0])
            assert applied is not None
            expected = expected_entries(container.ledger, applied.account_ids)
            n = len(expected)
            assert n == len(applied.records)
            assert sizes[-1] == n and sizes == sorted(sizes)
            assert container.log.tip() == (n, container.ledger.head())
            assert [x.entry for x in container.log.leaves(0, n + 1)] == [e.entry for e in expected]
            hashes = [merkle.leaf_hash(e.entry) for e in expected]
            assert stored_nodes(container) == nodes_of(hashes)
            roots = [merkle.root_of(hashes[:m]) for m in range(n + 1)]
            service = container.log_service
            for m in range(1, n + 1):
                for i in range(m):
                    proof = service.inclusion(i, m)
                    assert (proof["leaf_hash"], proof["root"]) == (b64(hashes[i]), b64(roots[m]))
                    merkle.verify_inclusion(i, m, hashes[i], _unb64(proof["hashes"]), roots[m])
                for k in range(0, m + 1):
                    proof = service.consistency(k, m)
                    assert (proof["root_from"], proof["root_to"]) == (b64(roots[k]), b64(roots[m]))
                    if 0 < k < m:
                        merkle.verify_consistency(k, m, _unb64(proof["hashes"]), roots[k], roots[m])
                    else:
                        assert proof["hashes"] == []
        finally:
            container.close()


def _unb64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


# -- 2. checkpoints ----------------------------------------------------------------------------


def test_the_checkpointer_signs_each_new_tree_once_and_keeps_every_checkpoint(
    keyed: Container, signer: Signer
) -> None:
    store, integrator, checkpointer, service = _pieces(keyed)
    integrator.integrate()
    hashes = [x.leaf_hash for x in store.leaves(0, 43)]
    first = checkpointer.checkpoint()
    signed, _ = open_checkpoint(first.note, signer.verifier())
    assert signed == Checkpoint(ORIGIN, 43, merkle.root_of(hashes))
    assert (first.size, first.root, first.cosignatures) == (43, signed.root, ())
    assert store.checkpoints() == [first]
    # No growth: nothing new is signed, the one there is answered.
    assert checkpointer.checkpoint() == first
    assert store.checkpoints() == [first]
    # Growth: a new checkpoint, consistent with the first; both kept as signed.
    _grow(keyed, "biden", "harris")
    assert integrator.integrate() == 2
    second = checkpointer.checkpoint()
    hashes += [x.leaf_hash for x in store.leaves(43, 2)]
    assert open_checkpoint(second.note, signer.verifier())[0] == Checkpoint(
        ORIGIN, 45, merkle.root_of(hashes)
    )
    proof = _unb64(service.consistency(43, 45)["hashes"])
    merkle.verify_consistency(43, 45, proof, first.root, second.root)
    assert store.checkpoints() == [first, second]
    assert service.checkpoint() == second


def test_the_checkpointer_refuses_to_sign_a_tree_a_damaged_node_makes_inconsistent(
    keyed: Container, capsys: Capture
) -> None:
    """A node of the signed tree overwritten (the node table has no trigger): the grown tree
    no longer extends the checkpoint, and nothing is signed; `verify --store` names the node."""
    store, integrator, checkpointer, _ = _pieces(keyed)
    integrator.integrate()
    first = checkpointer.checkpoint()
    db = keyed.projector.db
    with db.transaction() as curs:  # the 32 leaves [0, 32): a peak of the tree of 43
        db.execute(curs, db.sql("UPDATE {t} SET hash = %s WHERE node = %s", t=NODES),
                   (bytes(32), node_key(5, 0)))  # fmt: skip
    _grow(keyed, "biden", "harris")
    integrator.integrate()
    with pytest.raises(CheckpointRefused) as refused:
        checkpointer.checkpoint()
    assert "the tree of 45 entries is not consistent with the checkpoint signed at 43" in (
        refused.value.detail
    )
    assert "nothing was signed" in refused.value.detail
    assert store.checkpoints() == [first]
    assert store.tip()[0] == 45
    capsys.readouterr()
    assert cli(keyed.settings.database_url, "verify", "--store") == EXIT_REFUSED
    assert capsys.readouterr().err.endswith(
        "the stored node hash at level 5, index 0 is not the recomputed one\n"
    )


def test_the_checkpointer_refuses_to_sign_past_a_checkpoint_the_tree_does_not_extend(
    keyed: Container, signer: Signer
) -> None:
    """A checkpoint row added behind its back (inserts are not refused), for a tree this one is
    not: the next signature would vouch for a fork, so none is made."""
    store, integrator, checkpointer, _ = _pieces(keyed)
    integrator.integrate()
    first = checkpointer.checkpoint()
    _grow(keyed, "biden", "harris")
    integrator.integrate()
    forged_root = bytes(range(32))
    note = Checkpoint(ORIGIN, 44, forged_root).text()  # unsigned: the row is all it takes
    store.add_checkpoint(44, forged_root, note, first.issued_at)
    before = store.checkpoints()
    assert [c.size for c in before] == [43, 44]
    with pytest.raises(CheckpointRefused, match="not consistent with the checkpoint signed at 44"):
        checkpointer.checkpoint()
    assert store.checkpoints() == before


# -- 3. tampering behind the triggers, and the triggers ----------------------------------------


@pytest.fixture
def signed_demo(keyed: Container, signer: Signer) -> tuple[str, Container, str]:
    """The demo integrated and signed at 43 entries; the store's URL, the (open) container and
    the log's verifier key."""
    _, integrator, checkpointer, _ = _pieces(keyed)
    integrator.integrate()
    checkpointer.checkpoint()
    return keyed.settings.database_url, keyed, str(signer.verifier())


def _verify_store(url: str, vkey: str, capsys: Capture) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(url, "verify", "--store", "--key", vkey)
    out, err = capsys.readouterr()
    return code, out, err


def test_an_untouched_store_verifies_and_says_how_much_it_checked(
    signed_demo: tuple[str, Container, str], capsys: Capture
) -> None:
    url, container, vkey = signed_demo
    code, out, err = _verify_store(url, vkey, capsys)
    nodes = sum(43 >> level for level in range(6))  # complete subtrees of a tree of 43: 82
    assert (code, out, err) == (
        EXIT_OK,
        f"verified 43 entries, {nodes} node hashes and 1 checkpoint(s) against the event log\n",
        "",
    )
    # Recorded but not integrated yet: checked up to the tree, the rest counted, not an error.
    _grow(container, "biden")
    code, out, _ = _verify_store(url, vkey, capsys)
    assert (code, out) == (
        EXIT_OK,
        f"verified 43 entries, {nodes} node hashes and 1 checkpoint(s) against the event log; "
        "1 event(s) not yet integrated\n",
    )


def _failed_at(index: int, checkpoints: int, position: int, stream: UUID, version: int) -> str:
    """How `custody verify` begins to say it failed at leaf `index` (no node hash checked)."""
    return (
        f"custody verify: FAILED after {index} entries, 0 node hashes and {checkpoints} "
        f"checkpoint(s): leaf {index}, log position {position}, stream {stream}, "
        f"version {version}: "
    )


def test_verify_store_names_a_stored_event_whose_bytes_were_edited(
    signed_demo: tuple[str, Container, str], capsys: Capture
) -> None:
    url, container, vkey = signed_demo
    assert container.log is not None
    state, position = stored_state(container, POTUS_OBAMA, 2)
    edited = json.loads(state)
    assert edited["reason"] == "Barack Obama posts from @POTUS."
    edited["reason"] = "Joe Biden posts from @POTUS."  # still a valid event: it decodes
    stored_state(container, POTUS_OBAMA, 2, json.dumps(edited).encode("utf-8"))
    assert container.ledger.records(POTUS_OBAMA)[1].reason == "Joe Biden posts from @POTUS."
    leaf = container.log.leaf_at_position(position)
    assert leaf is not None and (leaf.stream, leaf.version) == (POTUS_OBAMA, 2)
    code, out, err = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err == (
        _failed_at(leaf.index, 0, position, POTUS_OBAMA, 2)
        + "the stored event differs from the entry the tree holds\n"
    )


def test_an_imported_events_attribution_is_in_its_entry_and_an_edit_of_it_is_caught(
    signed_demo: tuple[str, Container, str], tmp_path: Path, capsys: Capture
) -> None:
    """A file says the reader token recorded a handover of the Obama-era @POTUS. Its entry
    holds who ran the import and, beside it, the attribution; the store verifies. Then someone
    with the database changes whom the stored event is attributed to: verify names it."""
    url, container, vkey = signed_demo
    assert container.log is not None and container.integrator is not None
    assert container.checkpointer is not None
    line = {"type": "holder_assigned", "account_id": str(POTUS_OBAMA), "actor": "t-reader",
            "holder": {"id": "joe-biden", "name": "Joseph R. Biden Jr."},
            "effective_at": "2021-01-20T17:00:00Z"}  # fmt: skip
    path = tmp_path / "backfill.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert cli(url, "import", str(path), "--actor", "records-clerk") == EXIT_OK
    assert container.integrator.integrate() == 1
    container.checkpointer.checkpoint()
    version = len(container.ledger.facts(POTUS_OBAMA))
    state, position = stored_state(container, POTUS_OBAMA, version)
    leaf = container.log.leaf_at_position(position)
    assert leaf is not None and (leaf.index, leaf.version) == (43, version)
    entry = json.loads(leaf.entry)
    assert (entry["actor"], entry["attributed_to"]) == ("import:records-clerk", "t-reader")
    # no other entry names anyone else: the demo's 43 entries are the bytes they always were
    assert [json.loads(x.entry).get("attributed_to") for x in container.log.leaves(0, 44)] == [
        None
    ] * 43 + ["t-reader"]
    code, out, _ = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_OK, f"verified 44 entries, {sum(44 >> k for k in range(6))} "
                                    "node hashes and 2 checkpoint(s) against the event log\n")  # fmt: skip

    edited = json.loads(state)
    edited["attributed_to"] = "records-admin"  # a writer whose token could have made it
    stored_state(container, POTUS_OBAMA, version, json.dumps(edited).encode("utf-8"))
    assert container.ledger.records(POTUS_OBAMA)[-1].attributed_to == "records-admin"
    code, out, err = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err == (
        _failed_at(43, 1, position, POTUS_OBAMA, version)
        + "the stored event differs from the entry the tree holds\n"
    )


def test_verify_store_names_a_stored_event_that_no_longer_decodes(
    signed_demo: tuple[str, Container, str], capsys: Capture
) -> None:
    url, container, vkey = signed_demo
    assert container.log is not None
    _, position = stored_state(container, POTUS_OBAMA, 3, b"{not json")
    leaf = container.log.leaf_at_position(position)
    assert leaf is not None and (leaf.stream, leaf.version) == (POTUS_OBAMA, 3)
    code, out, err = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err.startswith(
        _failed_at(leaf.index, 0, position, POTUS_OBAMA, 3) + "the stored event cannot be decoded: "
    ), err


def _position_rows(container: Container) -> int:
    db = container.projector.db
    row = db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t=db.events_table))
    assert row is not None
    return int(row[0])


def test_verify_store_names_the_last_event_when_its_row_was_deleted(
    signed_demo: tuple[str, Container, str], capsys: Capture
) -> None:
    url, container, vkey = signed_demo
    assert container.log is not None
    (last,) = container.log.leaves(42, 1)
    db = container.projector.db
    rows = _position_rows(container)
    with db.transaction() as curs, append_only_lifted(db, curs, "DELETE"):
        where = f" WHERE {db.position_column} = %s"
        db.execute(curs, db.sql("DELETE FROM {t}" + where, t=db.events_table), (last.position,))
    assert _position_rows(container) == rows - 1
    code, out, err = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err == (
        _failed_at(42, 0, last.position, last.stream, last.version)
        + "the tree holds an entry whose event is not in the log at its position (deleted, or "
        "moved)\n"
    )


def test_verify_store_names_where_two_events_were_swapped_in_the_log(
    signed_demo: tuple[str, Container, str], capsys: Capture
) -> None:
    """Two events of different streams trade log positions (the order the tree commits to)."""
    url, container, vkey = signed_demo
    assert container.log is not None
    leaves = container.log.leaves(0, 43)
    # The last event of the first account and the first of the second.
    a, b = next((x, y) for x, y in itertools.pairwise(leaves) if x.stream != y.stream)
    db = container.projector.db
    column = db.position_column
    move = db.sql(f"UPDATE {{t}} SET {column} = %s WHERE {column} = %s", t=db.events_table)
    with db.transaction() as curs, append_only_lifted(db, curs, "UPDATE"):
        for to, frm in ((-1, a.position), (a.position, b.position), (b.position, -1)):
            db.execute(curs, move, (to, frm))
    code, out, err = _verify_store(url, vkey, capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err.startswith(_failed_at(a.index, 0, a.position, b.stream, b.version)), err
    assert err.endswith("the stored event differs from the entry the tree holds\n"), err


def test_verify_store_names_a_checkpoint_the_log_key_did_not_sign(
    signed_demo: tuple[str, Container, str], tmp_path: Path, capsys: Capture
) -> None:
    url, _, _ = signed_demo
    other = create_key(tmp_path / "other.key", ORIGIN)
    code, out, err = _verify_store(url, str(other.verifier()), capsys)
    assert (code, out) == (EXIT_REFUSED, "")
    assert err.startswith(
        "custody verify: FAILED after 43 entries, 0 node hashes and 1 checkpoint(s): "
        "checkpoint of size 43: "
    ), err


def _count(container: Container, table: str) -> int:
    db = container.projector.db
    row = db.fetchone(db.sql("SELECT COUNT(*) FROM {t}", t=table))
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("table", ["events", CHECKPOINTS])
def test_the_event_log_and_the_checkpoints_refuse_to_be_changed(
    signed_demo: tuple[str, Container, str], table: str
) -> None:
    """UPDATE and DELETE (and TRUNCATE on PostgreSQL) are refused, each leaving every row."""
    _, container, _ = signed_demo
    db = container.projector.db
    name = db.events_table if table == "events" else CHECKPOINTS
    before = _count(container, name)
    assert before == (container.ledger.head() if table == "events" else 1)
    statements = ["UPDATE {t} SET size = size", "DELETE FROM {t}"]
    if table == "events":
        statements[0] = "UPDATE {t} SET topic = topic"
    if db.kind == "postgres":
        statements.append("TRUNCATE {t}")
    for statement in statements:
        verb = statement.split()[0]
        refused = f"{verb} on {name} refused: the log is append-only"
        errors = (PersistenceError, sqlite3.IntegrityError)
        with pytest.raises(errors, match=refused), db.transaction() as curs:
            db.execute(curs, db.sql(statement, t=name))
        assert _count(container, name) == before, statement


# -- 4. a restore rebuilds the same tree -------------------------------------------------------


def _restored_copy(url: str, tmp_path: Path) -> str:
    out = tmp_path / "log.jsonl"
    assert cli(url, "export", "--out", str(out)) == EXIT_OK
    copy = f"sqlite:///{tmp_path}/copy.db"
    assert cli(copy, "import", str(out), "--restore") == EXIT_OK
    return copy


def _same_tree(original: Container, copy: str, size: int, capsys: Capture) -> None:
    """The restored store integrates to the same entries, the same root at every size and the
    same nodes, and verifies."""
    assert original.log is not None
    restored = build(Settings(database_url=copy))
    try:
        assert restored.log is not None and restored.integrator is not None
        assert restored.integrator.integrate() == size
        theirs = [(x.stream, x.version, x.entry) for x in restored.log.leaves(0, size + 1)]
        assert theirs == [(x.stream, x.version, x.entry) for x in original.log.leaves(0, size + 1)]
        for n in range(1, size + 1):
            assert merkle.root_at(restored.log.nodes, n) == merkle.root_at(original.log.nodes, n)
        assert stored_nodes(restored) == stored_nodes(original)
    finally:
        restored.close()
    capsys.readouterr()
    assert cli(copy, "verify", "--store") == EXIT_OK
    assert capsys.readouterr().out.startswith(f"verified {size} entries, ")


def test_a_restored_export_of_the_demo_rebuilds_the_identical_tree(
    signed_demo: tuple[str, Container, str], tmp_path: Path, capsys: Capture
) -> None:
    url, container, _ = signed_demo
    _same_tree(container, _restored_copy(url, tmp_path), 43, capsys)


def test_a_restored_export_rebuilds_the_identical_tree_when_accounts_interleave_in_the_log(
    signed_demo: tuple[str, Container, str], tmp_path: Path, capsys: Capture
) -> None:
    """After the demo, the Obama-era @POTUS (the first account of the log) gets two more
    events: in the log they come after every other account's; a restore must keep them there."""
    url, container, _ = signed_demo
    _grow(container, "biden", "harris")
    assert container.integrator is not None and container.integrator.integrate() == 2
    _same_tree(container, _restored_copy(url, tmp_path), 45, capsys)


def test_verify_store_is_a_usage_error_with_the_log_turned_off(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    monkeypatch.setenv("CUSTODY_LOG_ENABLED", "false")
    capsys.readouterr()
    assert cli(demo_url, "verify", "--store") == EXIT_USAGE
    assert "the verifiable log is turned off" in capsys.readouterr().err


def _custody_events(ledger: CustodyLedger) -> int:
    return sum(1 for _ in custody_events(ledger))


def test_a_restore_refuses_an_event_too_large_to_be_a_log_entry_and_writes_nothing(
    store_url: str, tmp_path: Path, capsys: Capture
) -> None:
    lines = [json.loads(line) for line in US_HISTORY.read_text(encoding="utf-8").splitlines()]
    lines[1]["reason"] = "x" * 70_000  # older versions accepted it; no entry can hold it
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    capsys.readouterr()
    assert cli(store_url, "import", str(path), "--restore") == EXIT_REFUSED
    assert "cannot be an entry of the verifiable log" in capsys.readouterr().err
    container = build(Settings(database_url=store_url))
    try:
        assert _custody_events(container.ledger) == 0
    finally:
        container.close()


def test_a_restored_count_beyond_what_a_double_holds_is_an_entry_with_the_count_as_text(
    store_url: str, tmp_path: Path
) -> None:
    """Older versions accepted an archive of 2**60 items; RFC 8785 numbers are doubles, so the
    entry writes the count as its decimal string, and the log integrates past it."""
    lines = [json.loads(line) for line in US_HISTORY.read_text(encoding="utf-8").splitlines()]
    archived = next(line for line in lines if line["type"] == "history_archived")
    archived["archive"]["items"] = 2**60
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli(store_url, "import", str(path), "--restore") == EXIT_OK
    container = build(Settings(database_url=store_url))
    try:
        assert container.integrator is not None and container.log is not None
        recorded = _custody_events(container.ledger)
        assert container.integrator.integrate() == recorded
        assert container.log.tip() == (recorded, container.ledger.head())
        entries = [json.loads(leaf.entry) for leaf in container.log.leaves(0, recorded)]
        counts = [e["data"]["archive"]["items"] for e in entries if e["type"] == "history_archived"]
        assert str(2**60) in counts
    finally:
        container.close()
