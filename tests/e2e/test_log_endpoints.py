"""The verifiable log over HTTP, as a C2SP client, a monitor and the holder of a receipt see
it: the signed checkpoint, tiles (full ones only once they exist, cached forever), JSON
proofs that verify, offline receipts `custody verify` checks (and refuses once tampered
with), `/health`'s log part, and a static copy a monitor follows, noticing a fork."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Container
from api.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from api.http.app import create_app
from api.http.routes.log import IMMUTABLE, SHORT
from ledger.commands import AssignHolder, Holder
from ledger.tlog import merkle
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Checkpoint, Signer, open_checkpoint
from ledger.tlog.tiles import unbundle
from projections.tlog.store import LogStore
from tests.e2e.support import Tokens, assert_problem, bearer, make_container
from tests.stories import ACTOR, LATER
from tests.support import CM, POTUS_OBAMA, US_HISTORY, FakeClock, cli, serving, until

Capture = pytest.CaptureFixture[str]
ORIGIN = "records.example.org/custody-log"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Log:
    """A served log: the demo (43 custody events), integrated and signed, and tokens."""

    url: str
    container: Container
    store: LogStore
    client: TestClient  # sends the reader's token
    tokens: Tokens
    signer: Signer
    key_file: Path

    @property
    def vkey(self) -> str:
        return str(self.signer.verifier())

    def sync(self) -> None:
        sync(self.container)

    def hashes(self) -> list[bytes]:
        size, _ = self.store.tip()
        return [merkle.leaf_hash(x.entry) for x in self.store.leaves(0, size)]


def sync(container: Container) -> None:
    """Integrate and sign what was recorded since, as the log's worker would."""
    assert container.integrator is not None and container.checkpointer is not None
    container.integrator.integrate()
    container.checkpointer.checkpoint()


def _open(url: str, key_file: Path, clock: FakeClock, **settings: Any) -> Container:
    return make_container(url, clock, log_key_file=key_file, log_origin=ORIGIN, **settings)


@pytest.fixture
def log(store_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Log]:
    assert cli(store_url, "import", str(US_HISTORY), "--restore") == EXIT_OK
    key_file = tmp_path / "log.key"
    signer = create_key(key_file, ORIGIN)
    container = _open(store_url, key_file, clock)
    tokens = Tokens.issue(container)  # token events: in the log, never in the tree
    sync(container)
    assert container.log is not None
    assert container.log.tip() == (43, container.ledger.head())
    app = create_app(container=container, run_worker=False)
    with TestClient(app, headers=bearer(tokens.reader)) as client:
        yield Log(store_url, container, container.log, client, tokens, signer, key_file)


def grow(container: Container, count: int, first: int = 0) -> None:
    """`count` more custody events on the Obama-era @POTUS, in one batch."""
    ledger = container.ledger
    with ledger.batch() as batch:
        for n in range(first, first + count):
            who = ("biden", "harris")[n % 2]
            command = AssignHolder(holder=Holder(id=who, name=who.title()),
                                   effective_at=LATER + timedelta(hours=n))  # fmt: skip
            ledger.append(POTUS_OBAMA, command, actor=ACTOR, batch=batch)


# -- the checkpoint ----------------------------------------------------------------------------


def test_the_checkpoint_is_a_signed_note_that_opens_under_the_logs_key(log: Log) -> None:
    response = log.client.get("/log/checkpoint")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TEXT
    assert response.headers["cache-control"] == "no-cache"
    checkpoint, _ = open_checkpoint(response.text, log.signer.verifier())
    assert checkpoint == Checkpoint(ORIGIN, 43, merkle.root_of(log.hashes()))
    # Growth is served once signed, not before.
    grow(log.container, 2)
    assert log.client.get("/log/checkpoint").text == response.text
    log.sync()
    grown, _ = open_checkpoint(log.client.get("/log/checkpoint").text, log.signer.verifier())
    assert (grown.size, grown.root) == (45, merkle.root_of(log.hashes()))


def test_every_log_read_needs_a_reader_token_unless_reads_are_public(
    log: Log, clock: FakeClock
) -> None:
    paths = ["/log/checkpoint", "/log/tile/0/000.p/43", "/log/tile/entries/000.p/43",
             "/v1/log/proofs/inclusion?index=0", "/v1/log/proofs/consistency?from=1",
             f"/v1/events/{log.store.leaves(0, 1)[0].position}/receipt"]  # fmt: skip
    anonymous = TestClient(log.client.app)
    for path in paths:
        assert log.client.get(path).status_code == 200, path
        assert_problem(anonymous.get(path), 401, "unauthorized")
        assert_problem(anonymous.get(path, headers=bearer("not-a-token")), 401, "unauthorized")
    public = _open(log.url, log.key_file, clock, public_reads=True)
    with TestClient(create_app(container=public, run_worker=False)) as client:
        for path in paths:
            assert client.get(path).status_code == 200, path


# -- tiles -------------------------------------------------------------------------------------


def test_a_full_tile_is_served_once_the_tree_holds_it_and_is_cached_for_good(log: Log) -> None:
    """At 43 entries only partial tiles exist; at 300, a full tile of each kind, a partial one
    after it, and a partial level-1 tile holding the full tile's root."""
    get = log.client.get
    assert_problem(get("/log/tile/0/000"), 404, "log-not-found")
    assert_problem(get("/log/tile/entries/000"), 404, "log-not-found")
    assert_problem(get("/log/tile/0/000.p/44"), 404, "log-not-found")
    partial = get("/log/tile/0/000.p/43")
    assert (partial.status_code, partial.headers["cache-control"]) == (200, SHORT)
    assert partial.content == b"".join(log.hashes())
    grow(log.container, 257)
    log.sync()
    assert log.store.tip()[0] == 300
    hashes = log.hashes()
    entries = [x.entry for x in log.store.leaves(0, 300)]
    full = get("/log/tile/0/000")
    assert (full.status_code, full.headers["cache-control"]) == (200, IMMUTABLE)
    assert full.headers["content-type"] == "application/octet-stream"
    assert len(full.content) == 32 * 256
    assert full.content == b"".join(hashes[:256])
    assert full.content == b"".join(log.store.nodes([(0, i) for i in range(256)]))
    rest = get("/log/tile/0/001.p/44")
    assert (rest.status_code, rest.headers["cache-control"]) == (200, SHORT)
    assert rest.content == b"".join(hashes[256:])
    # A smaller partial tile is a prefix of the tree too; a wider one is not there yet.
    assert get("/log/tile/0/001.p/10").content == b"".join(hashes[256:266])
    assert_problem(get("/log/tile/0/001.p/45"), 404, "log-not-found")
    assert_problem(get("/log/tile/0/001"), 404, "log-not-found")
    upper = get("/log/tile/1/000.p/1")  # level 1 holds the roots of the level-0 tiles
    assert (upper.status_code, upper.headers["cache-control"]) == (200, SHORT)
    assert upper.content == merkle.root_of(hashes[:256])
    assert_problem(get("/log/tile/1/000"), 404, "log-not-found")
    assert_problem(get("/log/tile/2/000.p/1"), 404, "log-not-found")
    bundle = get("/log/tile/entries/000")
    assert (bundle.status_code, bundle.headers["cache-control"]) == (200, IMMUTABLE)
    assert unbundle(bundle.content) == entries[:256]
    assert [merkle.leaf_hash(e) for e in unbundle(bundle.content)] == hashes[:256]
    tail = get("/log/tile/entries/001.p/44")
    assert (tail.status_code, tail.headers["cache-control"]) == (200, SHORT)
    assert unbundle(tail.content) == entries[256:]


MALFORMED_TILE_PATHS = [
    "0/1", "00/000", "0/x000/005", "0/000.p/0", "0/000.p/256", "64/000", "entries/0000",
    "foo/000", "0/000.p/", "0/-01", "entries", "0/000.p/043",
]  # fmt: skip


def test_a_tile_path_not_in_the_canonical_form_is_422(log: Log) -> None:
    for path in MALFORMED_TILE_PATHS:
        response = log.client.get(f"/log/tile/{path}")
        assert response.status_code == 422, path
        assert_problem(response, 422, "bad-tile-path")


def test_a_tile_beyond_the_tree_is_404(log: Log) -> None:
    for path in ("0/005", "0/001.p/1", "entries/000.p/44", "entries/x001/000", "1/000.p/1",
                 "63/000.p/1"):  # fmt: skip
        assert_problem(log.client.get(f"/log/tile/{path}"), 404, "log-not-found")


# -- proofs ------------------------------------------------------------------------------------


def _b64s(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def test_every_inclusion_and_consistency_proof_served_verifies(log: Log) -> None:
    hashes = log.hashes()
    for size in (1, 2, 7, 32, 43):
        root = merkle.root_of(hashes[:size])
        for index in range(size):
            response = log.client.get(f"/v1/log/proofs/inclusion?index={index}&tree_size={size}")
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["index"], body["tree_size"]) == (index, size)
            assert base64.b64decode(body["leaf_hash"]) == hashes[index]
            assert base64.b64decode(body["root"]) == root
            merkle.verify_inclusion(index, size, hashes[index], _b64s(body["hashes"]), root)
    body = log.client.get("/v1/log/proofs/inclusion?index=42").json()  # the current size
    assert (body["tree_size"], base64.b64decode(body["root"])) == (43, merkle.root_of(hashes))
    for first in range(0, 44):
        response = log.client.get(f"/v1/log/proofs/consistency?from={first}")
        assert response.status_code == 200, response.text
        body = response.json()
        old, new = merkle.root_of(hashes[:first]), merkle.root_of(hashes)
        assert (body["from"], body["to"]) == (first, 43)
        assert _b64s([body["root_from"], body["root_to"]]) == [old, new]
        if 0 < first < 43:
            merkle.verify_consistency(first, 43, _b64s(body["hashes"]), old, new)
        else:
            assert body["hashes"] == []
    body = log.client.get("/v1/log/proofs/consistency?from=10&to=20").json()
    merkle.verify_consistency(
        10, 20, _b64s(body["hashes"]), merkle.root_of(hashes[:10]), merkle.root_of(hashes[:20])
    )


BAD_PROOF_QUERIES = [
    ("inclusion?index=43", 404),
    ("inclusion?index=43&tree_size=43", 404),
    ("inclusion?index=5&tree_size=5", 404),
    ("inclusion?index=0&tree_size=44", 404),
    ("inclusion?index=0&tree_size=4503599627370496", 404),
    ("inclusion?index=-1", 422),
    ("inclusion?index=0&tree_size=0", 422),
    ("inclusion?index=0&tree_size=-3", 422),
    ("inclusion?index=one", 422),
    ("inclusion", 422),
    ("inclusion?index=99999999999999999999999", 422),
    ("consistency?from=44", 404),
    ("consistency?from=10&to=5", 404),
    ("consistency?from=5&to=44", 404),
    ("consistency?from=-1", 422),
    ("consistency?from=1&to=-1", 422),
    ("consistency", 422),
    ("consistency?from=4503599627370497", 422),
]


def test_a_proof_the_tree_cannot_give_is_a_problem_never_a_500(log: Log) -> None:
    for query, status in BAD_PROOF_QUERIES:
        response = log.client.get(f"/v1/log/proofs/{query}")
        assert response.status_code == status, (query, response.text)
        assert_problem(response, status, "log-not-found" if status == 404 else "invalid-input")


# -- receipts ----------------------------------------------------------------------------------


def _flip(text: str, at: int) -> str:
    """`text` with the base64 character at `at` replaced by another valid one."""
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]


def test_a_receipt_verifies_offline_and_any_change_to_it_does_not(
    log: Log, tmp_path: Path, capsys: Capture
) -> None:
    record = log.container.ledger.records(CM)[1]
    assert record.position is not None
    leaf = log.store.leaf_at_position(record.position)
    assert leaf is not None
    response = log.client.get(f"/v1/events/{record.position}/receipt")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == TEXT
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="event-{record.position}.tlog-proof"'
    )
    text = response.text

    def verify(receipt: str, *options: str) -> tuple[int, str, str]:
        path = tmp_path / "event.tlog-proof"
        path.write_text(receipt, encoding="utf-8")
        capsys.readouterr()
        code = cli(log.url, "verify", str(path), "--key", log.vkey, *options)
        out, err = capsys.readouterr()
        return code, out, err

    assert verify(text) == (
        EXIT_OK,
        f"verified: entry {leaf.index} of {ORIGIN} at size 43 (0 cosignature(s)): account {CM} "
        f"version 2 {record.type}, effective {record.effective_at.isoformat()}, recorded "
        f"{record.recorded_at.isoformat()} by {record.actor}\n",
        "",
    )
    lines = text.split("\n")
    assert lines[:3] == [
        "c2sp.org/tlog-proof@v1",
        "extra " + base64.b64encode(leaf.entry).decode("ascii"),
        f"index {leaf.index}",
    ]
    signature = next(n for n, line in enumerate(lines) if line.startswith("\u2014 "))
    sig_at = len(lines[signature]) - 20  # inside the signature, past the key id
    tampered = {
        "a proof hash": (3, 10, f"receipt: entry {leaf.index}: "),
        "the entry": (1, 40, f"receipt: entry {leaf.index}: "),
        "the checkpoint's signature": (signature, sig_at, "checkpoint: "),
    }
    for what, (line, at, why) in tampered.items():
        changed = list(lines)
        changed[line] = _flip(changed[line], at)
        code, out, err = verify("\n".join(changed))
        assert (code, out) == (EXIT_REFUSED, ""), what
        assert err.startswith("custody verify: FAILED: " + why), (what, err)
    other = create_key(tmp_path / "other.key", ORIGIN)  # the same name, another key
    capsys.readouterr()
    path = tmp_path / "event.tlog-proof"
    path.write_text(text, encoding="utf-8")
    assert cli(log.url, "verify", str(path), "--key", str(other.verifier())) == EXIT_REFUSED
    assert capsys.readouterr().err.startswith("custody verify: FAILED: checkpoint: ")
    code, out, err = verify(text, "--quorum", "1")
    assert (code, out) == (EXIT_USAGE, "")
    assert "a quorum of 1 needs as many witness keys" in err


def test_only_a_custody_event_integrated_in_a_checkpoint_has_a_receipt(log: Log) -> None:
    """A token's event is in the log but not in the tree; a position past the head holds
    nothing; an event recorded but not yet signed is asked for again later (503)."""
    head = log.container.ledger.head()
    token_position = head  # the last token event Tokens.issue wrote
    assert log.store.leaf_at_position(token_position) is None
    assert_problem(log.client.get(f"/v1/events/{token_position}/receipt"), 404, "log-not-found")
    assert_problem(log.client.get(f"/v1/events/{head + 1}/receipt"), 404, "log-not-found")
    assert_problem(log.client.get(f"/v1/events/{head + 1000}/receipt"), 404, "log-not-found")
    assert_problem(log.client.get("/v1/events/0/receipt"), 422, "invalid-input")
    assert_problem(log.client.get("/v1/events/x/receipt"), 422, "invalid-input")
    grow(log.container, 1)
    assert log.container.integrator is not None
    assert_problem(log.client.get(f"/v1/events/{head + 1}/receipt"), 503, "log-behind")
    log.container.integrator.integrate()
    assert_problem(log.client.get(f"/v1/events/{head + 1}/receipt"), 503, "log-behind")
    log.sync()
    assert log.client.get(f"/v1/events/{head + 1}/receipt").status_code == 200


# -- /health -----------------------------------------------------------------------------------


def test_health_shows_the_tree_its_lag_and_the_latest_checkpoint(log: Log) -> None:
    body = log.client.get("/health").json()
    assert body["log"]["tree_size"] == 43 and body["log"]["lag"] == 0
    checkpoint = body["log"]["checkpoint"]
    assert 0 <= checkpoint.pop("age_seconds") < 60
    assert checkpoint == {"size": 43, "cosignatures": 0, "published": True}
    assert body["log"]["worker"] == {"running": None, "last_error": None}
    # A checkpoint signed an hour ago, then one event recorded and not integrated.
    checkpointer = log.container.checkpointer
    assert checkpointer is not None and log.container.integrator is not None
    grow(log.container, 1)
    log.container.integrator.integrate()
    checkpointer.clock = lambda: datetime.now(UTC) - timedelta(hours=1)
    checkpointer.checkpoint()
    grow(log.container, 1, first=1)
    response = log.client.get("/health")
    part = response.json()["log"]
    assert (part["tree_size"], part["lag"]) == (44, 1)
    assert part["checkpoint"]["size"] == 44
    assert 3600 <= part["checkpoint"]["age_seconds"] < 3660
    # Integrated, the tree is past a checkpoint older than the bound: degraded, saying so.
    log.container.integrator.integrate()
    response = log.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["log"]["tree_size"], body["log"]["lag"]) == (45, 0)
    assert any(
        r.startswith("the latest checkpoint is 36") and r.endswith("s old and behind the tree")
        for r in body["reasons"]
    ), body["reasons"]


# -- a static copy, and a monitor following it -------------------------------------------------


def _monitor(log: Log, prefix: str, state: Path, capsys: Capture, *more: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli(log.url, "verify", "--log", prefix, "--key", log.vkey, "--state", str(state), *more)
    out, err = capsys.readouterr()
    return code, out + err


def test_a_monitor_follows_the_published_copy_and_notices_a_fork(
    log: Log, tmp_path: Path, clock: FakeClock, capsys: Capture
) -> None:
    site, state = tmp_path / "site", tmp_path / "monitor.json"
    capsys.readouterr()
    assert cli(log.url, "log", "publish", str(site)) == EXIT_OK
    assert capsys.readouterr().out == (
        f"published a checkpoint of 43 entries to {site}: 2 tile(s) written, 0 already there\n"
    )
    assert (site / "checkpoint").read_text(encoding="utf-8") == (
        log.client.get("/log/checkpoint").text
    )
    assert (site / "tile/0/000.p/43").read_bytes() == b"".join(log.hashes())
    prefix = site.as_uri()  # file://...: urllib reads the copy as it would a web server
    assert _monitor(log, prefix, state, capsys) == (
        EXIT_OK,
        f"verified {ORIGIN}: 43 new entries, 0 -> 43, consistent with the last checkpoint seen\n",
    )
    assert json.loads(state.read_text())["size"] == 43
    grow(log.container, 2)
    log.sync()
    capsys.readouterr()
    assert cli(log.url, "log", "publish", str(site)) == EXIT_OK
    assert "45 entries" in capsys.readouterr().out
    assert _monitor(log, prefix, state, capsys) == (
        EXIT_OK,
        f"verified {ORIGIN}: 2 new entries, 43 -> 45, consistent with the last checkpoint seen\n",
    )
    # Another store, signed with the same key under the same origin, whose history parts
    # from this one after the demo: a fork of the log.
    fork_url = f"sqlite:///{tmp_path}/fork.db"
    assert cli(fork_url, "import", str(US_HISTORY), "--restore") == EXIT_OK
    fork = _open(fork_url, log.key_file, clock)
    try:
        sync(fork)
        early = tmp_path / "fork-early"
        assert cli(fork_url, "log", "publish", str(early)) == EXIT_OK  # 43: behind the monitor
        ledger = fork.ledger
        for n, who in enumerate(("trump", "vance")):
            command = AssignHolder(holder=Holder(id=who, name=who.title()),
                                   effective_at=LATER + timedelta(hours=n))  # fmt: skip
            ledger.append(POTUS_OBAMA, command, actor=ACTOR)
        sync(fork)
        forked = tmp_path / "fork"
        assert cli(fork_url, "log", "publish", str(forked)) == EXIT_OK  # 45, other entries
    finally:
        fork.close()
    before = state.read_text()
    code, said = _monitor(log, forked.as_uri(), state, capsys)
    assert (code, said) == (
        EXIT_REFUSED,
        "custody verify: FAILED: fork: two different roots for 45 entries\n",
    )
    code, said = _monitor(log, early.as_uri(), state, capsys)
    assert (code, said) == (
        EXIT_REFUSED,
        "custody verify: FAILED: rollback: the log's checkpoint has 43 entries, the last one "
        "seen had 45\n",
    )
    assert state.read_text() == before  # a failed run keeps the last good state
    # A monitor that saw the fork's 43 entries, then this log's 45: the same 43, so no fork
    # there; one that saw this log at 43, then the fork at 45: the new entries differ.
    fresh = tmp_path / "fresh.json"
    assert _monitor(log, early.as_uri(), fresh, capsys)[0] == EXIT_OK
    assert _monitor(log, forked.as_uri(), fresh, capsys)[0] == EXIT_OK  # the fork extends it
    code, said = _monitor(log, prefix, fresh, capsys)
    assert (code, said) == (
        EXIT_REFUSED,
        "custody verify: FAILED: fork: two different roots for 45 entries\n",
    )


def test_a_monitor_follows_the_served_log_with_a_reader_token(
    log: Log, tmp_path: Path, clock: FakeClock, capsys: Capture
) -> None:
    """The app serving the log, its worker integrating and signing as events arrive."""
    state = tmp_path / "monitor.json"
    container = _open(log.url, log.key_file, clock)
    with serving(container) as (host, port):
        prefix = f"http://{host}:{port}/log"
        token = ("--token", log.tokens.reader)
        assert _monitor(log, prefix, state, capsys, *token) == (
            EXIT_OK,
            f"verified {ORIGIN}: 43 new entries, 0 -> 43, consistent with the last checkpoint "
            "seen\n",
        )
        code, said = _monitor(log, prefix, state, capsys)
        assert (code, said) == (
            EXIT_REFUSED,
            f"custody verify: FAILED: GET {prefix}/checkpoint answered 401\n",
        )
        grow(container, 3)
        store = container.log
        assert store is not None
        until(lambda: (c := store.latest_checkpoint()) is not None and c.size == 46)
        assert _monitor(log, prefix, state, capsys, *token) == (
            EXIT_OK,
            f"verified {ORIGIN}: 3 new entries, 43 -> 46, consistent with the last checkpoint "
            "seen\n",
        )


def test_a_receipt_names_the_account_it_proves(log: Log) -> None:
    """The entry a receipt carries is the event at that position, chained to its stream."""
    records = log.container.ledger.records(CM)
    for record in records:
        text = log.client.get(f"/v1/events/{record.position}/receipt").text
        extra = base64.b64decode(text.split("\n")[1].removeprefix("extra "))
        value = json.loads(extra)
        assert (UUID(value["account_id"]), value["version"], value["type"]) == (
            CM,
            record.version,
            record.type,
        )
        assert (value["prev"] is None) == (record.version == 1)
