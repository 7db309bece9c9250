"""Every child process orch starts: the one wrapper, so that each dies with orch.

`open_process` and `run_process` are for the event loop (the docker CLI, bake, `docker logs`):
each child runs in a session of its own, guarded by the watchdog below. `run_sync` is for the
short calls made before or outside a run's event loop (git, hadolint): a bounded wait, and the
same failure for a program that is not installed.

Child processes that die with orch, even when orch itself is killed with SIGKILL.

`docker buildx bake` is two processes: the `docker` CLI and the buildx plugin it starts as its
own child. Killed with SIGKILL, orch runs no cleanup, and both would go on until they next
write to the closed output pipe, which a silent build step may not do for minutes; while they
run, BuildKit goes on with the solve.

So every process is opened in a session (and process group) of its own, and a watchdog (one
small process per orch, started with the first child) holds the read end of a pipe that only
orch writes to. orch tells it each group it opens and each it has reaped; when the pipe ends,
because orch exited or was killed, the watchdog kills every group still listed, the plugin
included, and BuildKit cancels the solve of a client that is gone. PR_SET_PDEATHSIG would
reach the direct child only (not the plugin it forks), and fires when the thread that forked
it exits; the watchdog costs one process per run, and nothing per call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from subprocess import CompletedProcess
from typing import IO

import anyio
import anyio.abc

# Reads `+PGID` / `-PGID` lines until the pipe ends, then kills every group still listed.
_WATCHDOG = r"""
import os, signal
groups, buf = set(), b""
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_IGN)
while True:
    try:
        chunk = os.read(0, 65536)
    except InterruptedError:
        continue
    if not chunk:
        break
    buf += chunk
    *lines, buf = buf.split(b"\n")
    for line in lines:
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""

_lock = threading.Lock()
_pipe: int | None = None  # the write end, orch's alone (close-on-exec)
_owner: int | None = None  # the pid that started the watchdog (a fork has none of its own)


def _tell(line: str) -> None:
    """Send one line to the watchdog, starting it first if this process has none."""
    global _pipe, _owner
    with _lock:
        for _ in range(2):  # a watchdog that is gone (killed by hand) is started anew
            if _pipe is None or _owner != os.getpid():
                try:
                    _pipe, _owner = _start_watchdog(), os.getpid()
                except OSError:
                    return  # no watchdog to be had: the child runs unguarded, as before
            try:
                os.write(_pipe, line.encode() + b"\n")
                return
            except OSError:
                with contextlib.suppress(OSError):
                    os.close(_pipe)
                _pipe = None


def _start_watchdog() -> int:
    read, write = os.pipe()  # both close-on-exec: no child but the watchdog holds them
    devnull = os.open(os.devnull, os.O_RDWR)
    spawned = False
    try:
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-I", "-S", "-c", _WATCHDOG],
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, read, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, devnull, 2),
            ],
            setsid=True,  # a Ctrl-C at the terminal is orch's to handle, not the watchdog's
        )
        spawned = True
    finally:
        os.close(read)
        os.close(devnull)
        if not spawned:
            os.close(write)
    return write


def watched() -> int | None:
    """The pid of the process whose watchdog guards this one's children (for tests)."""
    return _owner


class GuardedProcess(anyio.abc.Process):
    """An anyio process in a group of its own that the watchdog kills if orch dies; the group
    is struck off the watchdog's list once the process is reaped."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process
        self._listed = True

    def _reaped(self) -> None:
        if self._listed and self._process.returncode is not None:
            self._listed = False
            _tell(f"-{self._process.pid}")

    async def wait(self) -> int:
        try:
            return await self._process.wait()
        finally:
            self._reaped()

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()

    def send_signal(self, sig: signal.Signals) -> None:
        self._process.send_signal(sig)

    async def aclose(self) -> None:
        try:
            await self._process.aclose()
        finally:
            self._reaped()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @property
    def stdin(self) -> anyio.abc.ByteSendStream | None:
        return self._process.stdin

    @property
    def stdout(self) -> anyio.abc.ByteReceiveStream | None:
        return self._process.stdout

    @property
    def stderr(self) -> anyio.abc.ByteReceiveStream | None:
        return self._process.stderr


async def open_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.PIPE,
    stderr: int | IO[bytes] | None = subprocess.PIPE,
) -> GuardedProcess:
    """`anyio.open_process`, in a new session whose group dies with orch."""
    process = await anyio.open_process(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    _tell(f"+{process.pid}")
    return GuardedProcess(process)


def run_sync(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout_s: float | None = None,
) -> CompletedProcess[bytes]:
    """Run a short command to its end and collect both outputs. FileNotFoundError when the
    program is not installed; subprocess.TimeoutExpired past `timeout_s` (the child is killed)."""
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )


async def lines(stream: anyio.abc.ByteReceiveStream | None, what: str) -> AsyncIterator[str]:
    """A child's output a line at a time, decoded (undecodable bytes replaced), the last line
    even without its newline; `what` names the stream if the pipe is missing."""
    if stream is None:  # opened with a pipe: never None
        raise RuntimeError(f"{what}'s output pipe is missing")
    buffer = b""
    async for chunk in stream:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            yield raw.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


async def run_process(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> CompletedProcess[bytes]:
    """Run to the end and collect both outputs, as `anyio.run_process(check=False)`; a cancel
    kills the process's whole group."""
    process = await open_process(argv, cwd=cwd, env=env)
    out, err = bytearray(), bytearray()

    async def drain(stream: anyio.abc.ByteReceiveStream | None, into: bytearray) -> None:
        if stream is not None:
            async for chunk in stream:
                into += chunk

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, process.stdout, out)
            tg.start_soon(drain, process.stderr, err)
        code = await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
            await process.aclose()
    return CompletedProcess(list(argv), code, bytes(out), bytes(err))
