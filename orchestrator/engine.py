"""The one module that talks to Docker: checks the engine, runs bake, inspects images."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException

from orchestrator.errors import EngineError
from orchestrator.progress import ProgressReader

# Ctrl-C must stop everything within 5 s: bake gets SIGTERM (it cancels the solve in the
# daemon), then SIGKILL for the whole process group if it has not exited by then.
TERM_GRACE_S = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeResult:
    """What one bake target of a bake invocation came to."""

    status: str  # "built" | "failed" | "cancelled"
    duration_s: float = 0.0  # from the start of the bake to the target's last output
    digest: str | None = None
    cached_steps: int = 0
    steps: int = 0
    failed_step: str | None = None
    error: str | None = None
    tail: tuple[str, ...] = ()
    log_lines: tuple[str, ...] = ()


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
        argv = [*self._docker, "buildx", "inspect"]
        if self.builder:
            argv.append(self.builder)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        if proc.returncode != 0:
            what = f"buildx builder '{self.builder}'" if self.builder else "docker buildx"
            raise EngineError(
                f"{what} is not available: {proc.stderr.strip().splitlines()[-1:]}",
                hint="list builders with `docker buildx ls`; pick one with --builder NAME",
            )

    def bake_argv(self, bake_file: Path, names: Sequence[str], metadata: Path) -> list[str]:
        argv = [*self._docker, "buildx", "bake", "-f", str(bake_file)]
        argv += ["--metadata-file", str(metadata), "--progress", "plain"]
        if self.builder:
            argv += ["--builder", self.builder]
        return [*argv, *names]

    async def bake(
        self,
        bake_file: Path,
        names: Sequence[str],
        *,
        cwd: Path,
        on_line: Callable[[str], None] | None = None,
    ) -> dict[str, BakeResult]:
        """Run one `docker buildx bake` of `names`; cancelling it stops the process group."""
        # Private to this invocation: another orch run in the same checkout has its own.
        fd, name = tempfile.mkstemp(prefix=".metadata-", suffix=".json", dir=bake_file.parent)
        os.close(fd)
        metadata = Path(name)
        reader = ProgressReader(list(names))
        started = time.monotonic()
        env = {**os.environ, "BUILDKIT_PROGRESS": "plain"}
        process = await anyio.open_process(
            self.bake_argv(bake_file, names, metadata),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            buffer = b""
            async for chunk in process.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    reader.feed(line, time.monotonic() - started)
                    if on_line is not None:
                        on_line(line)
            if buffer:
                reader.feed(buffer.decode("utf-8", "replace"), time.monotonic() - started)
            code = await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
        meta = _read_json(metadata)
        metadata.unlink(missing_ok=True)
        return _results(names, reader, code, meta, time.monotonic() - started)

    def inspect(self, refs: Sequence[str]) -> dict[str, ImageInfo]:
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _results(
    names: Sequence[str], reader: ProgressReader, code: int, meta: dict[str, Any], wall: float
) -> dict[str, BakeResult]:
    results: dict[str, BakeResult] = {}
    any_failed = any(p.error for p in reader.targets.values())
    for name in names:
        p = reader.targets[name]
        common: dict[str, Any] = {
            "duration_s": wall if len(names) == 1 else (p.last_seen or wall),
            "cached_steps": p.cached,
            "steps": p.steps,
            "log_lines": tuple(p.lines),
        }
        if code == 0:
            digest = (meta.get(name) or {}).get("containerimage.digest")
            results[name] = BakeResult(status="built", digest=digest, **common)
        elif p.error:
            results[name] = BakeResult(
                status="failed",
                failed_step=p.failed_step,
                error=p.error,
                tail=tuple(reader.failed_tail(name)),
                **common,
            )
        elif any_failed and len(names) > 1:
            # bake stops every target of an invocation when one fails: not this target's fault.
            results[name] = BakeResult(status="cancelled", **common)
        else:
            lines = tuple(p.lines) + tuple(reader.other)
            error = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), None)
            results[name] = BakeResult(
                status="failed",
                error=(error or f"docker buildx bake exited with {code}").removeprefix("ERROR: "),
                tail=lines[-30:],
                **{**common, "log_lines": lines},
            )
    return results
