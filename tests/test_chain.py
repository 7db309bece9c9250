"""Chained batches on virtual time: a target whose every unbuilt upstream starts in one batch
goes into that batch, linked, so it starts when its upstream's steps are done."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio

from orchestrator.run.schedule import Schedule, TargetOutcome
from orchestrator.run.scheduler import run_schedule
from tests.test_scheduler import on_mock_clock

# base -> toolchain -> api; base -> runtime -> worker, scheduler
EXAMPLE = {
    "base": (),
    "toolchain": ("base",),
    "runtime": ("base",),
    "api": ("toolchain",),
    "worker": ("runtime",),
    "scheduler": ("runtime",),
}


@dataclass
class LinkedBake:
    """One bake of linked targets: each starts when its upstreams in the batch are done; the
    first failure stops the rest, as bake does, and what builds on it never finishes."""

    deps: Mapping[str, tuple[str, ...]]
    durations: Mapping[str, float] = field(default_factory=dict)
    fail: frozenset[str] = frozenset()
    export_s: float = 0.0  # an image's export, after its last step: nobody in the bake waits
    calls: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]:
        t0 = anyio.current_time()
        self.calls.append((batch, t0))
        done: dict[str, float] = {}
        for name in batch:  # batches are in build order
            start = max((done[u] for u in self.deps[name] if u in done), default=0.0)
            done[name] = start + self.durations.get(name, 1.0)
        stop = min((done[n] for n in batch if n in self.fail), default=None)
        end = max(done.values()) + self.export_s if stop is None else stop
        await anyio.sleep(end)
        report: dict[str, TargetOutcome] = {}
        for name in batch:
            if name in self.fail:
                report[name] = TargetOutcome("failed", done[name], f"{name}: exit code 1")
            elif stop is not None and done[name] >= stop:
                report[name] = TargetOutcome("cancelled", stop)
            else:
                report[name] = TargetOutcome("built", done[name])
        return report


def run(deps: Mapping[str, tuple[str, ...]], bake: LinkedBake, **options: object):
    async def main():
        t0 = anyio.current_time()
        result = await run_schedule(deps, list(deps), bake, chain=True, **options)
        return result, anyio.current_time() - t0

    return on_mock_clock(main)


def test_a_chain_of_targets_that_all_need_building_is_one_bake() -> None:
    bake = LinkedBake(EXAMPLE, durations={"toolchain": 5, "api": 2}, export_s=3)
    result, elapsed = run(EXAMPLE, bake)
    assert result.ok
    assert [batch for batch, _ in bake.calls] == [tuple(EXAMPLE)]
    # base 1 + toolchain 5 + api 2, then the last export: no export between levels.
    assert elapsed == 1 + 5 + 2 + 3


def test_without_chaining_every_level_waits_for_the_exports_before_it() -> None:
    bake = LinkedBake(EXAMPLE, durations={"toolchain": 5, "api": 2}, export_s=3)

    async def main() -> float:
        t0 = anyio.current_time()
        await run_schedule(EXAMPLE, list(EXAMPLE), bake)
        return anyio.current_time() - t0

    assert on_mock_clock(main) == (1 + 3) + (5 + 3) + (2 + 3)


def test_a_target_with_upstreams_in_two_batches_waits_for_both() -> None:
    deps = {"a": (), "b": (), "top": ("a", "b")}
    s = Schedule(deps, list(deps), chain=True)
    batches = s.start_batches(2)
    assert sorted(batches) == [("a",), ("b",)]
    s.finish(("a",), {"a": TargetOutcome("built")})
    assert s.ready == ()
    s.finish(("b",), {"b": TargetOutcome("built")})
    assert s.ready == ("top",)


def test_a_failing_upstream_blocks_what_was_chained_to_it_and_its_siblings_go_alone() -> None:
    bake = LinkedBake(
        EXAMPLE, durations={"runtime": 1, "toolchain": 5}, fail=frozenset({"runtime"})
    )
    result, _ = run(EXAMPLE, bake)
    statuses = {n: r.status for n, r in result.targets.items()}
    assert statuses == {
        "base": "built",
        "toolchain": "built",
        "runtime": "failed",
        "api": "built",
        "worker": "blocked",
        "scheduler": "blocked",
    }
    assert result.targets["worker"].detail == "upstream runtime failed"
    # toolchain was stopped by runtime's failure: built again alone, then api after it.
    batches = [batch for batch, _ in bake.calls]
    assert batches == [tuple(EXAMPLE), ("toolchain",), ("api",)]


def test_max_batch_caps_a_chain() -> None:
    deps = {"a": (), "b": ("a",), "c": ("b",), "d": ("c",)}
    s = Schedule(deps, list(deps), chain=True, max_batch=2)
    assert s.start_batches(1) == [("a", "b")]
    s.finish(("a", "b"), {"a": TargetOutcome("built"), "b": TargetOutcome("built")})
    assert s.start_batches(1) == [("c", "d")]


def test_a_lost_chain_waits_for_its_upstream_again() -> None:
    deps = {"a": (), "b": ("a",)}
    s = Schedule(deps, list(deps), chain=True)
    (batch,) = s.start_batches(1)
    assert batch == ("a", "b")
    s.lose(batch)
    assert s.ready == ("a",)  # b waits for a, as at the start
    assert s.start_batches(1) == [("a", "b")]


def test_a_failure_named_after_a_chained_target_whose_upstream_did_not_build_waits() -> None:
    # BuildKit shares linked targets' steps: the upstream's failing step may be reported
    # under the downstream's name, and the upstream as merely stopped.
    deps = {"bad": (), "after": ("bad",)}
    s = Schedule(deps, list(deps), chain=True)
    (batch,) = s.start_batches(1)
    s.finish(batch, {"bad": TargetOutcome("cancelled"), "after": TargetOutcome("failed", 1.0, "x")})
    assert s.ready == ("bad",)
    (batch,) = s.start_batches(1)
    assert batch == ("bad",)  # alone: nothing chained to it can stop it again
    s.finish(batch, {"bad": TargetOutcome("failed", 1.0, "exit 3")})
    result = s.result()
    assert {n: r.status for n, r in result.targets.items()} == {"bad": "failed", "after": "blocked"}


def test_a_failure_below_an_upstream_that_waits_to_be_judged_waits_too() -> None:
    # One chained bake of base, good, bad and after-bad: bake stops base and good, and names
    # the failing step after both bad and after-bad. bad waits for base; after-bad must wait
    # for bad, not fail on its own account.
    deps = {"base": (), "good": ("base",), "bad": ("base",), "after-bad": ("bad",)}
    s = Schedule(deps, list(deps), chain=True)
    (batch,) = s.start_batches(1)
    assert batch == ("base", "good", "bad", "after-bad")
    s.finish(
        batch,
        {
            "base": TargetOutcome("cancelled"),
            "good": TargetOutcome("cancelled"),
            "bad": TargetOutcome("failed", 1.0, "exit code 3"),
            "after-bad": TargetOutcome("failed", 1.0, "exit code 3"),
        },
    )
    assert s.ready == ("base",)
    s.finish(s.start_batches(1)[0], {"base": TargetOutcome("built", 1.0)})
    while not s.done:
        for batch in s.start_batches(2):
            s.finish(
                batch,
                {
                    n: TargetOutcome("failed" if n == "bad" else "built", 1.0, "exit code 3")
                    for n in batch
                },
            )
    statuses = {n: r.status for n, r in s.result().targets.items()}
    assert statuses == {"base": "built", "good": "built", "bad": "failed", "after-bad": "blocked"}
