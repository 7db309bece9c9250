"""Time `orch plan --json` on a generated monorepo of N targets against the 2-second budget.

Usage: .venv/bin/python bench/plan_bench.py [--targets 2000] [--seed N] [--runs 5] [--in-process]

Both modes also print, in process, loading a plan of N targets that sets every key, and how fast
hostile input (an alias bomb, 100,000-deep nesting) is rejected.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_S = 2.0
BASES = ("debian:bookworm-slim", "busybox:latest", "alpine:3.20", "golang:1.22", "python:3.12")


@dataclass(frozen=True, slots=True)
class Spec:
    """One generated target: what orch must find, whichever way the dependency is written."""

    name: str
    kind: str  # "stage" or "service"
    declared: tuple[str, ...]  # written as depends_on in the plan
    inferred: tuple[str, ...]  # written as FROM / COPY --from in the Dockerfile

    @property
    def deps(self) -> frozenset[str]:
        return frozenset(self.declared + self.inferred)


@dataclass(frozen=True, slots=True)
class Timing:
    label: str
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def generate(root: Path, n: int, rng: random.Random) -> tuple[Path, list[Spec]]:
    """Write buildplan.yaml and one Dockerfile per target under `root`; return the plan path."""
    specs: list[Spec] = []
    stages: list[str] = []
    for i in range(n):
        # About one target in ten is a shared stage; the first must be one, to be built upon.
        kind = "stage" if i == 0 or rng.random() < 0.1 else "service"
        name = f"{'lib' if kind == 'stage' else 'svc'}-{i:05d}"
        # Stages build only on stages; services on anything declared before them.
        pool = stages if kind == "stage" else [s.name for s in specs]
        deps = rng.sample(pool, rng.randint(0, min(3, len(pool))))
        declared = tuple(d for d in deps if rng.random() < 0.5)
        inferred = tuple(d for d in deps if d not in declared)
        spec = Spec(name, kind, declared, inferred)
        specs.append(spec)
        if kind == "stage":
            stages.append(name)
        folder = root / ("stages" if kind == "stage" else "services") / name
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(dockerfile(spec, rng))
    plan = root / "buildplan.yaml"
    plan.write_text(plan_yaml(specs))
    return plan, specs


def dockerfile(spec: Spec, rng: random.Random) -> str:
    """A 10-30 line Dockerfile: ARG, a builder stage, a test stage and a runtime stage."""
    base = spec.inferred[0] if spec.inferred else rng.choice(BASES)
    copies = spec.inferred[1:]
    lines = [
        "# syntax=docker/dockerfile:1",
        "ARG VERSION=dev",
        f"FROM {base} AS builder",
        "ARG VERSION",
        "WORKDIR /src",
        "COPY . .",
    ]
    lines += [f"COPY --from={dep} /out/ /deps/{dep}/" for dep in copies]
    for _ in range(rng.randint(1, 12)):
        lines.append(
            rng.choice(
                (
                    "RUN --mount=type=cache,target=/root/.cache make build VERSION=${VERSION}",
                    "ENV PATH=/src/bin:$PATH",
                    "RUN ./scripts/gen.sh && ./scripts/check.sh",
                    "COPY config/ /etc/app/",
                    'LABEL org.opencontainers.image.source="monorepo"',
                    "RUN mkdir -p /out && cp -r build/* /out/",
                )
            )
        )
    lines += [
        "",
        "FROM builder AS test",
        "RUN make test",
        "",
        "FROM debian:bookworm-slim AS runtime",
        "COPY --from=builder /out/ /app/",
        "USER 10001",
        'ENTRYPOINT ["/app/run"]',
    ]
    return "\n".join(lines) + "\n"


def plan_yaml(specs: list[Spec]) -> str:
    """The plan in orch's layout: defaults, then `stages:` and `services:` maps."""
    out = ["version: 1", "defaults:", '  image: "bench/{name}"']
    for section, kind in (("stages", "stage"), ("services", "service")):
        out.append(f"{section}:")
        for s in (s for s in specs if s.kind == kind):
            out += [f"  {s.name}:", f"    context: {section}/{s.name}"]
            if kind == "service":
                out += ["    target: runtime", "    test: test"]
            if s.declared:
                out.append(f"    depends_on: [{', '.join(s.declared)}]")
    return "\n".join(out) + "\n"


def every_key_plan(root: Path, n: int) -> Path:
    """A plan of `n` targets that sets every key a real monorepo uses, each Dockerfile one line."""
    lines = [
        "version: 1",
        "defaults:",
        "  platforms: [linux/amd64]",
        "  registry: localhost:5000",
        "  tags: [latest, '{name}-1']",
        "  cache:",
        '    from: ["type=local,src=.orch-cache/{name}"]',
        '    to: ["type=local,dest=.orch-cache/{name},mode=max"]',
        "stages:",
    ]
    for i in range(n):
        section = "stages" if i < n // 10 else "services"
        if i == n // 10:
            lines.append("services:")
        name = f"t{i:05d}"
        (root / section / name).mkdir(parents=True)
        (root / section / name / "Dockerfile").write_text("FROM busybox\n")
        lines += [f"  {name}:", f"    context: {section}/{name}"]
        if i:
            lines.append(f"    depends_on: [t{i - 1:05d}]")
        lines += [f"    watch: ['{section}/{name}/**', '!**/*.md']", f"    args: {{NAME: {name}}}"]
        if section == "services":
            lines += ["    test: [test, lint]", "    secrets: [{id: npm, env: NPM_TOKEN}]"]
    path = root / "buildplan.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def alias_bomb(levels: int) -> str:
    """A "billion laughs" plan: 9**levels strings, were its aliases expanded."""
    lines = ["version: 1", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def run_extras(root: Path, n: int, runs: int) -> list[Timing]:
    """Load a plan that sets every key; reject hostile plans. Each must be a PlanError."""
    from orchestrator.errors import PlanError
    from orchestrator.plan import load_plan

    every_key = every_key_plan(root / "every-key", n)
    hostile = {
        "reject an alias bomb (9**12)": alias_bomb(12),
        "reject 100,000-deep nesting": "[" * 100_000 + "]" * 100_000,
    }
    timings = [Timing(f"load_plan, every key ({n})")]
    load_plan(every_key)  # warm the file system cache, as a second `orch` run finds it
    for _ in range(runs):
        timings[0].seconds.append(_timed(lambda: load_plan(every_key)))
    for label, text in hostile.items():
        path = root / "hostile.yaml"
        path.write_text(text)
        timing = Timing(label)
        for _ in range(runs):
            t0 = time.perf_counter()
            try:
                load_plan(path)
            except PlanError:
                timing.seconds.append(time.perf_counter() - t0)
            else:
                raise SystemExit(f"{label}: the plan was accepted")
        timings.append(timing)
    return timings


def check_order(names: list[str], specs: list[Spec]) -> None:
    """Every target exactly once, each after all of its dependencies, whoever declared them."""
    want = {s.name: s for s in specs}
    if sorted(names) != sorted(want):
        raise SystemExit(f"plan lists {len(names)} targets, expected the {len(want)} generated")
    position = {name: i for i, name in enumerate(names)}
    for s in specs:
        late = [d for d in s.deps if position[d] > position[s.name]]
        if late:
            raise SystemExit(f"{s.name} comes before its dependencies {late}")


def run_cli(plan: Path, specs: list[Spec], runs: int) -> list[Timing]:
    """Time the CLI end to end, as a user runs it, and check the last run's output."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    startup = [sys.executable, "-m", "orchestrator", "--version"]
    command = [sys.executable, "-m", "orchestrator", "-f", str(plan), "plan", "--json"]
    floor, whole = Timing("python -m orchestrator --version"), Timing("orch plan --json")
    out = ""
    for _ in range(runs):
        floor.seconds.append(_timed(lambda: _run(startup, plan.parent, env)))
        t0 = time.perf_counter()
        out = _run(command, plan.parent, env)
        whole.seconds.append(time.perf_counter() - t0)
    listed = json.loads(out)["targets"]
    check_order([t["name"] for t in listed], specs)
    want = {s.name: s.deps for s in specs}
    wrong = [t["name"] for t in listed if frozenset(t["depends_on"]) != want[t["name"]]]
    if wrong:
        raise SystemExit(f"depends_on differs from the generated dependencies for {wrong[:5]}")
    return [floor, whole]


def run_in_process(plan: Path, specs: list[Spec], runs: int) -> list[Timing]:
    """Time orch's own steps without interpreter start-up: load, parse, graph, order."""
    from orchestrator.dockerfile import read_dockerfile
    from orchestrator.plan import load_plan
    from orchestrator.plan.graph import build_graph

    steps = [Timing(x) for x in ("load_plan", "read_dockerfile x N", "build_graph", "select")]
    order: tuple[str, ...] = ()
    for _ in range(runs):
        t0 = time.perf_counter()
        loaded = load_plan(plan)
        t1 = time.perf_counter()
        files = {n: read_dockerfile(t.dockerfile, t.args) for n, t in loaded.targets.items()}
        t2 = time.perf_counter()
        graph = build_graph(loaded, files)
        t3 = time.perf_counter()
        order = graph.select()
        t4 = time.perf_counter()
        for step, (a, b) in zip(steps, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
            step.seconds.append(b - a)
    check_order(list(order), specs)
    total = Timing("in-process total")
    total.seconds.extend(sum(s.seconds[i] for s in steps) for i in range(runs))
    return [*steps, total]


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return done.stdout


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def report(heading: str, timings: list[Timing], budgeted: str = "") -> bool:
    """Print the table; True when the budgeted row's best run is within the budget."""
    print(f"\n{heading}")
    print(f"{'step':<34} {'best':>9} {'median':>9}  budget")
    ok = True
    for t in timings:
        verdict = ""
        if t.label == budgeted:
            ok = t.best < BUDGET_S
            verdict = f"{'ok' if ok else 'OVER'} (< {BUDGET_S:.1f} s)"
        print(f"{t.label:<34} {t.best * 1000:>7.1f}ms {t.median * 1000:>7.1f}ms  {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="time the steps, not the CLI")
    parser.add_argument("--keep", action="store_true", help="keep the generated monorepo")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    tmp = tempfile.mkdtemp(prefix="orch-plan-bench-")
    t0 = time.perf_counter()
    plan, specs = generate(Path(tmp), args.targets, random.Random(args.seed))
    edges = sum(len(s.deps) for s in specs)
    print(f"generated {plan} in {time.perf_counter() - t0:.1f} s (seed {args.seed})")
    try:
        heading = f"{args.targets} targets, {edges} dependency edges"
        if args.in_process:
            ok = report(heading, run_in_process(plan, specs, args.runs), "in-process total")
        else:
            ok = report(heading, run_cli(plan, specs, args.runs), "orch plan --json")
        extras = Path(tmp) / "extras"
        extras.mkdir()
        report("in process: every key, hostile input", run_extras(extras, args.targets, args.runs))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
