"""`orch dev --run` on the real engine, as a user runs it: an edit becomes a new image and a
restarted container, a broken edit keeps the old one running, a second session and a foreign
container are refused, Ctrl-C leaves nothing running, and a context removed and made again
(a branch switch, `git stash`) is built and watched again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.engine.containers import LABEL_PLAN, container_name
from tests.kit import docker, monorepo, processes_with, run_orch

pytestmark = pytest.mark.engine

PLAN = """\
stages:
  base: {context: base}
services:
  app:
    context: app
    dev:
      env: {GREETING: "a, b 'c' \\"d\\""}
      command: ["sh", "-c", "echo \\"$GREETING\\"; cat /msg.txt; exec sleep 600"]
"""
FILES = {
    "base/Dockerfile": "FROM busybox:latest\nCOPY base.txt /\n",
    "base/base.txt": "base\n",
    # A message with BROKEN in it fails the build.
    "app/Dockerfile": "FROM base\nCOPY msg.txt /\nRUN ! grep -q BROKEN /msg.txt\n",
    "app/msg.txt": "v1\n",
}
WAIT_S = 90  # for one build and a container start, on a busy 2-core machine


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> float:
    """Poll `check` until it holds; the seconds it took. Fails after `timeout`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


class Dev:
    """An `orch dev --run` subprocess, its output in files."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.out, self.err = root / "dev.out", root / "dev.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            # A process group of its own, as a shell gives a foreground job: a terminal's
            # Ctrl-C reaches every process in it.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "dev", *args],
                cwd=root,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def said(self, text: str) -> Callable[[], bool]:
        return lambda: text in self.text()

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def ctrl_c_twice(self) -> int:
        """Two Ctrl-Cs at a terminal: SIGINT to the whole process group, and again."""
        for _ in range(2):
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGINT)
            time.sleep(0.3)
        return self.proc.wait(timeout=30)


def containers_of(plan: Path) -> list[tuple[str, str, str]]:
    """(id, state, image) of every container orch dev made for this plan."""
    label = f"{LABEL_PLAN}={os.path.realpath(plan)}"
    out = docker("ps", "-a", "--no-trunc", "--filter", f"label={label}", "--format",
                 "{{.ID}} {{.State}} {{.Image}}")  # fmt: skip
    return [tuple(line.split()) for line in out.splitlines()]  # type: ignore[misc]


@pytest.fixture
def repo(tmp_path, image_prefix):
    root = monorepo(tmp_path / "repo", image_prefix, PLAN, FILES)
    yield root
    for cid, _, _ in containers_of(root / "buildplan.yaml"):
        docker("rm", "-f", cid, check=False)


def test_an_edit_restarts_the_container_a_broken_one_keeps_it_and_ctrl_c_leaves_nothing(repo):
    plan = repo / "buildplan.yaml"
    dev = Dev(repo, "app", "--run")
    try:
        wait_for("the first container", dev.said("app | v1"))
        assert "app | a, b 'c' \"d\"" in dev.text()  # env from the plan, as written
        [(first, state, image)] = containers_of(plan)
        assert state == "running"

        (repo / "app/msg.txt").write_text("v2\n")
        took = wait_for("the restarted container", dev.said("app | v2"))
        assert took < 30
        [(second, state, image_2)] = containers_of(plan)  # the first one is gone
        assert second != first and state == "running" and image_2 != image
        assert "base: up-to-date" in dev.text()  # only what the edit changed was built

        # A second session of the same service is refused before it builds anything.
        other = run_orch(repo, "dev", "app", "--run", timeout=60)
        assert other.returncode == 2
        assert "another orch dev session" in other.stderr and "pid" in other.stderr
        assert containers_of(plan) == [(second, "running", image_2)]

        (repo / "app/msg.txt").write_text("BROKEN\n")
        wait_for("the failed build", dev.said("FAILED"))
        assert f"the container keeps running {image_2}" in dev.text()
        assert containers_of(plan) == [(second, "running", image_2)]

        (repo / "app/msg.txt").write_text("v3\n")
        wait_for("the fixed container", dev.said("app | v3"))
        [(third, _, _)] = containers_of(plan)
    finally:
        code = dev.ctrl_c_twice()
    assert code == 130, dev.text()
    assert containers_of(plan) == []
    assert processes_with(third) == []  # no `docker logs --follow` left
    assert "Traceback" not in dev.text()


def test_ctrl_c_during_a_build_stops_it(repo):
    (repo / "app/Dockerfile").write_text("FROM base\nRUN sleep 120\n")
    dev = Dev(repo, "app", "--run")
    try:
        wait_for("the build of app", dev.said("app: building"))
        time.sleep(1)  # into the RUN step
    finally:
        started = time.monotonic()
        code = dev.stop()
    assert code == 130, dev.text()
    assert time.monotonic() - started < 15
    assert processes_with(str(repo / ".orch" / "runs")) == []  # no bake left
    assert containers_of(repo / "buildplan.yaml") == []


def test_a_container_a_killed_session_left_is_replaced(repo):
    plan = repo / "buildplan.yaml"
    dev = Dev(repo, "app", "--run")
    try:
        wait_for("the first container", dev.said("app | v1"))
    finally:
        dev.stop(signal.SIGKILL)
    [(left, _, _)] = containers_of(plan)
    dev = Dev(repo, "app", "--run")
    try:
        wait_for("the new container", dev.said("app | v1"))
        assert "which an earlier session left behind" in dev.text()
        [(new, state, _)] = containers_of(plan)
        assert new != left and state == "running"
    finally:
        assert dev.stop(signal.SIGTERM) == 130
    assert containers_of(plan) == []


def test_a_container_orch_did_not_start_is_left_alone(repo):
    name = container_name(repo / "buildplan.yaml", "app")
    docker("run", "-d", "--name", name, "busybox:latest", "sleep", "300")
    try:
        proc = run_orch(repo, "dev", "app", "--run", timeout=120)
        assert proc.returncode == 2
        assert f"a container named {name}" in proc.stderr and "orch did not start it" in proc.stderr
        state = docker("container", "inspect", "--format", "{{.State.Running}}", name).strip()
        assert state == "true"
    finally:
        docker("rm", "-f", name, check=False)


def test_a_container_docker_cannot_start_is_reported_and_removed(repo):
    dev = Dev(repo, "app", "--run", "--", "no-such-program-here")
    try:
        wait_for("docker's refusal", dev.said("the container did not start"))
        assert "no-such-program-here" in dev.text()  # docker's own words
        assert containers_of(repo / "buildplan.yaml") == []  # the one docker created is gone
        assert dev.proc.poll() is None  # the session goes on, for the next edit
    finally:
        code = dev.stop()
    assert code == 130


def test_a_context_removed_and_made_again_is_built_and_watched_again(repo):
    """inotify watches the directory, not its path: after `rm -rf app` and its return, the
    new directory is watched, built once as it came back, and again on the next edit."""
    app = repo / "app"
    dev = Dev(repo, "app")
    try:
        wait_for("the first build", dev.said("build 1 ok"))
        saved = {p.name: p.read_text() for p in app.iterdir()}
        shutil.rmtree(app)
        wait_for("the missing Dockerfile", dev.said("the plan or a Dockerfile cannot be read"))
        app.mkdir()
        for name, text in saved.items():
            (app / name).write_text("v2\n" if name == "msg.txt" else text)
        took = wait_for("the build of what came back", dev.said("build 2 ok"))
        assert took < 30
        assert "build 2: app/ (a directory of inputs)" in dev.text()
        (app / "msg.txt").write_text("v3\n")  # an edit in the new directory
        took = wait_for("the build of the edit", dev.said("build 3 ok"))
        assert took < 30
        assert "build 3: app/msg.txt (context of app)" in dev.text()
    finally:
        code = dev.stop()
    assert code == 130, dev.text()
    assert "Traceback" not in dev.text()
