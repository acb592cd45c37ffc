"""`custody log` (the verifiable log's key and static copy) and `custody verify` (the store,
a receipt, or a log as a monitor sees it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from api.cli.common import (
    EXIT_OK,
    EXIT_REFUSED,
    GLOBAL,
    BadUsage,
    opened,
    progress,
    recorded_by,
    settings_of,
)
from ledger.tlog.dossier import DossierCheck, verify_dossier
from ledger.tlog.keyfile import create_key, read_key
from ledger.tlog.note import COSIGNATURE_ED25519, NoteError, Verifier
from ledger.tlog.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef
from ledger.tlog.verify import (
    MonitorState,
    Policy,
    VerifyError,
    monitor_step,
    verify_answer,
    verify_receipt,
)
from projections.tlog.audit import audit_store


def init(args: argparse.Namespace) -> int:
    """Create the log's signing key (never overwriting one) and print its verifier key."""
    settings = settings_of(args)
    signer = create_key(settings.log_key_file, settings.log_origin)
    print(f"created {settings.log_key_file} (mode 0600) for origin {signer.name}", file=sys.stderr)
    print(signer.verifier())
    return EXIT_OK


def key(args: argparse.Namespace) -> int:
    """Print the verifier key of the log's signing key: what readers and witnesses trust."""
    print(read_key(settings_of(args).log_key_file).verifier())
    return EXIT_OK


def publish(args: argparse.Namespace) -> int:
    """Write the latest published checkpoint and the tiles it needs as static files: full
    tiles once (they never change), partial tiles and the checkpoint each time, the
    checkpoint last, so a reader never finds a checkpoint without its tiles."""
    out = Path(args.directory)
    with opened(args) as container:
        service = container.log_service
        if service is None:
            raise BadUsage("the verifiable log is turned off (CUSTODY_LOG_ENABLED=false)")
        checkpoint = service.checkpoint()
        size, written = checkpoint.size, 0
        refs = list(tiles_of(size))
        with progress(f"publish {size} entries") as bar:
            for done, ref in enumerate(refs, 1):
                path = out / "tile" / ref.path()
                if ref.width is not None or not path.exists():
                    _write(path, service.tile(ref))
                    written += 1
                bar(done, len(refs))
        _write(out / "checkpoint", checkpoint.cosigned_note.encode("utf-8"))
    print(
        f"published a checkpoint of {size} entries to {out}: {written} tile(s) written, "
        f"{len(refs) - written} already there"
    )
    return EXIT_OK


def tiles_of(size: int) -> list[TileRef]:
    """Every tile a tree of `size` entries has: hash tiles of each level, and entry bundles."""
    refs: list[TileRef] = []
    level = 0
    while level == 0 or size >> (TILE_HEIGHT * level):
        width = size >> (TILE_HEIGHT * level)
        full, rest = divmod(width, TILE_WIDTH)
        refs += [TileRef(level, n) for n in range(full)]
        if rest:
            refs.append(TileRef(level, full, rest))
        level += 1
    full, rest = divmod(size, TILE_WIDTH)
    refs += [TileRef(None, n) for n in range(full)]
    if rest:
        refs.append(TileRef(None, full, rest))
    return refs


def _write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a reader never sees half a tile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def verify(args: argparse.Namespace) -> int:
    """Check the stored log, a receipt, or a published log; exit 1 at the first failure."""
    chosen = [bool(args.store), args.receipt is not None, args.log is not None]
    if sum(chosen) != 1:
        raise BadUsage(
            "verify one thing: --store, a FILE (receipt, answer or dossier), or --log URL"
        )
    if args.store:
        return _verify_store(args)
    policy = _policy(args)
    try:
        if args.receipt is not None:
            return _verify_receipt(args, policy)
        return _monitor(args, policy)
    except VerifyError as e:
        print(f"custody verify: FAILED: {e}", file=sys.stderr)
        return EXIT_REFUSED


def _policy(args: argparse.Namespace) -> Policy:
    if not args.key:
        raise BadUsage("--key VKEY: the log's verifier key (`custody log key` prints it)")
    try:
        log = Verifier.parse(args.key)
        witnesses = tuple(Verifier.parse(w) for w in args.witness or ())
    except NoteError as e:
        raise BadUsage(f"a verifier key is not valid: {e}") from None
    if any(w.key_type != COSIGNATURE_ED25519 for w in witnesses):
        raise BadUsage("--witness takes a witness's cosignature verifier key (type 0x04)")
    quorum = args.quorum if args.quorum is not None else len(witnesses)
    if quorum < 0:
        raise BadUsage("--quorum is a number of cosignatures: 0 or more")
    try:
        return Policy(log, witnesses, quorum)
    except VerifyError as e:
        raise BadUsage(str(e)) from None


def _verify_store(args: argparse.Namespace) -> int:
    with opened(args) as container:
        if container.log is None:
            raise BadUsage("the verifiable log is turned off (CUSTODY_LOG_ENABLED=false)")
        log_key = None
        witnesses: list[Verifier] = []
        if args.key:
            policy = _policy(args)
            log_key, witnesses = policy.log, list(policy.witnesses)
        elif container.settings.log_key_file.exists():
            log_key = read_key(container.settings.log_key_file).verifier()
        if container.checkpointer is not None:  # the witnesses this log submits to
            witnesses += [w.verifier for w in container.checkpointer.witnesses]
        with progress("verify --store") as bar:
            audit = audit_store(
                container.ledger,
                container.log,
                log_key,
                bar,
                witnesses=list({w.name: w for w in witnesses}.values()),
                database_url=container.settings.database_url,
            )
    for note in audit.notes:
        print(f"note: {note}", file=sys.stderr)
    checked = (
        f"{audit.entries} entries, {audit.nodes} node hashes and {audit.checkpoints} checkpoint(s)"
    )
    if audit.finding is not None:
        print(f"custody verify: FAILED after {checked}: {audit.finding}", file=sys.stderr)
        return EXIT_REFUSED
    pending = f"; {audit.pending} event(s) not yet integrated" if audit.pending else ""
    print(f"verified {checked} against the event log{pending}")
    return EXIT_OK


def _verify_receipt(args: argparse.Namespace, policy: Policy) -> int:
    """A receipt (tlog-proof@v1), or an answer saved with `proof=true` (JSON)."""
    text = _read_text(args.receipt)
    if text.lstrip().startswith("{"):
        try:
            answer = json.loads(text)
        except ValueError as e:
            raise VerifyError(f"{args.receipt} is not JSON: {e}") from None
        if not isinstance(answer, dict):
            raise VerifyError(f"{args.receipt} is not an answer (a JSON object)")
        if "format" in answer:  # a dossier (custody-dossier/v1)
            return _verified_dossier(verify_dossier(answer, policy))
        proved = verify_answer(answer, policy)
        print(
            f"verified: the answer about account {proved.account_id} is what its "
            f"{proved.entries} entries say, in {proved.checkpoint.origin} at size "
            f"{proved.checkpoint.size} ({proved.cosigned} cosignature(s))"
        )
        return EXIT_OK
    check = verify_receipt(text, policy)
    fact = check.fact
    print(
        f"verified: entry {check.index} of {check.checkpoint.origin} at size "
        f"{check.checkpoint.size} ({check.cosigned} cosignature(s)): {fact.kind} {check.stream} "
        f"version {fact.version} {fact.type}, effective {fact.effective_at.isoformat()}, "
        f"recorded {fact.recorded_at.isoformat()} by {recorded_by(fact.actor, fact.attributed_to)}"
    )
    return EXIT_OK


def _verified_dossier(check: DossierCheck) -> int:
    dispute = f", and dispute {check.dispute_id}'s own," if check.dispute_id else ""
    subject = f"office {check.office}" if check.office else f"account {check.account_id}"
    print(
        f"verified: the dossier of {subject} is what its {check.events} "
        f"entries{dispute} say, in {check.checkpoint.origin} at size {check.checkpoint.size}: "
        f"{check.answers} answers and {check.versions} changes re-derived by the fold"
    )
    return EXIT_OK


def _read_text(name: str) -> str:
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as e:
        raise BadUsage(f"cannot read {name}: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUsage(f"{name} is not UTF-8 text") from None


def _monitor(args: argparse.Namespace, policy: Policy) -> int:
    state_file = Path(args.state)
    prefix = args.log.rstrip("/") + "/"
    if state_file.exists():
        try:
            state = MonitorState.from_json(json.loads(state_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise BadUsage(f"cannot read the monitor's state {state_file}: {e}") from None
        if state.origin != policy.log.name:
            raise BadUsage(f"{state_file} is the state of a monitor of {state.origin}")
    else:
        state = MonitorState(policy.log.name)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}

    def fetch(path: str) -> bytes:
        request = urllib.request.Request(prefix + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                body: bytes = answer.read()
                return body
        except urllib.error.HTTPError as e:
            raise VerifyError(f"GET {prefix + path} answered {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise VerifyError(f"GET {prefix + path} failed: {e}") from None

    before = state.size
    state, checked = monitor_step(state, policy, fetch)
    _write(state_file, json.dumps(state.to_json()).encode("utf-8"))
    print(
        f"verified {policy.log.name}: {checked} new entries, {before} -> {state.size}, "
        "consistent with the last checkpoint seen"
    )
    return EXIT_OK


def add_commands(sub: Any) -> None:
    group = sub.add_parser(
        "log", parents=[GLOBAL], help="the verifiable log: signing key and static copy"
    ).add_subparsers(dest="log_command", required=True, metavar="ACTION")
    s = group.add_parser(
        "init",
        parents=[GLOBAL],
        help="create the signing key (CUSTODY_LOG_KEY_FILE, named CUSTODY_LOG_ORIGIN)",
    )
    s.set_defaults(func=init)
    s = group.add_parser("key", parents=[GLOBAL], help="print the log's verifier key")
    s.set_defaults(func=key)
    s = group.add_parser(
        "publish", parents=[GLOBAL], help="write the checkpoint and tiles as static files"
    )
    s.add_argument("directory", metavar="DIR")
    s.set_defaults(func=publish)

    s = sub.add_parser(
        "verify",
        parents=[GLOBAL],
        help="verify the stored log (--store), a receipt, or a published log (--log URL)",
    )
    s.add_argument(
        "receipt",
        nargs="?",
        metavar="FILE",
        help="a receipt (.tlog-proof) or an answer saved with proof=true (.json); - for stdin",
    )
    s.add_argument("--store", action="store_true", help="recompute the tree from the event log")
    s.add_argument("--log", metavar="URL", help="the log's prefix, e.g. http://host:8000/log")
    s.add_argument("--key", metavar="VKEY", help="the log's verifier key")
    s.add_argument(
        "--witness", action="append", metavar="VKEY", help="a witness's verifier key (repeatable)"
    )
    s.add_argument(
        "--quorum", type=int, help="cosignatures required (default: every --witness given)"
    )
    s.add_argument(
        "--state",
        default="custody-monitor.json",
        help="with --log: where the monitor keeps the last checkpoint it verified",
    )
    s.add_argument("--token", help="with --log: a reader token, if the log is not public")
    s.set_defaults(func=verify)
