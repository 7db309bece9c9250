"""`--trace FILE`: a run in Chrome's trace-event format, which Perfetto and chrome://tracing open.

One process row holds the jobs, a thread each: the job's span (from its bake's start to its
own end) with its steps inside it, cached ones told apart by category. A second holds the
bake invocations, each on the first lane free at its start. Times are microseconds from the
build's start. Format: "Trace Event Format" (complete events `X`, metadata events `M`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.report.timing import critical_path
from orchestrator.run.results import RunOutcome

JOBS_PID = 1
BAKES_PID = 2


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1_000_000))


def _meta(pid: int, tid: int | None, kind: str, name: str) -> dict[str, object]:
    event: dict[str, object] = {"ph": "M", "pid": pid, "name": kind, "args": {"name": name}}
    if tid is not None:
        event["tid"] = tid
    return event


def _span(
    name: str, cat: str, pid: int, tid: int, start: float, end: float, args: Mapping[str, object]
) -> dict[str, object]:
    return {
        "name": name,
        "cat": cat,
        "ph": "X",
        "ts": _us(start),
        "dur": max(1, _us(end) - _us(start)),
        "pid": pid,
        "tid": tid,
        "args": dict(args),
    }


def chrome_trace(
    outcome: RunOutcome, deps: Mapping[str, Sequence[str]], *, title: str = "orch build"
) -> dict[str, object]:
    """The trace document of one run."""
    critical = {s.key for s in critical_path(outcome.results, deps)}
    events: list[dict[str, object]] = [
        _meta(JOBS_PID, None, "process_name", f"{title}: jobs"),
        _meta(BAKES_PID, None, "process_name", f"{title}: bake invocations"),
    ]
    tid = 0
    for r in outcome.results:
        tid += 1
        events.append(_meta(JOBS_PID, tid, "thread_name", r.key))
        if r.started_s is None or r.ended_s is None:
            continue
        args: dict[str, object] = {
            "status": r.status,
            "version": r.version,
            "cached_steps": r.cached_steps,
            "critical_path": r.key in critical,
        }
        if r.builder:
            args["builder"] = r.builder
        if r.error:
            args["error"] = r.error
        events.append(_span(r.key, "job", JOBS_PID, tid, r.started_s, r.ended_s, args))
        # Steps of parallel stages overlap; a thread's spans must nest, so each overlapping
        # step goes on a lane of its own below the job's.
        free: list[float] = []  # when each lane of this job is free again
        tids: list[int] = []
        for step in sorted(r.steps, key=lambda s: (s.started_s, s.ended_s)):
            lane = next((n for n, at in enumerate(free) if at <= step.started_s), len(free))
            if lane == len(free):
                free.append(0.0)
                if lane == 0:
                    tids.append(tid)
                else:
                    tid += 1
                    tids.append(tid)
                    events.append(_meta(JOBS_PID, tid, "thread_name", f"{r.key} ({lane + 1})"))
            free[lane] = step.ended_s
            cat = "step,cached" if step.cached else "step"
            said: dict[str, object] = {"cached": step.cached}
            if step.error:
                said["error"] = step.error
            events.append(
                _span(step.name, cat, JOBS_PID, tids[lane], step.started_s, step.ended_s, said)
            )
    lanes: list[float] = []  # when each lane of the bakes row is free again
    for i in sorted(outcome.invocations, key=lambda i: i.started_s):
        lane = next((n for n, free in enumerate(lanes) if free <= i.started_s), len(lanes))
        if lane == len(lanes):
            lanes.append(0.0)
            events.append(_meta(BAKES_PID, lane + 1, "thread_name", f"bake lane {lane + 1}"))
        lanes[lane] = i.ended_s
        args = {"jobs": list(i.jobs), "bake_file": i.bake_file, "builder": i.builder or "default"}
        name = "bake " + " ".join(i.jobs)
        events.append(_span(name, "bake", BAKES_PID, lane + 1, i.started_s, i.ended_s, args))
    return {"traceEvents": events, "displayTimeUnit": "ms"}
