"""The registry probe: silence is found within the timeout, every registry at once; an answer
of any kind counts; a refused connection is told apart."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import anyio
import pytest

from orchestrator.engine.registry import DOCKER_HUB, Registries, host_of, hosts_in_bake, probe
from orchestrator.errors import EXIT_ENGINE, EngineError
from tests.silent_registry import closed_port, silent_registry


@pytest.fixture
def answering() -> Iterator[str]:
    """A registry that answers `GET /v2/` with 401, as one that wants a login does."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_silent_registry_is_found_within_the_timeout() -> None:
    with silent_registry() as host:
        started = time.monotonic()
        problems = anyio.run(probe, [host], 0.5)
        took = time.monotonic() - started
    assert [(p.host, p.kind) for p in problems] == [(host, "silent")]
    assert 0.5 <= took < 1.5, f"the probe took {took:.2f} s"
    assert problems[0].render() == f"the registry {host} did not answer within 0.5 s"


def test_registries_are_probed_at_once(answering: str) -> None:
    with silent_registry() as one, silent_registry() as two, closed_port() as refused:
        started = time.monotonic()
        problems = anyio.run(probe, [one, answering, two, refused, one], 0.5)
        took = time.monotonic() - started
    assert [(p.host, p.kind) for p in problems] == [
        (one, "silent"),
        (two, "silent"),
        (refused, "unreachable"),
    ]
    assert took < 1.2, f"three probes of 0.5 s took {took:.2f} s: not in parallel"


def test_an_answer_of_any_kind_counts(answering: str) -> None:
    assert anyio.run(probe, [answering], 2.0) == []


def test_the_error_names_the_registry_and_what_orch_was_doing(answering: str) -> None:
    registries = Registries(timeout=0.3)
    with silent_registry() as host:
        with pytest.raises(EngineError) as caught:
            anyio.run(registries.require, [answering, host], "looking up x")
        # Probed once: asking again answers from what was found, at once.
        started = time.monotonic()
        with pytest.raises(EngineError):
            anyio.run(registries.require, [host], "again")
        assert time.monotonic() - started < 0.1
    err = caught.value
    assert err.exit_code == EXIT_ENGINE
    assert err.message == f"looking up x: the registry {host} did not answer within 0.3 s"
    assert f"curl http://{host}/v2/" in (err.hint or "")


def test_a_refused_registry_is_left_to_fail_as_it_does() -> None:
    """Refused is fast, and BuildKit says so itself: not a reason to stop the run."""
    with closed_port() as host:
        anyio.run(Registries(timeout=0.3).require, [host], "building")


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        ("busybox:latest", DOCKER_HUB),
        ("library/busybox", DOCKER_HUB),
        ("docker.io/library/busybox", DOCKER_HUB),
        ("localhost:5000/a/b:1", "localhost:5000"),
        ("docker-image://127.0.0.1:5000/x@sha256:" + "0" * 64, "127.0.0.1:5000"),
        ("ghcr.io/o/r", "ghcr.io"),
        ("[::1]:5000/x", "[::1]:5000"),
    ],
)
def test_the_registry_of_a_reference(ref: str, host: str) -> None:
    assert host_of(ref) == host


def test_the_registries_a_bake_file_talks_to() -> None:
    data = {
        "target": {
            "a": {
                "cache-from": ["type=registry,ref=cache.example:5000/c:a", "type=local,src=x"],
                "cache-to": ["type=registry,ref=other.example/c:a,mode=max"],
                "tags": ["localhost:5000/orch/a:1"],
                "output": ["type=image,push=true"],
                "contexts": {"base": "docker-image://127.0.0.1:5001/b:1", "d": "dir"},
            },
            "b": {"tags": ["orch/b:1"], "output": ["type=docker"], "cache-from": []},
        }
    }
    assert hosts_in_bake(data) == [
        "cache.example:5000",
        "other.example",
        "localhost:5000",
        "127.0.0.1:5001",
    ]
