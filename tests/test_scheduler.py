"""The scheduler on virtual time: a fake builder sleeps simulated durations on a MockClock."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import pytest
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import EngineError
from orchestrator.run.schedule import (
    LONE_CANCEL,
    NO_RESULT,
    BuilderLost,
    RunResult,
    Schedule,
    TargetOutcome,
    priorities,
)
from orchestrator.run.scheduler import run_schedule

T = TypeVar("T")

DIAMOND = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}


@dataclass
class Call:
    batch: tuple[str, ...]
    start: float
    end: float | None = None
    cancelled: bool = False  # the scheduler cancelled the invocation


@dataclass
class FakeBuilder:
    """Runs a batch's targets in parallel like one bake: the first failure stops the rest."""

    durations: Mapping[str, float] = field(default_factory=dict)
    fail: frozenset[str] = frozenset()
    omit: frozenset[str] = frozenset()  # left out of the report
    raise_on: str | None = None  # raises EngineError after this target's duration
    calls: list[Call] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    t0: float = 0.0

    def now(self) -> float:
        return anyio.current_time() - self.t0

    async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]:
        call = Call(batch, self.now())
        self.calls.append(call)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        took = {name: self.durations.get(name, 1.0) for name in batch}
        failing = [took[n] for n in batch if n in self.fail or n == self.raise_on]
        stop = min(failing, default=max(took.values()))
        try:
            await anyio.sleep(stop)
        except anyio.get_cancelled_exc_class():
            call.cancelled = True
            raise
        finally:
            self.active -= 1
        call.end = self.now()
        if self.raise_on in batch:
            raise EngineError("the Docker daemon went away")
        report = {}
        for name in batch:
            if name in self.omit:
                continue
            if took[name] > stop:
                report[name] = TargetOutcome("cancelled", stop, "bake stopped")
            elif name in self.fail:
                report[name] = TargetOutcome("failed", took[name], f"{name}: exit code 1")
            else:
                report[name] = TargetOutcome("built", took[name])
        return report

    def timeline(self) -> list[tuple[float, tuple[str, ...]]]:
        """(start, batch) of every invocation; trio starts simultaneous tasks in random order."""
        return sorted((c.start, c.batch) for c in self.calls)

    def last_call(self, name: str) -> Call:
        return [c for c in self.calls if name in c.batch][-1]

    def start(self, name: str) -> float:
        return self.last_call(name).start

    def end(self, name: str) -> float:
        end = self.last_call(name).end
        assert end is not None
        return end


@dataclass
class Run:
    result: RunResult
    events: list[tuple[str, str, float | None]]
    elapsed: float

    def statuses(self) -> dict[str, str]:
        return {name: r.status for name, r in self.result.targets.items()}

    def events_of(self, name: str) -> list[str]:
        return [status for n, status, _ in self.events if n == name]


def run(
    deps: Mapping[str, Sequence[str]],
    builder: FakeBuilder,
    order: Sequence[str] | None = None,
    **options: object,
) -> Run:
    """Run the schedule on trio with a clock that jumps straight to the next deadline."""
    events: list[tuple[str, str, float | None]] = []

    async def main() -> Run:
        builder.t0 = anyio.current_time()
        result = await run_schedule(
            deps,
            list(order or deps),
            builder,
            on_event=lambda *event: events.append(event),
            **options,  # type: ignore[arg-type]
        )
        return Run(result, events, anyio.current_time() - builder.t0)

    return on_mock_clock(main)


def on_mock_clock(main: Callable[[], Awaitable[T]]) -> T:
    clock = trio.testing.MockClock(autojump_threshold=0)
    return anyio.run(main, backend="trio", backend_options={"clock": clock})


def independent(n: int) -> dict[str, tuple[str, ...]]:
    return {f"t{i:02}": () for i in range(n)}


# The async driver ----------------------------------------------------------------------------


def test_diamond_builds_upstream_first() -> None:
    builder = FakeBuilder()
    done = run(DIAMOND, builder)
    assert done.result.ok
    assert builder.timeline() == [(0.0, ("a",)), (1.0, ("b",)), (1.0, ("c",)), (2.0, ("d",))]
    assert builder.start("b") == builder.start("c") == builder.end("a") == 1.0
    assert builder.start("d") == 2.0
    assert done.elapsed == 3.0


def test_target_starts_when_its_own_upstream_finishes_not_its_level() -> None:
    deps = {"a": (), "b": (), "c": ("a",), "d": ("b",)}
    builder = FakeBuilder({"a": 1, "b": 10, "c": 1, "d": 1})
    done = run(deps, builder)
    assert done.result.ok
    assert builder.start("c") == 1.0  # b, on the same level as a, is still building
    assert builder.start("d") == 10.0
    assert done.elapsed == 11.0


@pytest.mark.parametrize("jobs", [1, 4])
def test_jobs_bounds_concurrent_invocations(jobs: int) -> None:
    builder = FakeBuilder()
    done = run(independent(10), builder, slots=jobs, max_batch=1)
    assert done.result.ok
    assert builder.max_active == jobs
    assert len(builder.calls) == 10
    assert done.elapsed == -(-10 // jobs)


def test_one_job_with_batching_builds_all_ready_targets_in_one_invocation() -> None:
    builder = FakeBuilder()
    done = run(independent(10), builder, slots=1)
    assert done.result.ok
    assert builder.max_active == 1
    assert [len(c.batch) for c in builder.calls] == [10]


def test_batching_splits_twenty_ready_targets_into_four_invocations_of_five() -> None:
    builder = FakeBuilder()
    done = run(independent(20), builder, slots=4)
    assert done.result.ok
    assert [len(c.batch) for c in builder.calls] == [5, 5, 5, 5]
    assert {c.start for c in builder.calls} == {0.0}
    assert sorted(n for c in builder.calls for n in c.batch) == sorted(independent(20))


def test_critical_path_goes_first_when_slots_are_scarce() -> None:
    leaves = {f"leaf{i}": () for i in range(4)}
    chain = {"c1": (), "c2": ("c1",), "c3": ("c2",)}
    deps = leaves | chain
    durations = dict.fromkeys(deps, 10.0)

    builder = FakeBuilder(durations)
    critical = run(deps, builder, slots=2, max_batch=1, weights=durations)
    assert "c1" in builder.calls[0].batch + builder.calls[1].batch
    assert critical.result.ok

    plan_order = run(
        deps, FakeBuilder(durations), slots=2, max_batch=1, weights=dict.fromkeys(deps, 0.0)
    )
    assert plan_order.result.ok
    assert (critical.elapsed, plan_order.elapsed) == (40.0, 50.0)


def test_failure_blocks_exactly_its_downstream_and_the_rest_is_built() -> None:
    deps = {
        "base": (),
        "x": ("base",),
        "sibling": ("base",),
        "y": ("x",),
        "z": ("y", "sibling"),
        "w": ("x", "base"),
        "other": ("sibling",),
    }
    builder = FakeBuilder(fail=frozenset({"x"}))
    done = run(deps, builder)
    assert done.statuses() == {
        "base": "built",
        "x": "failed",
        "sibling": "built",
        "y": "blocked",
        "z": "blocked",
        "w": "blocked",
        "other": "built",
    }
    assert not done.result.ok
    assert done.result.targets["x"].detail == "x: exit code 1"
    assert done.result.targets["z"].detail == "upstream x failed"
    assert done.result.targets["z"].duration_s is None
    started = {n for c in builder.calls for n in c.batch}
    assert started.isdisjoint({"y", "z", "w"})


def test_targets_cancelled_by_a_failing_sibling_are_retried_alone() -> None:
    deps = {"bad": (), "slow": (), "quick": (), "after": ("slow",)}
    builder = FakeBuilder({"bad": 2, "slow": 5, "quick": 1}, fail=frozenset({"bad"}))
    done = run(deps, builder, slots=1, weights={"bad": 9, "slow": 5, "quick": 1})
    assert [c.batch for c in builder.calls] == [("bad", "slow", "quick"), ("slow",), ("after",)]
    assert done.statuses() == {"bad": "failed", "slow": "built", "quick": "built", "after": "built"}
    assert done.events_of("slow") == ["queued", "building", "queued", "building", "built"]
    assert builder.start("slow") == 2.0  # retried as soon as the failed bake reports


@pytest.mark.timeout(30)  # the bug this guards against is a retry loop in zero virtual time
def test_a_lone_target_reported_cancelled_fails_instead_of_looping() -> None:
    class Stubborn(FakeBuilder):
        async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]:
            self.calls.append(Call(batch, self.now()))
            return {name: TargetOutcome("cancelled") for name in batch}

    builder = Stubborn()
    done = run({"a": (), "b": ()}, builder, slots=1)
    assert [c.batch for c in builder.calls] == [("a", "b"), ("a",), ("b",)]
    assert done.statuses() == {"a": "failed", "b": "failed"}
    assert "no other target" in done.result.targets["a"].detail


def test_a_target_missing_from_the_report_has_failed() -> None:
    builder = FakeBuilder(omit=frozenset({"b"}))
    done = run(DIAMOND, builder, max_batch=1)
    assert done.statuses() == {"a": "built", "b": "failed", "c": "built", "d": "blocked"}
    assert done.result.targets["b"].detail == NO_RESULT


def test_fail_fast_cancels_running_builds_and_reports_the_rest_cancelled() -> None:
    deps = {"a": (), "b": (), "c": ("b",), "d": (), "e": ("a",)}
    durations = {"a": 2, "b": 10, "c": 1, "d": 5, "e": 1}
    builder = FakeBuilder(durations, fail=frozenset({"a"}))
    done = run(deps, builder, slots=3, max_batch=1, fail_fast=True, weights=durations)
    assert done.statuses() == {
        "a": "failed",
        "b": "cancelled",
        "c": "cancelled",
        "d": "cancelled",
        "e": "blocked",
    }
    assert done.elapsed == 2.0
    assert {c.batch: c.cancelled for c in builder.calls} == {
        ("a",): False,
        ("b",): True,
        ("d",): True,
    }
    assert done.result.targets["b"].duration_s == 2.0
    assert done.result.targets["c"].duration_s is None
    assert "a failed" in done.result.targets["c"].detail
    assert done.events_of("b") == ["queued", "building", "cancelled"]
    assert done.events_of("c") == ["cancelled"]
    assert builder.active == 0


def test_fail_fast_in_one_bake_leaves_the_targets_it_stopped_cancelled_not_retried() -> None:
    """a, b and c are ready together and go to one bake; a fails and bake stops b and c."""
    deps = {"a": (), "b": (), "c": (), "d": ("b",), "e": ("a",)}
    durations = {"a": 1, "b": 5, "c": 5, "d": 1, "e": 1}
    builder = FakeBuilder(durations, fail=frozenset({"a"}))
    done = run(deps, builder, slots=1, fail_fast=True, weights=durations)
    assert [sorted(c.batch) for c in builder.calls] == [["a", "b", "c"]]
    assert done.statuses() == {
        "a": "failed",
        "b": "cancelled",
        "c": "cancelled",
        "d": "cancelled",
        "e": "blocked",
    }
    assert done.elapsed == 1.0
    assert "a failed" in done.result.targets["d"].detail
    assert done.events_of("b") == ["queued", "building", "cancelled"]


def test_without_fail_fast_the_targets_a_failing_bake_stopped_are_built_alone() -> None:
    deps = {"a": (), "b": (), "c": (), "d": ("b",), "e": ("a",)}
    durations = {"a": 1, "b": 5, "c": 5, "d": 1, "e": 1}
    builder = FakeBuilder(durations, fail=frozenset({"a"}))
    done = run(deps, builder, slots=1, weights=durations)
    assert sorted(builder.calls[0].batch) == ["a", "b", "c"]
    assert done.statuses() == {
        "a": "failed",
        "b": "built",
        "c": "built",
        "d": "built",
        "e": "blocked",
    }
    assert {c.batch for c in builder.calls[1:3]} == {("b",), ("c",)}


def test_without_fail_fast_independent_targets_go_on() -> None:
    deps = {"a": (), "b": (), "c": ("b",)}
    builder = FakeBuilder({"a": 1, "b": 5, "c": 1}, fail=frozenset({"a"}))
    done = run(deps, builder, max_batch=1)
    assert done.statuses() == {"a": "failed", "b": "built", "c": "built"}
    assert done.elapsed == 6.0


def test_events_go_queued_building_then_the_outcome() -> None:
    deps = DIAMOND | {"e": ("d",)}
    builder = FakeBuilder({"a": 1, "b": 2, "c": 3, "d": 4}, fail=frozenset({"d"}))
    done = run(deps, builder)
    for name in "abc":
        assert done.events_of(name) == ["queued", "building", "built"]
    assert done.events_of("d") == ["queued", "building", "failed"]
    assert done.events_of("e") == ["blocked"]
    finished = {n: elapsed for n, s, elapsed in done.events if s in ("built", "failed")}
    assert finished == {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    # d is queued only once both its upstream targets are built.
    assert done.events.index(("d", "queued", None)) > done.events.index(("c", "built", 3.0))


def test_cancelling_the_caller_cancels_the_builds_and_propagates() -> None:
    builder = FakeBuilder(dict.fromkeys(DIAMOND, 10.0))

    async def main() -> bool:
        with anyio.move_on_after(3) as scope:
            await run_schedule(DIAMOND, list(DIAMOND), builder)
            pytest.fail("run_schedule returned after its caller was cancelled")
        return scope.cancelled_caught

    assert on_mock_clock(main)
    assert [(c.batch, c.cancelled) for c in builder.calls] == [(("a",), True)]
    assert builder.active == 0


def test_a_builder_exception_stops_the_run_and_propagates_unwrapped() -> None:
    deps = {"a": (), "b": (), "c": ("a",)}
    builder = FakeBuilder({"a": 1, "b": 10}, raise_on="a")

    async def main() -> None:
        await run_schedule(deps, list(deps), builder, max_batch=1)

    with pytest.raises(EngineError, match="went away"):
        on_mock_clock(main)
    assert sorted((c.batch, c.cancelled) for c in builder.calls) == [
        (("a",), False),
        (("b",), True),
    ]


def test_runs_on_asyncio_too() -> None:
    builder = FakeBuilder(dict.fromkeys(DIAMOND, 0.01))

    async def main() -> RunResult:
        return await run_schedule(DIAMOND, list(DIAMOND), builder, slots=2)

    result = anyio.run(main, backend="asyncio")
    assert result.ok
    assert [c.batch for c in builder.calls][::3] == [("a",), ("d",)]


def test_nothing_to_build_is_ok() -> None:
    assert run({}, FakeBuilder()).result.ok


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValueError, match="slots must be at least 1"):
        run(DIAMOND, FakeBuilder(), slots=0)


# The pure core -------------------------------------------------------------------------------


def test_priorities_are_critical_path_lengths() -> None:
    weights = {"a": 2.0, "b": 5.0, "c": 1.0, "d": 3.0}
    assert priorities(DIAMOND, weights) == {"a": 10.0, "b": 8.0, "c": 4.0, "d": 3.0}
    assert priorities(DIAMOND) == {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}  # unknown: 1.0
    assert priorities({"a": ()}, {"a": float("nan")}) == {"a": 1.0}


@pytest.mark.parametrize(
    ("deps", "order", "message"),
    [
        ({"a": ("b",), "b": ("a",)}, ["a", "b"], "before its dependency"),
        ({"a": ("x",)}, ["a"], "not a selected target"),
        (DIAMOND, ["a", "b", "c"], "^order must list every target exactly once$"),
        (DIAMOND, ["a", "d", "b", "c"], "d before its dependency b"),
    ],
)
def test_bad_input_is_rejected(deps: dict, order: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Schedule(deps, order)


def test_cycles_are_named() -> None:
    with pytest.raises(ValueError, match=r"^dependency cycle: (a -> b -> a|b -> a -> b)$"):
        priorities({"a": ("b",), "b": ("a",)})


@pytest.mark.parametrize(
    ("ready", "slots", "max_batch", "sizes"),
    [
        (20, 4, None, [5, 5, 5, 5]),
        (10, 4, None, [3, 3, 2, 2]),
        (3, 4, None, [1, 1, 1]),
        (20, 4, 2, [2, 2, 2, 2]),
        (20, 4, 1, [1, 1, 1, 1]),
        (7, 1, None, [7]),
    ],
)
def test_batch_sizes(ready: int, slots: int, max_batch: int | None, sizes: list[int]) -> None:
    deps = independent(ready)
    schedule = Schedule(deps, list(deps), max_batch=max_batch)
    batches = schedule.start_batches(slots)
    assert [len(b) for b in batches] == sizes
    # Contiguous chunks of plan order here, since every priority is equal.
    assert [n for b in batches for n in b] == list(deps)[: sum(sizes)]


def test_batches_are_contiguous_priority_chunks() -> None:
    deps = independent(6)
    weights = {name: float(i) for i, name in enumerate(deps)}
    schedule = Schedule(deps, list(deps), weights)
    assert schedule.start_batches(2) == [("t05", "t04", "t03"), ("t02", "t01", "t00")]


def test_a_retried_target_gets_a_batch_of_its_own() -> None:
    deps = independent(4)
    schedule = Schedule(deps, list(deps))
    [batch] = schedule.start_batches(1)
    schedule.finish(
        batch,
        {
            "t00": TargetOutcome("failed"),
            "t01": TargetOutcome("cancelled"),
            "t02": TargetOutcome("cancelled"),
            "t03": TargetOutcome("built"),
        },
    )
    assert schedule.start_batches(1) == [("t01",)]
    assert schedule.start_batches(4) == [("t02",)]


def test_finishing_a_batch_that_is_not_building_is_an_error() -> None:
    schedule = Schedule(DIAMOND, list(DIAMOND))
    with pytest.raises(ValueError, match="not building"):
        schedule.finish(("b",), {"b": TargetOutcome("built")})


# Properties over random graphs -----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    deps: dict[str, tuple[str, ...]]
    durations: dict[str, int]
    fail: frozenset[str]
    weights: dict[str, float] | None
    jobs: int
    max_batch: int | None
    fail_fast: bool


@st.composite
def cases(draw: st.DrawFn) -> Case:
    names = [f"t{i}" for i in range(draw(st.integers(1, 12)))]
    deps = {
        name: tuple(draw(st.lists(st.sampled_from(names[:i]), max_size=3, unique=True)))
        if i
        else ()
        for i, name in enumerate(names)
    }
    # Small integer durations make simultaneous finishes common, where ordering bugs hide.
    durations = {name: draw(st.integers(1, 4)) for name in names}
    weights = draw(st.none() | st.just({n: float(d) for n, d in durations.items()}))
    return Case(
        deps=deps,
        durations=durations,
        fail=frozenset(draw(st.sets(st.sampled_from(names), max_size=3))),
        weights=weights,
        jobs=draw(st.integers(1, 4)),
        max_batch=draw(st.sampled_from([None, 1, 2])),
        fail_fast=draw(st.booleans()),
    )


def ancestors(deps: Mapping[str, Sequence[str]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(deps[name])
    while todo:
        up = todo.pop()
        if up not in seen:
            seen.add(up)
            todo.extend(deps[up])
    return seen


EVENTS = re.compile(
    r"(queued building )*(queued building (built|failed|cancelled)|(queued )?cancelled)|blocked"
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_random_graphs_respect_dependencies_and_jobs(case: Case) -> None:
    builder = FakeBuilder(case.durations, fail=case.fail)
    done = run(
        case.deps,
        builder,
        slots=case.jobs,
        max_batch=case.max_batch,
        weights=case.weights,
        fail_fast=case.fail_fast,
    )
    status = done.statuses()
    assert builder.max_active <= case.jobs
    assert done.result.ok == (status == dict.fromkeys(case.deps, "built"))
    for name, ups in case.deps.items():
        events = " ".join(done.events_of(name))
        assert EVENTS.fullmatch(events), (name, events)
        assert events.endswith(status[name])
        if status[name] == "built":
            assert all(status[up] == "built" for up in ups)
            assert all(builder.start(name) >= builder.end(up) for up in ups)
        if status[name] == "blocked":
            assert any(status[up] == "failed" for up in ancestors(case.deps, name))
            assert all(name not in c.batch for c in builder.calls)
    if case.fail_fast:
        failures = [c.end for c in builder.calls if c.end and set(c.batch) & case.fail]
        if failures:
            assert all(c.start <= min(failures) for c in builder.calls)
    else:
        # Keep-going: the outcome of each target follows from the graph alone.
        for name in case.deps:
            upstream_failed = any(a in case.fail for a in ancestors(case.deps, name))
            expected = "blocked" if upstream_failed else "failed" if name in case.fail else "built"
            assert status[name] == expected, name


def test_a_lost_builder_says_which_builder_went_away_and_how() -> None:
    lost = BuilderLost("", "error reading from server: EOF")
    assert str(lost) == "builder default went away: error reading from server: EOF"
    assert (lost.builder, lost.cause) == ("", "error reading from server: EOF")
    named = BuilderLost("node2", "connection refused")
    assert str(named) == "builder node2 went away: connection refused"
    assert (named.builder, named.cause) == ("node2", "connection refused")


def test_a_target_missing_from_the_report_fails_and_stops_a_fail_fast_run() -> None:
    s = Schedule({"a": (), "b": (), "c": ("a",)}, ["a", "b", "c"], fail_fast=True)
    assert s.start_batches(1) == [("a", "b")]
    with pytest.raises(RuntimeError, match=r"^the schedule is not finished: a, b, c$"):
        s.result()
    s.finish(("a", "b"), {"b": TargetOutcome("built", 2.0)})
    assert (s.done, s.stopped) == (True, True)
    result = s.result()
    shown = {n: (r.status, r.duration_s, r.detail) for n, r in result.targets.items()}
    assert shown == {
        "a": ("failed", 0.0, NO_RESULT),
        "b": ("built", 2.0, ""),
        "c": ("blocked", None, "upstream a failed"),
    }
    assert (result.names("failed"), result.names("built"), result.names("blocked")) == (
        ("a",),
        ("b",),
        ("c",),
    )


def test_an_unknown_status_or_a_lone_cancel_fails_the_target_and_keeps_its_time() -> None:
    s = Schedule({"a": (), "b": ()}, ["a", "b"], max_batch=1, fail_fast=True)
    assert s.start_batches(1) == [("a",)]
    s.finish(("a",), {"a": TargetOutcome("weird", 3.0)})
    assert s.stopped
    s = Schedule({"a": (), "b": ()}, ["a", "b"], max_batch=1)
    assert s.start_batches(2) == [("a",), ("b",)]
    s.finish(("a",), {"a": TargetOutcome("weird", 3.0)})
    s.finish(("b",), {"b": TargetOutcome("cancelled", 1.5)})
    shown = {n: (r.status, r.duration_s, r.detail) for n, r in s.result().targets.items()}
    assert shown == {
        "a": ("failed", 3.0, "unknown status 'weird'"),
        "b": ("failed", 1.5, LONE_CANCEL),
    }


# --- one decision at a time -------------------------------------------------------------------


def finish_all(s: Schedule, batch: tuple[str, ...], **statuses: str) -> None:
    s.finish(batch, {n: TargetOutcome(statuses.get(n, "built"), 1.0, f"{n}: x") for n in batch})


def test_a_schedule_does_not_retry_unless_told() -> None:
    s = Schedule({"x": ()}, ["x"])
    (batch,) = s.start_batches(1)
    s.finish(batch, {"x": TargetOutcome("retry", 1.0, "503")})
    assert s.result().targets["x"].status == "failed"
    assert s.result().targets["x"].detail == "503"  # one attempt: nothing given up


def test_a_new_schedule_is_not_stopped() -> None:
    assert Schedule({"x": ()}, ["x"]).stopped is False
    with pytest.raises(ValueError, match=r"^max_batch must be at least 1, not 0$"):
        Schedule({"x": ()}, ["x"], max_batch=0)


def test_a_lone_cancel_is_a_failure_that_stops_a_fail_fast_run() -> None:
    s = Schedule({"x": (), "y": ()}, ["x", "y"], fail_fast=True, max_batch=1)
    batches = s.start_batches(1)
    s.finish(batches[0], {batches[0][0]: TargetOutcome("cancelled", 1.0)})
    assert s.stopped
    assert s.start_batches(1) == []


def test_a_built_upstream_and_a_failed_downstream_in_one_batch_judge_the_downstream() -> None:
    # Names that sort against build order: the upstream is judged first all the same, so the
    # downstream's failure is its own, at once, not retried.
    deps = {"z-base": (), "a-app": ("z-base",)}
    s = Schedule(deps, list(deps), chain=True)
    (batch,) = s.start_batches(1)
    assert batch == ("z-base", "a-app")
    finish_all(s, batch, **{"a-app": "failed"})
    assert s.done
    assert s.result().targets["a-app"].status == "failed"


def test_a_chain_of_three_whose_root_fails_blocks_both_below() -> None:
    deps = {"a": (), "b": ("a",), "c": ("b",)}
    s = Schedule(deps, list(deps), chain=True)
    (batch,) = s.start_batches(1)
    assert batch == ("a", "b", "c")
    finish_all(s, batch, a="failed", b="failed", c="failed")
    result = s.result()
    assert {n: r.status for n, r in result.targets.items()} == {
        "a": "failed",
        "b": "blocked",
        "c": "blocked",
    }
    assert result.targets["c"].detail == "upstream b failed"


def test_a_target_retried_alone_gets_nothing_chained_to_it() -> None:
    # bad was stopped by x's failure; built again alone, with what waits on it left out.
    deps = {"x": (), "bad": (), "after": ("bad",)}
    s = Schedule(deps, list(deps), chain=True, max_batch=2)
    (batch,) = s.start_batches(1)
    assert batch == ("bad", "x")
    finish_all(s, batch, x="failed", bad="cancelled")
    assert s.start_batches(1) == [("bad",)]


def test_a_target_started_alone_and_lost_may_join_a_batch_again() -> None:
    s = Schedule({"a": (), "b": (), "c": ()}, ["a", "b", "c"], max_batch=2)
    (batch,) = s.start_batches(1)
    assert batch == ("a", "b")
    finish_all(s, batch, a="cancelled", b="failed")
    assert s.start_batches(1) == [("a",)]  # alone, after a sibling stopped it
    s.lose(("a",))
    assert s.start_batches(1) == [("a", "c")]  # lost is not a sibling's fault


def test_solo_targets_go_alone_and_the_rest_share_the_other_slots() -> None:
    # Five ready, one to go alone (a sibling stopped it), two slots: it alone in one, and at
    # most ceil(5 / 2) = 3 of the four others in the other.
    deps = dict.fromkeys("abcde", ())
    s = Schedule(deps, list(deps))
    (batch,) = s.start_batches(1)
    s.finish(batch, {"a": TargetOutcome("cancelled"), **{n: TargetOutcome("lost") for n in "bcde"}})
    assert s.start_batches(2) == [("a",), ("b", "c", "d")]


def test_blocked_targets_are_reported_highest_priority_first() -> None:
    deps = {"a": (), "b": ("a",), "z": ("a",), "zz": ("z",)}
    s = Schedule(deps, list(deps))
    (batch,) = s.start_batches(1)
    finish_all(s, batch, a="failed")
    blocked = [e.name for e in s.drain_events() if e.status == "blocked"]
    assert blocked == ["z", "b", "zz"]  # z leads to zz: its path is the longest


def test_cancel_unfinished_without_a_failure_says_the_run_stopped() -> None:
    s = Schedule({"x": (), "y": ("x",)}, ["x", "y"])
    s.cancel_unfinished()
    assert s.ready == ()
    assert {r.detail for r in s.result().targets.values()} == {"not finished: the run stopped"}


def test_weights_left_out_count_one_and_bad_ones_count_one() -> None:
    assert priorities({"a": (), "b": ()}, {"a": 5.0}) == {"a": 5.0, "b": 1.0}
    assert priorities({"a": ()}, {"a": -3.0}) == {"a": 1.0}


def test_the_default_is_four_slots() -> None:
    builder = FakeBuilder()

    async def main() -> float:
        t0 = anyio.current_time()
        await run_schedule(independent(5), list(independent(5)), builder, max_batch=1)
        return anyio.current_time() - t0

    assert on_mock_clock(main) == 2.0  # four at once, then the fifth


def test_an_interrupt_cancels_the_builds_and_still_gives_every_target_its_result():
    import signal

    from orchestrator.run.interrupts import Interrupts
    from orchestrator.run.scheduler import INTERRUPTED

    interrupts = Interrupts()
    builder = FakeBuilder(durations={"a": 1.0, "b": 5.0, "c": 10.0})
    events: list[tuple[str, str, float | None]] = []

    async def main() -> tuple[RunResult, float]:
        builder.t0 = anyio.current_time()

        async def press_ctrl_c() -> None:
            await anyio.sleep(3.0)
            interrupts.handle(signal.SIGINT, None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(press_ctrl_c)
            result = await run_schedule(
                {"a": (), "b": ("a",), "c": ()},
                ["a", "b", "c"],
                builder,
                slots=2,
                interrupts=interrupts,
                on_event=lambda *event: events.append(event),
            )
        return result, anyio.current_time() - builder.t0

    try:
        result, elapsed = on_mock_clock(main)
    finally:
        interrupts.close()
    assert {n: (r.status, r.detail) for n, r in result.targets.items()} == {
        "a": ("built", ""),
        "b": ("cancelled", INTERRUPTED),
        "c": ("cancelled", INTERRUPTED),
    }
    assert elapsed < 3.5  # stopped at the interrupt, not when the builds would have ended
    assert builder.last_call("b").cancelled and builder.last_call("c").cancelled
    assert ("b", "cancelled", result.targets["b"].duration_s) in events


def test_each_target_ends_with_the_builders_account_of_its_last_attempt():
    from orchestrator.run.results import JobResult

    def made(key: str, status: str, n: int) -> JobResult:
        return JobResult(key=key, status=status, error=f"attempt {n}")  # type: ignore[arg-type]

    schedule = Schedule({"a": (), "b": ()}, ["a", "b"])
    (batch,) = schedule.start_batches(1)
    assert batch == ("a", "b")
    schedule.finish(
        batch,
        {
            "a": TargetOutcome("failed", 1.0, "exit 1", result=made("a", "failed", 1)),
            "b": TargetOutcome("cancelled", 0.5, result=made("b", "cancelled", 1)),
        },
    )
    (again,) = schedule.start_batches(1)
    assert again == ("b",)
    schedule.finish(again, {"b": TargetOutcome("built", 2.0, result=made("b", "built", 2))})
    result = schedule.result()
    assert result.targets["a"].result == made("a", "failed", 1)
    assert result.targets["b"].result == made("b", "built", 2)
    assert result.targets["b"].attempts == 2
