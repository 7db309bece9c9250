"""The containers `orch dev --run` starts: run, follow, remove; only ever its own.

A dev container is named after its plan and target (`orch-dev-worker-1a2b3c4d`), so that a
second session of the same service meets the first one's name, and labelled with the plan and
target it was made for. orch removes a container only by the id it started, or, at the start
of a session, one whose labels say orch made it for this plan and target; any other
container, whatever its name, is left alone.

What a container is (its id, labels, state) is read through python-on-whales' typed models;
`docker run`, `docker logs --follow` and `docker rm -f` are child processes of the user's own
`docker` CLI through orchestrator.processes, each in a session of its own, so that a second
Ctrl-C at the terminal cannot kill the `docker rm -f` that cleans up. python-on-whales is
imported when `orch dev --run` first looks a container up, never on a build's path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.to_thread

from orchestrator import processes
from orchestrator.errors import EngineError, OrchError
from orchestrator.plan.ports import PortMapping

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

LABEL_PLAN = "dev.orch.dev.plan"
LABEL_TARGET = "dev.orch.dev.target"
LABEL_SESSION = "dev.orch.dev.session"
# `docker logs -f` and `docker rm -f` get this long after a SIGTERM before a SIGKILL.
STOP_GRACE_S = 3.0


class ContainerError(OrchError):
    """A container orch would start cannot be: its name is taken, or docker refused it."""


def container_name(plan_path: Path, target: str) -> str:
    """`orch-dev-<target>-<8 hex digits of the plan's real path>`: the same for every session
    of one plan's target, different for another checkout."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(plan_path))).hexdigest()[:8]
    return f"orch-dev-{target}-{digest}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSpec:
    """What a dev container runs: the image and `docker run`'s ports, environment, command."""

    image: str
    ports: tuple[PortMapping, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None  # None: the image's own


def run_argv(name: str, spec: RunSpec, labels: Mapping[str, str]) -> list[str]:
    """`docker run -d` of `spec` as `name`, without the `docker` itself."""
    argv = ["run", "-d", "--name", name]
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    for port in spec.ports:
        argv += ["-p", str(port)]
    for key, value in spec.env.items():
        argv += ["-e", f"{key}={value}"]
    argv.append(spec.image)
    return argv + list(spec.command or ())


@dataclass(frozen=True, slots=True)
class Existing:
    """A container that holds a name: its id and labels."""

    id: str
    labels: Mapping[str, str]

    def made_for(self, plan_path: Path, target: str) -> bool:
        return (
            self.labels.get(LABEL_PLAN) == os.path.realpath(plan_path)
            and self.labels.get(LABEL_TARGET) == target
        )


def ours(existing: Existing, plan_path: Path, target: str, name: str) -> bool:
    """Whether a container found under our name may be removed: it says orch made it for this
    plan and target; any other is someone else's, a ContainerError."""
    if existing.made_for(plan_path, target):
        return True
    raise ContainerError(
        f"a container named {name} ({existing.id[:12]}) is there, and orch did not start it "
        f"for {target!r} of {os.path.realpath(plan_path)}",
        hint=f"orch leaves it alone: rename or remove it yourself (docker rm -f {name})",
    )


class Containers:
    """Dev containers through the user's own `docker` CLI, its context and DOCKER_HOST."""

    def __init__(self) -> None:
        docker = shutil.which("docker")
        if docker is None:
            raise EngineError("the docker CLI was not found on PATH", hint="install Docker")
        self._docker = docker
        self._client: DockerClient | None = None

    async def _inspect(self, name_or_id: str) -> Container | None:
        """The container's typed model from python-on-whales; None when there is none."""
        if self._client is None:
            from python_on_whales import DockerClient

            self._client = DockerClient(client_call=[self._docker])
        client = self._client

        def inspect() -> Container | None:
            from python_on_whales.exceptions import DockerException, NoSuchContainer

            try:
                return client.container.inspect(name_or_id)
            except NoSuchContainer:
                return None
            except DockerException as exc:
                said = "\n".join(filter(None, (exc.stderr, exc.stdout)))
                if "Cannot connect to the Docker daemon" in said:
                    raise _not_answering() from None
                return None

        return await anyio.to_thread.run_sync(inspect)

    async def find(self, name: str) -> Existing | None:
        """The container holding `name`, if any."""
        found = await self._inspect(name)
        if found is None:
            return None
        return Existing(id=found.id, labels=dict(found.config.labels or {}))

    async def start(self, name: str, spec: RunSpec, labels: Mapping[str, str]) -> str:
        """Run `spec` detached as `name`; its id. One docker created but could not start is
        removed again, and the failure is a ContainerError with docker's words."""
        proc = await self._run(run_argv(name, spec, labels))
        if proc.returncode == 0:
            return proc.stdout.decode().strip()
        said = [
            line
            for line in proc.stderr.decode("utf-8", "replace").strip().splitlines()
            if line.strip() and not line.startswith(("Run 'docker", "See 'docker"))
        ]
        made = await self.find(name)
        if made is not None and made.labels.get(LABEL_SESSION) == labels.get(LABEL_SESSION):
            await self.remove(made.id)
        raise ContainerError(
            f"docker run of {spec.image} failed" + (f": {said[-1]}" if said else ""),
            hint="fix the service's dev: entry (ports, env, command) or the command after --",
        )

    async def remove(self, container_id: str) -> None:
        """`docker rm -f` of the container with this id; one already gone is no error."""
        with anyio.move_on_after(STOP_GRACE_S * 5):
            await self._run(["rm", "-f", container_id])

    async def exit_code(self, container_id: str) -> int | None:
        """The container's exit code once it has stopped; None while it runs or is gone."""
        found = await self._inspect(container_id)
        if found is None or found.state.running is not False:
            return None
        return found.state.exit_code

    async def follow(self, container_id: str, line: Callable[[str], None]) -> None:
        """Stream the container's output, a line at a time, until it stops or is removed;
        cancelling stops `docker logs` (it runs in its own session, out of Ctrl-C's reach)."""
        process = await processes.open_process(
            [self._docker, "logs", "--follow", container_id], stderr=subprocess.STDOUT
        )
        try:
            async for text in processes.lines(process.stdout, "docker logs"):
                line(text.rstrip("\r"))
            await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)

    async def _run(self, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        # In a session of its own: a second Ctrl-C at the terminal, which reaches the whole
        # foreground process group, must not kill the `docker rm -f` that cleans up.
        proc = await processes.run_process([self._docker, *args])
        if proc.returncode != 0 and b"Cannot connect to the Docker daemon" in proc.stderr:
            raise _not_answering()
        return proc


def _not_answering() -> EngineError:
    return EngineError(
        "the Docker Engine is not answering",
        hint="start dockerd (scripts/engine installs and starts one), or set DOCKER_HOST",
    )


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with anyio.move_on_after(STOP_GRACE_S):
        await process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
