"""The scheduler's builder on the engine: one `docker buildx bake` per batch of ready jobs.

For each batch it leases the jobs' caches, writes the bake file into the run's directory, runs
bake, keeps or drops each cache export, writes each job's log, and makes each job's
`JobResult`. It builds versioned images only: budgets and the plan's tags are the run's later
steps (orchestrator.run.steps), which see every image the run ends with, built or found. In a run
over a pool, `on` gives the scheduler one builder per engine; a failure worth a retry is
reported as one, and an engine that stopped answering as `BuilderLost`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import anyio

from orchestrator.ci.testcases import Reports
from orchestrator.engine import images
from orchestrator.engine.buildlog import BakeResult
from orchestrator.engine.docker import ImageInfo
from orchestrator.engine.events import (
    BuildEvent,
    Failed,
    ImageExported,
    LogLine,
    OnBuildEvent,
    StepRecord,
)
from orchestrator.errors import EngineError, OrchError, os_reason
from orchestrator.inputs.versions import Manifest, short
from orchestrator.project import Project
from orchestrator.run import failures
from orchestrator.run import reports as kept_reports
from orchestrator.run.bake import (
    RunInputs,
    bake_definitions,
    bake_file,
    bake_name,
    hand_off_ref,
    reports_key,
)
from orchestrator.run.cache import CacheLease, lease
from orchestrator.run.exports import PUSH
from orchestrator.run.jobs import Job, JobSet
from orchestrator.run.masking import Masker
from orchestrator.run.results import Attempt, Invocation, JobResult, Status
from orchestrator.run.schedule import BuilderLost, OnPlace, OutcomeStatus, TargetOutcome
from orchestrator.run.split import Server, part_cache, part_tag, parts, suffix
from orchestrator.run.workspace import RunDir, shown


class BakeEngine(images.ImageStore, Protocol):
    """What a run needs of the engine: run one bake, and the image calls."""

    async def bake(
        self,
        bake_file: Path,
        names: Sequence[str],
        *,
        cwd: Path,
        on_event: OnBuildEvent | None = None,
    ) -> Mapping[str, BakeResult]: ...

    async def check_async(self) -> None:
        """Raise EngineError unless the engine (and its builder) answers."""
        ...

    async def isolated(self) -> bool:
        """Whether the builder cannot read the daemon's images (a driver other than `docker`)."""
        ...

    async def merge(self, tags: Sequence[str], sources: Sequence[str]) -> None:
        """Point registry tags at one index of the manifests `sources` name."""
        ...


@dataclass(frozen=True, slots=True)
class OnEngine:
    """One member of a run's pool: builds the scheduler's batches with its own engine."""

    owner: EngineBuilder
    name: str
    engine: BakeEngine

    async def build(self, batch: tuple[str, ...]) -> dict[str, TargetOutcome]:
        return await self.owner.build(batch, engine=self.engine, on=self.name)


@dataclass
class EngineBuilder:
    """Builds batches of jobs with bake: each batch's outcome carries each job's `JobResult`
    (the scheduler keeps the last one of each job: the run's one result). It remembers each
    job's attempts, to say them in every result, and the bake invocations, for the report."""

    project: Project
    jobset: JobSet
    engine: BakeEngine
    run_dir: RunDir
    manifests: Mapping[str, Manifest]  # by target name: every selected target's inputs
    job_versions: Mapping[str, str]  # by job key
    absent_secrets: frozenset[tuple[str, str]] = frozenset()
    masker: Masker = field(default_factory=Masker)  # the run's secret values, out of its output
    previous_sizes: Mapping[str, int] = field(default_factory=dict)  # by job key
    # The jobs were not there when the run began (no --force): a versioned image that a failed
    # job leaves behind is this run's own, and is untagged (see `_untag_failed`).
    untag_failed: bool = True
    on_build: OnBuildEvent | None = None  # each job's steps, output and export, as they happen
    # A pool whose builders name platforms: each builder and its engine, to split targets over.
    servers: tuple[Server, ...] = ()
    speeds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # key -> builder -> s
    on_place: OnPlace | None = None  # a split job's builders, as its parts start
    engines: Mapping[str, BakeEngine] = field(default_factory=dict)  # by pool member name
    _gone: set[str] = field(default_factory=set)  # members found not answering by a split
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)  # by job key
    _unpacked: dict[str, int] = field(default_factory=dict)  # ref -> uncompressed bytes
    invocations: list[Invocation] = field(default_factory=list)
    clock0: float = field(default_factory=time.monotonic)
    versions: dict[str, str] = field(init=False)  # by target name, from `manifests`
    inputs: dict[str, str] = field(init=False)  # by target name: the inputs label

    def __post_init__(self) -> None:
        self.versions = {name: m.version for name, m in self.manifests.items()}
        self.inputs = {name: m.inputs for name, m in self.manifests.items()}

    @property
    def root(self) -> Path:
        return self.project.plan.root

    def on(self, name: str, engine: BakeEngine) -> OnEngine:
        """The scheduler's builder for pool member `name`, which bakes with `engine`."""
        return OnEngine(self, name, engine)

    async def build(
        self, batch: tuple[str, ...], *, engine: BakeEngine | None = None, on: str = ""
    ) -> dict[str, TargetOutcome]:
        engine = engine or self.engine
        jobs = [self.jobset.jobs[key] for key in batch]
        split = {job.key: p for job in jobs if (p := self._parts(job, on)) is not None}
        leases: dict[str, CacheLease] = {}
        made: dict[str, JobResult] = {}
        for job in jobs:
            if job.key in split:
                continue
            try:
                leases[job.key] = lease(job.target.cache_from, job.cache_to, self.root)
            except OSError as exc:
                made[job.key] = self._fail(
                    job, f"cannot prepare its cache directory: {os_reason(exc)}", on
                )
        ready = [job for job in jobs if job.key in leases]
        lost: list[BuilderLost] = []

        async def whole() -> None:
            try:
                made.update(await self._bake(ready, leases, engine, on))
            except BuilderLost as exc:
                lost.append(exc)

        async def in_parts(job: Job, groups: Mapping[str, tuple[str, ...]]) -> None:
            made[job.key] = await self._split(job, groups, on)

        async with anyio.create_task_group() as tg:
            if ready:
                tg.start_soon(whole)
            for job in jobs:
                if job.key in split:
                    tg.start_soon(in_parts, job, split[job.key])
        if lost:
            raise BuilderLost(lost[0].builder, lost[0].cause, {**made, **lost[0].results})
        outcomes: dict[str, TargetOutcome] = {}
        for key in batch:
            r = made.get(key)
            if r is None:
                # Stopped by a failing sibling; the scheduler builds it again, alone.
                said = "stopped by a sibling's failure"
                self._attempt(key, on, said, 0.0)
                r = self._cancelled(key, said, on)
                outcomes[key] = TargetOutcome("cancelled", result=r)
                continue
            done = r.status in ("built", "passed")
            outcome = TargetOutcome(
                "built" if done else "failed", r.duration_s or 0.0, r.error or "", result=r
            )
            if outcome.status == "failed" and failures.retryable(
                failures.classify(r.error, failed_step=r.failed_step)
            ):
                # Worth another try: alone, where a sibling's trouble cannot reach it, first.
                status: OutcomeStatus = "cancelled" if len(batch) > 1 else "retry"
                outcome = dataclasses.replace(outcome, status=status)
            outcomes[key] = outcome
        return outcomes

    async def _bake(
        self,
        jobs: Sequence[Job],
        leases: Mapping[str, CacheLease],
        engine: BakeEngine,
        on: str,
    ) -> dict[str, JobResult]:
        """One bake of `jobs`: the result of each that it did not cancel."""
        keys = tuple(job.key for job in jobs)
        exports = {
            job.key: kept_reports.export_dir(self.run_dir.state, job.key)
            for job in jobs
            if job.test and (job.stage or "") in job.target.test_reports
        }
        inputs = RunInputs(
            versions=self.versions,
            inputs=self.inputs,
            cache={k: held.specs for k, held in leases.items()},
            absent_secrets=self.absent_secrets,
            reports={k: str(path) for k, path in exports.items()},
        )
        started = time.monotonic() - self.clock0
        try:
            isolated = await engine.isolated()
            definitions = bake_definitions(
                self.project, jobs, chained=True, inputs=inputs, isolated=isolated
            )
            path = self.run_dir.bake_file(keys, bake_file(definitions))
        except EngineError as exc:
            for job in jobs:
                leases[job.key].abort()
            return {job.key: self._fail(job, exc.message, on) for job in jobs}
        except OSError as exc:
            for job in jobs:
                leases[job.key].abort()
            why = f"cannot write its bake file: {os_reason(exc)}"
            return {job.key: self._fail(job, why, on) for job in jobs}
        baked: Mapping[str, BakeResult] = {}
        cache_errors: dict[str, str] = {}
        missing = "bake reported nothing for it"
        unreachable: EngineError | None = None
        by_name = {bake_name(k): k for k in keys}
        heard = self._heard(by_name, started)
        try:
            async with self.run_dir.building(keys):
                names = [*by_name, *(bake_name(reports_key(k)) for k in exports)]
                said = await engine.bake(path, names, cwd=self.root, on_event=heard)
            # The one place bake's output comes in: what every writer shows is masked here.
            baked = {name: _masked(self.masker, got) for name, got in said.items()}
        except OSError as exc:  # a lock file or the bake process could not be opened
            missing = f"cannot run its bake: {os_reason(exc)}"
        except EngineError as exc:  # bake could not reach the engine at all
            unreachable = exc
            if self.masker(exc.message) != exc.message:  # it quotes bake's output
                unreachable = EngineError(self.masker(exc.message), hint=exc.hint)
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
                    cache_errors[key] = f"its cache could not be saved: {os_reason(exc)}"
            self.invocations.append(
                Invocation(
                    jobs=keys,
                    started_s=started,
                    ended_s=time.monotonic() - self.clock0,
                    bake_file=shown(path, self.root),
                    builder=on,
                )
            )
        gone = unreachable is not None or any(
            failures.classify(r.error) == "engine-gone"
            for r in baked.values()
            if r.status == "failed"
        )
        if gone:
            for dest in exports.values():  # nothing of this bake is judged
                kept_reports.drop(dest)
            await self._check_gone(jobs, baked, engine, on, unreachable)
        refs = [
            hand_off_ref(job.target, self.versions)
            for job in jobs
            if not job.test and _built(baked.get(bake_name(job.key)))
        ]
        found = await engine.inspect(refs) if refs else {}
        unpacked: dict[str, int] = {}

        async def measure(ref: str) -> None:
            with contextlib.suppress(OrchError):
                unpacked[ref] = sum(size for size, _ in await engine.history(ref))

        # Every size look-up at once: each is a docker call.
        async with anyio.create_task_group() as tg:
            for ref in found:
                tg.start_soon(measure, ref)
        self._unpacked.update(unpacked)
        untagged = await self._untag_failed(jobs, baked, cache_errors, engine)
        made: dict[str, JobResult] = {}
        for job in jobs:
            got = baked.get(bake_name(job.key))
            if job.key in exports:
                got = _tested(got, baked.get(bake_name(reports_key(job.key))))
            if got is None:
                made[job.key] = self._fail(job, missing, on)
            elif got.status != "cancelled":
                error = cache_errors.get(job.key)
                exported = (
                    (exports[job.key], baked.get(bake_name(reports_key(job.key))))
                    if job.key in exports
                    else None
                )
                r = self._record(job, got, path, found, error, on, started, exported=exported)
                if job.key in untagged:
                    note = (
                        f"its image was exported, but the job failed: {untagged[job.key]} was "
                        "untagged, so the next run builds it again (from cache) instead of "
                        "taking it as up to date"
                    )
                    r = dataclasses.replace(r, warnings=(*r.warnings, note))
                made[job.key] = r
        for key, dest in exports.items():
            if key not in made or made[key].reports is None:
                kept_reports.drop(dest)  # not judged: its build did not end
        return made

    def _parts(self, job: Job, on: str) -> dict[str, tuple[str, ...]] | None:
        """The builders a job is split among (see orchestrator.run.split), or None. An image
        is merged in its registry, so only a target with one is split; a test stage always
        may be, since nothing of it is kept."""
        if not self.servers or not (job.test or job.target.registry):
            return None
        if job.test and (job.stage or "") in job.target.test_reports:
            return None  # its reports are exported from one bake
        t = job.target
        platforms = t.test_platforms.get(job.stage or "", t.platforms) if job.test else t.platforms
        return parts(platforms, on, self.servers, self._gone, self.speeds.get(job.key))

    async def _split(self, job: Job, groups: Mapping[str, tuple[str, ...]], on: str) -> JobResult:
        """Build a job in parts, one bake per builder of `groups` at once, then merge the
        parts' manifests into the index its versioned tag names: every part or no tag."""
        started = time.monotonic() - self.clock0
        got: dict[str, tuple[BakeResult, Path | None]] = {}
        if self.on_place is not None:  # the live view: where its parts run
            self.on_place(job.key, "+".join(b or "default" for b in groups))

        async def part(builder: str, platforms: tuple[str, ...]) -> None:
            got[builder] = await self._part(job, builder, platforms, started)

        merge_error: str | None = None
        digest: str | None = None
        async with self.run_dir.building([job.key]):
            async with anyio.create_task_group() as tg:
                for builder, platforms in groups.items():
                    tg.start_soon(part, builder, platforms)
            done = all(got[b][0].status == "built" for b in groups)
            if done and not job.test:
                merge_error, digest = await self._merge(job, groups, on)
        if self.on_build is not None and done and merge_error is None:
            self.on_build(ImageExported(job.key, time.monotonic() - self.clock0))
        merged = _joined(job, groups, got, digest)
        header = "\n".join(
            f"# {', '.join(platforms)} on {builder or 'default'}: re-run: docker buildx bake -f "
            f"{shown(path, self.root)} {bake_name(job.key)}   (from {self.root})"
            for builder, platforms in groups.items()
            if (path := got[builder][1]) is not None
        )
        result = self._record(job, merged, None, {}, merge_error, on, started, header=header)
        where = {p: b or "default" for b, platforms in groups.items() for p in platforms}
        took = {b: got[b][0].duration_s for b in groups if got[b][0].status == "built"}
        return dataclasses.replace(result, platform_builders=where, part_durations=took)

    async def _part(
        self, job: Job, builder: str, platforms: tuple[str, ...], started: float
    ) -> tuple[BakeResult, Path | None]:
        """One part of a split job: its platforms on `builder`, pushed under its part tag (a
        test stage: built only), with a cache of its own. What it came to, and its bake file."""
        engine = self.engines.get(builder, self.engine)
        where = f"{', '.join(platforms)} on {builder or 'default'}"
        try:
            held = lease(
                [part_cache(e, platforms) for e in job.target.cache_from],
                [part_cache(e, platforms) for e in job.cache_to],
                self.root,
            )
        except OSError as exc:
            why = f"{where}: cannot prepare its cache directory: {os_reason(exc)}"
            return BakeResult(status="failed", error=why), None
        inputs = RunInputs(
            versions=self.versions,
            inputs=self.inputs,
            cache={job.key: held.specs},
            absent_secrets=self.absent_secrets,
        )
        name = bake_name(job.key)
        try:
            definitions = bake_definitions(
                self.project, [job], inputs=inputs, isolated=await engine.isolated()
            )
            own = definitions[job.key]
            own["platforms"] = list(platforms)
            if not job.test:
                own["tags"] = [part_tag(hand_off_ref(job.target, self.versions), platforms)]
                own["output"] = [PUSH]
            path = self.run_dir.bake_file(
                (f"{job.key}.{suffix(platforms)}",), bake_file(definitions)
            )
        except (EngineError, OSError) as exc:
            held.abort()
            why = exc.message if isinstance(exc, EngineError) else os_reason(exc)
            return BakeResult(status="failed", error=f"{where}: {why}"), None
        said: BakeResult | None = None
        failure = "bake reported nothing for it"
        begun = time.monotonic() - self.clock0
        try:
            baked = await engine.bake(
                path, [name], cwd=self.root, on_event=self._part_heard(name, job.key, begun)
            )
            said = baked.get(name)
        except OSError as exc:
            failure = f"cannot run its bake: {os_reason(exc)}"
        except EngineError as exc:
            failure = self.masker(exc.message)
        finally:
            if said is not None and said.status == "built":
                try:
                    held.commit()
                except OSError as exc:
                    held.abort()
                    said = dataclasses.replace(
                        said,
                        status="failed",
                        error=f"its cache could not be saved: {os_reason(exc)}",
                    )
            else:
                held.abort()
            self.invocations.append(
                Invocation(
                    jobs=(job.key,),
                    started_s=begun,
                    ended_s=time.monotonic() - self.clock0,
                    bake_file=shown(path, self.root),
                    builder=builder,
                )
            )
        if said is not None and said.status == "built":
            return _masked(self.masker, said), path
        masked = _masked(self.masker, said) if said is not None else None
        try:
            await engine.check_async()
        except EngineError:
            # The next split leaves it out; the error says so, and the job is retried.
            self._gone.add(builder)
            where = f"{where}: the Docker Engine is not answering"
        return _failed_part(masked, where, failure), path

    async def _merge(
        self,
        job: Job,
        groups: Mapping[str, tuple[str, ...]],
        on: str,
    ) -> tuple[str | None, str | None]:
        """Merge the parts' manifests into the job's versioned tag: (an error, the digest)."""
        ref = hand_off_ref(job.target, self.versions)
        engine = self.engines.get(on, self.engine)
        try:
            await engine.merge([ref], [part_tag(ref, platforms) for platforms in groups.values()])
            digest = (await engine.remote_digests([ref])).get(ref)
        except EngineError as exc:
            return f"its parts could not be merged into {ref}: {exc.message}", None
        return None, digest

    def _part_heard(self, name: str, key: str, started: float) -> OnBuildEvent | None:
        """What passes a part's events on: all but its export, since the job is built only
        once every part is and they are merged (`_split` says so then)."""
        heard = self._heard({name: key}, started)
        if heard is None:
            return None
        tell = heard

        def part_heard(event: BuildEvent) -> None:
            if not isinstance(event, ImageExported):
                tell(event)

        return part_heard

    def _heard(self, by_name: Mapping[str, str], started: float) -> OnBuildEvent | None:
        """What passes the engine's events on: named by job, on the run's clock, masked."""
        tell = self.on_build
        if tell is None:
            return None
        masker = self.masker

        def heard(event: BuildEvent) -> None:
            key = by_name.get(event.key)
            if key is None:
                return
            moved = dataclasses.replace(event, key=key, at_s=event.at_s + started)
            if isinstance(moved, LogLine):
                moved = dataclasses.replace(moved, text=masker(moved.text))
            elif isinstance(moved, Failed):
                moved = dataclasses.replace(moved, error=masker(moved.error))
            if not isinstance(moved, ImageExported) and masker.values:
                moved = dataclasses.replace(moved, step=masker(moved.step))
            tell(moved)

        return heard

    async def _untag_failed(
        self,
        jobs: Sequence[Job],
        baked: Mapping[str, BakeResult],
        cache_errors: Mapping[str, str],
        engine: BakeEngine,
    ) -> dict[str, str]:
        """Untag the versioned image of each job that failed after its image was exported (its
        cache export ran out of space, say, or its cache could not be saved): left, the next
        run would find it up to date, and the cache would never be written. Only this run's
        own images (`untag_failed`); the plan's tags never moved to them. Key -> the ref."""
        if not self.untag_failed:
            return {}
        refs = {
            job.key: hand_off_ref(job.target, self.versions)
            for job in jobs
            if not job.test
            and (got := baked.get(bake_name(job.key))) is not None
            and (got.status == "failed" or job.key in cache_errors)
        }
        if not refs:
            return {}
        with contextlib.suppress(OrchError):
            there = await engine.ids(list(refs.values()), fresh=True)
            gone = {key: ref for key, ref in refs.items() if ref in there}
            if gone:
                await engine.remove(list(gone.values()))
            return gone
        return {}

    async def _check_gone(
        self,
        jobs: Sequence[Job],
        baked: Mapping[str, BakeResult],
        engine: BakeEngine,
        on: str,
        unreachable: EngineError | None,
    ) -> None:
        """Raise BuilderLost when the engine no longer answers: the bake's failures were its
        going away, not the jobs' own."""
        try:
            await engine.check_async()
        except EngineError as exc:
            said = unreachable.message if unreachable is not None else exc.message
            cut: dict[str, JobResult] = {}
            for job in jobs:
                got = baked.get(bake_name(job.key))
                took = got.duration_s if got is not None else 0.0
                self._attempt(job.key, on, "cut off", took, said)
                cut[job.key] = self._cancelled(job.key, f"cut off: {said}", on)
            raise BuilderLost(on, said, cut) from None
        if unreachable is not None:  # it answers now: this is no reason to move the jobs
            raise unreachable

    def _record(
        self,
        job: Job,
        got: BakeResult,
        path: Path | None,
        found: Mapping[str, ImageInfo],
        error: str | None,
        on: str = "",
        started: float = 0.0,
        *,
        header: str | None = None,
        exported: tuple[Path, BakeResult | None] | None = None,
    ) -> JobResult:
        warnings = list(got.warnings)
        if header is None:
            rel = shown(path, self.root) if path is not None else "?"
            header = (
                f"# re-run: docker buildx bake -f {rel} {bake_name(job.key)}   (from {self.root})"
            )
        try:
            written = self.run_dir.write_log(job.key, "\n".join((header, *got.log_lines, "")))
            log: str | None = shown(written, self.root)
        except OSError as exc:
            log = None
            warnings.append(f"its log could not be written: {os_reason(exc)}")
        built = got.status == "built" and error is None
        judged = self._judge(job, built, exported, warnings)
        if judged is not None and not judged[0].passed:
            built, error = False, error or judged[1]
        versioned = None if job.test else hand_off_ref(job.target, self.versions)
        info = found.get(versioned) if built and versioned else None
        status: Status = ("passed" if job.test else "built") if built else "failed"
        kind = failures.classify(error or got.error, failed_step=got.failed_step)
        said = status if built or kind == "build" else "retried"
        self._attempt(job.key, on, said, got.duration_s, None if built else error or got.error)
        return JobResult(
            key=job.key,
            status=status,
            duration_s=got.duration_s,
            version=short(self.job_versions[job.key]),
            versioned_image=versioned if built else None,
            digest=(info.digest if info else got.digest) if built and versioned else None,
            size_bytes=info.size_bytes if info else None,
            uncompressed_bytes=self._unpacked.get(versioned) if info and versioned else None,
            previous_size_bytes=self.previous_sizes.get(job.key),
            cached_steps=got.cached_steps,
            log=log,
            failed_step=got.failed_step,
            error=error or got.error,
            tail=got.tail,
            warnings=tuple(warnings),
            builder=on or None,
            attempts=tuple(self.attempts[job.key]),
            started_s=started,
            ended_s=started + got.duration_s,
            steps=tuple(_moved(step, started) for step in got.steps),
            failed_line=None if built or judged is not None else got.line,
            excerpt=() if built or judged is not None else got.excerpt,
            reports=judged[0] if judged is not None else None,
            reports_dir=judged[2] if judged is not None else None,
        )

    def _judge(
        self,
        job: Job,
        built: bool,
        exported: tuple[Path, BakeResult | None] | None,
        warnings: list[str],
    ) -> tuple[Reports, str, str | None] | None:
        """A test stage with `reports:`, once built: its exported reports read, judged and
        kept (reports, why it failed, where they are kept). None for any other job, and for
        a stage that did not build (its failure is its own; `warnings` gets the convention)."""
        if exported is None:
            return None
        dest, export = exported
        directory = job.target.test_reports[job.stage or ""]
        where = f"{job.key}'s reports directory {directory}"
        if not built:
            kept_reports.drop(dest)
            warnings.append(REPORTS_HINT.format(where=where, directory=directory))
            return None
        if export is None or export.status != "built":
            kept_reports.drop(dest)
            why = (export.error if export is not None else None) or "bake reported nothing"
            said = (
                f"{where} is not in the built stage"
                if _reports_missing(export)
                else f"{where} could not be exported: {why}"
            )
            return Reports(problems=(said,)), said, None
        got, any_file = kept_reports.load(dest)
        why = "" if got.passed else f"{job.key}: {got.verdict()}"
        if not any_file:
            why = f"{where} is empty: the test RUN writes JUnit XML and exit-code there"
        try:
            kept = kept_reports.keep(
                self.run_dir.state, job.key, dest, version=self.job_versions[job.key],
                passed=got.passed,
            )  # fmt: skip
            shown_dir: str | None = shown(kept, self.root)
        except OSError as exc:
            kept_reports.drop(dest)
            warnings.append(f"its reports could not be kept: {os_reason(exc)}")
            shown_dir = None
        return got, why, shown_dir

    def _fail(self, job: Job, error: str, on: str = "") -> JobResult:
        self._attempt(job.key, on, "failed", 0.0, error)
        return JobResult(
            key=job.key,
            status="failed",
            duration_s=0.0,
            version=short(self.job_versions[job.key]),
            error=error,
            builder=on or None,
            attempts=tuple(self.attempts[job.key]),
        )

    def _attempt(
        self, key: str, on: str, outcome: str, duration_s: float, error: str | None = None
    ) -> None:
        self.attempts.setdefault(key, []).append(
            Attempt(builder=on, outcome=outcome, duration_s=duration_s, error=error)
        )

    def _cancelled(self, key: str, why: str, on: str) -> JobResult:
        return JobResult(
            key=key,
            status="cancelled",
            version=short(self.job_versions[key]),
            error=why,
            builder=on or None,
            attempts=tuple(self.attempts[key]),
        )


def _masked(masker: Masker, got: BakeResult) -> BakeResult:
    """`got` with every text it holds from bake's output masked."""
    if not masker.values:
        return got
    return dataclasses.replace(
        got,
        failed_step=masker.optional(got.failed_step),
        error=masker.optional(got.error),
        tail=masker.lines(got.tail),
        log_lines=masker.lines(got.log_lines),
        warnings=masker.lines(got.warnings),
        excerpt=masker.lines(got.excerpt),
        steps=tuple(
            dataclasses.replace(s, name=masker(s.name), error=masker.optional(s.error))
            for s in got.steps
        ),
    )


def _moved(step: StepRecord, by: float) -> StepRecord:
    return dataclasses.replace(step, started_s=step.started_s + by, ended_s=step.ended_s + by)


def _built(got: BakeResult | None) -> bool:
    return got is not None and got.status == "built"


REPORTS_HINT = (
    "{where} holds nothing orch could read, since the test RUN itself failed: with `reports:`, "
    "end the RUN with `; echo $? > {directory}/exit-code` so that it never fails, and orch "
    "reports each failing case (see docs/ci.md)"
)


def _reports_missing(export: BakeResult | None) -> bool:
    """Whether a reports export failed for want of the directory in the built stage."""
    return export is not None and export.status == "failed" and "not found" in (export.error or "")


def _tested(got: BakeResult | None, export: BakeResult | None) -> BakeResult | None:
    """A test stage's result beside its reports export's. When the export failed for want of
    the directory, the stage itself was built (BuildKit reads a stage's files only once it is),
    though bake may have cancelled it for its sibling's failure: it is built then."""
    if export is None or not _reports_missing(export):
        return got
    if got is not None and got.status != "cancelled":
        return got
    return dataclasses.replace(got or export, status="built", error=None, failed_step=None)


def _failed_part(said: BakeResult | None, where: str, failure: str) -> BakeResult:
    """A part that did not build, its error naming its platforms and builder."""
    if said is None:
        return BakeResult(status="failed", error=f"{where}: {failure}")
    return dataclasses.replace(said, status="failed", error=f"{where}: {said.error or failure}")


def _joined(
    job: Job,
    groups: Mapping[str, tuple[str, ...]],
    got: Mapping[str, tuple[BakeResult, Path | None]],
    digest: str | None,
) -> BakeResult:
    """One account of a split job's parts: built when every part was, else the first failed
    part's failure; its log each part's, under a line naming its platforms and builder."""
    results = [(platforms, builder, got[builder][0]) for builder, platforms in groups.items()]
    failed = next((r for _, _, r in results if r.status != "built"), None)
    lines: list[str] = []
    for platforms, builder, r in results:
        lines.append(f"# --- {', '.join(platforms)} on {builder or 'default'}: {r.status}")
        lines.extend(r.log_lines)
    base = failed or results[0][2]
    return dataclasses.replace(
        base,
        status="built" if failed is None else "failed",
        duration_s=max(r.duration_s for _, _, r in results),
        digest=digest,
        cached_steps=sum(r.cached_steps for _, _, r in results),
        log_lines=tuple(lines),
        warnings=tuple(w for _, _, r in results for w in r.warnings),
        steps=tuple(s for _, _, r in results for s in r.steps),
    )
