"""Simulated makespan of a run over a pool of builders, with and without affinity placement.

k builders of j slots each. A target placed on a builder other than the one that built an
upstream target waits the hand-off cost (a push and a pull through the registry) for each such
edge before it starts; every bake invocation costs a fixed start-up time on top of the build.
Drives the pure `Schedule` (one target per invocation, exact critical-path weights) on an event
heap and divides each makespan by the lower bound max(critical path, total work / (k*j)),
where a target's work is its build time plus the bake cost (hand-offs can be avoided: one
builder never pays them). Deterministic for a given --seed.

A second table is a mixed pool: the last builder builds --fast times faster than the others
(last, so that a tie broken by pool order never favours it). Placement that knows, from an
earlier run's history, how long each target takes on each builder, against placement that
does not (the same run with no per-builder durations).
Run: .venv/bin/python bench/pool_bench.py [--dags 20] [--targets 200] [--slots 2]
     [--handoff 0 5 20] [--bake 2] [--window N] [--fast 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.run.schedule import Schedule, TargetOutcome, priorities

Deps = dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Dag:
    """A random monorepo: targets in declaration order, each after the targets it depends on."""

    deps: Deps
    order: tuple[str, ...]
    durations: dict[str, float]


@dataclass(frozen=True, slots=True)
class Cost:
    """What a run pays besides the builds: per crossing edge, and per bake invocation."""

    handoff_s: float = 0.0
    bake_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Run:
    """One simulated run: when it ended, how many edges crossed builders, where each went, and
    how many targets were placed while more than one builder had a free slot."""

    makespan_s: float
    handoffs: int
    placed: dict[str, str]
    choices: int


def random_dag(rng: random.Random, targets: int, window: int | None = None) -> Dag:
    """Each target depends on 0-4 earlier ones (among the last `window` when given, which
    makes long chains); builds take 1-60 s, uniformly."""
    order = tuple(f"t{i:03}" for i in range(targets))
    deps: Deps = {}
    for i, name in enumerate(order):
        low = 0 if window is None else max(0, i - window)
        count = min(rng.randint(0, 4), i - low)
        deps[name] = tuple(order[j] for j in sorted(rng.sample(range(low, i), count)))
    return Dag(deps, order, {name: rng.uniform(1.0, 60.0) for name in order})


def lower_bound(dag: Dag, builders: int, slots: int, cost: Cost) -> float:
    """No run beats the longest chain, nor the total work spread evenly over every slot."""
    work = {name: d + cost.bake_s for name, d in dag.durations.items()}
    critical = max(priorities(dag.deps, work).values())
    return max(critical, sum(work.values()) / (builders * slots))


def fast_builder(builders: int) -> str:
    """The mixed pool's fast builder: the last one."""
    return f"b{builders - 1}"


def simulate(
    dag: Dag,
    builders: int,
    slots: int,
    cost: Cost,
    *,
    affinity: bool,
    fast: float = 1.0,
    history: bool = False,
) -> Run:
    """Run `Schedule.place` over `builders` builders of `slots` slots while each target takes
    the bake cost, a hand-off per upstream built elsewhere, then its build time (divided by
    `fast` on the last builder). With `history`, the schedule knows each target's time on each
    builder."""
    capacity = {f"b{i}": slots for i in range(builders)}
    speed = {b: fast if b == fast_builder(builders) else 1.0 for b in capacity}
    speeds = (
        {n: {b: d / speed[b] for b in capacity} for n, d in dag.durations.items()}
        if history
        else None
    )
    schedule = Schedule(dag.deps, dag.order, dag.durations, max_batch=1, speeds=speeds)
    busy = dict.fromkeys(capacity, 0)
    placed: dict[str, str] = {}
    running: list[tuple[float, int, str, str]] = []  # (finish time, tie-break, builder, target)
    now = 0.0
    seq = 0
    handoffs = 0
    choices = 0
    while True:
        free = {b: capacity[b] - busy[b] for b in capacity}
        for builder, (name,) in schedule.place(free, capacity, affinity=affinity):
            choices += sum(capacity[b] > busy[b] for b in capacity) > 1
            crossing = sum(placed[up] != builder for up in dag.deps[name])
            handoffs += crossing
            took = cost.bake_s + crossing * cost.handoff_s + dag.durations[name] / speed[builder]
            placed[name] = builder
            busy[builder] += 1
            heapq.heappush(running, (now + took, seq, builder, name))
            seq += 1
        if not running:
            break
        now = running[0][0]
        # Report every simultaneous finish before placing, as the async loop would.
        while running and running[0][0] == now:
            _, _, builder, name = heapq.heappop(running)
            busy[builder] -= 1
            schedule.finish((name,), {name: TargetOutcome("built", dag.durations[name])})
    if not schedule.done:
        raise RuntimeError("the simulated run ended with targets left")
    return Run(now, handoffs, placed, choices)


@dataclass(frozen=True, slots=True)
class Row:
    builders: int
    slots: int
    handoff_s: float
    with_affinity: tuple[float, ...]  # makespan / lower bound, one per DAG
    without: tuple[float, ...]
    saving: tuple[float, ...]  # 1 - makespan with / makespan without, one per DAG
    handoffs_with: tuple[int, ...]
    handoffs_without: tuple[int, ...]
    choices: tuple[float, ...]  # share of targets placed with more than one builder free


def measure(dags: Sequence[Dag], builders: int, slots: int, cost: Cost) -> Row:
    """Both arms over the same DAGs."""
    with_, without, saving, h_with, h_without, choices = [], [], [], [], [], []
    for dag in dags:
        bound = lower_bound(dag, builders, slots, cost)
        a = simulate(dag, builders, slots, cost, affinity=True)
        b = simulate(dag, builders, slots, cost, affinity=False)
        with_.append(a.makespan_s / bound)
        without.append(b.makespan_s / bound)
        saving.append(1.0 - a.makespan_s / b.makespan_s)
        h_with.append(a.handoffs)
        h_without.append(b.handoffs)
        choices.append(a.choices / len(dag.order))
    return Row(
        builders,
        slots,
        cost.handoff_s,
        tuple(with_),
        tuple(without),
        tuple(saving),
        tuple(h_with),
        tuple(h_without),
        tuple(choices),
    )


@dataclass(frozen=True, slots=True)
class MixedRow:
    builders: int
    handoff_s: float
    with_history: tuple[float, ...]  # makespan / lower bound, one per DAG
    without: tuple[float, ...]
    saving: tuple[float, ...]  # 1 - makespan with history / makespan without
    on_fast: tuple[float, ...]  # share of the work done on the fast builder, with history


def mixed_lower_bound(dag: Dag, builders: int, slots: int, cost: Cost, fast: float) -> float:
    """The longest chain built on the fast builder, nor less than the work spread over every
    slot at each builder's speed (bake costs counted at the fast builder's speed too)."""
    work = {name: (d + cost.bake_s) / fast for name, d in dag.durations.items()}
    critical = max(priorities(dag.deps, work).values())
    return max(critical, sum(work.values()) * fast / (slots * (fast + builders - 1)))


def measure_mixed(
    dags: Sequence[Dag], builders: int, slots: int, cost: Cost, fast: float
) -> MixedRow:
    with_, without, saving, on_fast = [], [], [], []
    for dag in dags:
        bound = mixed_lower_bound(dag, builders, slots, cost, fast)
        a = simulate(dag, builders, slots, cost, affinity=True, fast=fast, history=True)
        b = simulate(dag, builders, slots, cost, affinity=True, fast=fast, history=False)
        with_.append(a.makespan_s / bound)
        without.append(b.makespan_s / bound)
        saving.append(1.0 - a.makespan_s / b.makespan_s)
        total = sum(dag.durations.values())
        fast_one = fast_builder(builders)
        on_fast.append(sum(d for n, d in dag.durations.items() if a.placed[n] == fast_one) / total)
    return MixedRow(
        builders, cost.handoff_s, tuple(with_), tuple(without), tuple(saving), tuple(on_fast)
    )


def _spread(values: Sequence[float]) -> str:
    return f"{statistics.median(values):5.2f} {min(values):5.2f} {max(values):5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=20)
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2, help="slots per builder (j)")
    parser.add_argument("--builders", type=int, nargs="+", default=[1, 2, 4], help="pool sizes (k)")
    parser.add_argument(
        "--handoff",
        type=float,
        nargs="+",
        default=[0.0, 5.0, 20.0],
        help="seconds per edge that crosses builders",
    )
    parser.add_argument("--bake", type=float, default=2.0, help="seconds per bake invocation")
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="deps among the last N targets only (deep chains); default: any earlier target",
    )
    parser.add_argument(
        "--fast",
        type=float,
        default=3.0,
        help="how much faster the last builder is in the mixed pool",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if min([args.dags, args.targets, args.slots, *args.builders]) < 1:
        parser.error("--dags, --targets, --slots and --builders must be at least 1")
    if not args.fast >= 1:
        parser.error("--fast must be at least 1")

    clock = time.perf_counter()
    master = random.Random(args.seed)
    dags = [
        random_dag(random.Random(master.getrandbits(64)), args.targets, args.window)
        for _ in range(args.dags)
    ]
    edges = statistics.median(sum(len(d) for d in dag.deps.values()) for dag in dags)
    among = "any earlier target" if args.window is None else f"the last {args.window}"
    print(
        f"{args.dags} random DAGs of {args.targets} targets (0-4 deps each among {among}, "
        f"median {edges:.0f} edges; builds 1-60 s uniform), seed {args.seed}"
    )
    print(
        f"bake invocation {args.bake:g} s, one target per invocation; "
        "ratio = makespan / max(critical path, total work / (k*j))"
    )
    print("saving = 1 - makespan with affinity / makespan without, per DAG; hand-offs = edges")
    print("that crossed builders, median per run; choice = targets placed while more than one")
    print("builder had a free slot (the only placements affinity can change), median %")
    print()
    header = (
        f"{'k':>2} {'j':>2} {'hand-off':>8}   {'with affinity':^17}   {'without':^17}   "
        f"{'saving %':^17}   {'hand-offs':^9}  {'choice':>6}"
    )
    sub = (
        f"{'':>2} {'':>2} {'s/edge':>8}   {'med   min   max':^17}   {'med   min   max':^17}   "
        f"{'med   min   max':^17}   {'with  w/o':^9}  {'%':>6}"
    )
    print(header)
    print(sub)
    print("-" * len(header))
    for handoff in args.handoff:
        cost = Cost(handoff, args.bake)
        for k in args.builders:
            row = measure(dags, k, args.slots, cost)
            saving = [100 * s for s in row.saving]
            print(
                f"{k:>2} {args.slots:>2} {handoff:>8g}   {_spread(row.with_affinity)}   "
                f"{_spread(row.without)}   "
                f"{statistics.median(saving):5.1f} {min(saving):5.1f} {max(saving):5.1f}   "
                f"{statistics.median(row.handoffs_with):4.0f} "
                f"{statistics.median(row.handoffs_without):4.0f}  "
                f"{100 * statistics.median(row.choices):6.0f}"
            )
    print()
    print(f"mixed pool: the last builder builds {args.fast:g}x faster than the others;")
    print("with history = each target's duration on each builder known from an earlier run;")
    print("ratio = makespan / max(critical path on the fast one, work over every slot at its")
    print("speed); on fast = share of the work placed there, with history, median %")
    header = (
        f"{'k':>2} {'j':>2} {'hand-off':>8}   {'with history':^17}   {'without':^17}   "
        f"{'saving %':^17}   {'on fast':>8}"
    )
    print(header)
    print(sub[: len(header) - 11] + f"   {'%':>8}")
    print("-" * len(header))
    for handoff in args.handoff:
        cost = Cost(handoff, args.bake)
        for k in args.builders:
            if k < 2:
                continue
            mixed = measure_mixed(dags, k, args.slots, cost, args.fast)
            saving = [100 * s for s in mixed.saving]
            print(
                f"{k:>2} {args.slots:>2} {handoff:>8g}   {_spread(mixed.with_history)}   "
                f"{_spread(mixed.without)}   "
                f"{statistics.median(saving):5.1f} {min(saving):5.1f} {max(saving):5.1f}   "
                f"{100 * statistics.median(mixed.on_fast):8.0f}"
            )
    print()
    print(f"({time.perf_counter() - clock:.1f} s)")


if __name__ == "__main__":
    main()
