"""Answers with `proof=true`: the account's state, or the account that carried a handle, with
every entry of its stream and the checkpoint; `custody verify` re-runs the fold on the entries
and accepts the answer only if it is what they say, on both stores. The demo's @CMRuritania
story: a handover recorded on 2021-06-12 as effective 2021-06-10, corrected on 2021-07-01 to
2021-06-01; who held it on 2021-06-05 is Anna Vale as known on 2021-06-20 and Boris Kade now."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.bootstrap import Container, build
from api.cli import EXIT_OK, EXIT_REFUSED
from ledger.commands import AssignHolder, Holder
from ledger.settings import Settings
from ledger.tlog.keyfile import create_key
from ledger.tlog.note import Signer
from ledger.tlog.verify import Policy, VerifyError, verify_answer
from tests.stories import ACTOR, LATER
from tests.support import CM, POTUS_OBAMA, cli, serving

ORIGIN = "test.example/answers"
ON_JUNE_5 = "2021-06-05T00:00:00Z"


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return create_key(tmp_path / "log.key", ORIGIN)


@pytest.fixture
def served(demo_url: str, tmp_path: Path, signer: Signer) -> Iterator[tuple[Container, str]]:
    settings = Settings(
        database_url=demo_url,
        log_key_file=tmp_path / "log.key",
        log_origin=ORIGIN,
        public_reads=True,
    )
    container = build(settings)
    assert container.integrator is not None and container.checkpointer is not None
    container.integrator.integrate()
    container.checkpointer.checkpoint()
    try:
        with serving(container) as (host, port):
            yield container, f"http://{host}:{port}"
    finally:
        container.close()


def get(base: str, path: str, **params: str) -> dict[str, Any]:
    answer = httpx.get(base + path, params={**params, "proof": "true"})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def check(answer: dict[str, Any], signer: Signer) -> None:
    verify_answer(answer, Policy(signer.verifier()))


def test_who_held_the_chief_ministers_account_is_proved_as_known_then_and_as_known_now(
    served: tuple[Container, str], signer: Signer
) -> None:
    _, base = served
    then = get(base, f"/v1/accounts/{CM}", at=ON_JUNE_5, known_at="2021-06-20T00:00:00Z")
    now = get(base, f"/v1/accounts/{CM}", at=ON_JUNE_5)
    assert (then["holder"]["name"], now["holder"]["name"]) == ("Anna Vale", "Boris Kade")
    check(then, signer)
    check(now, signer)
    # The entries behind today's answer, read as known on 2021-06-20, say Anna Vale: claiming
    # Boris Kade for that day fails.
    with pytest.raises(VerifyError, match="holder: answer"):
        check({**now, "known_at": "2021-06-20T00:00:00Z"}, signer)
    # What no proof can show (ADR 5): that no later entry exists. The older answer, which
    # carries only the entries known then, passes for today's too; monitors and witnesses,
    # which see every entry, are what catch a log that leaves some out.
    check({**then, "known_at": None}, signer)


def test_an_answer_changed_after_it_was_served_does_not_verify(
    served: tuple[Container, str], signer: Signer
) -> None:
    _, base = served
    answer = get(base, f"/v1/accounts/{POTUS_OBAMA}", at="2016-06-01T00:00:00Z")
    check(answer, signer)
    for field, value in (("handle", "POTUS44"), ("office", "us-nara"), ("status", "closed")):
        with pytest.raises(VerifyError, match=f"{field}: answer"):
            check({**answer, field: value}, signer)
    holder = {**answer["holder"], "since": "1999-01-01T00:00:00Z"}
    made_up = [{"ref": "https://a.example/1", "sha256": None, "items": 1,
                "effective_at": "2016-01-01T00:00:00Z"}]  # fmt: skip
    cited = [{**answer["established_by"][0], "actor": "someone-else"}]
    ineffective = [{"version": 2, "type": "holder_assigned", "why": "made up"}]
    changes: list[tuple[str, Any]] = [
        ("holder", holder), ("archives", made_up), ("version", 3),
        ("established_by", cited), ("ineffective", ineffective),
    ]  # fmt: skip
    for field, value in changes:
        with pytest.raises(VerifyError, match=f"{field}: answer"):
            check({**answer, field: value}, signer)
    for missing in ("status", "holder", "established_by"):
        with pytest.raises(VerifyError, match="not an account or handle answer"):
            check({k: v for k, v in answer.items() if k != missing}, signer)
    # The log position of a cited event is the server's numbering, not in the entries.
    renumbered = [{**p, "position": p["position"] + 1000} for p in answer["established_by"]]
    check({**answer, "established_by": renumbered}, signer)
    entries = answer["proof"]["entries"]
    dropped = {**answer, "proof": {**answer["proof"], "entries": entries[:1] + entries[2:]}}
    with pytest.raises(VerifyError, match="does not follow"):
        check(dropped, signer)
    raw = bytearray(base64.b64decode(entries[1]["entry"]))
    raw[raw.index(b"Barack Obama")] = ord("b")
    altered = [*entries[:1], {**entries[1], "entry": base64.b64encode(raw).decode()}, *entries[2:]]
    with pytest.raises(VerifyError, match="entry"):
        check({**answer, "proof": {**answer["proof"], "entries": altered}}, signer)
    other = Signer.generate(ORIGIN)
    with pytest.raises(VerifyError, match="checkpoint"):
        check(answer, other)


def test_the_account_that_carried_a_handle_is_proved_and_custody_verify_says_so(
    served: tuple[Container, str], signer: Signer, demo_url: str, tmp_path: Path
) -> None:
    _, base = served
    answer = get(base, "/v1/handles/x/POTUS", at="2018-06-01T00:00:00Z")
    assert answer["holder"]["name"] == "Donald J. Trump"
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer), encoding="utf-8")
    assert cli(demo_url, "verify", str(path), "--key", str(signer.verifier())) == EXIT_OK
    answer["holder"]["name"] = "Someone Else"
    path.write_text(json.dumps(answer), encoding="utf-8")
    assert cli(demo_url, "verify", str(path), "--key", str(signer.verifier())) == EXIT_REFUSED


def test_an_answer_resting_on_events_no_checkpoint_holds_yet_waits(
    served: tuple[Container, str],
) -> None:
    container, base = served
    command = AssignHolder(holder=Holder(id="x", name="X"), effective_at=LATER)
    container.ledger.append(POTUS_OBAMA, command, actor=ACTOR)
    answer = httpx.get(f"{base}/v1/accounts/{POTUS_OBAMA}", params={"proof": "true"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["type"].endswith("/log-behind")
    plain = httpx.get(f"{base}/v1/accounts/{POTUS_OBAMA}")  # without a proof: answered
    assert plain.status_code == 200 and "proof" not in plain.json()
