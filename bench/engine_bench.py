"""orch against one plain `docker buildx bake` of the same targets, on the real engine.

Two workloads of 20 independent busybox targets, each run cold (build cache pruned, a fresh
nonce in every Dockerfile) and alternated between orch and plain bake, in the same process:
  (a) cpu:  each RUN hashes 400 MB of zeros (about 1 s of CPU); target: orch/bake <= 1.10
  (b) tiny: a COPY and an echo; target: (orch - bake) / 20 < 0.15 s per target
The plain bake builds the file `orch plan --bake-file` writes: the same targets, outputs and tags.

    .venv/bin/python bench/engine_bench.py [--rounds 3] [--targets 20] [--jobs 4]
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
TINY = 'RUN echo "built" > /done'


def write_plan(root: Path, n: int, kind: str, prefix: str) -> None:
    lines = ["version: 1", "defaults:", f'  image: "{prefix}/{{name}}"', "services:"]
    nonce = uuid.uuid4().hex
    for i in range(n):
        name = f"t{i:02d}"
        ctx = root / name
        ctx.mkdir(parents=True)
        (ctx / "payload.txt").write_text(f"{name} {nonce}\n")
        step = CPU if kind == "cpu" else TINY
        (ctx / "Dockerfile").write_text(
            f"FROM busybox:latest\nCOPY payload.txt /payload.txt\nRUN echo {nonce}-{i}\n{step}\n"
        )
        lines.append(f"  {name}: {{context: {name}}}")
    (root / "buildplan.yaml").write_text("\n".join(lines) + "\n")


def prune() -> None:
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=True)


def remove_images(prefix: str) -> None:
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    mine = [r for r in refs if r.startswith(prefix)]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True, check=False)


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def one_round(kind: str, n: int, jobs: int, order: str) -> tuple[float, float]:
    walls: dict[str, float] = {}
    for who in order:
        with tempfile.TemporaryDirectory(prefix="orch-bench-") as tmp:
            root = Path(tmp)
            prefix = f"orchbench-{uuid.uuid4().hex[:8]}"
            write_plan(root, n, kind, prefix)
            prune()
            if who == "o":
                walls["orch"] = timed(
                    [sys.executable, "-m", "orchestrator", "build", "--parallel", str(jobs)], root
                )
            else:
                subprocess.run(
                    [sys.executable, "-m", "orchestrator", "plan", "--bake-file", "all.json"],
                    cwd=root,
                    capture_output=True,
                    check=True,
                )
                walls["bake"] = timed(["docker", "buildx", "bake", "-f", "all.json"], root)
            remove_images(prefix)
    return walls["orch"], walls["bake"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    print(f"{args.targets} independent targets, orch --parallel {args.jobs}, {args.rounds} rounds")
    head = ("workload", "round", "orch s", "bake s", "ratio", "cost/target s")
    print(f"{head[0]:8} {head[1]:>5} {head[2]:>8} {head[3]:>8} {head[4]:>6} {head[5]:>14}")
    summary = []
    for kind in ("cpu", "tiny"):
        ratios, costs = [], []
        for r in range(args.rounds):
            orch, bake = one_round(kind, args.targets, args.jobs, "ob" if r % 2 == 0 else "bo")
            ratios.append(orch / bake)
            costs.append((orch - bake) / args.targets)
            print(
                f"{kind:8} {r + 1:>5} {orch:8.2f} {bake:8.2f} {orch / bake:6.3f} "
                f"{(orch - bake) / args.targets:14.3f}"
            )
        summary.append((kind, statistics.median(ratios), statistics.median(costs)))
    print()
    print(f"{'workload':8} {'median ratio':>12} {'median cost/target s':>21}  target")
    for kind, ratio, cost in summary:
        goal = "ratio <= 1.10" if kind == "cpu" else "cost < 0.15 s"
        print(f"{kind:8} {ratio:12.3f} {cost:21.3f}  {goal}")


if __name__ == "__main__":
    main()
