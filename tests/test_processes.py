"""Children opened through orchestrator.processes die with their parent, SIGKILL
included, and a child that ended normally is struck off: its group is never signalled afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio

from orchestrator import processes
from tests.kit import REPO

# A stand-in for orch: opens `sh`, which starts a grandchild (as docker starts buildx), prints
# both pids, then waits to be killed.
PARENT = textwrap.dedent(
    """
    import sys, anyio
    from orchestrator import processes

    async def main():
        child = await processes.open_process(
            ["sh", "-c", "sleep 300 & echo $$ $!; wait"], stdout=None, stderr=None
        )
        short = await processes.run_process(["sh", "-c", "echo ran"])
        print("short", short.returncode, short.stdout.decode().strip(), flush=True)
        await anyio.sleep(300)

    anyio.run(main)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill_9_of_the_parent_takes_the_child_and_its_child(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child, grandchild = (int(p) for p in parent.stdout.readline().split())
        assert parent.stdout.readline().split() == ["short", "0", "ran"]
        assert _alive(child) and _alive(grandchild)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=5)
        killed = time.monotonic()
        while (_alive(child) or _alive(grandchild)) and time.monotonic() - killed < 5:
            time.sleep(0.02)
        took = time.monotonic() - killed
    finally:
        if parent.poll() is None:
            parent.kill()
    assert not _alive(child) and not _alive(grandchild), "the children outlived their parent"
    assert took < 1.0, f"the children outlived their parent by {took:.2f} s"


def test_a_child_runs_in_a_group_of_its_own_and_is_struck_off_when_reaped() -> None:
    async def main() -> tuple[int, int, int]:
        process = await processes.open_process(["sh", "-c", "exit 7"], stdout=None, stderr=None)
        code = await process.wait()
        return process.pid, os.getpgid(os.getpid()), code

    pid, own_group, code = anyio.run(main)
    assert code == 7
    assert pid != own_group
    assert processes.watched() == os.getpid()


def test_run_process_collects_both_outputs_and_the_exit_code() -> None:
    proc = anyio.run(lambda: processes.run_process(["sh", "-c", "echo out; echo err >&2; exit 3"]))
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"out\n", b"err\n")


def test_a_cancelled_run_process_kills_its_whole_group() -> None:
    marker = f"orch-cancel-{os.getpid()}-{time.monotonic_ns()}"

    async def main() -> None:
        with anyio.move_on_after(0.5):
            inner = f"sh -c 'sleep 300; : {marker}'"  # a grandchild, marked too
            await processes.run_process(["sh", "-c", f"{inner} & wait # {marker}"])

    anyio.run(main)
    time.sleep(0.1)
    left = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and marker.encode() in _cmdline(p) and _alive(int(p.name))
    ]
    assert not left, left


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
