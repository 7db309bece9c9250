"""A run over a pool of builders, and retries, on virtual time: where each target goes, what a
lost builder's targets become, how transient failures are tried again."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from orchestrator.engine.pool import Choice, check_names, check_registry, choose
from orchestrator.errors import PlanError, UsageError
from orchestrator.plan import Plan
from orchestrator.run import history
from orchestrator.run import steps as run
from orchestrator.run.defaults import CI_RETRIES, default_retries
from orchestrator.run.failures import backoff_s, classify
from orchestrator.run.jobs import build_jobs
from orchestrator.run.schedule import BuilderLost, Member, RunResult, Schedule, TargetOutcome
from orchestrator.run.scheduler import run_schedule as schedule_run
from tests.kit import FakeEngine, project_of
from tests.test_scheduler import on_mock_clock


@dataclass
class Node:
    """One builder of a pool: builds each target in its own time; can go away or fail."""

    name: str
    durations: Mapping[str, float] = field(default_factory=dict)
    dies_at: float | None = None  # raises BuilderLost for what runs at that time
    transient: dict[str, int] = field(default_factory=dict)  # target -> failures left
    built: list[tuple[str, float]] = field(default_factory=list)  # (target, start)
    starts: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]:
        now = anyio.current_time()
        self.starts.append((batch, now))
        took = max(self.durations.get(n, 1.0) for n in batch)
        if self.dies_at is not None and now + took > self.dies_at:
            await anyio.sleep(max(0.0, self.dies_at - now))
            raise BuilderLost(self.name, "error reading from server: EOF")
        await anyio.sleep(took)
        report: dict[str, TargetOutcome] = {}
        for name in batch:
            if self.transient.get(name, 0) > 0:
                self.transient[name] -= 1
                report[name] = TargetOutcome("retry", took, "503 Service Unavailable")
            else:
                self.built.append((name, now))
                report[name] = TargetOutcome("built", took)
        return report


def run_pool(
    deps: Mapping[str, Sequence[str]], nodes: Sequence[Node], slots: int = 1, **options: object
) -> tuple[RunResult, float, list[tuple[str, str]]]:
    placed: list[tuple[str, str]] = []

    async def main() -> tuple[RunResult, float, list[tuple[str, str]]]:
        t0 = anyio.current_time()
        result = await schedule_run(
            deps,
            list(deps),
            pool=[Member(n.name, slots, n) for n in nodes],
            on_place=lambda target, builder: placed.append((target, builder)),
            **options,  # type: ignore[arg-type]
        )
        return result, anyio.current_time() - t0, placed

    return on_mock_clock(main)


def where(node: Node) -> set[str]:
    return {name for name, _ in node.built}


def test_a_downstream_target_goes_where_its_upstream_was_built() -> None:
    # Two chains: each service is placed on the node that built its own base.
    deps = {"base1": (), "base2": (), "svc1": ("base1",), "svc2": ("base2",)}
    a, b = Node("a"), Node("b")
    result, elapsed, placed = run_pool(deps, [a, b])
    assert result.ok
    on = dict(placed)
    assert on["svc1"] == on["base1"]
    assert on["svc2"] == on["base2"]
    assert on["base1"] != on["base2"]  # both nodes work at once
    assert elapsed == 2.0
    assert result.targets["svc1"].builder == on["svc1"]


def test_a_target_goes_to_the_least_loaded_builder_when_its_upstreams_is_full() -> None:
    # a built `base`; three services need it; a has one slot: one service runs there, the
    # others on the idle b rather than waiting for a.
    deps = {"base": (), "s1": ("base",), "s2": ("base",), "s3": ("base",)}
    a, b = Node("a"), Node("b")
    result, elapsed, _ = run_pool(deps, [a, b], slots=1, max_batch=1)
    assert result.ok
    assert where(a) >= {"base"}
    assert len(where(b)) >= 1  # b took work instead of idling
    assert elapsed == 3.0  # base, then s1 || s2, then s3


def test_placement_without_a_pool_is_one_builder() -> None:
    node = Node("")
    result, _, placed = run_pool({"x": (), "y": ("x",)}, [node])
    assert result.ok
    assert {b for _, b in placed} == {""}


def test_a_lost_builders_targets_are_built_on_another() -> None:
    deps = {"a1": (), "a2": (), "top": ("a1", "a2")}
    dying = Node("n1", durations={"a1": 5, "a2": 5}, dies_at=2.0)
    healthy = Node("n2", durations={"a1": 5, "a2": 5})
    result, elapsed, placed = run_pool(deps, [dying, healthy])
    assert result.ok, result.targets
    assert result.lost == ("n1",)
    assert not result.engine_gone
    assert where(healthy) == {"a1", "a2", "top"}
    # Whatever ran on n1 was tried there first, then on n2.
    first = [t for t, b in placed if b == "n1"]
    assert first and all(result.targets[t].attempts == 2 for t in first)
    assert elapsed == pytest.approx(5.0 + 5.0 + 1.0)  # n2: a2, then a1, then top


def test_when_every_builder_is_gone_what_is_left_is_cut_off() -> None:
    deps = {"a": (), "b": ("a",), "c": ()}
    only = Node("n1", durations={"a": 1, "b": 5, "c": 5}, dies_at=3.0)
    result, _, _ = run_pool(deps, [only], slots=2)
    assert result.engine_gone
    statuses = {n: r.status for n, r in result.targets.items()}
    assert statuses == {"a": "built", "b": "cancelled", "c": "cancelled"}
    assert "cut off: the engine went away (builder n1)" in result.targets["c"].detail
    assert result.targets["c"].duration_s == pytest.approx(3.0)  # it was building then


def test_a_transient_failure_is_tried_again_after_a_backoff() -> None:
    node = Node("", transient={"x": 2})
    result, elapsed, _ = run_pool({"x": (), "y": ("x",)}, [node], retries=2)
    assert result.ok
    assert result.targets["x"].attempts == 3
    starts = [t for batch, t in node.starts if batch == ("x",)]
    # 1 s each build; the retries wait 1 s, then 2 s.
    assert starts == [0.0, 2.0, 5.0]
    assert elapsed == 7.0


def test_retries_run_out() -> None:
    node = Node("", transient={"x": 5})
    result, _, _ = run_pool({"x": (), "y": ("x",)}, [node], retries=1)
    assert result.targets["x"].status == "failed"
    assert result.targets["x"].detail == "503 Service Unavailable (gave up after 2 attempts)"
    assert result.targets["x"].attempts == 2
    assert result.targets["y"].status == "blocked"


def test_no_retries_means_one_attempt() -> None:
    node = Node("", transient={"x": 1})
    result, _, _ = run_pool({"x": ()}, [node])
    assert result.targets["x"].status == "failed"
    assert result.targets["x"].detail == "503 Service Unavailable"
    assert len(node.starts) == 1


def test_a_sibling_cancel_does_not_use_up_a_retry() -> None:
    s = Schedule({"a": (), "b": ()}, ["a", "b"], retries=0)
    (batch,) = s.start_batches(1)
    s.finish(batch, {"a": TargetOutcome("failed"), "b": TargetOutcome("cancelled")})
    assert s.attempt("b") == 1
    assert s.ready == ("b",)


def test_pool_checks() -> None:
    node = Node("n")
    with pytest.raises(ValueError, match="twice"):
        run_pool({"x": ()}, [node, Node("n")])
    with pytest.raises(ValueError, match="retries"):
        Schedule({"x": ()}, ["x"], retries=-1)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ('process "/bin/sh -c make" did not complete successfully: exit code: 2', "build"),
        (
            "failed to solve: process did not complete successfully: exit code: 1 "
            "(connection reset by peer)",
            "build",
        ),
        (
            "failed to push 127.0.0.1:5001/x:v: unexpected status: 503 Service Unavailable",
            "transient",
        ),
        (
            "failed to copy: read tcp 127.0.0.1:1->127.0.0.1:5000: read: connection reset by peer",
            "transient",
        ),
        ('failed to solve: no such job "abc"', "transient"),
        ("failed to receive status: rpc error: code = NotFound desc = no such job x1", "transient"),
        (
            'error writing config blob: failed commit on ref "sha256:ab": commit failed: '
            "EOF: unknown",
            "transient",
        ),
        (
            "failed to solve: DeadlineExceeded: failed commit on ref "
            '"history-migrate-sha256:ab": commit failed: context deadline exceeded',
            "transient",
        ),
        ("failed to solve: unknown blob sha256:00 in history", "transient"),
        (
            "failed to solve: Canceled: error writing layer blob: Canceled: grpc: the client "
            "connection is closing: context canceled",
            "transient",
        ),
        ("failed to solve: Canceled: context canceled", "build"),  # not on its own
        ("failed to solve: Unavailable: error reading from server: EOF", "engine-gone"),
        ("Cannot connect to the Docker daemon at unix:///tmp/d2/docker.sock", "engine-gone"),
        ("failed to read dockerfile: open Dockerfile: no such file or directory", "build"),
        (None, "build"),
    ],
)
def test_failures_are_told_apart(error: str | None, kind: str) -> None:
    assert classify(error) == kind


def test_backoff_doubles_and_stops_growing() -> None:
    assert [backoff_s(n) for n in (1, 2, 3, 4)] == [0.0, 1.0, 2.0, 4.0]
    assert backoff_s(40) == 20.0


# --- placement, one decision at a time -------------------------------------------------------


def built_on(s: Schedule, free: Mapping[str, int], **options: object) -> dict[str, str]:
    """Place what is ready over `free` slots, finish it built, and say where each went."""
    placed = s.place(free, **options)  # type: ignore[arg-type]
    for _, batch in placed:
        s.finish(batch, {name: TargetOutcome("built", 1.0) for name in batch})
    return {name: b for b, batch in placed for name in batch}


def test_placement_follows_the_upstream_by_default() -> None:
    s = Schedule({"base": (), "svc": ("base",)}, ["base", "svc"])
    assert built_on(s, {"a": 0, "b": 1}) == {"base": "b"}
    # Both are idle: the tie would go to `a`, the first; base's layers are on `b`.
    assert built_on(s, {"a": 1, "b": 1}) == {"svc": "b"}


def test_placement_without_affinity_is_the_least_loaded_first() -> None:
    s = Schedule({"base": (), "svc": ("base",)}, ["base", "svc"])
    built_on(s, {"a": 0, "b": 1})
    assert built_on(s, {"a": 1, "b": 1}, affinity=False) == {"svc": "a"}


def test_a_builder_with_no_free_slot_is_never_chosen_whatever_it_built() -> None:
    deps = {"base": (), "s1": ("base",), "s2": ("base",)}
    s = Schedule(deps, list(deps), max_batch=1)
    built_on(s, {"a": 0, "b": 1})
    placed = s.place({"a": 1, "b": 1})
    assert sorted(b for b, _ in placed) == ["a", "b"]  # one each: b had one slot


def test_least_loaded_is_by_the_share_of_its_slots_that_is_free() -> None:
    # big: 2 of 4 slots free (half), small: 1 of 1 (all): small is the less loaded.
    s = Schedule({"x": ()}, ["x"])
    assert s.place({"big": 2, "small": 1}, {"big": 4, "small": 1}) == [("small", ("x",))]
    # A builder missing from `capacity` counts as one slot: a is all free, b a third.
    s = Schedule({"x": ()}, ["x"])
    assert s.place({"a": 1, "b": 2}, {"b": 6}) == [("a", ("x",))]
    s = Schedule({"x": ()}, ["x"])
    assert s.place({"a": 1, "b": 2}, {"b": 3}) == [("a", ("x",))]


def test_a_run_places_by_each_builders_own_slots_as_they_are_taken() -> None:
    # a has two slots, b and c one each. x takes one of a's for 10 s; u goes to the idle b.
    # When u is done, q (the longer of its two dependents) follows it to b; w cannot, and goes
    # to c, all free, rather than to a, half taken (counting only free slots, a tie, a wins).
    deps = {"x": (), "u": (), "q": ("u",), "w": ("u",)}
    took = {"x": 10.0, "u": 1.0, "q": 5.0, "w": 1.0}
    pool = [Member("a", 2, Node("a", took)), Member("b", 1, Node("b", took))]
    pool.append(Member("c", 1, Node("c", took)))
    placed: list[tuple[str, str]] = []

    async def main() -> RunResult:
        return await schedule_run(
            deps,
            list(deps),
            pool=pool,
            weights=took,
            max_batch=1,
            on_place=lambda target, builder: placed.append((target, builder)),
        )

    assert on_mock_clock(main).ok
    assert dict(placed) == {"x": "a", "u": "b", "q": "b", "w": "c"}


def test_pool_arguments_are_checked_with_a_reason() -> None:
    node = Node("n")
    with pytest.raises(ValueError, match=r"^a builder is in the pool twice: n, n$"):
        run_pool({"x": ()}, [node, Node("n")])
    with pytest.raises(ValueError, match=r"^give one builder or a pool, not both$"):
        on_mock_clock(lambda: schedule_run({"x": ()}, ["x"], node, pool=[Member("n", 1, node)]))
    with pytest.raises(ValueError, match=r"^a run needs a builder$"):
        on_mock_clock(lambda: schedule_run({"x": ()}, ["x"]))


def test_one_builder_is_the_default_one() -> None:
    async def main() -> RunResult:
        return await schedule_run({"x": ()}, ["x"], Node("ignored"))

    assert on_mock_clock(main).targets["x"].builder == ""


def test_the_last_builder_lost_with_one_batch_running_cuts_off_the_rest() -> None:
    deps = {"a": (), "b": ("a",)}
    only = Node("n1", durations={"a": 2}, dies_at=0.5)
    result, _, _ = run_pool(deps, [only])
    assert result.engine_gone
    assert {n: r.status for n, r in result.targets.items()} == {"a": "cancelled", "b": "cancelled"}
    assert result.targets["a"].detail == "cut off: the engine went away (builder n1)"
    assert result.targets["a"].duration_s == pytest.approx(0.5)  # it ran that long on n1
    assert result.targets["b"].duration_s is None


def test_every_builder_lost_names_them_all() -> None:
    deps = {"a": (), "b": ()}
    first = Node("", durations={"a": 2, "b": 2}, dies_at=1.0)
    second = Node("n2", durations={"a": 2, "b": 2}, dies_at=1.0)
    result, _, _ = run_pool(deps, [first, second], max_batch=1)
    assert result.engine_gone and set(result.lost) == {"", "n2"}
    which = ", ".join("default" if b == "" else b for b in result.lost)
    assert result.targets["a"].detail == f"cut off: the engine went away (builders {which})"


def test_retries_that_run_out_keep_the_last_attempts_time_and_stop_a_fail_fast_run() -> None:
    deps = {"x": (), "y": ()}
    node = Node("", durations={"x": 1, "y": 30}, transient={"x": 5})
    result, elapsed, _ = run_pool(deps, [node], slots=2, max_batch=1, retries=1, fail_fast=True)
    assert result.targets["x"].status == "failed"
    assert result.targets["x"].duration_s == 1.0
    assert result.targets["y"].status == "cancelled"  # fail-fast stopped it: no 30 s wait
    assert elapsed < 30


# --- placement by each builder's durations ---------------------------------------------------


def first_place(
    free: Mapping[str, int],
    speeds: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
    deps: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[str, tuple[str, ...]]]:
    deps = deps or {"x": ()}
    return Schedule(deps, list(deps), weights, speeds=speeds).place(free)


def test_a_target_goes_to_the_builder_its_history_says_is_faster() -> None:
    # Both idle; a would win the tie (listed first), but x took 40 s there and 10 s on b.
    assert first_place({"a": 1, "b": 1}, {"x": {"a": 40.0, "b": 10.0}}) == [("b", ("x",))]
    assert first_place({"a": 1, "b": 1}, {}) == [("a", ("x",))]
    # b is half taken and a all free: being four times faster still wins.
    s = Schedule({"x": ()}, ["x"], speeds={"x": {"a": 40.0, "b": 10.0}})
    assert s.place({"a": 2, "b": 1}, {"a": 2, "b": 2}) == [("b", ("x",))]


def test_durations_within_a_quarter_of_each_other_leave_it_to_the_load() -> None:
    # b is faster by 25% at most: the noise of one machine; a is all free, b half taken.
    for on_a in (10.0, 12.5):
        s = Schedule({"x": ()}, ["x"], speeds={"x": {"a": on_a, "b": 10.0}})
        assert s.place({"a": 2, "b": 1}, {"a": 2, "b": 2}) == [("a", ("x",))], on_a
    s = Schedule({"x": ()}, ["x"], speeds={"x": {"a": 12.6, "b": 10.0}})
    assert s.place({"a": 2, "b": 1}, {"a": 2, "b": 2}) == [("b", ("x",))]


def test_a_builder_without_history_for_a_target_counts_its_last_duration_anywhere() -> None:
    # x took 10 s last time; on b it took 30 s: a, never seen, is expected at 10 s.
    assert first_place({"b": 1, "a": 1}, {"x": {"b": 30.0}}, {"x": 10.0}) == [("a", ("x",))]
    # On b it took 5 s: b is faster than the 10 s expected on a.
    assert first_place({"a": 1, "b": 1}, {"x": {"b": 5.0}}, {"x": 10.0}) == [("b", ("x",))]
    # Under a second counts as it is: a builder where x took no time at all is the fastest.
    for took in (0.0, 0.5):
        assert first_place({"b": 1, "a": 1}, {"x": {"a": took, "b": 5.0}}, {"x": 10.0}) == [
            ("a", ("x",))
        ]
    # A corrupt record (negative, not a number, infinite) counts as no record.
    for bad in (-1.0, math.nan, math.inf):
        assert first_place({"a": 1, "b": 1}, {"x": {"a": 30.0, "b": bad}}, {"x": 10.0}) == [
            ("b", ("x",))
        ]


def test_a_batch_goes_where_its_targets_take_least_in_all() -> None:
    # Together x and y take 5 + 30 = 35 s on a and 20 + 8 = 28 s on b; y alone decides it.
    speeds = {"x": {"a": 5.0, "b": 20.0}, "y": {"a": 30.0, "b": 8.0}}
    placed = first_place({"a": 1, "b": 0}, speeds, deps={"x": (), "y": ()})
    assert placed == [("a", ("x", "y"))]  # b has no free slot: one batch, on a
    s = Schedule({"x": (), "y": ()}, ["x", "y"], speeds=speeds, max_batch=2)
    assert s.place({"a": 1, "b": 1}) == [("a", ("x",)), ("b", ("y",))]
    s = Schedule({"x": (), "y": ()}, ["x", "y"], speeds=speeds)
    assert s.expected(("x", "y"), "a") == 35.0
    assert s.expected(("x", "y"), "b") == 28.0
    assert s.expected(("x", "y"), "c") == 2.0  # no history anywhere: a weight of 1 each


def test_batches_that_start_together_fill_the_faster_builder_then_go_by_load() -> None:
    # a has 2 slots, b and c 2 each, all idle; x, y and z are each four times faster on a.
    # x and y take a's two slots; z goes to the least loaded of the others (both all free:
    # the first listed, b).
    deps = {"x": (), "y": (), "z": ()}
    speeds = {n: {"a": 1.0, "b": 4.0, "c": 4.0} for n in deps}
    s = Schedule(deps, list(deps), dict.fromkeys(deps, 4.0), speeds=speeds, max_batch=1)
    assert s.place({"b": 2, "c": 2, "a": 2}) == [("a", ("x",)), ("a", ("y",)), ("b", ("z",))]


def test_the_builder_holding_the_upstream_wins_over_a_faster_one() -> None:
    # base was built on b; svc took 2 s on a and 10 s anywhere else, but base's layers are on b.
    deps = {"base": (), "svc": ("base",)}
    weights, speeds = {"svc": 10.0}, {"svc": {"a": 2.0}}
    s = Schedule(deps, list(deps), weights, speeds=speeds)
    assert built_on(s, {"a": 0, "b": 1}) == {"base": "b"}
    assert built_on(s, {"a": 1, "b": 1}) == {"svc": "b"}
    # Without affinity, the faster one.
    s = Schedule(deps, list(deps), weights, speeds=speeds)
    built_on(s, {"a": 0, "b": 1})
    assert built_on(s, {"b": 1, "a": 1}, affinity=False) == {"svc": "a"}


POOL_FILES = {"tools/Dockerfile": "FROM busybox\n"}


def test_a_run_over_a_pool_places_by_history_and_keeps_each_builders_durations(
    tmp_path: Path,
) -> None:
    # history.json says tools built in 60 s on a and 5 s on b: the run puts it on b, although
    # a is listed first, and records how long it took there.
    project = project_of(tmp_path, "services:\n  tools: {context: tools}\n", POOL_FILES)
    (tmp_path / ".orch").mkdir()
    (tmp_path / ".orch/history.json").write_text('{"tools": 60, "tools@a": 60, "tools@b": 5}')
    a, b = FakeEngine(), FakeEngine()
    jobset = build_jobs(project, ["tools"])
    outcome = run.run(
        project,
        jobset,
        a,
        manifests=project.manifests(["tools"]),
        options=run.RunOptions(),
        test=False,
        pool=[run.PoolEntry("a", 1, a), run.PoolEntry("b", 1, b)],
    )
    assert [(r.key, r.status, r.builder) for r in outcome.results] == [("tools", "built", "b")]
    assert not a.calls and len(b.calls) == 1
    kept = history.load(tmp_path / ".orch/history.json")
    assert kept["tools@a"] == 60
    assert kept["tools@b"] == kept["tools"] != 5


def test_retries_default_to_a_few_under_ci_and_none_at_a_terminal() -> None:
    assert CI_RETRIES == 2
    assert default_retries({"CI": "true"}) == default_retries({"CI": "1"}) == 2
    assert default_retries({}) == default_retries({"CI": ""}) == 0


# --- which builders, and whether the plan can use them ---------------------------------------


POOL_PLAN = """\
builders: [default, {name: big-box, jobs: 8}]
services:
  a1: {context: a1}
  a2: {context: a2}
  a3: {context: a3}
  a4: {context: a4}
  a5: {context: a5}
  a6: {context: a6, registry: "localhost:5000"}
  a7: {context: a7}
"""


def pool_plan(tmp_path: Path) -> Plan:
    files = {f"a{i}/Dockerfile": "FROM busybox\n" for i in range(1, 8)}
    return project_of(tmp_path, POOL_PLAN, files).plan


def test_the_builder_option_wins_over_the_plan_and_gives_each_the_run_s_slots(
    tmp_path: Path,
) -> None:
    plan = pool_plan(tmp_path)
    assert choose(plan, None, 4) == (Choice("default", 4), Choice("big-box", 8))
    assert choose(plan, " x , y", 2) == (Choice("x", 2), Choice("y", 2))
    for bad, why in (("a,,b", "an empty builder name"), ("a,b,a", "names a builder twice")):
        with pytest.raises(UsageError, match=why) as caught:
            choose(plan, bad, 2)
        assert repr(bad) in caught.value.message and caught.value.hint


def test_a_pool_or_a_push_needs_a_registry_on_every_target_it_builds(tmp_path: Path) -> None:
    plan = pool_plan(tmp_path)
    names = [f"a{i}" for i in range(1, 8)]
    two = (Choice("default", 2), Choice("big-box", 2))
    check_registry(plan, names, two[:1], push=False, cli=True)  # one builder: no hand-off
    check_registry(plan, ["a6"], two, push=True, cli=True)  # a6 has one
    with pytest.raises(PlanError) as caught:
        check_registry(plan, names, two, push=False, cli=False)
    message = caught.value.message
    assert message.startswith("a run over several builders (builders: default,big-box) hands")
    assert message.endswith("and a1, a2, a3, a4, a5 and 1 more have no registry:")
    assert caught.value.location == plan.builders_at  # the plan's builders: line
    assert "registry: localhost:5000" in (caught.value.hint or "")
    with pytest.raises(PlanError) as caught:
        check_registry(plan, ["a7"], two, push=False, cli=True)
    assert "(--builder default,big-box)" in caught.value.message
    assert caught.value.message.endswith("and a7 has no registry:")
    assert caught.value.location == plan.targets["a7"].location  # the target without one
    with pytest.raises(PlanError, match=r"^--push publishes the plan's tags in a registry, and a7"):
        check_registry(plan, ["a7"], two[:1], push=True, cli=True)


def test_a_builder_name_buildx_does_not_know_is_a_usage_error_with_the_closest():
    with pytest.raises(UsageError) as caught:
        check_names(["defualt"], ["node2", "default"])
    assert caught.value.message == "there is no buildx builder named 'defualt'"
    assert caught.value.hint == (
        "did you mean 'default'? builders: default, node2 (`docker buildx ls`)"
    )


def test_a_known_builder_that_did_not_answer_is_no_usage_error():
    check_names(["node2"], ["node2", "default"])
    check_names(["anything"], [])  # the list could not be read: the engine's error stands
