"""A picture of a run: its critical path, its Chrome trace, its HTML timeline."""

from __future__ import annotations

import itertools
import json
import re

from orchestrator.engine.events import StepRecord
from orchestrator.report.timeline import timeline_html
from orchestrator.report.timing import critical_line, critical_path
from orchestrator.report.trace import BAKES_PID, JOBS_PID, chrome_trace
from orchestrator.run.results import Invocation, JobResult, RunOutcome

DEPS = {
    "base": (),
    "go-toolchain": ("base",),
    "python-runtime": ("base",),
    "api": ("go-toolchain",),
    "worker": ("python-runtime",),
}


def step(name: str, start: float, end: float, *, cached: bool = False) -> StepRecord:
    return StepRecord(name=name, started_s=start, ended_s=end, cached=cached)


def outcome() -> RunOutcome:
    results = (
        JobResult(
            key="base",
            status="built",
            started_s=0.0,
            ended_s=9.0,
            steps=(step("[1/2] FROM busybox", 0.2, 0.4), step("[2/2] RUN make", 0.4, 8.5)),
        ),
        JobResult(
            key="go-toolchain",
            status="built",
            started_s=0.0,
            ended_s=45.0,
            steps=(
                step("[builder 1/3] RUN go mod download", 9.5, 20.0, cached=True),
                step("[tools 1/2] RUN go install <script>alert(1)</script>", 9.5, 30.0),
                step("[builder 2/3] RUN go build", 20.0, 44.0),
            ),
        ),
        JobResult(key="python-runtime", status="up-to-date"),
        JobResult(
            key="api",
            status="built",
            started_s=45.0,
            ended_s=55.0,
            steps=(step("[2/2] RUN x", 45.5, 54.0),),
        ),
        JobResult(key="worker", status="failed", started_s=0.0, ended_s=12.0, error="exit code: 1"),
    )
    first = ("base", "go-toolchain", "worker")
    invocations = (
        Invocation(jobs=first, started_s=0.0, ended_s=45.2, bake_file="a.json"),
        Invocation(jobs=("api",), started_s=45.0, ended_s=55.1, bake_file="b.json"),
        Invocation(jobs=("worker",), started_s=10.0, ended_s=12.0, bake_file="c.json"),
    )
    return RunOutcome(results=results, test=False, invocations=invocations)


def test_the_critical_path_runs_back_from_the_last_end_through_each_latest_upstream() -> None:
    path = critical_path(outcome().results, DEPS)
    assert [(s.key, s.seconds) for s in path] == [
        ("base", 9.0),
        ("go-toolchain", 36.0),
        ("api", 10.0),
    ]
    assert critical_line(path, 58.0) == "base 9.0 s → go-toolchain 36 s → api 10 s: 55 s of 58 s"
    assert critical_path((), DEPS) == ()


def _nests(inner: dict, outer: dict) -> bool:
    return outer["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"]


def test_the_trace_has_a_span_per_job_its_steps_inside_and_the_bakes_on_lanes() -> None:
    doc = json.loads(json.dumps(chrome_trace(outcome(), DEPS)))  # JSON all the way
    events = doc["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    for e in spans:  # the fields of a complete event, in integer microseconds
        assert {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"} <= e.keys()
        assert isinstance(e["ts"], int) and isinstance(e["dur"], int) and e["dur"] >= 1
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    jobs = {e["name"]: e for e in spans if e["cat"] == "job"}
    assert sorted(jobs) == ["api", "base", "go-toolchain", "worker"]  # up to date: no span
    assert jobs["go-toolchain"]["args"]["critical_path"] is True
    assert jobs["worker"]["args"]["critical_path"] is False
    assert jobs["api"]["ts"] == 45_000_000 and jobs["api"]["dur"] == 10_000_000
    # Each thread's spans nest: a step inside its job, overlapping steps on lanes of their own.
    by_thread: dict[tuple[int, int], list[dict]] = {}
    for e in spans:
        by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    for thread, group in by_thread.items():
        group.sort(key=lambda e: (e["ts"], -e["dur"]))
        for a, b in itertools.pairwise(group):
            assert _nests(b, a) or a["ts"] + a["dur"] <= b["ts"], (names[thread], a, b)
    go = [e for e in spans if e["cat"].startswith("step") and "go " in e["name"]]
    assert len({e["tid"] for e in go}) == 2  # go mod download and go install overlap
    assert any(names[(JOBS_PID, e["tid"])] == "go-toolchain (2)" for e in go)
    assert [e["cat"] for e in go if "mod download" in e["name"]] == ["step,cached"]
    bakes = [e for e in spans if e["pid"] == BAKES_PID]
    assert len(bakes) == 3 and len({e["tid"] for e in bakes}) == 2  # c.json overlaps a.json


def test_the_timeline_is_one_page_with_a_bar_per_job_and_the_critical_path_outlined() -> None:
    page = timeline_html(outcome(), DEPS)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    assert "<script" not in page  # the step named <script> is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"]
    assert page.count('class="job"') == 4
    assert page.count('stroke="#f29900"') == 3  # base, go-toolchain, api
    assert page.count('class="step cached"') == 1 and page.count('class="step ran"') == 5
    assert page.count('class="wait"') == 2  # go-toolchain 9.5 s, api 0.5 s; base 0.2 s is none
    assert "Critical path: base 9.0 s → go-toolchain 36 s → api 10 s: 55 s of 55 s" in page


def test_the_eta_is_the_longest_chain_of_what_is_left_and_unknown_without_history() -> None:
    from orchestrator.report.timing import eta_s

    order = ["base", "go-toolchain", "python-runtime", "api", "worker"]
    left = {"go-toolchain": 20.0, "python-runtime": 5.0, "api": 10.0, "worker": 8.0}
    assert eta_s(order, DEPS, left) == 30.0  # go-toolchain then api; base is done
    assert eta_s(order, DEPS, {"api": -3.0}) == 0.0  # over its time: any moment now
    assert eta_s(order, DEPS, {**left, "worker": None}) is None
    assert eta_s(order, DEPS, {}) == 0.0


def test_the_critical_path_of_level_by_level_bakes_counts_each_jobs_own_time() -> None:
    from orchestrator.report.timing import span_s

    results = (
        JobResult(key="base", status="built", started_s=0.0, ended_s=4.0),
        JobResult(key="a", status="built", started_s=5.0, ended_s=9.0),  # after a slot freed
        JobResult(key="b", status="built", started_s=5.0, ended_s=9.0),  # a tie: by name
        JobResult(key="odd", status="built", started_s=3.0, ended_s=2.0),  # a clock gone wrong
        JobResult(key="app", status="failed", started_s=9.5, ended_s=12.0),
    )
    deps = {"base": (), "a": ("base",), "b": ("base",), "odd": (), "app": ("a", "b", "odd")}
    path = critical_path(results, deps)
    assert [(s.key, s.seconds) for s in path] == [("base", 4.0), ("b", 4.0), ("app", 2.5)]
    assert span_s(results) == 12.0 and span_s(()) == 0.0
    assert critical_line(path, 12.0) == "base 4.0 s → b 4.0 s → app 2.5 s: 10 s of 12 s"
