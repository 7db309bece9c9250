"""orch killed with SIGKILL: its bake (the docker CLI and the buildx plugin) dies with it, and
the next run removes what the killed one left and builds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.kit import monorepo, orch_build, processes_with

pytestmark = pytest.mark.engine


def _wait_for(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_kill_9_of_orch_ends_its_bake_and_the_next_run_cleans_up(
    tmp_path: Path, image_prefix: str
) -> None:
    marker = f"orch-kill-{uuid.uuid4().hex[:12]}"
    plan = (
        "  cache:\n"
        '    from: ["type=local,src=.cache/{name}"]\n'
        '    to: ["type=local,dest=.cache/{name},mode=max"]\n'
        "services:\n  slow: {context: slow, args: {SECONDS: '300'}}\n"
    )
    dockerfile = "FROM busybox:latest\nARG SECONDS\nRUN sleep $SECONDS && echo " + marker + "\n"
    root = monorepo(tmp_path, image_prefix, plan, {"slow/Dockerfile": dockerfile})
    runs = root / ".orch" / "runs"
    orch = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "build"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CI": "true"},
    )
    try:
        # The build step itself runs: the bake, the plugin and BuildKit's container are up.
        _wait_for("the slow step starting", lambda: processes_with(f"echo {marker}"), 90)
        clients = processes_with(str(runs))
        assert any("docker-buildx" in c for c in clients), clients  # the plugin, a grandchild
        assert any("/docker buildx" in c for c in clients), clients  # the CLI, a child
        os.kill(orch.pid, signal.SIGKILL)
        killed = time.monotonic()
        orch.wait(timeout=5)
        _wait_for(
            "every docker and buildx process of the killed run ending",
            lambda: not processes_with(str(runs)),
            5,
        )
        clients_s = time.monotonic() - killed
        _wait_for("BuildKit cancelling the step", lambda: not processes_with(f"echo {marker}"), 10)
        step_s = time.monotonic() - killed
    finally:
        if orch.poll() is None:
            orch.kill()
    assert clients_s < 2.0, f"bake processes outlived orch by {clients_s:.2f} s"
    assert step_s < 5.0, f"the build step outlived orch by {step_s:.2f} s"
    print(f"after kill -9: clients gone in {clients_s:.2f} s, build step in {step_s:.2f} s")

    # What the killed run left: its half-written cache export with its lock, and its bake's
    # metadata file.
    versions = root / ".cache" / "slow.versions"
    left = sorted(p.name for p in versions.iterdir())
    assert any(name.endswith(".lock") for name in left), left
    assert list(runs.glob("*/.metadata-*")), "the killed run left no metadata file?"
    job_lock = root / ".orch" / "locks" / "slow.lock"
    # Marked, since a new file may get the unlinked one's inode number back.
    job_lock.write_text("left by the killed run\n")

    (root / "buildplan.yaml").write_text(
        (root / "buildplan.yaml").read_text().replace("SECONDS: '300'", "SECONDS: '0'")
    )
    code, out, report = orch_build(root)
    assert code == 0, out
    assert report["targets"]["slow"]["status"] == "built"
    current = (root / ".cache" / "slow").resolve()
    remaining = sorted(p.name for p in versions.iterdir())
    assert remaining == [current.name, current.name + ".lock"], remaining
    assert not list(runs.glob("*/.metadata-*"))
    # The killed run's job lock was swept (the new run made its own).
    assert not job_lock.exists() or job_lock.read_text() != "left by the killed run\n"


def test_a_sweep_keeps_what_a_live_run_holds(tmp_path: Path, image_prefix: str) -> None:
    """Two runs at once: the second one's sweep takes nothing from the first, which builds."""
    marker = f"orch-live-{uuid.uuid4().hex[:12]}"
    plan = (
        "  cache:\n"
        '    from: ["type=local,src=.cache/{name}"]\n'
        '    to: ["type=local,dest=.cache/{name},mode=max"]\n'
        "services:\n  slow: {context: slow}\n  quick: {context: quick}\n"
    )
    root = monorepo(
        tmp_path,
        image_prefix,
        plan,
        {
            "slow/Dockerfile": f"FROM busybox:latest\nRUN sleep 4 && echo {marker}\n",
            "quick/Dockerfile": f"FROM busybox:latest\nRUN echo {marker}-quick\n",
        },
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "build", "slow"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    try:
        _wait_for("the slow step starting", lambda: processes_with(f"echo {marker}"), 90)
        held = sorted(p.name for p in (root / ".cache" / "slow.versions").iterdir())
        code, out, _ = orch_build(root, "quick")
        assert code == 0, out
        # The first run's export and its lock are still there while it builds...
        still = sorted(p.name for p in (root / ".cache" / "slow.versions").iterdir())
        assert set(held) <= set(still), (held, still)
        first_out, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    # ...and it finishes as if alone.
    assert first.returncode == 0, first_out
    assert (root / ".cache" / "slow" / "index.json").is_file()
