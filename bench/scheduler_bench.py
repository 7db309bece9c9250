"""Simulated makespan of orch's scheduler against stage-by-stage waves and plan-order picking.

Drives the pure `Schedule` on an event heap with one target per invocation (max_batch=1) and
divides each makespan by the lower bound max(critical path, total work / jobs).

Then the same `Schedule` as `orch build` runs it (batches, chained or level by level) under a
cost model of bake itself: a fixed cost per invocation, and each image's export by the size of
its own layers (gzip, or zstd-1 for stages no other machine reads), which in one bake runs
beside the builds on it (`target:` links) and otherwise delays them. Against one plain bake of
the whole DAG, on the example monorepo, a large shared stage under services, and deep random DAGs.
Run: .venv/bin/python bench/scheduler_bench.py [--seeds 50] [--targets 200] [--jobs 4]
     [--bake-s 1.0] [--gzip-s-per-mb 0.2] [--fast-s-per-mb 0.08]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.run.schedule import Schedule, TargetOutcome, priorities

Deps = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """A random monorepo: targets in declaration order, each after the targets it depends on."""

    deps: Deps
    order: tuple[str, ...]
    durations: dict[str, float]  # a target's build steps, export left out
    export_mb: dict[str, float] = field(default_factory=dict)  # its own layers, compressed
    local_only: frozenset[str] = frozenset()  # stages no other machine reads: fast export


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
    return makespan(plan, schedule, jobs, lambda batch: plan.durations[batch[0]])


def makespan(
    plan: Plan, schedule: Schedule, jobs: int, took: Callable[[tuple[str, ...]], float]
) -> float:
    """Run `schedule` on virtual time, `jobs` batches at once, each taking `took(batch)`; the
    time its last batch ends."""
    running: list[tuple[float, int, tuple[str, ...]]] = []  # (finish time, tie-break, batch)
    now, seq = 0.0, 0
    while True:
        for batch in schedule.start_batches(jobs - len(running)):
            heapq.heappush(running, (now + took(batch), seq, batch))
            seq += 1
        if not running:
            break
        now, _, batch = heapq.heappop(running)
        finished = [batch]
        # Report every simultaneous finish before picking, as the async loop would.
        while running and running[0][0] == now:
            finished.append(heapq.heappop(running)[2])
        for done in finished:
            schedule.finish(done, {n: TargetOutcome("built", plan.durations[n]) for n in done})
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


@dataclass(frozen=True, slots=True)
class BakeCosts:
    """What a bake invocation costs besides its targets' steps (defaults: the example, cold)."""

    invocation_s: float = 1.0  # starting bake, reading definitions, resolving contexts
    gzip_s_per_mb: float = 0.2  # go-toolchain: 22.3 + 3.9 + 2.0 s for its 125 MB of layers
    fast_s_per_mb: float = 0.08  # the same with zstd at level 1: 4.1 s of export instead
    fast: bool = True  # zstd-1 for `Plan.local_only` (gzip for everything when False)

    def export_s(self, plan: Plan, name: str) -> float:
        rate = self.fast_s_per_mb if self.fast and name in plan.local_only else self.gzip_s_per_mb
        return plan.export_mb.get(name, 0.0) * rate


def invocation_s(plan: Plan, batch: Sequence[str], costs: BakeCosts) -> float:
    """One bake of `batch`: after the fixed cost, each target starts once the targets of the
    batch it builds on have finished their steps (`target:` links), its export running beside
    what follows; the bake ends with the last export. An upstream outside the batch is built."""
    inside = frozenset(batch)
    steps_done: dict[str, float] = {}
    end = 0.0
    for name in sorted(batch, key=plan.order.index):
        start = max((steps_done[u] for u in plan.deps[name] if u in inside), default=0.0)
        steps_done[name] = start + plan.durations[name]
        end = max(end, steps_done[name] + costs.export_s(plan, name))
    return costs.invocation_s + end


def simulate_bakes(plan: Plan, jobs: int, costs: BakeCosts, *, chain: bool) -> float:
    """Makespan of `orch build` (batches of every ready target, `chain` as --no-chain unsets
    it, exact weights) when each invocation takes `invocation_s`; a batch ends as one."""
    schedule = Schedule(plan.deps, plan.order, plan.durations, chain=chain)
    return makespan(plan, schedule, jobs, lambda batch: invocation_s(plan, batch, costs))


def plain_bake(plan: Plan, costs: BakeCosts) -> float:
    """One hand-run bake of the whole DAG, every upstream linked with `target:`."""
    return invocation_s(plan, plan.order, costs)


def example_plan() -> Plan:
    """The example monorepo, cold: steps and own layer sizes from its logs and `orch build`."""
    deps: Deps = {
        "base": (),
        "go-toolchain": ("base",),
        "python-runtime": ("base",),
        "api": ("go-toolchain",),
        "worker": ("python-runtime",),
        "scheduler": ("python-runtime",),
    }
    steps = {"base": 8.0, "go-toolchain": 10.0, "python-runtime": 10.0, "api": 15.0}
    sizes = {"base": 25.0, "go-toolchain": 125.0, "python-runtime": 13.0, "api": 2.2}
    return Plan(
        deps,
        tuple(deps),
        {n: steps.get(n, 3.0) for n in deps},
        {n: sizes.get(n, 0.1) for n in deps},
        frozenset({"go-toolchain"}),
    )


def shared_stage_plan(services: int = 5, shared_mb: float = 225.0) -> Plan:
    """base -> a large shared stage (300 MB, ~225 MB compressed) -> services shipped on busybox,
    as bench/cold_bench.py generates it."""
    names = [f"svc{i}" for i in range(services)]
    deps: Deps = {"base": (), "shared": ("base",), **dict.fromkeys(names, ("shared",))}
    return Plan(
        deps,
        tuple(deps),
        {"base": 3.0, "shared": 6.0, **dict.fromkeys(names, 3.0)},
        {"base": 0.1, "shared": shared_mb, **dict.fromkeys(names, 0.01)},
        frozenset({"base", "shared"}),
    )


def with_sizes(plan: Plan, rng: random.Random) -> Plan:
    """A random plan's images: those built upon are larger (median 50 MB of own layers, half
    of them read by no other machine), services smaller (median 10 MB)."""
    has_downstream = {u for ups in plan.deps.values() for u in ups}
    sizes = {
        n: rng.lognormvariate(math.log(50 if n in has_downstream else 10), 0.8) for n in plan.order
    }
    local = frozenset(n for n in plan.order if n in has_downstream and rng.random() < 0.5)
    return Plan(plan.deps, plan.order, plan.durations, sizes, local)


BAKE_POLICIES: dict[str, Callable[[Plan, int, BakeCosts], float]] = {
    "level, gzip": lambda p, j, c: simulate_bakes(
        p, j, BakeCosts(c.invocation_s, c.gzip_s_per_mb, c.fast_s_per_mb, fast=False), chain=False
    ),
    "level, fast": lambda p, j, c: simulate_bakes(p, j, c, chain=False),
    "chained, fast": lambda p, j, c: simulate_bakes(p, j, c, chain=True),
    "plain, gzip": lambda p, j, c: plain_bake(
        p, BakeCosts(c.invocation_s, c.gzip_s_per_mb, c.fast_s_per_mb, fast=False)
    ),
    "plain, fast": lambda p, j, c: plain_bake(p, c),
}


def print_bake_model(args: argparse.Namespace) -> None:
    costs = BakeCosts(args.bake_s, args.gzip_s_per_mb, args.fast_s_per_mb)
    print(
        f"bake cost model: {costs.invocation_s} s per invocation; exporting a target's own "
        f"layers {costs.gzip_s_per_mb} s/MB with gzip, {costs.fast_s_per_mb} s/MB with zstd-1 "
        "(stages no other machine reads); one bake builds its targets in parallel (CPU "
        f"contention not modelled); jobs={args.jobs}"
    )
    print("level: a bake per ready set, as --no-chain; chained: as orch build; plain: one bake")
    workloads: list[tuple[str, list[Plan]]] = [
        ("example monorepo", [example_plan()]),
        ("base -> 300 MB stage -> 5 services", [shared_stage_plan()]),
    ]
    deep = [
        with_sizes(
            random_plan(random.Random(seed), args.targets, "lognormal", 6),
            random.Random(seed + 7),
        )
        for seed in range(args.seeds)
    ]
    workloads.append((f"{args.seeds} random deep DAGs, mean", deep))
    cols = list(BAKE_POLICIES)
    header = f"{'workload':<36}" + "".join(f"{c:>15}" for c in cols)
    header += f"{'chained/plain':>15}{'level/plain':>13}"
    print(header)
    print("-" * len(header))
    for label, plans in workloads:
        spans = {c: [BAKE_POLICIES[c](p, args.jobs, costs) for p in plans] for c in cols}
        chained = statistics.mean(
            a / b for a, b in zip(spans["chained, fast"], spans["plain, fast"], strict=True)
        )
        level = statistics.mean(
            a / b for a, b in zip(spans["level, gzip"], spans["plain, gzip"], strict=True)
        )
        row = f"{label:<36}" + "".join(f"{statistics.mean(spans[c]):>13.1f} s" for c in cols)
        print(row + f"{chained:>15.3f}{level:>13.3f}")
    print("chained/plain: orch build against the plain bake of its own --bake-file (both fast);")
    print("level/plain: a bake per level against one plain bake, gzip everywhere (before either)")


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
    parser.add_argument("--bake-s", type=float, default=BakeCosts().invocation_s)
    parser.add_argument("--gzip-s-per-mb", type=float, default=BakeCosts().gzip_s_per_mb)
    parser.add_argument("--fast-s-per-mb", type=float, default=BakeCosts().fast_s_per_mb)
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
    print_bake_model(args)
    print()
    print(f"({time.perf_counter() - clock:.1f} s)")


if __name__ == "__main__":
    main()
