"""`orch build` and `orch test` on the engine: schedule the jobs, keep their results, report."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from orchestrator import history
from orchestrator.atomic import write_json_atomic
from orchestrator.bake import bake_file, bake_name, bake_target, image_ref
from orchestrator.cache import CacheLease, lease
from orchestrator.console import Progress
from orchestrator.engine import BakeResult, Engine
from orchestrator.jobs import JobSet
from orchestrator.project import Project
from orchestrator.scheduler import TargetOutcome, run_schedule

STATE_DIR = ".orch"


@dataclass
class JobRecord:
    """What the report says of one job."""

    status: str = "queued"
    duration_s: float = 0.0
    image: str | None = None
    digest: str | None = None
    size_bytes: int | None = None
    log: str | None = None
    cached_steps: int = 0
    failed_step: str | None = None
    error: str | None = None
    tail: tuple[str, ...] = ()


@dataclass
class EngineBuilder:
    """The scheduler's builder: one `docker buildx bake` per batch of ready jobs."""

    project: Project
    jobset: JobSet
    engine: Engine
    records: dict[str, JobRecord] = field(default_factory=dict)
    # Each bake invocation: its jobs and when it ran, in seconds since the builder was made.
    invocations: list[dict[str, Any]] = field(default_factory=list)
    _clock0: float = field(default_factory=time.monotonic)

    @property
    def root(self) -> Path:
        return self.project.plan.root

    def bake_definitions(
        self, keys: Sequence[str], leases: Mapping[str, CacheLease] | None = None
    ) -> dict[str, dict[str, Any]]:
        definitions = {}
        for key in keys:
            job = self.jobset.jobs[key]
            held = leases.get(key) if leases else None
            definitions[bake_name(key)] = bake_target(
                job,
                root=self.root,
                upstream=self.project.upstream(job.target.name),
                cache_from=held.cache_from if held else None,
                cache_to=held.cache_to if held else None,
            )
        return definitions

    async def build(self, batch: tuple[str, ...]) -> dict[str, TargetOutcome]:
        state = self.root / STATE_DIR
        started = time.monotonic() - self._clock0
        leases = {
            key: lease(
                list(self.jobset.jobs[key].target.cache_from),
                [] if self.jobset.jobs[key].test else list(self.jobset.jobs[key].target.cache_to),
                self.root,
            )
            for key in batch
        }
        names = {bake_name(k): k for k in batch}
        path = state / "bake" / f"{next(iter(names))}{'+' if len(batch) > 1 else ''}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, bake_file(self.bake_definitions(batch, leases)))
        results: dict[str, BakeResult] = {}
        try:
            results = await self.engine.bake(path, list(names), cwd=self.root)
        finally:
            for key, held in leases.items():
                ok = results.get(bake_name(key))
                (held.commit if ok is not None and ok.status == "built" else held.abort)()
            self.invocations.append(
                {
                    "jobs": list(batch),
                    "started_s": round(started, 3),
                    "ended_s": round(time.monotonic() - self._clock0, 3),
                    "bake_file": str(path.relative_to(self.root)),
                }
            )
        return await self._record(path, names, results)

    async def _record(
        self, path: Path, names: Mapping[str, str], results: Mapping[str, BakeResult]
    ) -> dict[str, TargetOutcome]:
        outcomes: dict[str, TargetOutcome] = {}
        logs = self.root / STATE_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        refs = [
            image_ref(self.jobset.jobs[k].target)
            for n, k in names.items()
            if results[n].status == "built" and not self.jobset.jobs[k].test
        ]
        images = await anyio.to_thread.run_sync(self.engine.inspect, refs) if refs else {}
        for name, key in names.items():
            r = results[name]
            if r.status == "cancelled":
                outcomes[key] = TargetOutcome(status="cancelled", duration_s=r.duration_s)
                continue
            log = logs / f"{key.replace(':', '--')}.log"
            rel = path.relative_to(self.root)
            header = f"# re-run: docker buildx bake -f {rel} {name}   (from {self.root})\n"
            log.write_text(header + "\n".join(r.log_lines) + "\n")
            job = self.jobset.jobs[key]
            rec = JobRecord(
                status="built" if r.status == "built" else "failed",
                duration_s=r.duration_s,
                log=str(log.relative_to(self.root)),
                cached_steps=r.cached_steps,
                failed_step=r.failed_step,
                error=r.error,
                tail=r.tail,
            )
            if not job.test and r.status == "built":
                ref = image_ref(job.target)
                info = images.get(ref)
                rec.image = ref
                rec.digest = info.digest if info else r.digest
                rec.size_bytes = info.size_bytes if info else None
            self.records[key] = rec
            outcomes[key] = TargetOutcome(
                status=rec.status, duration_s=r.duration_s, detail=r.error or ""
            )
        return outcomes


async def _watch_signals(scope: anyio.CancelScope, flag: list[bool]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            flag.append(True)
            scope.cancel()
            return


@dataclass(frozen=True, slots=True)
class RunSummary:
    ok: bool
    interrupted: bool
    records: dict[str, JobRecord]
    invocations: list[dict[str, Any]] = field(default_factory=list)


def execute(
    project: Project,
    jobset: JobSet,
    engine: Engine,
    *,
    jobs: int,
    max_batch: int | None = None,
    fail_fast: bool,
    progress: Progress,
) -> RunSummary:
    """Run the jobs on the engine; SIGINT/SIGTERM stop every child and report interrupted."""
    state = project.plan.root / STATE_DIR
    weights = history.load(state / "history.json")
    builder = EngineBuilder(project=project, jobset=jobset, engine=engine)
    interrupted: list[bool] = []

    async def main() -> Any:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, tg.cancel_scope, interrupted)
            try:
                return await run_schedule(
                    jobset.deps,
                    jobset.order,
                    builder,
                    jobs=jobs,
                    max_batch=max_batch,
                    weights={k: weights.get(k, 1.0) for k in jobset.order},
                    fail_fast=fail_fast,
                    on_event=progress.event,
                )
            finally:
                tg.cancel_scope.cancel()

    with progress:
        result = anyio.run(main)
    records = builder.records
    if result is not None:
        for key, outcome in result.targets.items():
            rec = records.setdefault(key, JobRecord())
            rec.status = outcome.status
            rec.duration_s = rec.duration_s or outcome.duration_s or 0.0
    for key in jobset.order:
        rec = records.setdefault(key, JobRecord())
        if interrupted and rec.status in ("queued", "building"):
            rec.status = "cancelled"
    history.update(
        state / "history.json",
        {k: r.duration_s for k, r in records.items() if r.status == "built" and r.duration_s},
    )
    ok = not interrupted and all(r.status == "built" for r in records.values())
    return RunSummary(
        ok=ok,
        interrupted=bool(interrupted),
        records=records,
        invocations=builder.invocations,
    )


def report(summary: RunSummary, *, test: bool) -> dict[str, Any]:
    """The `--report` document: one entry per job."""
    targets: dict[str, Any] = {}
    for key, rec in summary.records.items():
        status = rec.status
        if test and ":" in key and status == "built":
            status = "passed"
        entry: dict[str, Any] = {
            "status": status,
            "duration_s": round(rec.duration_s, 3),
            "image": rec.image,
            "digest": rec.digest,
            "size_bytes": rec.size_bytes,
            "log": rec.log,
            "cached_steps": rec.cached_steps,
        }
        if rec.status == "failed":
            entry["failed_step"] = rec.failed_step
            entry["error"] = rec.error
        targets[key] = entry
    return {"ok": summary.ok, "targets": targets, "invocations": summary.invocations}
