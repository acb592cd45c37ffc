"""A TCP proxy in front of the database that can forward, cut and black-hole, for fault tests.

Thread-based: an accepting thread, and two pumps per connection. `cut()` breaks every open
connection (a reset) and refuses new ones; `blackhole()` keeps every connection open and
accepts new ones, reads what either side sends and delivers nothing, as a network path that
drops packets does while the kernels at both ends still acknowledge them (so TCP timeouts
and keepalives never fire); `forward()` heals. A connection that lost bytes or one of its
ends in the black hole is desynchronised: healing resets it, as a firewall that forgot it
would, while an idle connection the black hole did not touch carries on.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

FORWARD, CUT, BLACKHOLE = "forward", "cut", "blackhole"


def _reset(sock: socket.socket, *, graceful: bool = False) -> None:
    """Close with a reset (RST), so that the peer fails at once; `graceful`: an orderly FIN
    after what was sent (the relayed end of a connection one side closed)."""
    if not graceful:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket | None
    tainted: bool = False  # lost bytes or an end in the black hole: reset when healed
    closed: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


class FaultProxy:
    """Listens on a free loopback port (`port`) and relays to `target`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.mode = FORWARD
        self.accepted = 0  # connections accepted in any mode
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._stopped = False
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    # -- control ---------------------------------------------------------------------------------

    def forward(self) -> None:
        """Heal: relay again; connections the fault desynchronised are reset."""
        with self._lock:
            self.mode = FORWARD
            for pair in [p for p in self._pairs if p.tainted]:
                self._close(pair)

    def cut(self) -> None:
        """Reset every open connection and refuse (reset) new ones, until `forward()`."""
        with self._lock:
            self.mode = CUT
            for pair in list(self._pairs):
                self._close(pair)

    def blackhole(self) -> None:
        """Accept and read, never answer, in both directions, until `forward()`."""
        with self._lock:
            self.mode = BLACKHOLE

    @contextmanager
    def fault(self, mode: str) -> Iterator[None]:
        """`cut()` or `blackhole()` for the block, then `forward()`."""
        getattr(self, mode)()
        try:
            yield
        finally:
            self.forward()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for pair in list(self._pairs):
                self._close(pair)
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    # -- relaying --------------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # stopped
            with self._lock:
                self.accepted += 1
                mode, stopped = self.mode, self._stopped
            if stopped or mode == CUT:
                _reset(client)
                continue
            upstream = None
            if mode == FORWARD:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _reset(client)
                    continue
            pair = _Pair(client, upstream, tainted=upstream is None)
            with self._lock:
                self._pairs.append(pair)
            ends = [(client, upstream)] + ([(upstream, client)] if upstream is not None else [])
            for source, sink in ends:
                t = threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True)
                pair.threads.append(t)
                t.start()

    def _pump(self, pair: _Pair, source: socket.socket, sink: socket.socket | None) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            with self._lock:
                holed = self.mode == BLACKHOLE
                if holed:
                    pair.tainted = True
                if pair.closed:
                    return
            if not data:
                break
            if holed or sink is None:
                continue  # read, acknowledged by the kernel, never delivered
            try:
                sink.sendall(data)
            except OSError:
                break
        with self._lock:
            # An end gone inside the black hole: the other end never hears of it.
            if not pair.tainted:
                self._close(pair, graceful=True)

    def _close(self, pair: _Pair, *, graceful: bool = False) -> None:
        """Reset both ends, or close them in order (under the lock)."""
        if pair.closed:
            return
        pair.closed = True
        for sock in (pair.client, pair.upstream):
            if sock is not None:
                _reset(sock, graceful=graceful)
        with contextlib.suppress(ValueError):
            self._pairs.remove(pair)
