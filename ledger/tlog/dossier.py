"""Offline check of a dossier (`custody-dossier/v1`): that what it tells a panel is what the
log it proves says. Pure: the dossier comes in as parsed JSON, the trust as a `Policy`. Its
subject is an account (`subject: {account_id}`) or an office (`subject: {office}`):

  1. each proof: its checkpoint signed under the policy, every entry included in it, the
     entries one stream's hash chain from its first (the subject's; the dispute's);
  2. the dossier's events are exactly the subject's entries, field by field;
  3. the fold run on those entries gives every answer (an account's custody, an office's
     tenures, in the window as known at each record time listed; "now" as known after the
     last entry) and the changes, with the events that changed them (`ledger.changes`); for
     an account, also its own carrying of its handles, the account as now, and each office's
     tenure changes by the fold of the office's own entries (its proof);
  4. the dispute is what its own entries say (subject, window, claim, status, outcome,
     ruling, its events), it is about this subject and window, and every correction of the
     subject's stream its resolution names is an event of it recorded with the resolution.
The server's log positions (`position`) are the one thing entries cannot show: not compared.
Nor are what rests on other streams (shown, not proved): other accounts' carrying of a
handle, the other disputes, an office's accounts that spoke for it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger import changes, dispute_fold
from ledger.commands import handle_key
from ledger.domain import office_id
from ledger.fold import RETRACTED, CustodyInterval, Fact, fold
from ledger.office_fold import Tenure
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
    """A verified dossier: whose (an account's, or an office's), how many entries and
    versions, under which checkpoint."""

    account_id: UUID | None
    events: int
    versions: int
    answers: int
    checkpoint: Checkpoint
    dispute_id: UUID | None
    office: str | None = None


def verify_dossier(dossier: dict[str, Any], policy: Policy) -> DossierCheck:
    """Check a dossier as the module says; VerifyError naming the first thing that differs."""
    try:
        if dossier["format"] != FORMAT:
            raise VerifyError(f"not a {FORMAT} document (format {dossier['format']!r})")
        about = dict(dossier["subject"])
        office = str(about["office"]) if "office" in about else None
        account_id = None if office is not None else UUID(about["account_id"])
        window = changes.Window(_time(dossier["window"]["from"]), _time(dossier["window"]["to"]))
        proof, dispute = dossier["proof"], dossier["dispute"]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"not a dossier: {e!r}") from None
    if proof is None:
        raise VerifyError("the dossier carries no proof (the verifiable log was off)")
    stream, facts, checkpoint = _proved(proof, policy, "proof")
    kind, name = ("office", f"office {office}") if office else ("account", f"account {account_id}")
    if stream != (office_id(office) if office else account_id) or facts[0].kind != kind:
        raise VerifyError(f"the proof's entries are of stream {stream}, not {name}'s")
    subject = _Stream(stream, facts)
    answer = TENURES if office else CUSTODY
    dispute_id, opened = None, None
    if dispute is not None:
        dispute_id, opened = _same_dispute(
            dispute, dossier.get("dispute_proof"), policy, subject, window
        )
    _same_events(dossier.get("events"), subject)
    _changes_of(dossier.get("changes"), office or account_id, window)
    changed = _same_changes(dossier.get("changes"), subject, window, answer)
    answers = dossier.get("answers")
    counted = _same_answers(answers, subject, window, opened, changed, answer)
    if office is not None:
        _empty(dossier, {"account": None, "handles": [], "offices": []}, name)
        _shown_speakers(dossier.get("accounts"), opened)
    else:
        _empty(dossier, {"accounts": []}, name)
        _same_handles(dossier.get("handles"), subject, window, answers, opened)
        _same_offices(dossier.get("offices"), answers, policy, window)
        _same_account(dossier.get("account"), subject, window)
    return DossierCheck(
        account_id, len(facts), len(changed), counted, checkpoint, dispute_id, office
    )


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


def _record(
    stream: UUID, fact: Fact, retracted: dict[int, int], office: str | None
) -> dict[str, Any]:
    """The event record the API writes for `fact` (but for its log position), as known now
    (`office`: the key of an office's stream, which its registration names)."""
    kind = fact.kind
    return {
        "account_id": str(stream) if kind == "account" else None,
        "office": office if kind == "office" else None,
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
        # An office's stream is named by its key, which its registration (version 1) gives.
        self.office = facts[0].data.get("office") if facts[0].kind == "office" else None
        self.records = {f.version: _record(stream, f, retracted, self.office) for f in facts}

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


def _custody_row(iv: CustodyInterval, stream: _Stream) -> tuple[Any, ...]:
    return (iv.holder.id, iv.holder.name, timestamp(iv.valid_from),
            None if iv.valid_to is None else timestamp(iv.valid_to), list(iv.handles),
            list(iv.offices), stream.cited(iv.established_by))  # fmt: skip


def _said_custody_row(iv: Any) -> tuple[Any, ...]:
    return (iv["holder"]["id"], iv["holder"]["name"], timestamp(_time(iv["from"])),
            None if iv["to"] is None else timestamp(_time(iv["to"])), list(iv["handles"]),
            list(iv["offices"]), _said_cited(iv["established_by"]))  # fmt: skip


def _tenure_row(t: Tenure, stream: _Stream) -> tuple[Any, ...]:
    return (t.holder.id, t.holder.name, timestamp(t.valid_from),
            None if t.valid_to is None else timestamp(t.valid_to),
            stream.cited(t.established_by))  # fmt: skip


def _said_tenure_row(t: Any) -> tuple[Any, ...]:
    return (t["holder"]["id"], t["holder"]["name"], timestamp(_time(t["from"])),
            None if t["to"] is None else timestamp(_time(t["to"])),
            _said_cited(t["established_by"]))  # fmt: skip


@dataclass(frozen=True)
class _Answer:
    """What one kind of subject's answer holds: its key in an answer and a change ("custody",
    an account's; "tenures", an office's), the fold's answer as known at a time and its
    changes (`ledger.changes`), and each interval as compared (provenance but positions)."""

    key: str
    says: str  # "the custody is", "the tenures are"
    at: Callable[[Sequence[Fact], changes.Window, datetime], Sequence[Any]]
    changes: Callable[[UUID, Sequence[Fact], changes.Window], Sequence[changes.Version[Any]]]
    row: Callable[[Any, _Stream], tuple[Any, ...]]
    said_row: Callable[[Any], tuple[Any, ...]]

    def rows(self, intervals: Sequence[Any], stream: _Stream) -> list[tuple[Any, ...]]:
        return [self.row(iv, stream) for iv in intervals]

    def said(self, where: str, intervals: Any) -> list[tuple[Any, ...]]:
        try:
            return [self.said_row(iv) for iv in intervals]
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise VerifyError(f"{where}: malformed {self.key}: {e!r}") from None


CUSTODY = _Answer("custody", "the custody is", changes.custody_at, changes.custody_changes,
                  _custody_row, _said_custody_row)  # fmt: skip
TENURES = _Answer("tenures", "the tenures are", changes.tenures_at, changes.tenure_changes,
                  _tenure_row, _said_tenure_row)  # fmt: skip


def _same_changes(
    said: Any,
    stream: _Stream,
    window: changes.Window,
    answer: _Answer,
    name: str = "the dossier",
) -> list[datetime]:
    """The changes (`name`'s), each with its answer and the full records of the events behind
    it; the record times of the changes."""
    expected = answer.changes(stream.stream, stream.facts, window)
    prefix = "" if name == "the dossier" else f"{name}: "
    try:
        versions = said["versions"]
        if len(versions) != len(expected):
            raise VerifyError(
                f"{name} lists {len(versions)} changes; the entries give {len(expected)}"
            )
        for n, (version, truth) in enumerate(zip(versions, expected, strict=True)):
            where = f"{prefix}change {n + 1} ({version['known_at']})"
            if _time(version["known_at"]) != truth.known_at:
                raise VerifyError(f"{where}: the entries change at {timestamp(truth.known_at)}")
            if answer.said(where, version[answer.key]) != answer.rows(truth.intervals, stream):
                raise VerifyError(f"{where}: {answer.says} not what the entries give")
            named = [_said(r) for r in version["changed_by"]]
            if named != [stream.records[v] for _, v in truth.changed_by]:
                raise VerifyError(
                    f"{where}: changed by {[r['version'] for r in named]}, which are not the "
                    f"entries' events {[v for _, v in truth.changed_by]} as recorded"
                )
    except VerifyError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"{prefix}the changes are malformed: {e!r}") from None
    return [v.known_at for v in expected]


def _same_answers(
    answers: Any,
    stream: _Stream,
    window: changes.Window,
    opened: datetime | None,
    changed: list[datetime],
    answer: _Answer,
) -> int:
    """The answers: the complaint's (a dispute's dossier), one per change, then now; each what
    the entries give as known then. How many."""
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
    for n, (given, (_, known)) in enumerate(zip(answers, expected, strict=True)):
        where = f"answer {n + 1} (as known {'now' if known is None else timestamp(known)})"
        known_at = stream.facts[-1].recorded_at if known is None else known
        try:
            said = answer.said(where, given[answer.key])
        except (KeyError, TypeError) as e:
            raise VerifyError(f"{where}: malformed: {e!r}") from None
        if said != answer.rows(answer.at(stream.facts, window, known_at), stream):
            raise VerifyError(f"{where}: {answer.says} not what the entries give")
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
        key, tenures, proof = office["tenures"]["office"], office["tenures"], office["proof"]
        versions = tenures["versions"]
    except (KeyError, TypeError) as e:
        raise VerifyError(f"an office's tenures are malformed: {e!r}") from None
    if proof is None:
        if versions:
            raise VerifyError(f"office {key}: tenures without the proof of its stream")
        return
    stream, facts, _ = _proved(proof, policy, f"office {key}'s proof")
    if stream != office_id(key) or facts[0].kind != "office":
        raise VerifyError(f"office {key}'s proof holds another stream's entries")
    _same_changes(tenures, _Stream(stream, facts), window, TENURES, f"office {key}")


def _same_dispute(
    dispute: Any, proof: Any, policy: Policy, subject: _Stream, window: changes.Window
) -> tuple[UUID, datetime]:
    """The dispute, every field of it, as its own entries give it; about this subject (an
    account, an office) and window; the corrections of the subject's stream it names recorded
    with it. Its id and when it was opened."""
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
    office = subject.office
    about = {"office": office} if office else {"account_id": str(subject.stream)}
    if state.subject != about:
        raise VerifyError(f"the dispute is about {state.subject}, not {about}")
    if (state.window_from, state.window_to) != (window.valid_from, window.valid_to):
        raise VerifyError("the dossier's window is not the dispute's")
    # Corrections of other streams (another account's, an office's) are not in this dossier's
    # entries: only the subject's are checked here.
    for c in (c for c in state.corrections if c["stream_id"] == str(subject.stream)):
        fact = subject.by_version.get(int(c["version"]))
        if fact is None or fact.type != c["type"] or fact.recorded_at != state.closed_at:
            raise VerifyError(
                f"the resolution names correction {c}, which is not an event of the "
                f"{'office' if office else 'account'} recorded with it"
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


def _changes_of(said: Any, subject: UUID | str | None, window: changes.Window) -> None:
    """The changes are of the dossier's subject (an office's key, an account's id) and window."""
    try:
        of = said["office"] if isinstance(subject, str) else UUID(said["account_id"])
        span = (_time(said["window"]["from"]), _time(said["window"]["to"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"the changes are malformed: {e!r}") from None
    if of != subject or span != (window.valid_from, window.valid_to):
        raise VerifyError("the changes are not of the dossier's subject and window")


def _empty(dossier: dict[str, Any], fields: dict[str, Any], name: str) -> None:
    """The fields that do not apply to the subject's dossier: null or empty (or, for fields
    later than the dossier's version, absent)."""
    for field, empty in fields.items():
        if dossier.get(field, empty) != empty:
            raise VerifyError(f"the dossier of {name} gives {field}, which does not apply to it")


def _shown_speakers(accounts: Any, opened: datetime | None) -> None:
    """An office's accounts that spoke for it in the window: shown, not proved (their streams
    are not in the dossier); each is said as known at the complaint's date or now."""
    times = ([opened] if opened else []) + [None]
    try:
        for account in accounts:
            UUID(account["account_id"])
            known = None if account["known_at"] is None else _time(account["known_at"])
            if known not in times:
                raise VerifyError(
                    f"account {account['account_id']} is shown as known at "
                    f"{account['known_at']}, neither the complaint's date nor now"
                )
    except VerifyError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerifyError(f"the accounts are malformed: {e!r}") from None


def _time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed
