"""What `custody verify --store` must not miss, and must not invent, beyond an edited event:
an empty checkpoint before the others, a custody event slipped in before the first leaf, a
checkpoint note or a cosignature edited in its table, rows the tree never wrote; and what the
checkpointer refuses when the tree's tables lost entries. On both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import COSIGNATURE_ED25519, Signer, cosign, parse_note
from projections.tlog.audit import Audit, audit_store
from projections.tlog.integrate import CheckpointRefused
from projections.tlog.store import CHECKPOINTS, LEAVES, NODES, STATE, node_key
from tests.support import US_HISTORY, append_only_lifted, cli

ORIGIN = "edges.example/log"
Capture = pytest.CaptureFixture[str]


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return create_key(tmp_path / "log.key", ORIGIN)


def open_store(url: str, tmp_path: Path) -> Container:
    return build(Settings(database_url=url, log_key_file=tmp_path / "log.key", log_origin=ORIGIN))


@pytest.fixture
def signed(demo_url: str, tmp_path: Path, signer: Signer) -> Iterator[Container]:
    container = open_store(demo_url, tmp_path)
    assert container.integrator is not None and container.checkpointer is not None
    container.integrator.integrate()
    container.checkpointer.checkpoint()
    try:
        yield container
    finally:
        container.close()


def audit(container: Container, signer: Signer, **options: Any) -> Audit:
    assert container.log is not None
    return audit_store(container.ledger, container.log, signer.verifier(), **options)


def execute(container: Container, template: str, params: tuple[Any, ...], **tables: str) -> None:
    db = container.projector.db
    with db.transaction() as curs:
        db.execute(curs, db.sql(template, **tables), params)


def test_a_checkpoint_of_the_empty_tree_signed_first_does_not_hide_the_later_ones(
    store_url: str, tmp_path: Path, signer: Signer
) -> None:
    """A store opened with a key before anything was recorded signs size 0 first."""
    container = open_store(store_url, tmp_path)
    try:
        assert container.integrator is not None and container.checkpointer is not None
        assert container.checkpointer.checkpoint().size == 0
        assert cli(store_url, "import", str(US_HISTORY), "--restore") == EXIT_OK
        container.integrator.integrate()
        assert container.checkpointer.checkpoint().size == 43
        done = audit(container, signer)
        assert (done.finding, done.entries, done.checkpoints) == (None, 43, 2)
    finally:
        container.close()


def test_a_custody_event_the_tree_skipped_is_found_before_the_first_leaf_or_after_the_last(
    signed: Container, signer: Signer
) -> None:
    db = signed.projector.db
    position = db.position_column
    with db.transaction() as curs:
        db.execute(
            curs,
            db.sql(
                f"SELECT originator_id, topic, state FROM {{t}} ORDER BY {position}",
                t=db.events_table,
            ),
        )
        _, topic, state = curs.fetchone()
    stream: Any = uuid4() if db.kind == "postgres" else uuid4().hex
    # Position 0 on SQLite (a rowid below every other); on PostgreSQL a position below the
    # first leaf's is taken by the demo's own first event, so the event goes just after the
    # head, and the tree's state is moved past it as if integration had skipped it.
    if db.kind == "sqlite":
        insert = "INSERT INTO {t} (rowid, originator_id, originator_version, topic, state) "
        execute(
            signed, insert + "VALUES (0, %s, 1, %s, %s)", (stream, topic, state), t=db.events_table
        )
        expected_position = 0
    else:
        head = signed.ledger.head()
        insert = "INSERT INTO {t} (notification_id, originator_id, originator_version, topic, "
        execute(
            signed,
            insert + "state) VALUES (%s, %s, 1, %s, %s)",
            (head + 1, stream, topic, state),
            t=db.events_table,
        )
        execute(signed, "UPDATE {t} SET position = %s", (head + 1,), t=STATE)
        expected_position = head + 1
    found = audit(signed, signer).finding
    assert found is not None and found.position == expected_position, found
    assert found.what == "the tree misses this custody event"


def test_a_checkpoint_note_edited_in_its_table_is_found_without_a_key(
    signed: Container, signer: Signer
) -> None:
    assert signed.log is not None
    (stored,) = signed.log.checkpoints()
    db = signed.projector.db
    edited = stored.note.replace(f"\n{stored.size}\n", f"\n{stored.size + 1}\n", 1)
    with db.transaction() as curs, append_only_lifted(db, curs, "UPDATE", CHECKPOINTS):
        db.execute(curs, db.sql("UPDATE {t} SET note = %s", t=CHECKPOINTS), (edited,))
    assert signed.log is not None
    found = audit_store(signed.ledger, signed.log, None).finding
    assert found is not None and found.what == "checkpoint of size 43: its note says size 44"


def test_a_cosignature_row_that_does_not_verify_is_found(signed: Container, signer: Signer) -> None:
    assert signed.log is not None
    witness = Signer.generate("witness.example/w", COSIGNATURE_ED25519)
    (stored,) = signed.log.checkpoints()
    text = parse_note(stored.note).text
    good = cosign(witness, text, 1_700_000_000)
    forged = cosign(witness, text.replace("\n43\n", "\n42\n"), 1_700_000_000)
    signed.log.add_cosignature(43, witness.name, forged.line())
    found = audit(signed, signer, witnesses=[witness.verifier()]).finding
    assert found is not None and found.what.startswith(
        "checkpoint of size 43: a stored cosignature does not verify"
    )
    unchecked = audit(signed, signer)  # without the witness's key: noted, not judged
    assert unchecked.finding is None
    assert unchecked.notes[-1] == (
        "cosignatures of witnesses without a key given not checked: ['witness.example/w']"
    )
    assert good.line() != forged.line()


@pytest.mark.parametrize(
    ("copied", "index"),
    [(42, 43), (0, -1)],  # past the last leaf; below the first
)
def test_a_leaf_row_the_tree_never_wrote_is_found(
    signed: Container, signer: Signer, copied: int, index: int
) -> None:
    assert signed.log is not None
    (leaf,) = signed.log.leaves(copied, 1)
    insert = "INSERT INTO {t} (leaf_index, position, stream, version, leaf_hash, entry) "
    row = (index, leaf.position + 10_000, str(leaf.stream), leaf.leaf_hash, leaf.entry)
    execute(signed, insert + "VALUES (%s, %s, %s, 99, %s, %s)", row, t=LEAVES)
    found = audit(signed, signer).finding
    assert found is not None and found.what == "the tree's table holds 44 leaves, its state says 43"


# A tree of 43 leaves has nodes at levels 0 to 5, (43 >> level) of each.
@pytest.mark.parametrize(
    ("level", "index"),
    [
        (0, 43),  # past the end of the leaves' level
        (1, 21),  # past the end of a level between others
        (5, 1),  # past the end of the highest level
        (6, 0),  # at a level the tree does not reach
    ],
)
def test_a_node_row_the_tree_never_wrote_is_found(
    signed: Container, signer: Signer, level: int, index: int
) -> None:
    execute(
        signed, "INSERT INTO {t} (node, hash) VALUES (%s, %s)", (node_key(level, index), b"x" * 32),
        t=NODES,
    )  # fmt: skip
    found = audit(signed, signer).finding
    assert found is not None
    assert found.what == "the tree's table holds 83 node hashes; a tree of 43 entries has 82"


def test_a_node_row_missing_inside_the_tree_is_named_where_it_is(
    signed: Container, signer: Signer
) -> None:
    execute(signed, "DELETE FROM {t} WHERE node = %s", (node_key(2, 4),), t=NODES)
    found = audit(signed, signer).finding
    assert found is not None
    assert found.what == "the stored tree has 9 of 10 node hashes at level 2 from index 0"


def test_the_checkpointer_refuses_to_sign_when_the_tree_lost_entries(
    signed: Container, signer: Signer
) -> None:
    assert signed.checkpointer is not None and signed.log is not None
    execute(signed, "UPDATE {t} SET size = 40", (), t=STATE)
    with pytest.raises(CheckpointRefused, match="fewer than the 43 of the last checkpoint"):
        signed.checkpointer.checkpoint()
    assert [c.size for c in signed.log.checkpoints()] == [43]


def test_the_audit_cli_reports_a_forged_cosignature_of_a_witness_the_log_submits_to(
    demo_url: str,
    tmp_path: Path,
    signer: Signer,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    witness = create_key(tmp_path / "w.key", "witness.example/w", COSIGNATURE_ED25519)
    monkeypatch.setenv("CUSTODY_LOG_KEY_FILE", str(tmp_path / "log.key"))
    monkeypatch.setenv("CUSTODY_LOG_ORIGIN", ORIGIN)
    monkeypatch.setenv(
        "CUSTODY_LOG_WITNESSES", json.dumps([f"http://127.0.0.1:9 {witness.verifier()}"])
    )
    container = build(Settings(database_url=demo_url))
    try:
        assert container.integrator is not None and container.checkpointer is not None
        assert container.log is not None
        container.integrator.integrate()
        stored = container.checkpointer.checkpoint()
        text = parse_note(stored.note).text.replace("\n43\n", "\n42\n")
        container.log.add_cosignature(43, witness.name, cosign(witness, text, 1).line())
    finally:
        container.close()
    capsys.readouterr()
    assert cli(demo_url, "verify", "--store") == EXIT_REFUSED
    assert "a stored cosignature does not verify" in capsys.readouterr().err


def test_verify_refuses_a_negative_quorum_and_a_damaged_monitor_state_without_a_traceback(
    signed: Container, signer: Signer, tmp_path: Path, capsys: Capture
) -> None:
    url = signed.settings.database_url
    vkey = str(signer.verifier())
    capsys.readouterr()
    assert cli(url, "verify", "--store", "--key", vkey, "--quorum", "-3") == EXIT_USAGE
    assert "--quorum is a number of cosignatures: 0 or more" in capsys.readouterr().err
    state = tmp_path / "monitor.json"
    damaged = {"origin": ORIGIN, "size": 3, "root": "00" * 32, "peaks": ["00" * 32], "streams": {}}
    state.write_text(json.dumps(damaged), encoding="utf-8")
    code = cli(
        url, "verify", "--log", "http://127.0.0.1:9/log", "--key", vkey, "--state", str(state)
    )
    assert code == EXIT_USAGE
    assert "the monitor's state file is not valid" in capsys.readouterr().err
