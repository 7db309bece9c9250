"""The fault-injecting registry proxy: against a tiny HTTP server standing in for the registry,
then once against the real registry with BuildKit pushing through it."""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from orchestrator.run.failures import classify
from tests.kit import docker, write_tree
from tests.registry_proxy import Mode, RegistryProxy


class Echo(BaseHTTPRequestHandler):
    """Answers every request with its method, path and body, as HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        text = f"{self.command} {self.path} {len(body)} {self.headers.get('Connection')}\n"
        reply = text.encode() + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_PUT = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def request(
    address: str, method: str = "GET", path: str = "/v2/", body: bytes | None = None
) -> tuple[int, bytes]:
    host, port = address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_the_first_requests_get_503_then_everything_is_forwarded(upstream: str) -> None:
    with RegistryProxy(fail_first=3, upstream=upstream) as proxy:
        got = [request(proxy.address, path=f"/v2/x/{i}") for i in range(5)]
        assert [status for status, _ in got] == [503, 503, 503, 200, 200]
        assert got[0][1] == b"registry-proxy: injected fault\n"
        assert got[3][1] == b"GET /v2/x/3 0 close\n"  # the registry was asked to close
        assert (proxy.requests, proxy.faults, proxy.forwarded) == (5, 3, 2)
        assert [s.line for s in proxy.seen][:2] == ["GET /v2/x/0 HTTP/1.1", "GET /v2/x/1 HTTP/1.1"]


def test_a_503_reaches_a_client_still_sending_a_large_body(upstream: str) -> None:
    # The client's upload is read and dropped, so it sees the answer, not a reset.
    blob = b"\x00" * (4 << 20)
    with RegistryProxy(fail_first=1, upstream=upstream) as proxy:
        assert request(proxy.address, "PUT", "/v2/x/blobs/uploads/1", blob)[0] == 503
        status, body = request(proxy.address, "PUT", "/v2/x/blobs/uploads/2", blob)
        assert status == 200
        assert body.startswith(b"PUT /v2/x/blobs/uploads/2 4194304 close\n")
        assert body[-8:] == b"\x00" * 8
        assert len(body) == len(b"PUT /v2/x/blobs/uploads/2 4194304 close\n") + len(blob)


def test_reset_mode_resets_the_connection(upstream: str) -> None:
    with RegistryProxy(fail_first=2, mode="reset", upstream=upstream) as proxy:
        for _ in range(2):
            with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
                request(proxy.address)
        assert request(proxy.address)[0] == 200
        assert (proxy.faults, proxy.forwarded) == (2, 1)


def test_a_reset_is_a_reset_not_a_clean_close(upstream: str) -> None:
    with RegistryProxy(fail_first=1, mode="reset", upstream=upstream) as proxy:
        host, port = proxy.address.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(1024)


def test_hang_mode_answers_nothing_until_the_proxy_stops(upstream: str) -> None:
    proxy = RegistryProxy(fail_first=None, mode="hang", upstream=upstream)
    with proxy:
        host, port = proxy.address.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=0.5)
        conn.request("GET", "/v2/")
        with pytest.raises(TimeoutError):
            conn.getresponse()
        conn.close()
        assert proxy.faults == 1
        with socket.create_connection((host, int(port)), timeout=5) as held:
            held.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 5
            while proxy.faults < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proxy.faults == 2
            started = time.monotonic()
            proxy.close()
            assert time.monotonic() - started < 2  # stopping does not wait for the client
            assert held.recv(1024) == b""  # the held connection is closed, still unanswered
    assert not [t for t in threading.enumerate() if t.name.startswith("registry-proxy")]


def test_only_matching_requests_fail_and_count(upstream: str) -> None:
    with RegistryProxy(fail_first=1, upstream=upstream, only=r"^PUT /v2/[^ ]*/manifests/") as p:
        assert request(p.address, "HEAD", "/v2/x/manifests/v1")[0] == 200
        assert request(p.address, "PUT", "/v2/x/blobs/uploads/1", b"blob")[0] == 200
        assert request(p.address, "PUT", "/v2/x/manifests/v1", b"{}")[0] == 503
        assert request(p.address, "PUT", "/v2/x/manifests/v1", b"{}")[0] == 200
        assert [s.verdict for s in p.seen] == ["forwarded", "forwarded", "503", "forwarded"]


def test_faults_can_start_after_some_requests_went_through(upstream: str) -> None:
    with RegistryProxy(fail_first=2, upstream=upstream, only=r"^PUT ", after=1) as proxy:
        got = [request(proxy.address, method)[0] for method in ("PUT", "GET", "PUT", "PUT", "PUT")]
        assert got == [200, 200, 503, 503, 200]
        assert proxy.faults == 2


def test_a_keep_alive_client_is_counted_per_request(upstream: str) -> None:
    # One client connection reused: the registry closes after each answer, so the client
    # reconnects and every request passes the proxy's decision.
    with RegistryProxy(fail_first=0, upstream=upstream) as proxy:
        host, port = proxy.address.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        for i in range(3):
            conn.request("GET", f"/v2/{i}", headers={"Connection": "keep-alive"})
            response = conn.getresponse()
            assert response.read() == f"GET /v2/{i} 0 close\n".encode()
            if response.will_close:
                conn.close()
        assert proxy.requests == 3


def test_a_tls_probe_is_relayed_and_not_counted_as_a_request(upstream: str) -> None:
    # Docker tries HTTPS first on an insecure registry; the registry's plain-HTTP answer to
    # the ClientHello is what makes it fall back to HTTP.
    with RegistryProxy(fail_first=1, upstream=upstream) as proxy:
        host, port = proxy.address.split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\x05hello")
            sock.shutdown(socket.SHUT_WR)  # http.server reads a line: end it
            answer = sock.recv(1024)
        assert b"400" in answer  # http.server's answer to a request line it cannot parse
        assert (proxy.requests, proxy.faults) == (0, 0)
        assert request(proxy.address)[0] == 503  # the fault is still there for the first request


def test_a_registry_that_is_down_gives_502(upstream: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    with RegistryProxy(upstream=closed) as proxy:
        assert request(proxy.address)[0] == 502
        assert proxy.unreachable == 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="mode must be one of 503, reset, hang"):
        RegistryProxy(mode="slow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fail_first must be at least 0"):
        RegistryProxy(fail_first=-1)
    with pytest.raises(ValueError, match="after must be at least 0"):
        RegistryProxy(after=-1)


def test_every_thread_stops_on_exit(upstream: str) -> None:
    with RegistryProxy(fail_first=2, upstream=upstream) as proxy:
        for _ in range(4):
            request(proxy.address)
        # A client that connects and sends nothing is cut off too.
        host, port = proxy.address.split(":")
        idle = socket.create_connection((host, int(port)))
    idle.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("registry-proxy")]


# --- against the real registry, with BuildKit pushing ---------------------------------------


@pytest.mark.engine
def test_the_real_registry_through_the_proxy_answers_503_then_200() -> None:
    with RegistryProxy(fail_first=2) as proxy:
        assert [request(proxy.address)[0] for _ in range(3)] == [503, 503, 200]


def push(context: Path, ref: str) -> subprocess.CompletedProcess[str]:
    """`docker buildx build` of `context`, pushed to `ref`, with plain progress."""
    nonce = uuid.uuid4().hex  # a new image every time: nothing is in the registry yet
    write_tree(context, {"Dockerfile": f"FROM busybox:latest\nRUN echo {nonce} > /nonce\n"})
    return subprocess.run(
        [
            *("docker", "buildx", "build", "--progress", "plain"),
            *("--output", f"type=image,name={ref},push=true", str(context)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.engine
def test_a_push_through_the_proxy_outlasts_a_short_outage(tmp_path: Path) -> None:
    # BuildKit retries each failed registry request itself (after 1 s, 2 s, 4 s): three 503s
    # in a row are absorbed and the push succeeds.
    with RegistryProxy(fail_first=3) as proxy:
        ref = f"{proxy.address}/orchtest-{uuid.uuid4().hex[:10]}/proxied:v1"
        try:
            proc = push(tmp_path, ref)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert proxy.faults == 3
            assert "503 Service Unavailable" in proc.stderr
            assert "retrying in 1s" in proc.stderr
            manifest = docker("buildx", "imagetools", "inspect", ref)
            assert "Digest:" in manifest
        finally:
            docker("image", "rm", "-f", ref, check=False)


@pytest.mark.engine
@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("503", "503 Service Unavailable"),
        ("reset", "connection reset by peer"),
        ("hang", "net/http: TLS handshake timeout"),
    ],
)
def test_a_registry_that_stays_down_fails_the_push_with_an_error_worth_a_retry(
    tmp_path: Path, mode: Mode, says: str
) -> None:
    # The words BuildKit ends with are what orch reads to tell a registry's bad moment from
    # the build's own fault.
    with RegistryProxy(fail_first=None, mode=mode) as proxy:
        ref = f"{proxy.address}/orchtest-{uuid.uuid4().hex[:10]}/down:v1"
        try:
            proc = push(tmp_path, ref)
        finally:
            docker("image", "rm", "-f", ref, check=False)
    assert proc.returncode != 0
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("ERROR: ")]
    # buildx 0.2x puts "failed to build: " before BuildKit's words.
    said = error.removeprefix("ERROR: ").removeprefix("failed to build: ")
    assert said.startswith(f"failed to solve: failed to push {ref}: ")
    assert error.endswith(says)
    assert classify(error) == "transient"
    # BuildKit tries a request that got an answer four times; a handshake that never ends,
    # once.
    assert proxy.faults >= (1 if mode == "hang" else 4)


@pytest.mark.engine
def test_one_503_in_the_docker_drivers_second_push_fails_the_build(tmp_path: Path) -> None:
    # With the docker driver, BuildKit pushes (and retries), then buildx has the daemon push
    # the image again ("pushing ... with docker"); that second push tries each request once.
    # The tag's manifest is PUT once by BuildKit, then again by the daemon: fail the second.
    with RegistryProxy(fail_first=1, only=r"^PUT /v2/[^ ]*/manifests/v1$", after=1) as proxy:
        ref = f"{proxy.address}/orchtest-{uuid.uuid4().hex[:10]}/second:v1"
        try:
            proc = push(tmp_path, ref)
        finally:
            docker("image", "rm", "-f", ref, check=False)
    if f"pushing {ref} with docker" not in proc.stderr:
        # buildx 0.2x pushes once, through BuildKit: the manifest is PUT once, no second push
        # can fail, and the build passes.
        assert (proc.returncode, proxy.faults) == (0, 0), proc.stderr[-2000:]
        return
    assert proc.returncode != 0
    assert proxy.faults == 1
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("ERROR: ")]
    assert error.startswith('ERROR: failed commit on ref "manifest-sha256:')
    assert error.endswith(": 503 Service Unavailable")
    assert classify(error) == "transient"
