"""The engine steps of a run, in order: settle, build, gate, publish, record.

`execute` runs them for the jobs orchestrator.run.pipeline selected and resolved:
- settle: jobs whose versioned image is there are `up-to-date` (a test stage: it passed at
  this version);
- build: the scheduler drives an `EngineBuilder` over the others, on one engine or over a
  pool of them; the builder makes versioned images only;
- gate: every image the run ends with, built or found, is held to its `max_size`;
- publish: the plan's tags move to the versioned images that passed (with `push`, only when
  every job succeeded, else none);
- record: durations, sizes, passed test stages and manifests go to the state directory.
Engines are parameters (`BakeEngine`), so tests hand in fake ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from orchestrator.engine import images
from orchestrator.errors import OrchError, PlanError, os_reason, unwrapped
from orchestrator.inputs.versions import Manifest, short, stage_version
from orchestrator.plan import Target
from orchestrator.plan.state import state_dir
from orchestrator.project import Project
from orchestrator.run import budgets, history
from orchestrator.run.bake import hand_off_ref
from orchestrator.run.interrupts import Interrupts, cancel_on
from orchestrator.run.jobs import Job, JobSet, pending
from orchestrator.run.masking import Masker, secret_values
from orchestrator.run.results import DONE, Invocation, JobResult, RunOutcome, Status
from orchestrator.run.workspace import RunDir, open_run

if TYPE_CHECKING:  # the builder and the scheduler are imported when there is work for them
    from orchestrator.engine.events import OnBuildEvent
    from orchestrator.run.builder import BakeEngine
    from orchestrator.run.schedule import RunResult, TargetResult

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
class Held:
    """Plan tags that move once the run's gate passed: what moves where."""

    target: Target
    ref: str  # the versioned reference
    tags: tuple[str, ...]
    engine: BakeEngine  # the one whose store (or registry) holds `ref`


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One builder of a run over several: its name, its bake invocations at once, its engine."""

    name: str
    slots: int
    engine: BakeEngine
    platforms: tuple[str, ...] = ()  # those it builds natively: see orchestrator.run.split


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


def secret_masker(
    jobset: JobSet, environ: Mapping[str, str], absent: frozenset[tuple[str, str]]
) -> Masker:
    """What masks the values of the run's secrets (those of its jobs' targets, less the
    optional ones left out) in everything the run writes of its builds' output."""
    targets = {job.target.name: job.target for job in jobset.jobs.values()}
    return Masker.of(secret_values(targets.values(), environ, absent))


def job_versions(jobset: JobSet, manifests: Mapping[str, Manifest]) -> dict[str, str]:
    """Each job's version: its target's, or for a test stage, one made from it and the stage."""
    versions: dict[str, str] = {}
    for key, job in jobset.jobs.items():
        version = manifests[job.target.name].version
        if job.test:
            stage = job.stage or ""
            own = job.target.test_platforms.get(stage)
            reports = job.target.test_reports.get(stage)
            # A test on fewer platforms than its target's passes (or not) on its own; one
            # judged by its reports is another test than one judged by its RUN's exit.
            version = stage_version(
                version,
                stage
                + ("@" + ",".join(own) if own else "")
                + (f"\0reports={reports}" if reports else ""),
            )
        versions[key] = version
    return versions


async def up_to_date(
    jobset: JobSet,
    engine: BakeEngine,
    run_dir: RunDir,
    versions: Mapping[str, str],
    job_version: Mapping[str, str],
    previous_sizes: Mapping[str, int],
    held: dict[str, Held],
    root: Path,
) -> dict[str, JobResult]:
    """The jobs with nothing to build: a target whose versioned image is there (plan tags that
    point elsewhere go into `held`, to move at publish), a test stage that passed at this
    version."""
    wanted = {
        key: (job.target, hand_off_ref(job.target, versions))
        for key, job in jobset.jobs.items()
        if not job.test
    }
    from orchestrator.run import reports as kept_reports

    found = await images.find(engine, wanted, sizes=run_dir.image_sizes())
    passed = run_dir.passed()
    results: dict[str, JobResult] = {}
    for key, job in jobset.jobs.items():
        version = short(job_version[key])
        if job.test:
            if (job.stage or "") in job.target.test_reports:  # its kept result, with its cases
                cached = kept_reports.cached(run_dir.state, job.key, job_version[key], root)
                if cached is not None:
                    results[key] = cached
            elif passed.get(key) == job_version[key]:
                results[key] = JobResult(key=key, status="up-to-date", version=version)
            continue
        there = found.get(key)
        if there is None:
            continue
        if there.stale_tags:
            held[key] = Held(job.target, there.ref, tuple(there.stale_tags), engine)
        results[key] = JobResult(
            key=key,
            status="up-to-date",
            version=version,
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
    masker: Masker | None = None,
    on_event: OnEvent | None = None,
    on_place: OnPlace | None = None,
    on_build: OnBuildEvent | None = None,
    interrupts: Interrupts | None = None,
    pool: Sequence[PoolEntry] = (),
    earlier: Mapping[str, float] | None = None,
) -> RunOutcome:
    """Run the jobs that are not up to date, with `engine` or over `pool`; an interrupt
    cancels what runs and still gives every job a result. `masker`: what hides the secrets'
    values in the builds' output (None: those of the jobs' secrets, from the environment)."""
    if masker is None:
        masker = secret_masker(jobset, os.environ, absent_secrets)
    history_path = run_dir.state / "history.json"
    # Each job's duration in earlier runs: read here unless the caller read it already.
    weights = history.load(history_path) if earlier is None else earlier
    job_version = job_versions(jobset, manifests)
    previous_sizes = run_dir.sizes()
    versions = {name: m.version for name, m in manifests.items()}
    settled: dict[str, JobResult] = {}
    held: dict[str, Held] = {}
    scheduled: RunResult | None = None
    invocations: Sequence[Invocation] = ()
    # settle: what is there already. An interrupt cancels it here; during the build, the
    # scheduler stops its builds itself, and still gives every job its result.
    async with anyio.create_task_group() as tg:
        if interrupts is not None:
            tg.start_soon(cancel_on, interrupts, tg.cancel_scope)
        try:
            if not options.force:
                settled = await up_to_date(
                    jobset,
                    engine,
                    run_dir,
                    versions,
                    job_version,
                    previous_sizes,
                    held,
                    project.plan.root,
                )
        finally:
            tg.cancel_scope.cancel()
    for key, result in settled.items():
        if on_event is not None:
            on_event(key, result.status, None)
    todo = pending(jobset, settled)
    # build: the scheduler owns each job's one result from here (the builder's account of
    # its last attempt, or the schedule's word where it stopped or blocked it).
    if todo.order and not (interrupts is not None and interrupts.interrupted):
        from orchestrator.run.builder import EngineBuilder
        from orchestrator.run.schedule import Member
        from orchestrator.run.scheduler import run_schedule
        from orchestrator.run.split import Server

        speeds = history.by_builder(weights)  # each job's last time on each builder
        # Builders that name platforms: a multi-platform target is built in parts over them,
        # each part on its own, so none is chained into another target's bake.
        servers = (
            tuple(Server(e.name, e.platforms) for e in pool)
            if any(e.platforms for e in pool)
            else ()
        )

        builder = EngineBuilder(
            project=project,
            jobset=jobset,
            engine=engine,
            run_dir=run_dir,
            manifests=manifests,
            job_versions=job_version,
            absent_secrets=absent_secrets,
            masker=masker,
            previous_sizes=previous_sizes,
            untag_failed=not options.force,
            on_build=on_build,
            servers=servers,
            speeds=speeds,
            engines={e.name: e.engine for e in pool},
            on_place=on_place,
        )
        invocations = builder.invocations  # what ran, for the report: a log, not results
        members = [Member(e.name, e.slots, builder.on(e.name, e.engine)) for e in pool]
        scheduled = await run_schedule(
            todo.deps,
            todo.order,
            None if members else builder,
            slots=options.parallel,
            pool=members,
            max_batch=options.max_batch,
            weights={k: weights.get(k, 1.0) for k in todo.order},
            speeds=speeds,
            fail_fast=options.fail_fast,
            retries=options.retries,
            chain=options.chain and not servers,
            on_event=on_event,
            on_place=on_place,
            interrupts=interrupts,
        )
    interrupted = interrupts is not None and interrupts.interrupted
    decided = scheduled.targets if scheduled is not None else {}
    results = tuple(
        settled.get(key) or _final(jobset.jobs[key], decided.get(key)) for key in jobset.order
    )
    # gate: every image the run ends with, found or built, within its budget.
    from orchestrator.report.layers import inherited

    results, warned = await budgets.gate(
        results, jobset, engine, inherited_of=lambda name: inherited(project, name)
    )
    warnings: list[str] = list(warned)
    if on_event is not None:
        for r in results:
            if r.status == "failed" and settled.get(r.key, r).status != "failed":
                on_event(r.key, "failed", r.duration_s)
    # publish: the plan's tags, to what passed (all or nothing with --push).
    engines = {e.name: e.engine for e in pool}
    for r in results:
        job = jobset.jobs[r.key]
        if r.status == "built" and r.versioned_image and not job.test:
            tags = tuple(tag for tag in job.target.tags if tag != r.versioned_image)
            if tags:
                where = engines.get(r.builder or "", engine)
                held[r.key] = Held(job.target, r.versioned_image, tags, where)
    everything = not interrupted and all(r.status in DONE for r in results)
    results, published, problems = await _publish(
        jobset, held, results, everything=everything, all_or_nothing=options.push
    )
    warnings += problems
    # record: what later runs and `orch why` read.
    durations = {r.key: r.duration_s for r in results if r.status in ("built", "passed")}
    # Per builder too, for a pool: how long each job takes where.
    durations |= {
        f"{r.key}@{r.builder}": r.duration_s
        for r in results
        if r.builder and r.key in durations and not r.part_durations
    }
    # A target split by platform: how long its part took on each builder, for the next split.
    durations |= {
        f"{r.key}@{b}": took
        for r in results
        if r.key in durations
        for b, took in r.part_durations.items()
    }
    try:
        history.update(history_path, {k: d for k, d in durations.items() if d})
    except OSError as exc:
        warnings.append(f"durations were not saved to {history_path}: {os_reason(exc)}")
    try:
        run_dir.record_sizes(
            {
                r.key: (r.size_bytes, r.uncompressed_bytes)
                for r in results
                if r.status == "built" and (r.size_bytes or r.platform_sizes)
            },
            {r.key: r.platform_sizes for r in results if r.status == "built"},
        )
    except OSError as exc:
        warnings.append(f"image sizes were not recorded in {run_dir.state}: {os_reason(exc)}")
    try:
        run_dir.record_image_sizes(
            {
                r.digest: r.size_bytes
                for r in results
                if r.status in ("built", "up-to-date")
                and r.digest
                and r.size_bytes is not None
                and not jobset.jobs[r.key].test
                and not jobset.jobs[r.key].target.registry
            }
        )
    except OSError as exc:
        warnings.append(f"image sizes were not recorded in {run_dir.state}: {os_reason(exc)}")
    try:
        run_dir.record_passed({r.key: job_version[r.key] for r in results if r.status == "passed"})
    except OSError as exc:
        warnings.append(
            f"passed test stages were not recorded in {run_dir.state}: {os_reason(exc)}"
        )
    for r in results:
        if r.status == "built" and not jobset.jobs[r.key].test:
            name = jobset.jobs[r.key].target.name
            # Only `orch why` reads it, and says when it is missing.
            with contextlib.suppress(OSError):
                run_dir.save_manifest(name, manifests[name].to_json())
    return RunOutcome(
        results=results,
        test=test,
        interrupted=interrupted,
        invocations=tuple(invocations),
        warnings=tuple(warnings),
        engine_gone=scheduled is not None and scheduled.engine_gone,
        lost_builders=scheduled.lost if scheduled is not None else (),
        published=published if options.push else None,
    )


async def _publish(
    jobset: JobSet,
    held: Mapping[str, Held],
    results: tuple[JobResult, ...],
    *,
    everything: bool,
    all_or_nothing: bool,
) -> tuple[tuple[JobResult, ...], bool, list[str]]:
    """Move the held plan tags of every job that passed; with `all_or_nothing` (`--push`),
    only when `everything` passed, else none. Returns the results with `image` set where the
    plan's first tag points at the job's image, whether every tag moved, and the warnings.

    Without `--push` a job whose tags could not move failed: its image is there, under its
    versioned tag, but not where the plan says. With it, the tags that moved stay moved (a
    registry has no transaction over several tags), and each that did not is a warning."""
    status = {r.key: r.status for r in results}
    if all_or_nothing and not everything:
        moving: dict[str, Held] = {}
    else:
        moving = {key: h for key, h in held.items() if status[key] in DONE}
    refused: dict[str, str] = {}

    async def move(key: str, h: Held) -> None:
        try:
            await images.point_tags(h.engine, h.target, h.ref, h.tags)
        except OrchError as exc:
            refused[key] = f"the plan's tags could not be moved to {h.ref}: {exc.message}"

    async with anyio.create_task_group() as tg:
        for key, h in moving.items():
            tg.start_soon(move, key, h)
    done: list[JobResult] = []
    for r in results:
        job = jobset.jobs[r.key]
        if r.key in refused and not all_or_nothing:
            r = dataclasses.replace(r, status="failed", error=refused[r.key])
        points = r.status in DONE and not job.test and (r.key not in held or r.key in moving)
        points = points and r.key not in refused
        done.append(dataclasses.replace(r, image=job.target.first_tag if points else None))
    warnings = [f"{key}: {said}" for key, said in refused.items()] if all_or_nothing else []
    return tuple(done), everything and not refused, warnings


def _final(job: Job, decided: TargetResult | None) -> JobResult:
    """The job's one result: the builder's account of its last attempt when the schedule's
    word agrees with it, else the schedule's word (it stopped the job, or blocked it: a
    failure bake reported under a linked dependent is its upstream's, not its own), with the
    attempts the builder counted."""
    if decided is None:
        return JobResult(key=job.key, status="cancelled", error="the run was interrupted")
    made = decided.result
    if made is not None and _agree(made.status, decided.status):
        return made
    status: Status = decided.status
    if status == "built" and job.test:
        status = "passed"
    return JobResult(
        key=job.key,
        status=status,
        duration_s=decided.duration_s,
        version=made.version if made is not None else None,
        error=decided.detail or None,
        builder=decided.builder or None,
        attempts=made.attempts if made is not None else (),
    )


def _agree(made: Status, decided: str) -> bool:
    return decided == "failed" == made or (decided == "built" and made in ("built", "passed"))


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
    on_build: OnBuildEvent | None = None,
    interrupts: Interrupts | None = None,
    pool: Sequence[PoolEntry] = (),
) -> RunOutcome:
    """`execute` on its own event loop, after the secrets' check and with the run's directory
    open: the engine steps of the pipeline without its select and report (for tests, benches
    and tools that hand in their own jobs)."""
    absent = check_secrets(jobset, os.environ)
    run_dir = open_run(state_dir(project.plan), project.plan.path)
    try:
        return anyio.run(
            lambda: unwrapped(
                execute(
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
                    on_build=on_build,
                    interrupts=interrupts,
                    pool=pool,
                )
            )
        )
    finally:
        run_dir.close()
