"""`orch build --dry-run` and the statuses of `orch plan`: what a run would do, decided purely.

The run's own steps up to settle (select, connect, resolve, and the look-up of what is there)
give each job's version, the images found, the test stages passed and the inputs of each
target's last build here. From those, `decide` says each job's status and its reason, and
`planned_bakes` drives the scheduler's own `Schedule` (no clock, no I/O) through a run in which
every build succeeds, with the durations of earlier runs as its clock: the bakes it would start,
in order. Nothing here builds, tags or writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.inputs.versions import InputChange, short
from orchestrator.run.jobs import JobSet
from orchestrator.run.schedule import Schedule, TargetOutcome

UP_TO_DATE = "up-to-date"
PENDING = "pending"


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job's status before a run, and why."""

    key: str
    status: str  # up-to-date | pending
    reason: str


def decide(
    jobset: JobSet,
    versions: Mapping[str, str],
    *,
    found: frozenset[str],
    changes: Mapping[str, Sequence[InputChange] | None],
    force: bool = False,
    known: bool = True,
) -> dict[str, JobStatus]:
    """Each job's status (in build order): up to date when `found` holds it (its versioned
    image is there, or a test stage passed at its version), else pending with the first reason:
    --force, what changed since its target's last build here (`changes`: None when it was
    never built here, [] when its inputs are the same), or an upstream job that is pending.
    `versions` is by job key; `known` is False when the engine was not there to ask."""
    said: dict[str, JobStatus] = {}
    for key in jobset.order:
        job = jobset.jobs[key]
        version = short(versions[key])
        if key in found and not force:
            what = (
                f"passed at version {version} before"
                if job.test
                else (f"its image for version {version} exists")
            )
            said[key] = JobStatus(key, UP_TO_DATE, what)
            continue
        said[key] = JobStatus(key, PENDING, _why(key, jobset, said, version, changes, force, known))
    return said


def _why(
    key: str,
    jobset: JobSet,
    said: Mapping[str, JobStatus],
    version: str,
    changes: Mapping[str, Sequence[InputChange] | None],
    force: bool,
    known: bool,
) -> str:
    if force:
        return "--force builds it whatever is there"
    job = jobset.jobs[key]
    changed = changes.get(job.target.name)
    pending_up = [d for d in jobset.deps[key] if said[d].status == PENDING]
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return f"since its last build here: {changed[0]}{more}"
    if pending_up:
        return f"it builds on {', '.join(pending_up)}, which {_is(pending_up)} pending"
    if not known:
        return f"the engine did not answer, so no image for version {version} was looked up"
    if job.test:
        return f"it has not passed at version {version}"
    if changed is None:
        return f"no image for version {version}, and no earlier build here to compare with"
    return f"its image for version {version} is gone (its last build here was at this version)"


def _is(names: Sequence[str]) -> str:
    return "is" if len(names) == 1 else "are"


def planned_bakes(
    jobset: JobSet,
    *,
    slots: int,
    max_batch: int | None,
    chain: bool,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[str, ...]]:
    """The bakes a run of `jobset` (its pending jobs) would start, in order, if every build
    succeeds: the scheduler's `Schedule` driven with `weights` (seconds, from earlier runs;
    1 each when unknown) as its clock, a batch lasting as long as its longest job."""
    weights = weights or {}
    schedule = Schedule(
        jobset.deps,
        jobset.order,
        {k: weights.get(k, 1.0) for k in jobset.order},
        max_batch=max_batch,
        chain=chain,
    )
    started: list[tuple[str, ...]] = []
    running: list[tuple[float, int, tuple[str, ...]]] = []
    now, free = 0.0, slots
    while not schedule.done:
        for batch in schedule.start_batches(free):
            started.append(batch)
            free -= 1
            ends = now + max(weights.get(k, 1.0) for k in batch)
            heapq.heappush(running, (ends, len(started), batch))
        if not running:
            break  # nothing can start and nothing runs: the schedule is stuck
        now, _, batch = heapq.heappop(running)
        schedule.finish(batch, {k: TargetOutcome("built", weights.get(k, 1.0)) for k in batch})
        free += 1
    return started


def _wrapped(line: str, indent: int, width: int | None) -> list[str]:
    """`line` at words within `width` columns, later lines indented by `indent`."""
    if width is None or len(line) <= width:
        return [line]
    import textwrap

    return textwrap.wrap(
        line, width=max(width, indent + 20), subsequent_indent=" " * indent, break_long_words=False
    )


def render(
    statuses: Mapping[str, JobStatus],
    bakes: Sequence[tuple[str, ...]],
    *,
    verb: str,
    width: int | None = None,
) -> str:
    """The dry run as text: a line per job, then the bakes; each wrapped at words within
    `width` columns (a terminal's), under its reason."""
    name_w = max((len(k) for k in statuses), default=0)
    lines = [
        wrapped
        for s in statuses.values()
        for wrapped in _wrapped(f"{s.key.ljust(name_w)}  {s.status}: {s.reason}", name_w + 4, width)
    ]
    pending = sum(s.status == PENDING for s in statuses.values())
    if not bakes:
        lines.append(f"dry run: nothing to {verb}; {len(statuses)} up to date")
        return "\n".join(lines) + "\n"
    lines += _wrapped(
        f"dry run: {pending} to {verb} in {len(bakes)} bake{'s' if len(bakes) != 1 else ''}, "
        f"{len(statuses) - pending} up to date; nothing was built, tagged or written",
        2,
        width,
    )
    for i, batch in enumerate(bakes, 1):
        lines += _wrapped(f"  bake {i}: {' '.join(batch)}", 4, width)
    return "\n".join(lines) + "\n"
