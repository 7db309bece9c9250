"""Builder nodes for engine tests of a pool: the second node `scripts/engine` keeps (context
`node2`), and throwaway daemons a test may kill (each its own dockerd, bridge and context)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

NODE2 = "node2"


def node2_ready() -> None:
    """The second node answers, or the test fails in CI (never a skip there)."""
    proc = subprocess.run(
        ["docker", "--context", NODE2, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        return
    message = f"the second builder node (context {NODE2}) is not answering; run scripts/engine"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Node:
    """A throwaway dockerd: its buildx builder is its docker context, `name`."""

    name: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def kill(self) -> None:
        """Kill the daemon and what it started (its containerd), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def _answers(host: str) -> bool:
    proc = subprocess.run(
        ["docker", "-H", host, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


@contextmanager
def throwaway_node(tmp: Path) -> Iterator[Node]:
    """A dockerd of its own (containerd image store, busybox loaded), gone afterwards."""
    tag = uuid.uuid4().hex[:6]
    name, bridge = f"orchtest-{tag}", f"orchbr{tag}"[:15]
    root = Path(f"/tmp/orch-node-{tag}")  # a unix socket path must stay short
    root.mkdir()
    subnet = f"172.30.{int(tag[:2], 16)}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"{subnet}.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    log = (tmp / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--config-file",
            "/etc/docker/daemon.json",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "pid"),
            "-H",
            f"unix://{root}/docker.sock",
            f"--bridge={bridge}",
            "--iptables=false",
            "--ip-masq=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    node = Node(name, root, process)
    try:
        deadline = time.monotonic() + 60
        while not _answers(node.host):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"dockerd of {name} did not start: see {log.name}")
            time.sleep(0.3)
        save = subprocess.Popen(["docker", "save", "busybox:latest"], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "-H", node.host, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            check=True,
        )
        save.wait()
        subprocess.run(
            ["docker", "context", "create", name, "--docker", f"host={node.host}"],
            capture_output=True,
            check=True,
        )
        yield node
    finally:
        node.kill()
        log.close()
        subprocess.run(["docker", "context", "rm", "-f", name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
