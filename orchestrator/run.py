"""`orch build` and `orch test` on the engine: check what they need, schedule, keep results.

`execute` is the async core: the scheduler drives an `EngineBuilder`, which turns each batch
into one bake and each job's outcome into a `JobResult`, made once. `run` is the synchronous
edge the CLI calls. The engine is a parameter (`BakeEngine`), so tests hand in a fake one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio

from orchestrator import history
from orchestrator.bake import RunInputs, bake_definitions, bake_file, bake_name
from orchestrator.buildlog import BakeResult
from orchestrator.cache import CacheLease, lease
from orchestrator.engine import ImageInfo
from orchestrator.errors import PlanError
from orchestrator.interrupts import Interrupts
from orchestrator.jobs import Job, JobSet
from orchestrator.project import Project
from orchestrator.results import Invocation, JobResult, RunOutcome, Status
from orchestrator.scheduler import EventStatus, RunResult, TargetOutcome, run_schedule
from orchestrator.workspace import RunDir, open_run

OnEvent = Callable[[str, EventStatus, float | None], None]


class BakeEngine(Protocol):
    """What a run needs of the engine: run one bake, look at the images it made."""

    async def bake(
        self, bake_file: Path, names: Sequence[str], *, cwd: Path
    ) -> Mapping[str, BakeResult]: ...

    def inspect(self, refs: Sequence[str]) -> Mapping[str, ImageInfo]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    parallel: int = 4  # bake invocations at once
    max_batch: int | None = None  # jobs per bake invocation
    fail_fast: bool = False


def check_secrets(jobset: JobSet, environ: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """Every secret the run's jobs need must be there: a PlanError at its line if one is not.

    Returns the optional secrets that are absent, (target, id) pairs: they are left out.
    """
    absent: set[tuple[str, str]] = set()
    for target in {job.target.name: job.target for job in jobset.jobs.values()}.values():
        for s in target.secrets:
            if s.env is not None:
                missing = s.env not in environ
                what = f"the environment variable {s.env} is not set"
                fix = f"export {s.env}=... before the build"
            else:
                missing = s.src is None or not s.src.is_file()
                what = f"its file {s.src} does not exist"
                fix = "create the file, or point src: at it"
            if not missing:
                continue
            if s.optional:
                absent.add((target.name, s.id))
                continue
            raise PlanError(
                f"secret {s.id!r} of {target.name!r} cannot be read: {what}",
                location=s.location,
                hint=f"{fix}, or mark the secret `optional: true` to build without it",
            )
    return frozenset(absent)


@dataclass
class EngineBuilder:
    """The scheduler's builder: one `docker buildx bake` per batch of ready jobs."""

    project: Project
    jobset: JobSet
    engine: BakeEngine
    run_dir: RunDir
    absent_secrets: frozenset[tuple[str, str]] = frozenset()
    results: dict[str, JobResult] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    clock0: float = field(default_factory=time.monotonic)

    @property
    def root(self) -> Path:
        return self.project.plan.root

    async def build(self, batch: tuple[str, ...]) -> dict[str, TargetOutcome]:
        jobs = [self.jobset.jobs[key] for key in batch]
        leases: dict[str, CacheLease] = {}
        for job in jobs:
            try:
                leases[job.key] = lease(job.target.cache_from, job.cache_to, self.root)
            except OSError as exc:
                self._fail(job, f"cannot prepare its cache directory: {_why(exc)}")
        ready = [job for job in jobs if job.key in leases]
        if ready:
            await self._bake(ready, leases)
        # A job with no result was stopped by a failing sibling: the scheduler retries it alone.
        return {
            key: self._outcome(key) if key in self.results else TargetOutcome("cancelled")
            for key in batch
        }

    async def _bake(self, jobs: Sequence[Job], leases: Mapping[str, CacheLease]) -> None:
        keys = tuple(job.key for job in jobs)
        inputs = RunInputs(
            cache={k: held.specs for k, held in leases.items()}, absent_secrets=self.absent_secrets
        )
        started = time.monotonic() - self.clock0
        try:
            path = self.run_dir.bake_file(
                keys, bake_file(bake_definitions(self.project, jobs, inputs=inputs))
            )
        except OSError as exc:
            for job in jobs:
                leases[job.key].abort()
                self._fail(job, f"cannot write its bake file: {_why(exc)}")
            return
        baked: Mapping[str, BakeResult] = {}
        cache_errors: dict[str, str] = {}
        missing = "bake reported nothing for it"
        try:
            async with self.run_dir.building(keys):
                baked = await self.engine.bake(path, [bake_name(k) for k in keys], cwd=self.root)
        except OSError as exc:  # a lock file or the bake process could not be opened
            missing = f"cannot run its bake: {_why(exc)}"
        finally:
            for key, held in leases.items():
                got = baked.get(bake_name(key))
                if got is None or got.status != "built":
                    held.abort()
                    continue
                try:
                    held.commit()
                except OSError as exc:
                    held.abort()
                    cache_errors[key] = f"its cache could not be saved: {_why(exc)}"
            self.invocations.append(
                Invocation(
                    jobs=keys,
                    started_s=started,
                    ended_s=time.monotonic() - self.clock0,
                    bake_file=str(path.relative_to(self.root)),
                )
            )
        refs = [ref for job in jobs if (ref := job.image) and _built(baked.get(bake_name(job.key)))]
        images = await anyio.to_thread.run_sync(self.engine.inspect, refs) if refs else {}
        for job in jobs:
            got = baked.get(bake_name(job.key))
            if got is None:
                self._fail(job, missing)
            elif got.status != "cancelled":
                self._record(job, got, path, images, cache_errors.get(job.key))

    def _record(
        self,
        job: Job,
        got: BakeResult,
        path: Path,
        images: Mapping[str, ImageInfo],
        cache_error: str | None,
    ) -> None:
        warnings = list(got.warnings)
        rel = path.relative_to(self.root)
        header = f"# re-run: docker buildx bake -f {rel} {bake_name(job.key)}   (from {self.root})"
        try:
            log: str | None = str(
                self.run_dir.write_log(
                    job.key, "\n".join((header, *got.log_lines, ""))
                ).relative_to(self.root)
            )
        except OSError as exc:
            log = None
            warnings.append(f"its log could not be written: {_why(exc)}")
        built = got.status == "built" and cache_error is None
        info = images.get(job.image) if built and job.image else None
        status: Status = ("passed" if job.test else "built") if built else "failed"
        self.results[job.key] = JobResult(
            key=job.key,
            status=status,
            duration_s=got.duration_s,
            image=job.image if built else None,
            digest=(info.digest if info else got.digest) if built and job.image else None,
            size_bytes=info.size_bytes if info else None,
            cached_steps=got.cached_steps,
            log=log,
            failed_step=got.failed_step,
            error=cache_error or got.error,
            tail=got.tail,
            warnings=tuple(warnings),
        )

    def _fail(self, job: Job, error: str) -> None:
        self.results[job.key] = JobResult(key=job.key, status="failed", duration_s=0.0, error=error)

    def _outcome(self, key: str) -> TargetOutcome:
        r = self.results[key]
        done = r.status in ("built", "passed")
        return TargetOutcome("built" if done else "failed", r.duration_s or 0.0, r.error or "")


def _built(got: BakeResult | None) -> bool:
    return got is not None and got.status == "built"


def _why(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


async def execute(
    project: Project,
    jobset: JobSet,
    engine: BakeEngine,
    run_dir: RunDir,
    *,
    options: RunOptions,
    test: bool,
    absent_secrets: frozenset[tuple[str, str]] = frozenset(),
    on_event: OnEvent | None = None,
    interrupts: Interrupts | None = None,
) -> RunOutcome:
    """Run the jobs; an interrupt cancels what runs and still gives every job a result."""
    history_path = run_dir.state / "history.json"
    weights = history.load(history_path)
    builder = EngineBuilder(
        project=project,
        jobset=jobset,
        engine=engine,
        run_dir=run_dir,
        absent_secrets=absent_secrets,
    )
    scheduled: RunResult | None = None
    async with anyio.create_task_group() as tg:
        if interrupts is not None:
            tg.start_soon(_cancel_on_interrupt, interrupts, tg.cancel_scope)
        try:
            scheduled = await run_schedule(
                jobset.deps,
                jobset.order,
                builder,
                jobs=options.parallel,
                max_batch=options.max_batch,
                weights={k: weights.get(k, 1.0) for k in jobset.order},
                fail_fast=options.fail_fast,
                on_event=on_event,
            )
        finally:
            tg.cancel_scope.cancel()
    interrupted = interrupts is not None and interrupts.interrupted
    results = tuple(
        _final(jobset.jobs[key], builder.results.get(key), scheduled) for key in jobset.order
    )
    warnings: list[str] = []
    durations = {r.key: r.duration_s for r in results if r.status in ("built", "passed")}
    try:
        history.update(history_path, {k: d for k, d in durations.items() if d})
    except OSError as exc:
        warnings.append(f"durations were not saved to {history_path}: {_why(exc)}")
    return RunOutcome(
        results=results,
        test=test,
        interrupted=interrupted,
        invocations=tuple(builder.invocations),
        warnings=tuple(warnings),
    )


def _final(job: Job, built: JobResult | None, scheduled: RunResult | None) -> JobResult:
    """The job's one result: the builder's when it baked, else what the schedule decided."""
    if built is not None:
        return built
    decided = scheduled.targets.get(job.key) if scheduled is not None else None
    if decided is None:
        return JobResult(key=job.key, status="cancelled", error="the run was interrupted")
    status: Status = decided.status
    if status == "built" and job.test:
        status = "passed"
    return JobResult(
        key=job.key, status=status, duration_s=decided.duration_s, error=decided.detail or None
    )


async def _cancel_on_interrupt(interrupts: Interrupts, scope: anyio.CancelScope) -> None:
    await interrupts.wait()
    scope.cancel()


def run(
    project: Project,
    jobset: JobSet,
    engine: BakeEngine,
    *,
    options: RunOptions,
    test: bool,
    on_event: OnEvent | None = None,
    interrupts: Interrupts | None = None,
) -> RunOutcome:
    """The synchronous edge: check secrets, open the run's directory, run `execute`."""
    absent = check_secrets(jobset, os.environ)
    run_dir = open_run(project.plan.root)
    try:
        return anyio.run(
            lambda: execute(
                project,
                jobset,
                engine,
                run_dir,
                options=options,
                test=test,
                absent_secrets=absent,
                on_event=on_event,
                interrupts=interrupts,
            )
        )
    finally:
        run_dir.close()
