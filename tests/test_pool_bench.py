"""The pool benchmark's simulation: hand-offs cost what they should, and no run beats the bound."""

from __future__ import annotations

import importlib.util
import random
import sys
from types import ModuleType

import pytest

from tests.kit import REPO


def _load_bench() -> ModuleType:
    path = REPO / "bench" / "pool_bench.py"
    spec = importlib.util.spec_from_file_location("pool_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


def fan_out(base_s: float = 1.0, service_s: float = 1.0):
    deps = {"base": (), "s1": ("base",), "s2": ("base",), "s3": ("base",)}
    durations = {"base": base_s, "s1": service_s, "s2": service_s, "s3": service_s}
    return bench.Dag(deps, tuple(deps), durations)


def test_a_base_s_dependents_stay_on_its_builder_and_pay_no_hand_off() -> None:
    # Two builders of three slots: with affinity the three services go where base was built;
    # spread by load, one lands on the other builder and waits for base to be pushed and pulled.
    dag = fan_out()
    cost = bench.Cost(handoff_s=30.0, bake_s=2.0)
    near = bench.simulate(dag, 2, 3, cost, affinity=True)
    spread = bench.simulate(dag, 2, 3, cost, affinity=False)
    assert {near.placed[s] for s in ("s1", "s2", "s3")} == {near.placed["base"]}
    assert near.handoffs == 0
    assert near.makespan_s == 2 + 1 + 2 + 1
    assert spread.handoffs == 1
    assert spread.makespan_s == 2 + 1 + 2 + 30 + 1


def test_a_full_builder_sends_the_rest_elsewhere_at_the_hand_off_cost() -> None:
    # One slot each: base's builder takes one service, the idle one the second at once (it
    # waits 10 s for base's image rather than 1 s for the busy builder), and the third goes
    # where base was built when that frees.
    dag = fan_out()
    run = bench.simulate(dag, 2, 1, bench.Cost(handoff_s=10.0), affinity=True)
    assert run.handoffs == 1
    assert run.makespan_s == 1 + 10 + 1
    assert [run.placed[s] for s in ("s1", "s2", "s3")].count(run.placed["base"]) == 2


def dags(n: int, targets: int, window: int | None = None):
    # Seeded, so every run checks the same DAGs.
    rngs = [random.Random(seed) for seed in range(n)]  # noqa: S311
    return [bench.random_dag(rng, targets, window) for rng in rngs]


@pytest.mark.parametrize("builders", [2, 4])
def test_without_a_hand_off_cost_affinity_changes_nothing(builders: int) -> None:
    for dag in dags(5, 40):
        cost = bench.Cost(handoff_s=0.0, bake_s=1.5)
        a = bench.simulate(dag, builders, 2, cost, affinity=True)
        b = bench.simulate(dag, builders, 2, cost, affinity=False)
        assert a.makespan_s == b.makespan_s


@pytest.mark.parametrize("builders", [1, 2, 4])
@pytest.mark.parametrize("handoff", [0.0, 5.0, 60.0])
def test_no_run_beats_the_lower_bound(builders: int, handoff: float) -> None:
    cost = bench.Cost(handoff_s=handoff, bake_s=2.0)
    for dag in dags(4, 40) + dags(4, 40, window=3):
        bound = bench.lower_bound(dag, builders, 2, cost)
        for affinity in (True, False):
            run = bench.simulate(dag, builders, 2, cost, affinity=affinity)
            assert run.makespan_s >= bound - 1e-9
            assert set(run.placed) == set(dag.order)
            if builders == 1:
                assert run.handoffs == 0


def test_on_deep_chains_affinity_saves_hand_offs_and_time() -> None:
    rows = bench.measure(dags(8, 60, window=3), 4, 4, bench.Cost(handoff_s=30.0, bake_s=2.0))
    assert sum(rows.handoffs_with) < sum(rows.handoffs_without)
    assert sorted(rows.with_affinity)[4] < sorted(rows.without)[4]  # the median of 8, roughly
    assert all(r >= 1.0 for r in rows.with_affinity + rows.without)
