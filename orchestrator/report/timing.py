"""When each job of a run ran, as a picture needs it: the run's span and its critical path.

Pure: from the results (each job's start and end, in seconds from the build's start) and the
jobs' dependencies. The critical path is the chain of jobs that decided when the run ended:
from the job that ended last, back through the upstream job of each that ended last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.run.results import JobResult


@dataclass(frozen=True, slots=True)
class Segment:
    """One job on the critical path, and the time it added to it."""

    key: str
    seconds: float


def ran(results: Iterable[JobResult]) -> dict[str, JobResult]:
    """The jobs that ran in this run (built, passed or failed), by key."""
    return {
        r.key: r
        for r in results
        if r.started_s is not None and r.ended_s is not None and r.ended_s >= r.started_s
    }


def critical_path(
    results: Iterable[JobResult], deps: Mapping[str, Sequence[str]]
) -> tuple[Segment, ...]:
    """The jobs that decided the run's end, first to last: each the upstream of the next that
    ended last. A job's segment is its time after that upstream ended (the first job's, all
    of it), so the segments add up to the path's length."""
    spans = ran(results)
    if not spans:
        return ()
    last = max(spans.values(), key=lambda r: (r.ended_s or 0.0, r.key))
    chain = [last]
    while True:
        ups = [spans[u] for u in deps.get(chain[-1].key, ()) if u in spans]
        if not ups:
            break
        chain.append(max(ups, key=lambda r: (r.ended_s or 0.0, r.key)))
    chain.reverse()
    segments: list[Segment] = []
    before: float | None = None
    for r in chain:
        start, end = r.started_s or 0.0, r.ended_s or 0.0
        began = start if before is None else max(start, before)
        segments.append(Segment(r.key, max(0.0, end - began)))
        before = end
    return tuple(segments)


def span_s(results: Iterable[JobResult]) -> float:
    """From the build's start to the end of the job that ended last."""
    return max((r.ended_s or 0.0 for r in ran(results).values()), default=0.0)


def seconds_text(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def critical_line(path: Sequence[Segment], total_s: float) -> str:
    """`base 9 s → go-toolchain 36 s → api 10 s: 55 s of 58 s`."""
    steps = " → ".join(f"{s.key} {seconds_text(s.seconds)}" for s in path)
    along = sum(s.seconds for s in path)
    return f"{steps}: {seconds_text(along)} of {seconds_text(total_s)}"


def eta_s(
    order: Sequence[str],
    deps: Mapping[str, Sequence[str]],
    left: Mapping[str, float | None],
) -> float | None:
    """How long until the last of the jobs not finished is done, by history: the longest
    chain of what each has left (`left`: a job not finished -> its expected seconds still to
    go, None when no run here has built it). None when a job on the way has no history."""
    finish: dict[str, float] = {}
    for key in order:
        if key not in left:
            continue  # finished: nothing to wait for
        own = left[key]
        if own is None:
            return None
        ups = [finish[u] for u in deps.get(key, ()) if u in finish]
        finish[key] = max(ups, default=0.0) + max(0.0, own)
    return max(finish.values(), default=0.0)
