"""Simulated makespan of orch's scheduler against stage-by-stage waves and plan-order picking.

Drives the pure `Schedule` on an event heap with one target per invocation (max_batch=1) and
divides each makespan by the lower bound max(critical path, total work / jobs).
Run: .venv/bin/python bench/scheduler_bench.py [--seeds 50] [--targets 200] [--jobs 4]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.scheduler import Schedule, TargetOutcome, priorities

Deps = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """A random monorepo: targets in declaration order, each after the targets it depends on."""

    deps: Deps
    order: tuple[str, ...]
    durations: dict[str, float]


def random_plan(
    rng: random.Random, targets: int, distribution: str, window: int | None = None
) -> Plan:
    """Each target depends on 0-4 earlier ones, among all earlier targets or the last `window`.

    A small window makes long chains (toolchain -> library -> service -> ...), where the
    critical path, not the total work, bounds the makespan.
    """
    order = tuple(f"t{i:03}" for i in range(targets))
    deps: Deps = {}
    for i, name in enumerate(order):
        low = 0 if window is None else max(0, i - window)
        count = min(rng.randint(0, 4), i - low)
        deps[name] = tuple(order[j] for j in sorted(rng.sample(range(low, i), count)))
    if distribution == "uniform":
        durations = {name: rng.uniform(1.0, 60.0) for name in order}
    else:  # a few slow images among many quick ones: median 15 s, clipped to 1 s - 10 min
        durations = {
            name: min(max(rng.lognormvariate(math.log(15), 1.0), 1.0), 600.0) for name in order
        }
    return Plan(deps, order, durations)


def lower_bound(plan: Plan, jobs: int) -> float:
    """No schedule beats the longest chain, nor the total work spread evenly over the slots."""
    critical = max(priorities(plan.deps, plan.durations).values())
    return max(critical, sum(plan.durations.values()) / jobs)


def simulate(plan: Plan, jobs: int, weights: Mapping[str, float] | None) -> float:
    """Makespan of `Schedule` with these priority weights while targets take their true time."""
    schedule = Schedule(plan.deps, plan.order, weights, max_batch=1)
    running: list[tuple[float, int, str]] = []  # (finish time, tie-break, target)
    now = 0.0
    seq = 0
    while True:
        for (name,) in schedule.start_batches(jobs - len(running)):
            heapq.heappush(running, (now + plan.durations[name], seq, name))
            seq += 1
        if not running:
            break
        now, _, name = heapq.heappop(running)
        finished = [name]
        # Report every simultaneous finish before picking, as the async loop would.
        while running and running[0][0] == now:
            finished.append(heapq.heappop(running)[2])
        for name in finished:
            schedule.finish((name,), {name: TargetOutcome("built", plan.durations[name])})
    assert schedule.done
    return now


def waves(plan: Plan, jobs: int, longest_first: bool) -> float:
    """Makespan when depth d starts only after all of depth d-1 (CI stages with `needs:`)."""
    depth: dict[str, int] = {}
    for name in plan.order:
        depth[name] = 1 + max((depth[up] for up in plan.deps[name]), default=-1)
    total = 0.0
    for d in range(max(depth.values()) + 1):
        wave = [plan.durations[n] for n in plan.order if depth[n] == d]
        if longest_first:
            wave.sort(reverse=True)
        total += _list_schedule(wave, jobs)
    return total


def _list_schedule(durations: Sequence[float], jobs: int) -> float:
    free_at = [0.0] * jobs  # a heap of the times the slots come free
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


Policy = Callable[[Plan, int, random.Random], float]

POLICIES: dict[str, Policy] = {
    "critical path, exact weights": lambda p, j, _: simulate(p, j, p.durations),
    "critical path, last-run weights +-30%": lambda p, j, rng: simulate(
        p, j, {n: d * rng.uniform(0.7, 1.3) for n, d in p.durations.items()}
    ),
    "critical path, no weights (1.0 each)": lambda p, j, _: simulate(p, j, None),
    # Equal priorities leave only the plan-order tie-break: first-come first-served.
    "plan order (FIFO list scheduling)": lambda p, j, _: simulate(
        p, j, dict.fromkeys(p.order, 0.0)
    ),
    "level waves, plan order in a wave": lambda p, j, _: waves(p, j, longest_first=False),
    "level waves, longest first in a wave": lambda p, j, _: waves(p, j, longest_first=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--durations", choices=["uniform", "lognormal"], default="uniform")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="deps among the last N targets only (deep chains); default: any earlier target",
    )
    args = parser.parse_args()

    clock = time.perf_counter()
    ratios: dict[str, list[float]] = {name: [] for name in POLICIES}
    makespans: dict[str, list[float]] = {name: [] for name in POLICIES}
    bounds: list[float] = []
    critical_bound = 0
    for seed in range(args.seeds):
        plan = random_plan(random.Random(seed), args.targets, args.durations, args.window)
        bound = lower_bound(plan, args.jobs)
        bounds.append(bound)
        critical_bound += bound == max(priorities(plan.deps, plan.durations).values())
        for name, policy in POLICIES.items():
            span = policy(plan, args.jobs, random.Random(seed + 1_000_003))
            makespans[name].append(span)
            ratios[name].append(span / bound)

    durations = "1-60 s uniform" if args.durations == "uniform" else "lognormal, median 15 s"
    among = "any earlier target" if args.window is None else f"the last {args.window}"
    print(
        f"{args.seeds} random plans of {args.targets} targets (0-4 deps each among {among}, "
        f"{durations}), "
        f"jobs={args.jobs}, one target per invocation"
    )
    print("ratio = makespan / max(critical path, total work / jobs)")
    print(
        f"mean bound {statistics.mean(bounds):.0f} s; the critical path sets it in "
        f"{critical_bound}/{args.seeds} plans, total work / jobs in the rest"
    )
    print()
    header = f"{'policy':<40} {'mean':>6} {'median':>7} {'max':>6} {'mean makespan':>14}"
    print(header)
    print("-" * len(header))
    for name in POLICIES:
        r = ratios[name]
        print(
            f"{name:<40} {statistics.mean(r):>6.3f} {statistics.median(r):>7.3f} "
            f"{max(r):>6.3f} {statistics.mean(makespans[name]):>12.0f} s"
        )
    print()
    print(f"({time.perf_counter() - clock:.1f} s)")


if __name__ == "__main__":
    main()
