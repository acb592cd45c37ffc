"""A ledger whose checkpoints a real witness cosigns: the checkpointer gives each new
checkpoint to the witness, `/log/checkpoint` serves it with the cosignature once the policy's
quorum is met, a receipt carries it, and `custody verify --witness --quorum 1` accepts it.
With the witness down, nothing counts as published and receipts wait (503), on both stores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED
from api.witness.app import create_app
from api.witness.state import WitnessState
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import COSIGNATURE_ED25519, Signer, cosignatures, parse_note
from ledger.tlog.witness import Witness
from tests.e2e.test_witness import serving as serving_witness
from tests.stories import ACTOR, LATER
from tests.support import POTUS_OBAMA, cli, serving

ORIGIN = "test.example/witnessed"


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Signer, Signer]:
    log_key = tmp_path / "log.key"
    log = create_key(log_key, ORIGIN)
    witness = create_key(tmp_path / "witness.key", "witness.example/w1", COSIGNATURE_ED25519)
    return log_key, log, witness


@pytest.fixture
def witness_url(keys: tuple[Path, Signer, Signer], tmp_path: Path) -> Iterator[str]:
    _, log, witness = keys
    app = create_app(Witness(witness, [log.verifier()]), WitnessState(tmp_path / "w.db"))
    with serving_witness(app) as url:
        yield url


def ledger_with(
    url: str, keys: tuple[Path, Signer, Signer], witness_url: str, quorum: int = 1
) -> Container:
    log_key, _, witness = keys
    return build(
        Settings(
            database_url=url,
            log_key_file=log_key,
            log_origin=ORIGIN,
            log_witnesses=[f"{witness_url} {witness.verifier()}"],
            log_witness_quorum=quorum,
            public_reads=True,
        )
    )


def test_a_checkpoint_the_witness_cosigned_is_published_and_its_receipt_verifies(
    demo_url: str, keys: tuple[Path, Signer, Signer], witness_url: str, tmp_path: Path
) -> None:
    _, log, witness = keys
    container = ledger_with(demo_url, keys, witness_url)
    try:
        assert container.integrator is not None and container.checkpointer is not None
        container.integrator.integrate()
        first = container.checkpointer.checkpoint()
        assert first.size == 43 and len(first.cosignatures) == 1
        # The log grows: the next checkpoint reaches the witness with a consistency proof.
        command = AssignHolder(holder=Holder(id="x", name="X"), effective_at=LATER)
        container.ledger.append(POTUS_OBAMA, command, actor=ACTOR)
        container.integrator.integrate()
        second = container.checkpointer.checkpoint()
        assert second.size == 44 and len(second.cosignatures) == 1
        with serving(container) as (host, port):
            base = f"http://{host}:{port}"
            served = httpx.get(f"{base}/log/checkpoint").text
            note = parse_note(served)
            [(by, _)] = cosignatures(note, [witness.verifier()])
            assert by == witness.verifier() and served.startswith(f"{ORIGIN}\n44\n")
            position = json.loads(httpx.get(f"{base}/v1/accounts/{POTUS_OBAMA}/events").text)[-1][
                "position"
            ]
            receipt = httpx.get(f"{base}/v1/events/{position}/receipt").text
        path = tmp_path / "r.tlog-proof"
        path.write_text(receipt, encoding="utf-8")
        args = ["verify", str(path), "--key", str(log.verifier())]
        w = ["--witness", str(witness.verifier())]
        assert cli(demo_url, *args, *w, "--quorum", "1") == EXIT_OK
        other = Signer.generate("witness.example/w2", COSIGNATURE_ED25519)
        # A policy that trusts another witness only: the receipt has no cosignature it accepts.
        assert cli(demo_url, *args, "--witness", str(other.verifier()), "--quorum", "1") == (
            EXIT_REFUSED
        )
    finally:
        container.close()


def test_without_the_witness_nothing_counts_as_published_and_receipts_wait(
    demo_url: str, keys: tuple[Path, Signer, Signer], tmp_path: Path
) -> None:
    container = ledger_with(demo_url, keys, "http://127.0.0.1:9")  # nothing listens there
    try:
        assert container.integrator is not None and container.checkpointer is not None
        container.integrator.integrate()
        signed = container.checkpointer.checkpoint()
        assert signed.size == 43 and signed.cosignatures == ()
        with serving(container) as (host, port):
            base = f"http://{host}:{port}"
            assert httpx.get(f"{base}/log/checkpoint").status_code == 404
            assert httpx.get(f"{base}/v1/events/5/receipt").status_code == 404
            health = httpx.get(f"{base}/health").json()
            assert health["log"]["checkpoint"]["published"] is False
    finally:
        container.close()


def test_health_says_when_no_checkpoint_has_been_published_for_longer_than_the_bound(
    demo_url: str, keys: tuple[Path, Signer, Signer]
) -> None:
    log_key, _, witness = keys
    container = build(
        Settings(
            database_url=demo_url,
            log_key_file=log_key,
            log_origin=ORIGIN,
            log_witnesses=[f"http://127.0.0.1:9 {witness.verifier()}"],
            log_witness_quorum=1,
            health_stall_seconds=0.001,
        )
    )
    try:
        assert container.integrator is not None and container.checkpointer is not None
        container.integrator.integrate()
        container.checkpointer.checkpoint()
        with serving(container) as (host, port):
            answer = httpx.get(f"http://{host}:{port}/health")
        assert answer.status_code == 503
        assert any(
            reason.startswith("the latest checkpoint has 0 of the 1 cosignatures it needs")
            for reason in answer.json()["reasons"]
        )
    finally:
        container.close()
