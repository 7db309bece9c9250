"""`orch dev SERVICE [--run]`: build a service, watch its inputs, rebuild on every edit.

The inputs watched are the ones its version and its upstream targets' versions are made of
(contexts after their ignore file, Dockerfiles, ignore files, named context directories,
`watch` files, the plan): an event on any other path is dropped. A burst of events becomes
one rebuild (`Burst`), which is the ordinary build of the service: what is up to date is not
built again, so only what the edit changed is. With --run, each successful build whose image
differs from the running container's replaces the container; a failed build leaves it
running. A directory of inputs removed and made again (a branch switch, `git stash`) is
watched again and built as it came back (orchestrator.dev.watcher). A first build that cannot
write orch's state directory ends the session, exit 2. Ctrl-C or SIGTERM stops the watcher,
the build and the container, exit 130.

The decisions are pure, in orchestrator.dev.decide; `Session` is the loop, with the engine, the
containers and the change stream handed in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from orchestrator.dev.decide import (
    Burst,
    Overrides,
    Relevant,
    WatchRoots,
    outcome_words,
    overrides,
    relevant,
    run_spec,
    service_target,
    watch_roots,
)
from orchestrator.engine.containers import (
    LABEL_PLAN,
    LABEL_SESSION,
    LABEL_TARGET,
    ContainerError,
    Containers,
    RunSpec,
    container_name,
    ours,
)
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_OK, OrchError, UsageError, unwrapped
from orchestrator.inputs.versions import Manifest, short
from orchestrator.plan.state import state_dir
from orchestrator.project import Project, load_project
from orchestrator.run import pipeline
from orchestrator.run.bake import hand_off_ref
from orchestrator.run.builder import BakeEngine
from orchestrator.run.interrupts import Interrupts, cancel_on
from orchestrator.run.results import RunOutcome
from orchestrator.run.workspace import StateError, open_run

Watch = Callable[[WatchRoots, MemoryObjectSendStream[frozenset[Path]]], Awaitable[None]]


@dataclass
class Running:
    """The container this session runs now."""

    id: str
    spec: RunSpec
    scope: anyio.CancelScope  # its log stream
    exited: bool = False


@dataclass
class Session:
    """One `orch dev` session: its inputs, and what it has built and runs so far."""

    plan_path: Path
    service: str
    engine: BakeEngine
    watch: Watch
    containers: Containers | None = None  # with --run
    given: Overrides = field(default_factory=Overrides)
    request: pipeline.Request = field(default_factory=lambda: pipeline.Request(ci="none"))
    registry: str | None = None  # --registry, for each reload of the plan
    platform: tuple[str, ...] = ()  # --platform (the host's by default), for each reload
    err: TextIO | None = None
    out: TextIO | None = None
    burst: Burst = field(default_factory=Burst)
    rebuilds: int = 0
    outcomes: list[RunOutcome] = field(default_factory=list)  # of the builds that ran
    running: Running | None = None
    _tg: anyio.abc.TaskGroup | None = None

    @property
    def name(self) -> str:
        return container_name(self.plan_path, self.service)

    def say(self, text: str) -> None:
        stream = self.err or _stderr()
        stream.write(f"[{time.strftime('%H:%M:%S')}] orch dev: {text}\n")
        stream.flush()

    async def serve(self, project: Project, interrupts: Interrupts | None = None) -> None:
        """Build, then rebuild on every burst of input changes, until cancelled or
        interrupted; the container is removed on every way out."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if interrupts is not None:
                    tg.start_soon(cancel_on, interrupts, tg.cancel_scope)
                if self.containers is not None:
                    await self._clear_name()
                await self._loop(project, tg)
        finally:
            with anyio.CancelScope(shield=True):
                if self.running is not None:
                    self.say(f"removing the container {self.name}")
                await self._remove()

    async def _loop(self, project: Project, tg: anyio.abc.TaskGroup) -> None:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](math.inf)
        roots = watch_roots(project, project.graph.select([self.service]))
        watcher = await tg.start(self._watching, roots, send)
        self.say(f"watching {len(roots.recursive) + len(roots.flat)} directories")
        await self._rebuild(project, "the first build")
        while True:
            changed = await self._next_burst(receive, project)
            reloaded = self._reload(project)
            if reloaded is None:
                continue
            project = reloaded
            new_roots = watch_roots(project, project.graph.select([self.service]))
            if new_roots != roots:
                watcher.cancel()
                roots = new_roots
                watcher = await tg.start(self._watching, roots, send)
            await self._rebuild(project, changed.describe())

    async def _watching(
        self,
        roots: WatchRoots,
        send: MemoryObjectSendStream[frozenset[Path]],
        *,
        task_status: anyio.abc.TaskStatus[anyio.CancelScope],
    ) -> None:
        with anyio.CancelScope() as scope:
            task_status.started(scope)
            await self.watch(roots, send)

    async def _next_burst(
        self, receive: MemoryObjectReceiveStream[frozenset[Path]], project: Project
    ) -> Relevant:
        """The next burst of changes to inputs; events on other paths start none."""
        burst = self.burst
        while True:
            due = burst.due()
            if due is None:
                batch = await receive.receive()
            else:
                with anyio.move_on_after(max(0.0, due - anyio.current_time())) as waited:
                    batch = await receive.receive()
                if waited.cancelled_caught:
                    return self._relevant(project, burst.take())
            if self._relevant(project, batch):
                burst.add(batch, anyio.current_time())

    def _relevant(self, project: Project, paths: frozenset[Path]) -> Relevant:
        try:
            return relevant(project, self.service, paths)
        except OrchError:  # an ignore file mid-edit: the build says what is wrong with it
            return Relevant(hits={}, note="an ignore file that cannot be read")

    def _reload(self, project: Project) -> Project | None:
        try:
            reloaded = load_project(self.plan_path, registry=self.registry, platform=self.platform)
            service_target(reloaded, self.service)
            return reloaded
        except OrchError as exc:
            self.say(f"the plan or a Dockerfile cannot be read; still {self._state()}")
            self.say(exc.render())
            return None

    def _state(self) -> str:
        if self.running is None:
            return "nothing runs" if self.containers is not None else "watching"
        return f"running {self.running.spec.image}"

    async def _rebuild(self, project: Project, reason: str) -> None:
        """Build the service and what it needs through the run's pipeline (what is up to date
        is not built again); restart its container on success. A failure of any kind is
        printed, and the session goes on; but a state directory the first build cannot write
        is no edit's to fix, and ends the session (exit 2, as `orch build` does)."""
        from orchestrator.report.console import StatusView

        self.rebuilds += 1
        number, started = self.rebuilds, time.monotonic()
        self.say(f"build {number}: {reason}")
        request = dataclasses.replace(self.request, targets=(self.service,))

        def view_for(order: Sequence[str]) -> StatusView:
            return StatusView(list(order), live=False, stream=self.err)

        try:
            target = service_target(project, self.service)
            ran = await unwrapped(pipeline.run(project, request, view_for, engine=self.engine))
        except OrchError as exc:
            if isinstance(exc, StateError) and number == 1:
                raise
            self.say(f"build {number} could not run; still {self._state()}\n{exc.render()}")
            return
        outcome, manifests = ran.outcome, ran.manifests
        versions = {name: m.version for name, m in manifests.items()}
        self.outcomes.append(outcome)
        took = time.monotonic() - started
        verdict = "ok" if outcome.ok else "FAILED"
        self.say(f"build {number} {verdict} in {took:.1f}s: {outcome_words(outcome)}")
        if not outcome.ok:
            if self.running is not None:
                self.say(f"the container keeps running {self.running.spec.image}")
            await self._forget_stale(project, manifests, outcome)
            return
        if self.containers is None:
            self.say(f"{self.service} is at {short(versions[self.service])}")
        else:
            await self._restart(run_spec(target, hand_off_ref(target, versions), self.given))
        await self._forget_stale(project, manifests, outcome)

    async def _forget_stale(
        self, project: Project, manifests: Mapping[str, Manifest], outcome: RunOutcome
    ) -> None:
        """Untag the versioned image of a target whose inputs changed while it was built.

        Its version was worked out before BuildKit read the files, so the image may hold the
        later edit; kept under the earlier version, an undo back to that content would find
        it up to date and run the wrong code. Without the tag, that version is built again.
        """
        built = [r.key for r in outcome.results if r.status == "built"]
        if not built:
            return
        bases = {name: dict(m.bases) for name, m in manifests.items()}
        try:
            now = project.manifests(list(manifests), bases=bases)
        except (OSError, OrchError):
            return  # the next build, which the change brings, works it out
        stale = [n for n in built if now[n].version != manifests[n].version]
        if not stale:
            return
        versions = {name: m.version for name, m in manifests.items()}
        refs = [hand_off_ref(project.plan.targets[n], versions) for n in stale]
        with contextlib.suppress(OrchError):
            await self.engine.remove(refs)
        self.say(f"changed while being built, so not kept as up to date: {', '.join(refs)}")

    async def _restart(self, spec: RunSpec) -> None:
        """Replace the container with one of `spec`; an unchanged, running one stays."""
        assert self.containers is not None and self._tg is not None
        old = self.running
        if old is not None and old.spec == spec and not old.exited:
            self.say(f"{self.service}: the container already runs {spec.image}")
            return
        started = time.monotonic()
        labels = {
            LABEL_PLAN: os.path.realpath(self.plan_path),
            LABEL_TARGET: self.service,
            LABEL_SESSION: f"{os.uname().nodename}:{os.getpid()}",
        }
        try:
            await self._remove()
            container_id = await self.containers.start(self.name, spec, labels)
        except OrchError as exc:  # docker refused it, or the engine stopped answering
            self.say(f"{self.service}: the container did not start")
            self.say(exc.render())
            return
        scope = anyio.CancelScope()
        self.running = Running(id=container_id, spec=spec, scope=scope)
        took = time.monotonic() - started
        self.say(
            f"{self.service}: running {spec.image} as {self.name} "
            f"({container_id[:12]}), started in {took:.1f}s"
        )
        self._tg.start_soon(self._follow, self.running)

    async def _follow(self, running: Running) -> None:
        assert self.containers is not None
        out = self.out or _stdout()
        prefix = f"{self.service} | "

        def line(text: str) -> None:
            with contextlib.suppress(OSError):  # `| head` has left: the container runs on
                out.write(prefix + text + "\n")
                out.flush()

        with running.scope:
            code = None
            with contextlib.suppress(OrchError):  # the engine went away: so did the container
                await self.containers.follow(running.id, line)
                code = await self.containers.exit_code(running.id)
            running.exited = True
            self.say(
                f"{self.service}: the container stopped"
                + (f" with exit code {code}" if code is not None else "")
                + "; the next successful build starts it again"
            )

    async def _remove(self) -> None:
        running, self.running = self.running, None
        if running is None or self.containers is None:
            return
        running.scope.cancel()
        await self.containers.remove(running.id)

    async def _clear_name(self) -> None:
        """A container already under our name: one a killed session left is removed; any
        other is a ContainerError, and stays."""
        assert self.containers is not None
        existing = await self.containers.find(self.name)
        if existing is not None and ours(existing, self.plan_path, self.service, self.name):
            self.say(f"removing {self.name}, which an earlier session left behind")
            await self.containers.remove(existing.id)


def _stderr() -> TextIO:
    import sys

    return sys.stderr


def _stdout() -> TextIO:
    import sys

    return sys.stdout


# --- The command --------------------------------------------------------------------------


@contextlib.contextmanager
def holding(state: Path, service: str, name: str) -> Iterator[None]:
    """Hold `service`'s container for this session: a second session of it, in this
    checkout, is a ContainerError naming the first, before it builds anything."""
    path = state / "dev" / f"{service}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = handle.read().strip() or "another process"
            raise ContainerError(
                f"another orch dev session ({who}) owns {service}'s container {name}",
                hint="stop that session first (Ctrl-C in its terminal): "
                "one session runs a service at a time",
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}\n")
        handle.flush()
        yield


def command(
    plan_path: Path,
    service: str,
    *,
    request: pipeline.Request,
    registry: str | None = None,
    platform: Sequence[str] = (),
    run_container: bool,
    ports: Sequence[str] = (),
    env: Sequence[str] = (),
    args: Sequence[str] = (),
) -> int:
    """`orch dev`: check everything given, then serve until Ctrl-C (exit 130). Each target
    builds for `platform` only (the host's when none is given: orch.plan.overrides.narrowed),
    since a container here runs the host's."""
    from orchestrator.dev.watcher import watch
    from orchestrator.engine.docker import Engine
    from orchestrator.plan.overrides import host_platform
    from orchestrator.run.interrupts import catch_interrupts

    platform = tuple(platform) or (host_platform(),)
    project = load_project(plan_path, registry=registry, platform=platform)
    service_target(project, service)
    if not run_container and (ports or env or args):
        raise UsageError(
            "--port, --env and ARGS say how to run the container: they need --run",
            hint=f"orch dev {service} --run ...",
        )
    given = overrides(ports, env, args, os.environ)
    engine = Engine(builder=request.builder, pull=request.pull)
    # orch's state directory must be writable before anything is watched: an edit never fixes
    # that, so waiting on would only hide it (as `orch build`, exit 2).
    open_run(state_dir(project.plan), project.plan.path).close()
    session = Session(
        plan_path=project.plan.path,
        service=service,
        engine=engine,
        watch=watch,
        containers=Containers() if run_container else None,
        given=given,
        request=request,
        registry=registry,
        platform=platform,
    )
    lock = holding(state_dir(project.plan), service, session.name) if run_container else None
    with lock or contextlib.nullcontext(), catch_interrupts() as interrupts:

        async def serve() -> None:
            await engine.check_async()  # on the session's one event loop
            await session.serve(project, interrupts)

        anyio.run(lambda: unwrapped(serve()))
        stopped = interrupts.interrupted
    session.say("stopped")
    return EXIT_INTERRUPTED if stopped else EXIT_OK
