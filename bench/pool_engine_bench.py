"""One builder node against two, on the real engine: 20 CPU-bound targets, pushed to the
loopback registry, built cold by `orch build --builder default` and by
`orch build --builder default,node2`, alternated. Both nodes of this machine share its cores,
so expect a ratio near 1 here: the figure shows what spreading costs, not what it gains on
separate machines.

    .venv/bin/python bench/pool_engine_bench.py [--rounds 3] [--targets 20] [--jobs 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CPU = "RUN dd if=/dev/zero bs=1M count=400 2>/dev/null | sha256sum > /sum"
REGISTRY = "127.0.0.1:5000"
NODES = ("default", "node2")
ORCH = (sys.executable, "-m", "orchestrator")


def write_plan(root: Path, n: int, prefix: str) -> None:
    lines = [
        "version: 1",
        "defaults:",
        f'  image: "{prefix}/{{name}}"',
        f"  registry: {REGISTRY}",
        "services:",
    ]
    nonce = uuid.uuid4().hex
    for i in range(n):
        name = f"t{i:02d}"
        ctx = root / name
        ctx.mkdir(parents=True)
        (ctx / "Dockerfile").write_text(f"FROM busybox:latest\nRUN echo {nonce}-{i}\n{CPU}\n")
        lines.append(f"  {name}: {{context: {name}}}")
    (root / "buildplan.yaml").write_text("\n".join(lines) + "\n")


def prune() -> None:
    for node in NODES:
        subprocess.run(
            ["docker", "--context", node, "builder", "prune", "-af"],
            capture_output=True,
            check=True,
        )


def build(root: Path, builders: str, jobs: int) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [*ORCH, "build", "--force", "--builder", builders, "-j", str(jobs)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"orch build --builder {builders} failed:\n{proc.stderr[-3000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2, help="bake invocations per node")
    args = parser.parse_args()
    one: list[float] = []
    two: list[float] = []
    with tempfile.TemporaryDirectory(prefix="orch-pool-bench-") as tmp:
        root = Path(tmp)
        write_plan(root, args.targets, f"orchbench-{uuid.uuid4().hex[:8]}")
        for r in range(args.rounds):
            for label, builders, out in (
                ("1 node ", "default", one),
                ("2 nodes", "default,node2", two),
            ):
                prune()
                took = build(root, builders, args.jobs)
                out.append(took)
                print(f"round {r + 1}: {label} {took:6.1f} s", flush=True)
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    print(
        f"{args.targets} CPU-bound targets, -j {args.jobs} per node: "
        f"1 node median {statistics.median(one):.1f} s, "
        f"2 nodes median {statistics.median(two):.1f} s, "
        f"2 nodes / 1 node median {statistics.median(ratios):.3f} "
        f"({min(ratios):.3f}-{max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
