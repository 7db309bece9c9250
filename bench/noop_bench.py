"""The cost of an `orch build` that has nothing to build, on the real engine.

Three plans, each built once first, then `orch build` run again `--runs` times (default 5):
  example  the root buildplan.yaml (6 targets; run scripts/build-example first)
  small    5 busybox services
  big      a base and 200 services (with --big), beside one filtered `docker image ls` of the
           plan's repositories, the listing every target's image could be read from
Printed per plan: the median CPU (user + system) of orch and every child it waited for (the
docker CLI included), the median wall time, and for `big` the listing's median wall time and
the ratio. Targets: CPU <= 0.35 s for example and small; big's wall <= 1.5 x the listing.
Bytecode is written and used, as in a user's install (PYTHONDONTWRITEBYTECODE is unset).

    .venv/bin/python bench/noop_bench.py [--runs 5] [--big]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ORCH = [sys.executable, "-m", "orchestrator"]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    e.pop("CI", None)
    return e


def timed(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(CPU seconds of the process and its waited-for children, wall seconds, exit code)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime, wall, proc.returncode


def plan_of(root: Path, prefix: str, n: int, *, base: bool) -> Path:
    lines = ["version: 1", "defaults:", f'  image: "{prefix}/{{name}}"']
    if base:
        lines += ["stages:", "  base: {context: base}"]
        (root / "base").mkdir(parents=True)
        (root / "base" / "Dockerfile").write_text("FROM busybox:latest\nRUN echo base > /b\n")
    lines.append("services:")
    for i in range(n):
        name = f"s{i:03d}"
        (root / name).mkdir(parents=True)
        parent = "base" if base else "busybox:latest"
        (root / name / "Dockerfile").write_text(f"FROM {parent}\nCOPY . /{name}\n")
        (root / name / "x.txt").write_text(f"{name}\n")
        lines.append(f"  {name}: {{context: {name}}}")
    (root / "buildplan.yaml").write_text("\n".join(lines) + "\n")
    return root


def measure(name: str, root: Path, runs: int, listing: list[str] | None = None) -> None:
    cpu, wall = [], []
    timed([*ORCH, "build"], root)  # bytecode written, caches warm
    for _ in range(runs):
        c, w, code = timed([*ORCH, "build"], root)
        if code != 0:
            raise SystemExit(f"{name}: orch build exited {code}: is everything built?")
        cpu.append(c)
        wall.append(w)
    line = (
        f"{name:8} no-op orch build: CPU {statistics.median(cpu):.3f} s "
        f"(min {min(cpu):.3f}), wall {statistics.median(wall):.3f} s (min {min(wall):.3f})"
    )
    if listing is not None:
        walls = [timed(listing, root)[1] for _ in range(runs)]
        ratio = statistics.median(wall) / statistics.median(walls)
        line += f"; listing {statistics.median(walls):.3f} s; ratio {ratio:.2f}"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", action="store_true", help="also a plan of 201 targets")
    args = parser.parse_args()
    measure("example", REPO, args.runs)
    prefix = f"orchbench-{uuid.uuid4().hex[:8]}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            small = plan_of(Path(tmp) / "small", f"{prefix}-small", 5, base=False)
            subprocess.run([*ORCH, "build"], cwd=small, env=env(), check=True, capture_output=True)
            measure("small", small, args.runs)
            if args.big:
                big = plan_of(Path(tmp) / "big", f"{prefix}-big", 200, base=True)
                subprocess.run(
                    [*ORCH, "build"], cwd=big, env=env(), check=True, capture_output=True
                )
                listing = ["docker", "image", "ls", "--filter", f"reference={prefix}-big/*"]
                measure("big", big, args.runs, listing)
    finally:
        out = subprocess.run(
            ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        mine = [ref for ref in out if ref.startswith(prefix)]
        if mine:
            subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True, check=False)


if __name__ == "__main__":
    main()
