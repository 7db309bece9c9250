"""`orch build` and `orch test` on the engine: check what they need, skip what is up to date,
schedule the rest, keep one result per job.

`execute` is the async core: jobs whose versioned image is there are `up-to-date`, and the
scheduler drives an `EngineBuilder` over the others, on one engine or over a pool of them.
With `push`, the plan's tags move only at the end, and only when every job succeeded. `run` is
the synchronous edge the CLI calls. Engines are parameters (`BakeEngine`), so tests hand in
fake ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio

from orchestrator import history, images
from orchestrator.bake import hand_off_ref
from orchestrator.builder import BakeEngine, Deferred, EngineBuilder, why
from orchestrator.errors import OrchError, PlanError, orch_error_in
from orchestrator.interrupts import Interrupts
from orchestrator.jobs import Job, JobSet, pending
from orchestrator.project import Project
from orchestrator.results import DONE, Attempt, JobResult, RunOutcome, Status
from orchestrator.scheduler import Member, RunResult, run_schedule
from orchestrator.versions import Manifest, short, stage_version
from orchestrator.workspace import RunDir, open_run

OnEvent = Callable[[str, str, float | None], None]
OnPlace = Callable[[str, str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    parallel: int = 4  # bake invocations at once
    max_batch: int | None = None  # jobs per bake invocation (the CLI's default is 10)
    fail_fast: bool = False
    force: bool = False  # build even what is up to date
    retries: int = 0  # further attempts of a job that failed in a way worth a retry
    push: bool = False  # move the plan's tags only once every job succeeded
    chain: bool = True  # a job whose upstream starts in a bake goes into it, linked


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One builder of a run over several: its name, its bake invocations at once, its engine."""

    name: str
    slots: int
    engine: BakeEngine


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


def job_versions(jobset: JobSet, manifests: Mapping[str, Manifest]) -> dict[str, str]:
    """Each job's version: its target's, or for a test stage, one made from it and the stage."""
    versions: dict[str, str] = {}
    for key, job in jobset.jobs.items():
        version = manifests[job.target.name].version
        versions[key] = stage_version(version, job.stage or "") if job.test else version
    return versions


async def up_to_date(
    jobset: JobSet,
    engine: BakeEngine,
    run_dir: RunDir,
    versions: Mapping[str, str],
    job_version: Mapping[str, str],
    previous_sizes: Mapping[str, int],
    deferred: dict[str, Deferred] | None = None,
) -> dict[str, JobResult]:
    """The jobs with nothing to do: a build whose versioned image is there (its plan tags are
    pointed at it if they moved, or held back in `deferred`), a test stage that passed at this
    version."""
    wanted = {
        key: (job.target, hand_off_ref(job.target, versions))
        for key, job in jobset.jobs.items()
        if not job.test
    }
    found = await images.find(engine, wanted)
    passed = run_dir.passed()
    results: dict[str, JobResult] = {}
    for key, job in jobset.jobs.items():
        version = short(job_version[key])
        if job.test:
            if passed.get(key) == job_version[key]:
                results[key] = JobResult(key=key, status="up-to-date", version=version)
            continue
        there = found.get(key)
        if there is None:
            continue
        try:
            if deferred is None:
                await images.point_tags(engine, job.target, there.ref, there.stale_tags)
            elif there.stale_tags:
                deferred[key] = Deferred(job.target, there.ref, tuple(there.stale_tags))
        except OrchError as exc:
            results[key] = JobResult(
                key=key,
                status="failed",
                version=version,
                error=f"{there.ref} is there, but the plan's tags could not be moved to it: "
                + exc.message,
            )
            continue
        results[key] = JobResult(
            key=key,
            status="up-to-date",
            version=version,
            image=job.target.ref if deferred is None or key not in deferred else None,
            versioned_image=there.ref,
            digest=there.digest,
            size_bytes=there.size_bytes,
            previous_size_bytes=previous_sizes.get(key),
        )
    return results


async def execute(
    project: Project,
    jobset: JobSet,
    engine: BakeEngine,
    run_dir: RunDir,
    *,
    manifests: Mapping[str, Manifest],
    options: RunOptions,
    test: bool,
    absent_secrets: frozenset[tuple[str, str]] = frozenset(),
    on_event: OnEvent | None = None,
    on_place: OnPlace | None = None,
    interrupts: Interrupts | None = None,
    pool: Sequence[PoolEntry] = (),
) -> RunOutcome:
    """Run the jobs that are not up to date, with `engine` or over `pool`; an interrupt
    cancels what runs and still gives every job a result."""
    history_path = run_dir.state / "history.json"
    weights = history.load(history_path)
    job_version = job_versions(jobset, manifests)
    previous_sizes = run_dir.sizes()
    builder = EngineBuilder(
        project=project,
        jobset=jobset,
        engine=engine,
        run_dir=run_dir,
        manifests=manifests,
        job_versions=job_version,
        absent_secrets=absent_secrets,
        previous_sizes=previous_sizes,
        defer_tags=options.push,
    )
    members = [Member(e.name, e.slots, builder.on(e.name, e.engine)) for e in pool]
    settled: dict[str, JobResult] = {}
    scheduled: RunResult | None = None
    async with anyio.create_task_group() as tg:
        if interrupts is not None:
            tg.start_soon(_cancel_on_interrupt, interrupts, tg.cancel_scope)
        try:
            if not options.force:
                settled = await up_to_date(
                    jobset,
                    engine,
                    run_dir,
                    builder.versions,
                    job_version,
                    previous_sizes,
                    builder.deferred if options.push else None,
                )
            for key, result in settled.items():
                if on_event is not None:
                    on_event(key, result.status, None)
            todo = pending(jobset, settled)
            scheduled = await run_schedule(
                todo.deps,
                todo.order,
                None if members else builder,
                jobs=options.parallel,
                pool=members,
                max_batch=options.max_batch,
                weights={k: weights.get(k, 1.0) for k in todo.order},
                speeds=history.by_builder(weights),
                fail_fast=options.fail_fast,
                retries=options.retries,
                chain=options.chain,
                on_event=on_event,
                on_place=on_place,
            )
        finally:
            tg.cancel_scope.cancel()
    interrupted = interrupts is not None and interrupts.interrupted
    results = tuple(
        settled.get(key)
        or _final(jobset.jobs[key], builder.results.get(key), scheduled, builder.attempts)
        for key in jobset.order
    )
    warnings: list[str] = []
    published: bool | None = None
    if options.push:
        everything = not interrupted and all(r.status in DONE for r in results)
        results, published, problems = await _publish(engine, builder.deferred, results, everything)
        warnings += problems
    durations = {r.key: r.duration_s for r in results if r.status in ("built", "passed")}
    # Per builder too, for a pool: how long each job takes where.
    durations |= {
        f"{r.key}@{r.builder}": r.duration_s for r in results if r.builder and r.key in durations
    }
    try:
        history.update(history_path, {k: d for k, d in durations.items() if d})
    except OSError as exc:
        warnings.append(f"durations were not saved to {history_path}: {why(exc)}")
    try:
        run_dir.record_sizes(
            {
                r.key: (r.size_bytes, r.uncompressed_bytes)
                for r in results
                if r.status == "built" and r.size_bytes
            }
        )
    except OSError as exc:
        warnings.append(f"image sizes were not recorded in {run_dir.state}: {why(exc)}")
    try:
        run_dir.record_passed({r.key: job_version[r.key] for r in results if r.status == "passed"})
    except OSError as exc:
        warnings.append(f"passed test stages were not recorded in {run_dir.state}: {why(exc)}")
    return RunOutcome(
        results=results,
        test=test,
        interrupted=interrupted,
        invocations=tuple(builder.invocations),
        warnings=tuple(warnings),
        engine_gone=scheduled is not None and scheduled.engine_gone,
        lost_builders=scheduled.lost if scheduled is not None else (),
        published=published,
    )


async def _publish(
    engine: BakeEngine,
    deferred: Mapping[str, Deferred],
    results: tuple[JobResult, ...],
    everything: bool,
) -> tuple[tuple[JobResult, ...], bool, list[str]]:
    """`--push`: move every held-back tag once every job succeeded, else none. The results
    with `image` set where the plan's tags point now, whether they moved, and what went wrong."""
    if not everything:
        return results, False, []
    moved: set[str] = set()
    problems: list[str] = []

    async def move(key: str, held: Deferred) -> None:
        try:
            await images.point_tags(engine, held.target, held.ref, held.tags)
        except OrchError as exc:
            problems.append(
                f"{key}: the plan's tags could not be moved to {held.ref}: {exc.message}"
            )
        else:
            moved.add(key)

    async with anyio.create_task_group() as tg:
        for key, held in deferred.items():
            tg.start_soon(move, key, held)
    done = tuple(
        dataclasses.replace(r, image=deferred[r.key].target.ref)
        if r.key in moved and r.image is None
        else r
        for r in results
    )
    return done, not problems, problems


def _final(
    job: Job,
    built: JobResult | None,
    scheduled: RunResult | None,
    attempts: Mapping[str, Sequence[Attempt]],
) -> JobResult:
    """The job's one result: the builder's when it baked, else what the schedule decided. The
    schedule's word is final when it stopped the job (cancelled) or judged it blocked: a
    failure bake reported under a linked dependent is its upstream's, not its own."""
    decided = scheduled.targets.get(job.key) if scheduled is not None else None
    if built is not None and (decided is None or decided.status not in ("cancelled", "blocked")):
        return built
    tried = tuple(attempts.get(job.key, ()))
    if decided is None:
        return JobResult(
            key=job.key, status="cancelled", error="the run was interrupted", attempts=tried
        )
    status: Status = decided.status
    if status == "built" and job.test:
        status = "passed"
    return JobResult(
        key=job.key,
        status=status,
        duration_s=decided.duration_s,
        error=decided.detail or None,
        builder=decided.builder or None,
        attempts=tried,
    )


async def _cancel_on_interrupt(interrupts: Interrupts, scope: anyio.CancelScope) -> None:
    await interrupts.wait()
    scope.cancel()


def run(
    project: Project,
    jobset: JobSet,
    engine: BakeEngine,
    *,
    manifests: Mapping[str, Manifest],
    options: RunOptions,
    test: bool,
    on_event: OnEvent | None = None,
    on_place: OnPlace | None = None,
    interrupts: Interrupts | None = None,
    pool: Sequence[PoolEntry] = (),
) -> RunOutcome:
    """The synchronous edge: check secrets, open the run's directory, run `execute`."""
    absent = check_secrets(jobset, os.environ)
    run_dir = open_run(project.plan.root)
    try:
        return _unwrapped(
            lambda: anyio.run(
                lambda: execute(
                    project,
                    jobset,
                    engine,
                    run_dir,
                    manifests=manifests,
                    options=options,
                    test=test,
                    absent_secrets=absent,
                    on_event=on_event,
                    on_place=on_place,
                    interrupts=interrupts,
                    pool=pool,
                )
            )
        )
    finally:
        run_dir.close()


def _unwrapped(call: Callable[[], RunOutcome]) -> RunOutcome:
    """`call()`, an orch error raised in a task (the engine stopped answering, say) raised as
    itself rather than inside a task group's ExceptionGroup, so the CLI reports it."""
    try:
        return call()
    except BaseExceptionGroup as group:
        error = orch_error_in(group)
        if error is None:
            raise
        raise error from None
