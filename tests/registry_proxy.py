"""A Docker registry with a bad moment, for engine tests: a proxy on loopback in front of the
registry that fails the first N requests, then forwards everything.

    with RegistryProxy(fail_first=3, mode="503") as proxy:
        push to f"{proxy.address}/name:tag"   # "127.0.0.1:PORT": Docker treats it as insecure
        assert proxy.faults == 3

Modes, for each request that fails: "503" answers `503 Service Unavailable` with
`Connection: close`; "reset" resets the connection (RST) once the request head has arrived;
"hang" reads the request and never answers (a registry that stopped answering), holding the
connection until the proxy stops. `fail_first=None` fails every request. `only`, a regular
expression searched in "METHOD /path", restricts the faults to matching requests (the others
are forwarded and do not count against `fail_first`). `after` lets that many matching
requests through before the faults start: a registry that fails in the middle of a push.

Each connection carries one request: the proxy reads its head, decides, and when it forwards
it, asks the registry to close after answering (`Connection: close`) and relays the bytes both
ways untouched. So every request the client makes passes through a decision and is counted,
and the relay never parses a body.

Docker and BuildKit try HTTPS first on a registry they treat as insecure, and fall back to
plain HTTP when the answer is not TLS. Such a TLS ClientHello is not an HTTP request: it is
relayed to the registry, which answers it as plain HTTP servers do, so the client falls back
as it would against the registry itself; only in "hang" mode, while faults remain, is it left
unanswered too (a registry that hangs does not answer the handshake either: the client reports
`net/http: TLS handshake timeout`), and it counts as a fault.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

Mode = Literal["503", "reset", "hang"]
MODES: tuple[Mode, ...] = ("503", "reset", "hang")
REGISTRY = "127.0.0.1:5000"

_HEAD_LIMIT = 64 * 1024
_DRAIN_S = 5.0
_TLS_HANDSHAKE = 0x16  # the first byte of a TLS record that opens a handshake
_RESPONSE_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 31\r\n\r\nregistry-proxy: injected fault\n"
)
_HOP_BY_HOP = re.compile(rb"^(?:connection|keep-alive|proxy-connection):", re.IGNORECASE)


Verdict = Literal[Mode, "forwarded"]


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the proxy read: its request line and what the proxy did with it."""

    line: str  # "GET /v2/ HTTP/1.1", or "TLS ClientHello"
    verdict: Verdict
    tls: bool = False


class RegistryProxy:
    """Listens on 127.0.0.1 at a free port and forwards to `upstream`, failing the first
    `fail_first` requests (matching `only`, after the first `after` of them) the way `mode`
    says."""

    def __init__(
        self,
        fail_first: int | None = 0,
        mode: Mode = "503",
        *,
        upstream: str = REGISTRY,
        only: str | None = None,
        after: int = 0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if fail_first is not None and fail_first < 0:
            raise ValueError(f"fail_first must be at least 0, not {fail_first}")
        if after < 0:
            raise ValueError(f"after must be at least 0, not {after}")
        host, _, port = upstream.rpartition(":")
        self.upstream = (host or "127.0.0.1", int(port))
        self.mode: Mode = mode
        self._left = fail_first  # faults still to inject; None: every request
        self._spare = after  # matching requests still to let through before the faults
        self._only = re.compile(only) if only is not None else None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self.seen: list[Seen] = []  # in the order the heads arrived
        self.unreachable = 0  # forwarded requests whose registry did not accept a connection
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        """HTTP requests whose head arrived, failed or forwarded (not TLS probes)."""
        with self._lock:
            return sum(not s.tls for s in self.seen)

    @property
    def faults(self) -> int:
        """Requests (and, hanging, TLS probes) the proxy failed."""
        with self._lock:
            return sum(s.verdict != "forwarded" for s in self.seen)

    @property
    def forwarded(self) -> int:
        """HTTP requests passed on to the registry."""
        with self._lock:
            return sum(s.verdict == "forwarded" and not s.tls for s in self.seen)

    def __enter__(self) -> RegistryProxy:
        self._acceptor = self._start(self._accept, "registry-proxy accept")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut every open connection and wait for the threads."""
        self._stop.set()
        _shut(self._server)  # wakes the accept() of the acceptor, which then ends
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            live, threads = list(self._open), list(self._threads)
        for sock in live:
            _shut(sock)  # wakes every recv() of a connection's thread
        for thread in threads:
            thread.join(timeout=5)
        self._server.close()

    def _start(self, target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stop.is_set():
                return False
            self._open.add(sock)
            return True

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, peer = self._server.accept()
            except OSError:
                return  # the listening socket was shut down
            if not self._track(client):
                client.close()
                return
            self._start(self._serve, f"registry-proxy {peer[1]}", client)

    def _serve(self, client: socket.socket) -> None:
        try:
            first = client.recv(65536)
            if not first:
                return
            tls = first[0] == _TLS_HANDSHAKE
            head, rest = (first, b"") if tls else _read_head(client, first)
            if head is None:
                return
            line = "TLS ClientHello" if tls else head.split(b"\r\n", 1)[0].decode("latin-1")
            verdict = self._decide(line, tls=tls)
            if verdict == "503":
                client.sendall(_RESPONSE_503)
                # Read what the client still sends (a blob's body) before closing: closing with
                # unread bytes would send RST, and the client could see a reset, not the 503.
                client.shutdown(socket.SHUT_WR)
                client.settimeout(_DRAIN_S)
                while client.recv(65536):
                    pass
            elif verdict == "reset":
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif verdict == "hang":
                while client.recv(65536):  # until the client gives up or the proxy stops
                    pass
            else:
                self._forward(client, head if tls else _one_shot(head), rest, http=not tls)
        except OSError:
            pass  # the client went away, or the proxy stopped
        finally:
            self._forget(client)

    def _decide(self, line: str, *, tls: bool) -> Verdict:
        method, _, rest = line.partition(" ")
        target = f"{method} {rest.rpartition(' ')[0] or rest}"
        with self._lock:
            fail = (not tls or self.mode == "hang") and (
                self._only is None or self._only.search(target) is not None
            )
            if fail and self._spare > 0:
                self._spare -= 1
                fail = False
            fail = fail and (self._left is None or self._left > 0)
            if fail and self._left is not None:
                self._left -= 1
            verdict: Verdict = self.mode if fail else "forwarded"
            self.seen.append(Seen(line, verdict, tls=tls))
            return verdict

    def _forward(self, client: socket.socket, head: bytes, rest: bytes, *, http: bool) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            with self._lock:
                self.unreachable += 1
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
            return
        upstream.settimeout(None)
        if not self._track(upstream):
            upstream.close()
            return
        try:
            upstream.sendall(head + rest)
            _relay(client, upstream, http=http)
        finally:
            self._forget(upstream)


def _read_head(sock: socket.socket, data: bytes) -> tuple[bytes | None, bytes]:
    """The request head (up to its blank line) and whatever body bytes came with it, reading
    on after `data`; None when the client closed or sent no head within the limit."""
    while b"\r\n\r\n" not in data:
        if len(data) > _HEAD_LIMIT:
            return None, b""
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _one_shot(head: bytes) -> bytes:
    """A request's or an answer's head with its hop-by-hop connection headers replaced by
    `Connection: close`."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0], *(h for h in lines[1:] if not _HOP_BY_HOP.match(h))]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"


def _relay(client: socket.socket, upstream: socket.socket, *, http: bool) -> None:
    """Copy bytes both ways until the registry has answered and closed (it was asked to), or
    either side went away. The answer's head says `Connection: close` too, so the client does
    not send a next request down a connection the registry is closing. A client's half-close
    is passed on. Bytes that are not HTTP (a TLS probe's) go both ways untouched."""
    peer = {client: upstream, upstream: client}
    answer: bytes | None = b"" if http else None  # the answer's head until it is complete
    with selectors.DefaultSelector() as sel:
        sel.register(client, selectors.EVENT_READ)
        sel.register(upstream, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                chunk = src.recv(65536)
                if chunk and src is upstream and answer is not None:
                    answer += chunk
                    head, blank, rest = answer.partition(b"\r\n\r\n")
                    if not blank and len(answer) <= _HEAD_LIMIT:
                        continue
                    interim = answer.startswith(b"HTTP/1.1 1")  # 100 Continue: a head follows
                    chunk = answer if interim or not blank else _one_shot(head + blank) + rest
                    answer = b"" if interim else None
                if chunk:
                    peer[src].sendall(chunk)
                    continue
                sel.unregister(src)
                if src is upstream:
                    if answer:
                        client.sendall(answer)  # a head cut short: pass on what there is
                    return  # the answer is complete: the registry closed after it
                peer[src].shutdown(socket.SHUT_WR)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected, or already shut
        sock.shutdown(socket.SHUT_RDWR)
