"""What the fault tests share: the `custody` command in processes of their own (killed, if need
be, with SIGKILL), plain HTTP calls that say how long they took, and the bounds the tests set."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.bootstrap import build
from ledger.settings import Settings
from tests.e2e.support import bearer
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]

# Bounds smaller than the defaults, so that each test takes seconds; each process gets them as
# CUSTODY_* variables. A PostgreSQL call ends within BOUND: the statement timeout and the
# client's grace after it (ledger.pgbounds.ANSWER_GRACE_SECONDS), or the connect timeout.
BOUNDS = {
    "connect_timeout_seconds": "2",
    "statement_timeout_seconds": "2",
    "lock_timeout_seconds": "2",
    "read_wait_seconds": "2",
}
BOUND = 3.0
SLACK = 1.5  # a loaded machine's scheduling, HTTP and the process's own work
RESUME = 5.0  # after the database answers again, service is back within this


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float

    @property
    def problem(self) -> str:
        """The problem's code (the last part of its type), or ''."""
        if isinstance(self.body, dict) and "type" in self.body:
            return str(self.body["type"]).rsplit("/", 1)[-1]
        return ""


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Answer:
    """One request on a new connection; how long the answer took. OSError if the server is
    gone, never answers within `timeout`, or dies while it answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload,
                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
        response = conn.getresponse()
        raw = response.read()
    except http.client.HTTPException as e:  # an answer cut short (IncompleteRead, say)
        raise ConnectionError(f"{type(e).__name__}: {e}") from e
    finally:
        conn.close()
    seconds = time.monotonic() - started
    content_type = response.getheader("content-type", "")
    data = json.loads(raw) if "json" in content_type else raw.decode()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data, seconds)


class Custody:
    """`custody ARGS` on the store at `url`, in a process of its own, with `settings` as its
    only CUSTODY_* variables; its output goes to `log`."""

    def __init__(self, url: str, args: list[str], log: Path, settings: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
        env.update({f"CUSTODY_{k.upper()}": v for k, v in settings.items()})
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "--database-url", url, *args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class Server(Custody):
    """`custody serve` on a free port, started (it answers /livez)."""

    def __init__(self, url: str, log: Path, settings: dict[str, str], *flags: str) -> None:
        self.port = free_port()
        super().__init__(url, ["serve", "--port", str(self.port), *flags], log, settings)
        deadline = time.monotonic() + 60
        while True:
            assert self.alive(), f"custody serve ended:\n{self.output()}"
            with contextlib.suppress(OSError):
                if request(self.port, "GET", "/livez", timeout=5).status == 200:
                    return
            assert time.monotonic() < deadline, f"custody serve did not start:\n{self.output()}"
            time.sleep(0.1)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Answer:
        return request(self.port, method, path, body, headers)


@contextmanager
def running(*processes: Custody) -> Iterator[None]:
    """Stop the processes however the block ends."""
    try:
        yield
    finally:
        for process in processes:
            process.stop()


def admin_token(url: str) -> dict[str, str]:
    """An admin's Authorization header, the token issued on the store at `url`."""
    container = build(Settings(database_url=url))
    try:
        return bearer(container.access.issue("records-admin", "admin"))
    finally:
        container.close()


def until(condition: Any, seconds: float, step: float = 0.1) -> float:
    """Call `condition()` until it is true; the seconds that took (AssertionError past
    `seconds`, with the last value)."""
    started = time.monotonic()
    while not (value := condition()):
        assert time.monotonic() - started < seconds, f"not within {seconds}s: {value!r}"
        time.sleep(step)
    return time.monotonic() - started
