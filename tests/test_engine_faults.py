"""Hostile input on the real engine: odd names and paths, dead caches, escapes, signals."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.kit import docker, image_file, monorepo, orch_build, processes_with

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"


def test_names_that_differ_only_by_dot_and_underscore_build_their_own_images(
    tmp_path, image_prefix
):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  a.b: {context: dot}\n  a_b: {context: under}\n",
        {
            "dot/Dockerfile": BUSYBOX + "RUN echo dot > /who\n",
            "under/Dockerfile": BUSYBOX + "RUN echo under > /who\n",
        },
    )
    code, out, report = orch_build(root)
    assert code == 0, out
    dot, under = report["targets"]["a.b"], report["targets"]["a_b"]
    assert dot["image"] == f"{image_prefix}/a.b:latest"
    assert under["image"] == f"{image_prefix}/a_b:latest"
    assert dot["digest"] != under["digest"]
    assert image_file(dot["image"], "/who").strip() == "dot"
    assert image_file(under["image"], "/who").strip() == "under"


def test_a_secret_file_whose_path_holds_a_comma_is_the_one_the_build_reads(tmp_path, image_prefix):
    odd = tmp_path / "secrets" / "a,env=HOME"
    odd.parent.mkdir()
    value = f"file-secret-{uuid.uuid4().hex}"
    odd.write_text(value)
    root = monorepo(
        tmp_path / "repo",
        image_prefix,
        f'services:\n  svc:\n    context: svc\n    secrets: [{{id: s, src: "{odd}"}}]\n',
        {
            "svc/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /nonce\n"
            + "RUN --mount=type=secret,id=s sha256sum /run/secrets/s | cut -c1-64 > /h\n"
        },
    )
    code, out, report = orch_build(root)
    assert code == 0, out
    got = image_file(report["targets"]["svc"]["image"], "/h").strip()
    assert got == hashlib.sha256(value.encode()).hexdigest()
    assert got != hashlib.sha256(os.environ["HOME"].encode()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_registry_cache_blames_the_export_and_warns_of_the_import(
    tmp_path, image_prefix
):
    port = _closed_port()
    cache = f"type=registry,ref=127.0.0.1:{port}/cache:{{name}}"
    root = monorepo(
        tmp_path,
        image_prefix,
        f'  cache:\n    from: ["{cache}"]\n    to: ["{cache},mode=max"]\n'
        "services:\n  svc: {context: svc}\n",
        {"svc/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /n\n"},
    )
    code, out, report = orch_build(root)
    assert code == 1, out
    svc = report["targets"]["svc"]
    assert svc["status"] == "failed"
    assert svc["failed_step"] == "exporting cache to registry"
    assert "importing cache manifest" not in (svc["error"] or "")
    assert any("cache not imported from" in w for w in svc["warnings"]), svc
    assert "✗ svc failed at exporting cache to registry" in out
    assert "warning: svc: cache not imported from" in out


def test_a_failing_steps_output_is_printed_without_escapes_and_kept_raw_in_the_log(
    tmp_path, image_prefix
):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc: {context: svc}\n",
        {
            "svc/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /n\n"
            + "RUN printf 'a\\033[2Jb\\033]0;title\\007c\\n'"
            + " && head -c 1000000 /dev/zero | tr '\\0' x && echo && exit 3\n"
        },
    )
    code, out, report = orch_build(root, env={"CI": "true"})
    assert code == 1, out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "abc" in out
    assert max(len(line) for line in out.splitlines()) < 1000
    log = (root / report["targets"]["svc"]["log"]).read_text()
    assert "\x1b[2J" in log
    assert "x" * 1000 in log


def test_two_runs_at_once_in_one_checkout_both_succeed(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        '  cache:\n    from: ["type=local,src=.orch-cache/{name}"]\n'
        '    to: ["type=local,dest=.orch-cache/{name},mode=max"]\n'
        "services:\n  one: {context: one}\n  two: {context: two}\n",
        {
            "one/Dockerfile": BUSYBOX + "RUN head -c 200000 /dev/urandom > /r && sleep 1\n",
            "two/Dockerfile": BUSYBOX + "RUN head -c 200000 /dev/urandom > /r && sleep 1\n",
        },
    )
    for round_ in range(4):
        for name in ("one", "two"):  # a new step each round, so both runs really build
            (root / name / "Dockerfile").write_text(
                BUSYBOX + f"RUN echo {uuid.uuid4().hex} && head -c 200000 /dev/urandom > /r\n"
            )
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "build"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        for p in procs:
            out, _ = p.communicate(timeout=300)
            assert p.returncode == 0, f"round {round_}: {out}"
        for name in ("one", "two"):
            current = (root / ".orch-cache" / name).resolve()
            assert (current / "index.json").is_file(), f"round {round_}: {name} cache not whole"


def test_three_interrupts_in_a_row_exit_130_with_nothing_else_and_no_leftovers(
    tmp_path, image_prefix
):
    seconds = 700 + os.getpid() % 97
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  slow: {context: slow}\n",
        {"slow/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} && sleep {seconds}\n"},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "build"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    try:
        deadline = time.monotonic() + 60
        while not processes_with(f"sleep {seconds}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(f"sleep {seconds}"), "the build never started"
        for _ in range(3):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    assert "unhandled" not in out
    assert "build interrupted" in out
    assert not list((root / ".orch").rglob(".metadata-*"))
    assert not processes_with(str(root / ".orch" / "runs"))
    docker("buildx", "du", check=False)  # the daemon still answers
