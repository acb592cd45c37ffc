"""The witness as a log meets it: the real server on a loopback port (uvicorn in a thread, or
`custody witness serve` in a process), its state in a SQLite file, the ledger's own client
(`projections.tlog.witnesses.submit`) on the other end, and the `custody witness` commands."""

from __future__ import annotations

import base64
import itertools
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.cli import EXIT_OK, EXIT_PORT_IN_USE, EXIT_REFUSED, EXIT_USAGE, main
from api.witness.app import MAX_BODY_BYTES, create_app
from api.witness.state import WitnessState
from ledger.tlog.note import (
    COSIGNATURE_ED25519,
    NOTE_ED25519,
    Checkpoint,
    Signer,
    Verifier,
    cosignatures,
    parse_note,
    sign_note,
    verify_cosignature,
    verify_note,
)
from ledger.tlog.witness import Cosigned, Witness, origin_hash
from projections.tlog import witnesses
from tests.support import free_port, serving_app
from tests.unit.test_witness import NOW, ORIGIN, History, body, checkpoint, grown

TEXT = "text/plain; charset=utf-8"
REPO = Path(__file__).resolve().parents[2]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The witness app served on a free loopback port; its base URL."""
    with serving_app(app) as (host, port):
        yield f"http://{host}:{port}"


def post(url: str, raw: bytes) -> httpx.Response:
    return httpx.post(
        url + "/add-checkpoint",
        content=raw,
        headers={"Content-Type": "text/plain; charset=utf-8"},
        timeout=20,
    )


def on_disk(path: Path, origin: str = ORIGIN) -> tuple[int, bytes, str] | None:
    """The size, root and note the state file holds, read with a connection of its own."""
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT size, root, note FROM cosigned WHERE origin = ?", (origin,)
        ).fetchone()
    finally:
        db.close()
    return None if row is None else (int(row[0]), bytes(row[1]), row[2])


def held(path: Path, origin: str = ORIGIN) -> tuple[int, bytes]:
    """The size and root the state file holds for `origin`, which it must hold."""
    found = on_disk(path, origin)
    assert found is not None, f"nothing of {origin} in {path}"
    return found[:2]


def cosigned_by(witness: Witness, text: str, answer: str) -> int:
    """The timestamp of the one cosignature line in `answer`, checked with the witness's key."""
    (signature,) = parse_note("x\n\n" + answer).signatures
    return verify_cosignature(witness.verifier, text, signature)


@pytest.fixture
def log() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture
def fresh() -> Signer:
    """A second log the witness trusts, and never cosigns before the test does."""
    return Signer.generate("fresh.example/log")


@pytest.fixture
def witness(log: Signer, fresh: Signer) -> Witness:
    keys = [log.verifier(), fresh.verifier()]
    return Witness(Signer.generate("witness.example/w1", COSIGNATURE_ED25519), keys)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "witness.db"


@pytest.fixture
def url(witness: Witness, state_file: Path) -> Iterator[str]:
    with serving(create_app(witness, WitnessState(state_file), now=lambda: NOW)) as base:
        yield base


# -- cosigning -----------------------------------------------------------------------------


def test_the_first_checkpoint_is_cosigned_and_on_disk(
    url: str, witness: Witness, log: Signer, state_file: Path
) -> None:
    a = History("a", 5)
    note = checkpoint(log, a, 5)
    answer = post(url, body(0, note))
    assert (answer.status_code, answer.headers["content-type"]) == (200, TEXT)
    assert answer.text.count("\n") == 1
    assert answer.text.startswith("\u2014 witness.example/w1 ")
    assert cosigned_by(witness, parse_note(note).text, answer.text) == NOW
    assert on_disk(state_file) == (5, a.root(5), note + answer.text)


def test_a_stale_old_size_gets_409_with_the_size_held_and_the_retry_from_it_succeeds(
    url: str, witness: Witness, log: Signer, state_file: Path
) -> None:
    a = History("a", 5)
    assert post(url, body(0, checkpoint(log, a, 5))).status_code == 200
    note = checkpoint(log, a.grow(9), 9)
    conflict = post(url, body(0, note))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "text/x.tlog.size"
    assert conflict.content == b"5\n"
    retry = post(url, body(int(conflict.text), note, a.proof(5, 9)))
    assert retry.status_code == 200
    assert cosigned_by(witness, parse_note(note).text, retry.text) == NOW
    assert on_disk(state_file) == (9, a.root(9), note + retry.text)
    again = post(url, body(9, note))  # the same checkpoint again: cosigned again
    assert again.status_code == 200
    assert on_disk(state_file) == (9, a.root(9), note + again.text)


def test_a_log_that_shows_the_witness_two_histories_is_caught_and_its_state_stays(
    url: str, log: Signer, state_file: Path
) -> None:
    """After cosigning size 5 of history A, a checkpoint of size 7 of history B with the same
    origin and key gets 422, and the witness's state stays at A's 5, also for monitors."""
    a, b = History("a", 5), History("b", 7)
    first = post(url, body(0, checkpoint(log, a, 5)))
    assert first.status_code == 200
    before = on_disk(state_file)
    fork = post(url, body(5, checkpoint(log, b, 7), b.proof(5, 7)))
    assert (fork.status_code, fork.headers["content-type"]) == (422, TEXT)
    assert "does not give root1" in fork.text
    assert before is not None and before[:2] == (5, a.root(5))
    assert on_disk(state_file) == before
    shown = httpx.get(f"{url}/{origin_hash(ORIGIN)}/checkpoint")
    assert shown.text == before[2]
    assert Checkpoint.parse(parse_note(shown.text).text) == Checkpoint(ORIGIN, 5, a.root(5))


def _refusals(log: Signer, fresh: Signer) -> dict[str, tuple[bytes, int, str]]:
    """Requests made after size 5 of history "a" of `log` is cosigned (and nothing of `fresh`):
    body, status, words in the answer."""
    a = History("a", 5)
    impostor = Signer.generate(ORIGIN)
    stranger = Signer.generate("other.example/log")
    note = checkpoint(log, a.grow(8), 8)
    text, line = note.split("\n\n")
    name, signature64 = line.removeprefix("\u2014 ").split(" ")
    raw = bytearray(base64.b64decode(signature64))
    raw[-1] ^= 1  # the key id still names the log's key; the signature is one bit off
    forged = f"\u2014 {name} {base64.b64encode(raw).decode()}\n"
    proof = a.proof(5, 8)
    return {
        "not an add-checkpoint body": (b"old 5\n", 400, "no blank line"),
        "not UTF-8": (b"old 5\n\n\xff\xfe\n", 400, "not UTF-8"),
        "old size above the checkpoint's": (body(9, note), 400, "above the checkpoint's size"),
        "signed by another key": (body(5, checkpoint(impostor, a, 8)), 403, "no valid signature"),
        "the log's line forged": (body(5, text + "\n\n" + forged), 403, "does not verify"),
        "a log not witnessed here": (body(0, checkpoint(stranger, a, 8)), 404, "other.example"),
        "a proof that fails": (body(5, note, proof[::-1]), 422, "consistency"),
        "a proof from 0": (body(0, checkpoint(fresh, a, 2), [a.root(1)]), 422, "old size is 0"),
        "size 0, not the empty root": (
            body(0, str(sign_note(Checkpoint(fresh.name, 0, a.root(1)).text(), fresh))),
            422,
            "empty tree",
        ),
        "size 5 again, another root": (body(5, checkpoint(log, History("b", 5), 5)), 422, "roots"),
        "too large": (body(5, note) + b"x" * MAX_BODY_BYTES, 413, str(MAX_BODY_BYTES)),
    }


REFUSALS = list(_refusals(Signer.generate(ORIGIN), Signer.generate("fresh.example/log")))


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_request_gets_its_status_as_one_line_of_text_and_changes_nothing(
    url: str, log: Signer, fresh: Signer, state_file: Path, case: str
) -> None:
    assert post(url, body(0, checkpoint(log, History("a", 5), 5))).status_code == 200
    before = on_disk(state_file)
    raw, status, words = _refusals(log, fresh)[case]
    answer = post(url, raw)
    assert (answer.status_code, answer.headers["content-type"]) == (status, TEXT)
    assert words in answer.text
    assert answer.text.endswith("\n") and answer.text.count("\n") == 1
    assert "\u2014" not in answer.text
    assert on_disk(state_file) == before
    assert on_disk(state_file, fresh.name) is None


def test_the_door_answers_other_methods_and_paths_in_text_too(url: str) -> None:
    wrong_method = httpx.get(url + "/add-checkpoint")
    assert (wrong_method.status_code, wrong_method.headers["content-type"]) == (405, TEXT)
    assert wrong_method.headers["allow"] == "POST"
    nowhere = httpx.get(url + "/docs")
    assert (nowhere.status_code, nowhere.headers["content-type"]) == (404, TEXT)
    # A body declared too large is refused before it is read.
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as raw:
        raw.sendall(
            b"POST /add-checkpoint HTTP/1.1\r\nHost: witness\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\nold 0\n\n".encode()
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 413 ")
    # A body sent in chunks, with no length declared, is cut off where it passes the limit.
    chunks = (b"x" * 4096 for _ in range(MAX_BODY_BYTES // 4096 + 2))
    streamed = httpx.post(url + "/add-checkpoint", content=chunks, timeout=20)
    assert (streamed.status_code, streamed.headers["content-type"]) == (413, TEXT)


# -- monitoring ----------------------------------------------------------------------------


def test_monitors_get_the_last_cosigned_checkpoint_with_the_logs_and_the_witness_lines(
    url: str, witness: Witness, log: Signer
) -> None:
    path = f"{url}/{origin_hash(ORIGIN)}/checkpoint"
    never = httpx.get(path)
    assert (never.status_code, never.headers["content-type"]) == (404, TEXT)
    a = History("a", 5)
    stranger = Signer.generate("other.example/witness")
    answer = post(url, body(0, checkpoint(log, a, 5, stranger)))
    shown = httpx.get(path)
    assert (shown.status_code, shown.headers["content-type"]) == (200, TEXT)
    note = parse_note(shown.text)
    assert Checkpoint.parse(note.text) == Checkpoint(ORIGIN, 5, a.root(5))
    assert verify_note(note, [log.verifier()]) == [log.verifier()]
    assert cosignatures(note, [witness.verifier]) == [(witness.verifier, NOW)]
    assert note.signatures[-1].line() == answer.text
    assert [s.name for s in note.signatures] == [ORIGIN, "witness.example/w1"]
    assert httpx.get(f"{url}/{origin_hash(ORIGIN).upper()}/checkpoint").status_code == 404
    assert httpx.get(f"{url}/{origin_hash('other.example/log')}/checkpoint").status_code == 404


# -- the state: atomic, durable --------------------------------------------------------------


def test_a_restarted_witness_remembers_what_it_cosigned(
    witness: Witness, log: Signer, state_file: Path
) -> None:
    a = History("a", 5)
    with serving(create_app(witness, WitnessState(state_file), now=lambda: NOW)) as first:
        assert post(first, body(0, checkpoint(log, a, 5))).status_code == 200
    with serving(create_app(witness, WitnessState(state_file), now=lambda: NOW + 1)) as second:
        note = checkpoint(log, a.grow(8), 8)
        conflict = post(second, body(0, note))
        assert (conflict.status_code, conflict.text) == (409, "5\n")
        shown = httpx.get(f"{second}/{origin_hash(ORIGIN)}/checkpoint")
        assert Checkpoint.parse(parse_note(shown.text).text).size == 5
        assert post(second, body(5, note, a.proof(5, 8))).status_code == 200
    assert held(state_file) == (8, a.root(8))


class HoldingState(WitnessState):
    """A state whose `advance` pauses once it has committed, until released: the moment
    between persisting and answering, where a crash may strike."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.committed, self.release = threading.Event(), threading.Event()

    def advance(self, old_size: int, new: Cosigned) -> bool:
        moved = super().advance(old_size, new)
        self.committed.set()
        assert self.release.wait(20)
        return moved


def test_the_new_state_is_on_disk_before_the_cosignature_leaves(
    witness: Witness, log: Signer, state_file: Path
) -> None:
    state = HoldingState(state_file)
    a = History("a", 5)
    note = checkpoint(log, a, 5)
    with (
        serving(create_app(witness, state, now=lambda: NOW)) as base,
        ThreadPoolExecutor(1) as pool,
    ):
        pending = pool.submit(post, base, body(0, note))
        assert state.committed.wait(20)
        # Decided and persisted, not answered: a crash now leaves the state
        # ahead of the answer, never behind it.
        assert not pending.done()
        stored = on_disk(state_file)
        assert stored is not None and stored[:2] == (5, a.root(5))
        state.release.set()
        answer = pending.result(timeout=20)
    assert answer.status_code == 200
    assert stored[2] == note + answer.text


class FailingState(WitnessState):
    """A state file that cannot be written (a full disk, say)."""

    def advance(self, old_size: int, new: Cosigned) -> bool:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_state_that_cannot_be_written_gives_503_and_no_cosignature(
    witness: Witness, log: Signer, state_file: Path
) -> None:
    with serving(create_app(witness, FailingState(state_file), now=lambda: NOW)) as base:
        answer = post(base, body(0, checkpoint(log, History("a", 5), 5)))
    assert (answer.status_code, answer.headers["content-type"]) == (503, TEXT)
    assert "nothing was cosigned" in answer.text and "\u2014" not in answer.text
    assert on_disk(state_file) is None


class RacingState(WitnessState):
    """A state whose first two `advance` calls wait for each other: both requests have
    decided from the same size before either swaps."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.barrier = threading.Barrier(2)
        self.calls = itertools.count(1)

    def advance(self, old_size: int, new: Cosigned) -> bool:
        if next(self.calls) <= 2:
            self.barrier.wait(timeout=20)
        return super().advance(old_size, new)


def test_two_requests_from_the_same_size_decided_together_give_one_200_and_one_409(
    witness: Witness, log: Signer, state_file: Path
) -> None:
    a = History("a", 5)
    WitnessState(state_file).advance(
        0, Cosigned(ORIGIN, 5, a.root(5), checkpoint(log, a, 5))
    )  # as if cosigned before
    state = RacingState(state_file)
    requests = [grown(a, log, 5, 7), grown(a, log, 5, 9)]
    with (
        serving(create_app(witness, state, now=lambda: NOW)) as base,
        ThreadPoolExecutor(2) as pool,
    ):
        answers = list(pool.map(lambda raw: post(base, raw), requests))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 409]
    won = 7 if answers[0].status_code == 200 else 9
    lost = next(answer for answer in answers if answer.status_code == 409)
    assert lost.text == f"{won}\n"
    assert held(state_file) == (won, a.root(won))


def test_many_requests_from_the_same_size_move_the_log_once(
    url: str, log: Signer, state_file: Path
) -> None:
    a = History("a", 5)
    assert post(url, body(0, checkpoint(log, a, 5))).status_code == 200
    a.grow(20)
    requests = [body(5, checkpoint(log, a, size), a.proof(5, size)) for size in range(6, 20)]
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda raw: post(url, raw), requests))
    won = [
        size
        for size, answer in zip(range(6, 20), answers, strict=True)
        if answer.status_code == 200
    ]
    assert len(won) == 1
    assert {answer.text for answer in answers if answer.status_code != 200} == {f"{won[0]}\n"}
    assert held(state_file) == (won[0], a.root(won[0]))


def test_the_state_swaps_only_from_the_size_it_holds(log: Signer, state_file: Path) -> None:
    state = WitnessState(state_file)
    a = History("a", 9)
    at = {n: Cosigned(ORIGIN, n, a.root(n), f"note {n}\n") for n in (0, 5, 9)}
    assert state.last(ORIGIN) is None
    assert not state.advance(5, at[9])  # the log is at 0, not 5
    assert state.advance(0, at[5])
    assert not state.advance(0, at[9])  # taken: someone moved it to 5 first
    assert state.last(ORIGIN) == at[5]
    assert state.advance(5, at[9])
    assert state.by_origin_hash(origin_hash(ORIGIN)) == at[9]
    huge = Cosigned(ORIGIN, 2**64 - 1, a.root(9), "note\n")  # above SQLite's signed INTEGER
    assert state.advance(9, huge) and state.last(ORIGIN) == huge


# -- the ledger's own client -----------------------------------------------------------------


def test_the_ledgers_client_gets_cosignatures_from_the_real_witness(
    url: str, witness: Witness, log: Signer
) -> None:
    their = witnesses.Witness.parse(f"{url}/ {witness.verifier}")
    a = History("a", 5)
    note = checkpoint(log, a, 5)
    line, held = witnesses.submit(their, a.nodes, note, 5, None, timeout=10)
    assert held == 5
    (signature,) = parse_note("x\n\n" + line).signatures
    assert verify_cosignature(their.verifier, parse_note(note).text, signature) == NOW
    # It does not know what the witness holds: old 0, a 409 says 5, then the proof from 5.
    note = checkpoint(log, a.grow(12), 12)
    line, held = witnesses.submit(their, a.nodes, note, 12, None, timeout=10)
    assert held == 12
    assert verify_cosignature(
        their.verifier, parse_note(note).text, parse_note("x\n\n" + line).signatures[0]
    )
    fork = History("b", 13)
    with pytest.raises(witnesses.WitnessAnswer, match="answered 422"):
        witnesses.submit(their, fork.nodes, checkpoint(log, fork, 13), 13, 12, timeout=10)


# -- the command line ----------------------------------------------------------------------


def test_witness_init_makes_a_private_cosignature_key_and_never_overwrites_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "witness.key"
    assert main(["witness", "init", "--key", str(key), "--name", "witness.example/w1"]) == EXIT_OK
    printed = capsys.readouterr().out.strip()
    verifier = Verifier.parse(printed)
    assert (verifier.name, verifier.key_type) == ("witness.example/w1", COSIGNATURE_ED25519)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    content = key.read_bytes()
    assert main(["witness", "init", "--key", str(key), "--name", "other"]) == EXIT_REFUSED
    assert "never overwritten" in capsys.readouterr().err
    assert key.read_bytes() == content
    assert main(["witness", "key", "--key", str(key)]) == EXIT_OK
    assert capsys.readouterr().out.strip() == printed


def test_witness_init_refuses_a_name_a_key_cannot_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "witness.key"
    assert main(["witness", "init", "--key", str(key), "--name", "a name"]) == EXIT_USAGE
    assert "--name" in capsys.readouterr().err
    assert not key.exists()


def test_witness_key_and_serve_refuse_a_logs_note_key_as_the_witness_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log: Signer
) -> None:
    key = tmp_path / "log.key"
    key.write_text(f"{Signer.generate(ORIGIN, NOTE_ED25519)}\n")
    key.chmod(0o600)
    assert main(["witness", "key", "--key", str(key)]) == EXIT_USAGE
    assert "not a witness's cosignature key" in capsys.readouterr().err
    serve = ["witness", "serve", "--key", str(key), "--state", str(tmp_path / "s.db")]
    assert main([*serve, "--log", str(log.verifier()), "--port", "0"]) == EXIT_USAGE
    assert main(["witness", "key", "--key", str(tmp_path / "missing")]) == EXIT_REFUSED


@pytest.fixture
def witness_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Verifier]:
    key = tmp_path / "witness.key"
    assert main(["witness", "init", "--key", str(key), "--name", "witness.example/w1"]) == 0
    return key, Verifier.parse(capsys.readouterr().out.strip())


@pytest.mark.parametrize(
    ("vkey", "says"),
    [
        ("not a key", "--log"),
        (f"{ORIGIN}+00000000+AQ==", "--log"),
        (str(Signer.generate(ORIGIN, COSIGNATURE_ED25519).verifier()), "type 0x01"),
    ],
    ids=["not a vkey", "bad id", "a cosignature key"],
)
def test_witness_serve_with_a_bad_log_key_is_bad_usage(
    tmp_path: Path,
    witness_key: tuple[Path, Verifier],
    capsys: pytest.CaptureFixture[str],
    vkey: str,
    says: str,
) -> None:
    state = tmp_path / "s.db"
    argv = ["witness", "serve", "--key", str(witness_key[0]), "--state", str(state)]
    assert main([*argv, "--log", vkey, "--port", str(free_port())]) == EXIT_USAGE
    assert says in capsys.readouterr().err
    assert not state.exists()


def test_witness_serve_on_a_busy_port_says_so(
    tmp_path: Path,
    witness_key: tuple[Path, Verifier],
    log: Signer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["witness", "serve", "--key", str(witness_key[0]), "--state", str(tmp_path / "s")]
        assert main([*argv, "--log", str(log.verifier()), "--port", str(port)]) == EXIT_PORT_IN_USE
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_witness_serve_runs_the_witness_the_ledgers_client_talks_to(
    tmp_path: Path, witness_key: tuple[Path, Verifier], log: Signer
) -> None:
    key, verifier = witness_key
    port = free_port()
    state = tmp_path / "witness.db"
    command = [sys.executable, "-m", "api.cli", "witness", "serve", "--key", str(key)]
    command += ["--state", str(state), "--log", str(log.verifier()), "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "the witness did not start"
                time.sleep(0.05)
        their = witnesses.Witness.parse(f"http://127.0.0.1:{port} {verifier}")
        a = History("a", 3)
        note = checkpoint(log, a, 3)
        line, _ = witnesses.submit(their, a.nodes, note, 3, None, timeout=10)
        (signature,) = parse_note("x\n\n" + line).signatures
        assert (
            abs(verify_cosignature(verifier, parse_note(note).text, signature) - time.time()) < 60
        )
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    # uvicorn stops on SIGTERM, then lets the signal end the process as it would have.
    assert server.returncode in (EXIT_OK, -signal.SIGTERM), err
    assert f"witness.example/w1+{verifier.key_id.hex()}" in err and ORIGIN in err
    assert on_disk(state) is not None
