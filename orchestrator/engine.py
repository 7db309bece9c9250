"""The one module that talks to Docker: checks the engine, runs bake, inspects images.

python-on-whales runs the short calls (version, builder, image inspection); bake itself is a
child process opened with anyio, so its output streams in and a cancel stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException

from orchestrator.buildlog import BakeResult, BuildOutputReader, bake_results
from orchestrator.errors import EngineError

# Ctrl-C must stop everything within 5 s: bake gets SIGTERM (it cancels the solve in the
# daemon), then SIGKILL for the whole process group if it has not exited by then.
TERM_GRACE_S = 3.0


@dataclass(frozen=True, slots=True)
class ImageInfo:
    ref: str
    digest: str
    size_bytes: int


class Engine:
    """A Docker Engine with buildx, reached through the user's own `docker` CLI and config."""

    def __init__(self, builder: str | None = None) -> None:
        self.builder = builder
        self._client = DockerClient()
        try:
            self._docker = [str(part) for part in self._client.client_config.docker_cmd]
        except ClientNotFoundError as exc:
            raise EngineError(
                "the docker CLI was not found on PATH",
                hint="install Docker with buildx, or run scripts/engine",
            ) from exc

    def check(self) -> None:
        """Raise EngineError (exit 3) unless the daemon and buildx (and the builder) answer."""
        try:
            self._client.version()
        except DockerException as exc:
            raise EngineError(
                "the Docker Engine is not answering",
                hint="start dockerd (scripts/engine installs and starts one), or set DOCKER_HOST",
            ) from exc
        try:
            self._client.buildx.inspect(self.builder)
        except DockerException as exc:
            what = f"buildx builder '{self.builder}'" if self.builder else "docker buildx"
            said = (exc.stderr or "").strip().splitlines()
            raise EngineError(
                f"{what} is not available" + (f": {said[-1]}" if said else ""),
                hint="list builders with `docker buildx ls`; pick one with --builder NAME",
            ) from exc

    def bake_argv(self, bake_file: Path, names: Sequence[str], metadata: Path) -> list[str]:
        argv = [*self._docker, "buildx", "bake", "-f", str(bake_file)]
        argv += ["--metadata-file", str(metadata), "--progress", "plain"]
        if self.builder:
            argv += ["--builder", self.builder]
        return [*argv, *names]

    async def bake(
        self, bake_file: Path, names: Sequence[str], *, cwd: Path
    ) -> dict[str, BakeResult]:
        """Run one `docker buildx bake` of `names`; cancelling it stops the process group."""
        # Private to this invocation, and removed on every way out of it.
        fd, name = tempfile.mkstemp(prefix=".metadata-", suffix=".json", dir=bake_file.parent)
        os.close(fd)
        metadata = Path(name)
        try:
            reader = BuildOutputReader(list(names))
            started = time.monotonic()
            code = await self._run_bake(
                self.bake_argv(bake_file, names, metadata), cwd, reader, started
            )
            meta = _read_json(metadata)
        finally:
            metadata.unlink(missing_ok=True)
        return bake_results(names, reader, code, meta, time.monotonic() - started)

    async def _run_bake(
        self, argv: list[str], cwd: Path, reader: BuildOutputReader, started: float
    ) -> int:
        env = {**os.environ, "BUILDKIT_PROGRESS": "plain"}
        process = await anyio.open_process(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if process.stdout is None:  # opened with a pipe: never None
                raise RuntimeError("bake's output pipe is missing")
            buffer = b""
            async for chunk in process.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    reader.feed(raw.decode("utf-8", "replace"), time.monotonic() - started)
            if buffer:
                reader.feed(buffer.decode("utf-8", "replace"), time.monotonic() - started)
            return await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)

    def inspect(self, refs: Sequence[str]) -> Mapping[str, ImageInfo]:
        """Digest and size of local images; refs the store does not have are left out."""
        try:  # one CLI call for the whole batch; per image only when one of them is missing
            images = dict(zip(refs, self._client.image.inspect(list(refs)), strict=True))
        except DockerException:
            images = {}
            for ref in refs:
                try:
                    images[ref] = self._client.image.inspect(ref)
                except DockerException:
                    continue
        return {
            ref: ImageInfo(ref=ref, digest=str(image.id), size_bytes=int(image.size or 0))
            for ref, image in images.items()
        }


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is not None:
        return
    _signal_group(process.pid, signal.SIGTERM)
    with anyio.move_on_after(TERM_GRACE_S):
        await process.wait()
        return
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
