"""`custody serve --workers N`: API worker processes plus the read-model worker in the
supervising process, on PostgreSQL; refused on the embedded store."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from api.bootstrap import build
from api.cli import EXIT_PORT_IN_USE, EXIT_USAGE, main
from ledger.settings import Settings
from tests.e2e.support import assignment, bearer, call, registration
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def call_once(port: int, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
    """One request on a new connection (so requests spread over the worker processes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, _, data = call(conn, method, path, body, headers)
        return status, data
    finally:
        conn.close()


def _serve_with_workers(
    pg_url: str, port: int, *, output: int, workers: tuple[str, ...] = ("--workers", "2")
) -> subprocess.Popen[bytes]:
    """`custody serve --workers 2` (or with `workers` as its options) in a process of its own,
    with no CUSTODY_* settings of this one's (its output, and stderr with it, to `output`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTODY_")}
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "--database-url", pg_url, "serve",
         "--port", str(port), *workers],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_workers_need_postgresql(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path}/custody.db"
    assert main(["--database-url", url, "serve", "--workers", "2"]) == EXIT_USAGE
    assert "--workers > 1 needs PostgreSQL" in capsys.readouterr().err
    assert main(["--database-url", url, "serve", "--workers", "0"]) == EXIT_USAGE


def test_several_api_processes_share_one_read_model_worker(pg_url: str) -> None:
    container = build(Settings(database_url=pg_url))
    try:
        admin = bearer(container.access.issue("records-admin", "admin"))
    finally:
        container.close()
    port = free_port()
    server = _serve_with_workers(pg_url, port, output=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = call_once(port, "GET", "/health")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "custody serve --workers 2 did not start"
                time.sleep(0.2)
        # The API processes do not project; the supervising process does.
        assert (status, health["worker"]["running"], health["lag"]) == (200, None, 0)
        ids = []
        for n in range(8):  # new connections: spread over both worker processes
            status, record = call_once(
                port,
                "POST",
                "/v1/accounts",
                registration(handle=f"Office{n}", platform_account_id=f"9{n}"),
                admin,
            )
            assert status == 201, record
            ids.append(record["account_id"])
            path = f"/v1/accounts/{record['account_id']}"
            status, event = call_once(port, "POST", path + "/events", assignment(), admin)
            assert status == 201, event
            # Read-your-writes across processes: the read waits for the projecting process.
            status, state = call_once(port, "GET", path, headers=admin)
            assert (status, state["version"], state["holder"]["id"]) == (200, 2, "trump-45")
        status, health = call_once(port, "GET", "/health")
        assert health["lag"] == 0 and health["log_head"] >= 16
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    assert server.returncode == 0, server.stdout.read().decode()  # type: ignore[union-attr]


def test_a_port_another_server_holds_is_its_own_error_and_exit_code(
    tmp_path: Path, capsys: Any
) -> None:
    url = f"sqlite:///{tmp_path}/custody.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["--database-url", url, "serve", "--port", str(port)]) == EXIT_PORT_IN_USE
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"custody serve: cannot listen on 127.0.0.1:{port}: ")
    assert "another server" in line
    assert not (tmp_path / "custody.db").exists()  # refused before the store was opened


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


def test_worker_processes_end_when_their_supervisor_is_killed(pg_url: str) -> None:
    port = free_port()
    server = _serve_with_workers(pg_url, port, output=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.2)
            with contextlib.suppress(OSError):  # a process gone, a port not yet listening
                workers = {p for p in _children(server.pid) if _serves(p)}
                if len(workers) == 2 and call_once(port, "GET", "/livez")[0] == 200:
                    break
        server.kill()  # kill -9: no chance to stop its workers itself
        server.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers):
            assert time.monotonic() < deadline, f"orphaned workers still running: {workers}"
            time.sleep(0.2)
        with socket.socket() as probe:  # and the port is free for the restart
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def _serves(pid: int) -> bool:
    """Whether process `pid` is one of uvicorn's worker processes (not, say, the
    multiprocessing resource tracker)."""
    command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    return b"resource_tracker" not in command


def test_postgresql_is_served_from_one_process_per_cpu_by_default(pg_url: str) -> None:
    port = free_port()
    server = _serve_with_workers(pg_url, port, output=subprocess.PIPE, workers=())
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                if call_once(port, "GET", "/livez")[0] == 200:
                    break
        deadline = time.monotonic() + 30
        expected = os.cpu_count() or 1
        while len({p for p in _children(server.pid) if _serves(p)}) != expected:
            assert time.monotonic() < deadline, "not one API process per CPU"
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    said = server.stdout.read().decode()  # type: ignore[union-attr]
    assert f"({expected} worker processes)" in said, said
