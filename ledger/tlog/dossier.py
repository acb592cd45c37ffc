"""Offline check of a dossier (`custody-dossier/v1`): that what it tells a panel is what the
log it proves says. Pure: the dossier comes in as parsed JSON, the trust as a `Policy`.

  1. each proof: its checkpoint signed under the policy, every entry included in it, the
     entries one stream's hash chain from its first (the account's; the dispute's);
  2. the dossier's events are exactly the account's entries, field by field;
  3. the fold run on those entries gives every answer (the custody in the window as known at
     each record time listed; "now" as known after the last entry), the account's own
     carrying of its handles, and the changes, with the events that changed them
     (`ledger.changes`); each office's tenure changes, by the fold of the office's own
     entries (its proof);
  4. the dispute is what its own entries say (subject, window, claim, status, outcome,
     ruling, its events), it is about this account, and every correction of the account its
     resolution names is an event of the account recorded with the resolution.
The server's log positions (`position`) are the one thing entries cannot show: not compared.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger import changes, dispute_fold
from ledger.commands import handle_key
from ledger.domain import office_id
from ledger.fold import RETRACTED, CustodyInterval, Fact, fold
from ledger.tlog import merkle
from ledger.tlog.entry import timestamp
from ledger.tlog.note import Checkpoint
from ledger.tlog.verify import (
    Policy,
    VerifyError,
    _account_fields,
    chain_facts,
    check_checkpoint,
)

FORMAT = "custody-dossier/v1"


@dataclass(frozen=True)
class DossierCheck:
    """A verified dossier: whose, how many entries and versions, under which checkpoint."""

    account_id: UUID
    events: int
    versions: int
    answers: int
    checkpoint: Checkpoint
    dispute_id: UUID | None


def verify_dossier(dossier: dict[str, Any], policy: Policy) -> DossierCheck:
    """Check a dossier as the module says; VerifyError naming the first thing that differs."""
    try:
        if dossier["format"] != FORMAT:
            raise VerifyError(f"not a {FORMAT} document (format {dossier['format']!r})")
        account_id = UUID(dossier["subject"]["account_id"])
        window = changes.Window(_time(dossier["window"]["from"]), _time(dossier["window"]["to"]))
        proof, dispute = dossier["proof"], dossier["dispute"]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"not a dossier: {e!r}") from None
    if proof is None:
        raise VerifyError("the dossier carries no proof (the verifiable log was off)")
    stream, facts, checkpoint = _proved(proof, policy, "proof")
    if stream != account_id or facts[0].kind != "account":
        raise VerifyError(f"the proof's entries are of stream {stream}, not account {account_id}")
    subject = _Stream(stream, facts)
    dispute_id, opened = None, None
    if dispute is not None:
        dispute_id, opened = _same_dispute(
            dispute, dossier.get("dispute_proof"), policy, subject, window
        )
    _same_events(dossier.get("events"), subject)
    changed = _same_changes(dossier.get("changes"), subject, window)
    answers = dossier.get("answers")
    counted = _same_answers(answers, subject, window, opened, changed)
    _same_handles(dossier.get("handles"), subject, window, answers, opened)
    _same_offices(dossier.get("offices"), answers, policy, window)
    _same_account(dossier.get("account"), subject, window)
    return DossierCheck(account_id, len(facts), len(changed), counted, checkpoint, dispute_id)


def _proved(proof: Any, policy: Policy, name: str) -> tuple[UUID, list[Fact], Checkpoint]:
    """The stream and facts a proof's entries hold, each entry checked in its checkpoint."""
    try:
        note = str(proof["checkpoint"])
        items = [
            (
                int(e["index"]),
                base64.b64decode(e["entry"], validate=True),
                [base64.b64decode(h, validate=True) for h in e["hashes"]],
            )
            for e in proof["entries"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"{name}: malformed: {e!r}") from None
    checkpoint, _ = check_checkpoint(note, policy)
    for index, entry, hashes in items:
        try:
            merkle.verify_inclusion(
                index, checkpoint.size, merkle.leaf_hash(entry), hashes, checkpoint.root
            )
        except merkle.ProofError as e:
            raise VerifyError(f"{name}: entry {index}: {e}") from None
    stream, facts = chain_facts([entry for _, entry, _ in items])
    return stream, facts, checkpoint


def _record(stream: UUID, fact: Fact, retracted: dict[int, int]) -> dict[str, Any]:
    """The event record the API writes for `fact` (but for its log position), as known now."""
    kind = fact.kind
    return {
        "account_id": str(stream) if kind == "account" else None,
        "office": fact.data.get("office") if kind == "office" else None,
        "dispute_id": str(stream) if kind == "dispute" else None,
        "version": fact.version,
        "type": fact.type,
        "effective_at": timestamp(fact.effective_at),
        "recorded_at": timestamp(fact.recorded_at),
        "actor": fact.actor,
        "attributed_to": fact.attributed_to,
        "reason": fact.reason,
        "evidence": [{"url": e.get("url"), "sha256": e.get("sha256")} for e in fact.evidence],
        "data": fact.data,
        "retracted_by": retracted.get(fact.version),
    }


def _said(record: Any) -> dict[str, Any]:
    """A record as the dossier gives it, normalised as `_record` writes one."""
    try:
        # `attributed_to` is absent from a dossier made before it existed: None, as then.
        said = {k: record.get(k) for k in ("account_id", "office", "dispute_id", "version",
                                             "type", "actor", "attributed_to", "reason", "data",
                                             "retracted_by")}  # fmt: skip
        said["effective_at"] = timestamp(_time(record["effective_at"]))
        said["recorded_at"] = timestamp(_time(record["recorded_at"]))
        said["evidence"] = [{"url": e.get("url"), "sha256": e.get("sha256")}
                            for e in record["evidence"]]  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"an event record is malformed: {e!r}") from None
    return said


class _Stream:
    """One stream's proved facts, and the records and provenance they give."""

    def __init__(self, stream: UUID, facts: Sequence[Fact]) -> None:
        self.stream, self.facts = stream, list(facts)
        self.by_version = {f.version: f for f in facts}
        retracted = {f.data["event_version"]: f.version for f in facts if f.type == RETRACTED}
        self.records = {f.version: _record(stream, f, retracted) for f in facts}

    def cited(self, versions: Sequence[int]) -> list[dict[str, Any]]:
        """Provenance (but for positions) of these versions."""
        return [_cited(self.by_version[v]) for v in versions]


def _cited(fact: Fact) -> dict[str, Any]:
    return {"version": fact.version, "type": fact.type,
            "recorded_at": timestamp(fact.recorded_at), "actor": fact.actor}  # fmt: skip


def _said_cited(cited: Any) -> list[dict[str, Any]]:
    return [{"version": p["version"], "type": p["type"],
             "recorded_at": timestamp(_time(p["recorded_at"])), "actor": p["actor"]}
            for p in cited]  # fmt: skip


def _same_events(records: Any, stream: _Stream) -> None:
    facts = stream.facts
    if not isinstance(records, list) or len(records) != len(facts):
        count = len(records) if isinstance(records, list) else records
        raise VerifyError(f"the dossier lists {count} events; the proof has {len(facts)}")
    for record, fact in zip(records, facts, strict=True):
        expected = stream.records[fact.version]
        said = _said(record)
        differ = sorted(k for k in expected if expected[k] != said[k])
        if differ:
            shown = "; ".join(f"{k}: dossier {said[k]!r}, entry {expected[k]!r}" for k in differ)
            raise VerifyError(f"event {fact.version} is not what its entry says: {shown}")


def _intervals(ivs: Sequence[CustodyInterval], stream: _Stream) -> list[tuple[Any, ...]]:
    return [
        (iv.holder.id, iv.holder.name, timestamp(iv.valid_from),
         None if iv.valid_to is None else timestamp(iv.valid_to), list(iv.handles),
         list(iv.offices), stream.cited(iv.established_by))
        for iv in ivs
    ]  # fmt: skip


def _said_intervals(where: str, ivs: Any) -> list[tuple[Any, ...]]:
    try:
        return [
            (iv["holder"]["id"], iv["holder"]["name"], timestamp(_time(iv["from"])),
             None if iv["to"] is None else timestamp(_time(iv["to"])), list(iv["handles"]),
             list(iv["offices"]), _said_cited(iv["established_by"]))
            for iv in ivs
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"{where}: malformed custody: {e!r}") from None


def _same_changes(said: Any, stream: _Stream, window: changes.Window) -> list[datetime]:
    """The changes, each with its custody and the full records of the events behind it; the
    record times of the changes."""
    expected = changes.custody_changes(stream.stream, stream.facts, window)
    try:
        versions = said["versions"]
        if len(versions) != len(expected):
            raise VerifyError(
                f"the dossier lists {len(versions)} changes; the entries give {len(expected)}"
            )
        for n, (version, truth) in enumerate(zip(versions, expected, strict=True)):
            where = f"change {n + 1} ({version['known_at']})"
            if _time(version["known_at"]) != truth.known_at:
                raise VerifyError(f"{where}: the entries change at {timestamp(truth.known_at)}")
            if _said_intervals(where, version["custody"]) != _intervals(truth.intervals, stream):
                raise VerifyError(f"{where}: the custody is not what the entries give")
            named = [_said(r) for r in version["changed_by"]]
            if named != [stream.records[v] for _, v in truth.changed_by]:
                raise VerifyError(
                    f"{where}: changed by {[r['version'] for r in named]}, which are not the "
                    f"entries' events {[v for _, v in truth.changed_by]} as recorded"
                )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"the changes are malformed: {e!r}") from None
    return [v.known_at for v in expected]


def _same_answers(
    answers: Any,
    stream: _Stream,
    window: changes.Window,
    opened: datetime | None,
    changed: list[datetime],
) -> int:
    """The answers: the complaint's (a dispute's dossier), one per change, then now; each the
    custody the entries give as known then. How many."""
    expected: list[tuple[str, datetime | None]] = [("complaint", opened)] if opened else []
    expected += [("change", k) for k in changed]
    expected.append(("now", None))
    try:
        listed = [(a["label"], None if a["known_at"] is None else _time(a["known_at"]))
                  for a in answers]  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise VerifyError(f"the answers are malformed: {e!r}") from None
    if listed != expected:
        raise VerifyError(
            "the answers are not the complaint's, each change's and now's: "
            + ", ".join(f"{label} {'now' if k is None else timestamp(k)}" for label, k in listed)
        )
    for n, (answer, (_, known)) in enumerate(zip(answers, expected, strict=True)):
        where = f"answer {n + 1} (as known {'now' if known is None else timestamp(known)})"
        known_at = stream.facts[-1].recorded_at if known is None else known
        said = _said_intervals(where, answer["custody"])
        if said != _intervals(changes.custody_at(stream.facts, window, known_at), stream):
            raise VerifyError(f"{where}: the custody is not what the entries give")
    return len(answers)


def _same_handles(
    views: Any, stream: _Stream, window: changes.Window, answers: Any, opened: datetime | None
) -> None:
    """Every handle the subject carried in the window (in the answers' custody), as known at
    the complaint's date and now; the subject's own carrying of each as the entries give it.
    Other accounts' carrying of it (a look-alike's) rests on their streams, not in this
    dossier: it is shown, not proved."""
    try:
        handles = dict.fromkeys(h for a in answers for iv in a["custody"] for h in iv["handles"])
        listed = [(None if v["known_at"] is None else _time(v["known_at"]), v["handle"])
                  for v in views]  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise VerifyError(f"the handles are malformed: {e!r}") from None
    times = ([opened] if opened else []) + [None]
    if listed != [(k, h) for k in times for h in handles]:
        raise VerifyError("the handles are not each of the account's, as known then and now")
    for n, view in enumerate(views):
        known = listed[n][0]
        known_at = stream.facts[-1].recorded_at if known is None else known
        try:
            said = [
                (iv["handle"], timestamp(_time(iv["from"])),
                 None if iv["to"] is None else timestamp(_time(iv["to"])),
                 _said_cited(iv["established_by"]))
                for iv in view["intervals"]
                if iv["account_id"] == str(stream.stream)
            ]  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise VerifyError(f"handles {n + 1} is malformed: {e!r}") from None
        key = handle_key(view["handle"])
        expected = [
            (c.handle, timestamp(c.valid_from),
             None if c.valid_to is None else timestamp(c.valid_to), stream.cited(c.established_by))
            for c in changes.carried_at({stream.stream: stream.facts}, key, window, known_at)
        ]  # fmt: skip
        if said != expected:
            raise VerifyError(
                f"handles {n + 1} (@{view['handle']} as known "
                f"{'now' if known is None else timestamp(known)}): the account's carrying of "
                "it is not what the entries give"
            )


def _same_tenures(office: Any, policy: Policy, window: changes.Window) -> None:
    """An office's tenure changes in the window, as its own stream's entries give them (an
    office without a proof, one never registered, has no tenures to show)."""
    try:
        key, versions, proof = (
            office["tenures"]["office"],
            office["tenures"]["versions"],
            office["proof"],
        )
    except (KeyError, TypeError) as e:
        raise VerifyError(f"an office's tenures are malformed: {e!r}") from None
    if proof is None:
        if versions:
            raise VerifyError(f"office {key}: tenures without the proof of its stream")
        return
    stream, facts, _ = _proved(proof, policy, f"office {key}'s proof")
    if stream != office_id(key) or facts[0].kind != "office":
        raise VerifyError(f"office {key}'s proof holds another stream's entries")
    expected = changes.tenure_changes(stream, facts, window)
    try:
        said = [
            (timestamp(_time(v["known_at"])),
             [(t["holder"]["id"], t["holder"]["name"], timestamp(_time(t["from"])),
               timestamp(_time(t["to"]))) for t in v["tenures"]],
             [r["version"] for r in v["changed_by"]])
            for v in versions
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"office {key}'s tenures are malformed: {e!r}") from None
    truth = [
        (timestamp(v.known_at),
         [(t.holder.id, t.holder.name, timestamp(t.valid_from),
           timestamp(t.valid_to or window.valid_to)) for t in v.intervals],
         [version for _, version in v.changed_by])
        for v in expected
    ]  # fmt: skip
    if said != truth:
        raise VerifyError(f"office {key}: the tenures are not what its entries give")


def _same_dispute(
    dispute: Any, proof: Any, policy: Policy, subject: _Stream, window: changes.Window
) -> tuple[UUID, datetime]:
    """The dispute, every field of it, as its own entries give it; about this account and
    window; the corrections of this account it names recorded with it. Its id and when it was
    opened."""
    if proof is None:
        raise VerifyError("the dossier's dispute carries no proof (dispute_proof)")
    stream, facts, _ = _proved(proof, policy, "dispute_proof")
    if facts[0].kind != "dispute":
        raise VerifyError("dispute_proof: the entries are not a dispute's")
    try:
        state = dispute_fold.dispute(facts)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"dispute_proof: the entries do not fold: {e!r}") from None
    assert state is not None
    own = _Stream(stream, facts)
    try:
        said = {
            "dispute_id": UUID(dispute["dispute_id"]),
            "subject": dispute["subject"],
            "window": [timestamp(_time(dispute["window"][k])) for k in ("from", "to")],
            "claim": dispute["claim"],
            "status": dispute["status"],
            "outcome": dispute["outcome"],
            "ruling": dispute["ruling"],
            "contested": [(c["stream"], c["version"]) for c in dispute["contested"]],
            "opened_at": timestamp(_time(dispute["opened_at"])),
            "opened_by": dispute["opened_by"],
            "closed_at": None
            if dispute["closed_at"] is None
            else timestamp(_time(dispute["closed_at"])),
            "corrections": dispute["corrections"],
            "version": dispute["version"],
            "events": [_said(e) for e in dispute["events"]],
        }
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"the dispute is malformed: {e!r}") from None
    expected = {
        "dispute_id": stream,
        "subject": state.subject,
        "window": [timestamp(state.window_from), timestamp(state.window_to)],
        "claim": state.claim,
        "status": state.status,
        "outcome": state.outcome,
        "ruling": state.ruling,
        "contested": list(state.contested),
        "opened_at": timestamp(state.opened_at),
        "opened_by": state.opened_by,
        "closed_at": None if state.closed_at is None else timestamp(state.closed_at),
        "corrections": list(state.corrections),
        "version": state.version,
        "events": [own.records[f.version] for f in facts],
    }
    differ = sorted(k for k in expected if expected[k] != said[k])
    if differ:
        raise VerifyError(f"the dispute is not what its entries say: {', '.join(differ)}")
    if state.subject_account != str(subject.stream):
        raise VerifyError(f"the dispute is about {state.subject}, not account {subject.stream}")
    if (state.window_from, state.window_to) != (window.valid_from, window.valid_to):
        raise VerifyError("the dossier's window is not the dispute's")
    # Corrections of other streams (another account's, an office's) are not in this dossier's
    # entries: only the subject's are checked here.
    for c in (c for c in state.corrections if c["stream_id"] == str(subject.stream)):
        fact = subject.by_version.get(int(c["version"]))
        if fact is None or fact.type != c["type"] or fact.recorded_at != state.closed_at:
            raise VerifyError(
                f"the resolution names correction {c}, which is not an event of the account "
                "recorded with it"
            )
    return stream, state.opened_at


def _same_account(said: Any, stream: _Stream, window: changes.Window) -> None:
    """The account at the window's last instant, as known now: what the fold gives."""
    state = fold(stream.facts, window.valid_to - timedelta(microseconds=1), None)
    if state is None or said is None:
        if (state is None) != (said is None):
            raise VerifyError("the account is given where the fold has none, or the other way")
        return
    expected = _account_fields(state)
    try:
        differ = sorted(k for k in expected if k != "holder" and said[k] != expected[k])
        holder = said["holder"]
        if (holder and {"id": holder["id"], "name": holder["name"]}) != (
            expected["holder"] and {k: expected["holder"][k] for k in ("id", "name")}
        ):
            differ.append("holder")
    except (KeyError, TypeError) as e:
        raise VerifyError(f"the account is malformed: {e!r}") from None
    if differ:
        raise VerifyError(f"the account is not what its entries give: {', '.join(differ)}")


def _same_offices(offices: Any, answers: Any, policy: Policy, window: changes.Window) -> None:
    """One entry for each office of the custody in the answers, each proved."""
    try:
        named = sorted({o for a in answers for iv in a["custody"] for o in iv["offices"]})
        listed = [o["tenures"]["office"] for o in offices]
    except (KeyError, TypeError) as e:
        raise VerifyError(f"the offices are malformed: {e!r}") from None
    if listed != named:
        raise VerifyError(f"the offices are {listed}, the custody names {named}")
    for office in offices:
        _same_tenures(office, policy, window)


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed
