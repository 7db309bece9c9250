"""Cold builds of real chains: `orch build` against one plain `docker buildx bake` of the same DAG.

Two workloads, each a fresh copy in a temporary directory whose images have a name of their own:
  example  the example monorepo (buildplan.yaml): base -> go-toolchain -> api, and Python
  dag      a generated chain: base -> a shared stage of about 300 MB -> --services services
Every run is cold: BuildKit's cache pruned (`docker buildx prune -af`), and the images and cache
directories of this bench's earlier runs removed (nothing else: base images stay). orch and the
plain bake of the file `orch plan --bake-file` writes (the same targets, outputs and caches; other
image names, so they share no image) alternate, orch first in odd pairs and bake first in even
ones. Target: the median of the pairs' orch / bake ratios <= 1.0 for each workload.

Run it from a frozen snapshot of the tree, so that edits to the checkout cannot change a run:
    git worktree add /tmp/orch-bench-1 HEAD
    PYTHONPATH=/tmp/orch-bench-1 /work/main/.venv/bin/python -m bench.cold_bench \
        [--pairs 3] [--only example|dag] [--services 5] [--shared-mb 300] [--parallel 4]
    git worktree remove /tmp/orch-bench-1
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orchestrator

REPO = Path(orchestrator.__file__).resolve().parent.parent
PRUNE = ["docker", "buildx", "prune", "-af"]

Workload = Callable[[Path, str], None]  # writes a plan whose images are named <prefix>/<target>


def example(root: Path, prefix: str) -> None:
    """The example monorepo and its plan, with the images renamed."""
    shutil.copytree(REPO / "examples/monorepo", root / "examples/monorepo")
    text = (REPO / "buildplan.yaml").read_text()
    renamed, count = re.subn(
        r'(?m)^  image: "orch/\{name\}"$', f'  image: "{prefix}/{{name}}"', text
    )
    if count != 1:
        sys.exit(f"cannot rename the images in {REPO / 'buildplan.yaml'}: no `image:` default")
    (root / "buildplan.yaml").write_text(renamed)


def dag(services: int, shared_mb: int) -> Workload:
    """base -> shared (about `shared_mb` MB: random bytes and text, as a toolchain's binaries
    and sources) -> `services` services, each built on shared and shipped on busybox."""
    random_mb, text_lines = shared_mb * 2 // 3, shared_mb // 3 * 125_000  # `seq` lines ~ 8 B

    def write(root: Path, prefix: str) -> None:
        nonce = uuid.uuid4().hex
        files = {
            "base/Dockerfile": (
                f"FROM debian:bookworm-slim\nRUN echo {nonce} > /nonce && mkdir -p /opt/tools\n"
            ),
            "shared/Dockerfile": (
                "FROM base\n"
                f"RUN head -c {random_mb}M /dev/urandom > /opt/tools/blob"
                f" && seq 1 {text_lines} > /opt/tools/index.txt\n"
                "ENV PATH=/opt/tools:$PATH\n"
            ),
        }
        lines = [
            "version: 1",
            "defaults:",
            f'  image: "{prefix}/{{name}}"',
            "  cache:",
            '    from: ["type=local,src=.orch-cache/{name}"]',
            '    to: ["type=local,dest=.orch-cache/{name},mode=max"]',
            "stages:",
            "  base: {context: base}",
            "  shared: {context: shared}",
            "services:",
        ]
        for i in range(services):
            name = f"svc{i}"
            files[f"{name}/main.txt"] = f"{name} {nonce}\n"
            files[f"{name}/Dockerfile"] = (
                "FROM shared AS build\nCOPY main.txt /src/main.txt\n"
                # About a second of CPU, reading the shared stage's files.
                f"RUN mkdir /out && cat /opt/tools/blob /opt/tools/index.txt /src/main.txt"
                f" | sha256sum > /out/{name}.sum\n"
                f"FROM busybox:latest AS runtime\nCOPY --from=build /out/{name}.sum /\n"
            )
            lines.append(f"  {name}: {{context: {name}, target: runtime}}")
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        (root / "buildplan.yaml").write_text("\n".join(lines) + "\n")

    return write


def run(argv: list[str], cwd: Path) -> float:
    # The orch of this tree, never an installed one, whatever the working directory.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed in {cwd}: {' '.join(argv)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def remove_images(prefix: str) -> None:
    """Every image named <prefix>/..., and only those."""
    listed = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    mine = [ref for ref in listed if ref.startswith(f"{prefix}/")]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True, check=True)


def cold_run(workload: Workload, who: str, parallel: int) -> float:
    """One cold build in a fresh copy; its images and cache directories are removed after."""
    prefix = f"orchcold-{uuid.uuid4().hex[:8]}"
    orch = [sys.executable, "-m", "orchestrator"]
    with tempfile.TemporaryDirectory(prefix="orch-cold-") as tmp:
        root = Path(tmp)
        workload(root, prefix)
        subprocess.run(PRUNE, capture_output=True, check=True)
        try:
            if who == "orch":
                return run([*orch, "build", "--parallel", str(parallel)], root)
            run([*orch, "plan", "--bake-file", "all.json"], root)
            return run(["docker", "buildx", "bake", "--progress=plain", "-f", "all.json"], root)
        finally:
            remove_images(prefix)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    # Stopped with SIGTERM as with Ctrl-C: the run's images and its copy are removed on the way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--only", choices=["example", "dag"])
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--shared-mb", type=int, default=300)
    parser.add_argument("--parallel", type=int, default=4, help="orch build --parallel")
    args = parser.parse_args()
    workloads: dict[str, Workload] = {
        "example": example,
        "dag": dag(args.services, args.shared_mb),
    }
    chosen = [args.only] if args.only else list(workloads)
    print(f"orch from {REPO}; load average {load()}")
    print(f"{'workload':8} {'pair':>4} {'orch s':>8} {'bake s':>8} {'ratio':>6}  load", flush=True)
    summary = []
    for name in chosen:
        ratios: list[float] = []
        walls: dict[str, list[float]] = {"orch": [], "bake": []}
        for pair in range(args.pairs):
            order = ("orch", "bake") if pair % 2 == 0 else ("bake", "orch")
            wall = {who: cold_run(workloads[name], who, args.parallel) for who in order}
            for who in order:
                walls[who].append(wall[who])
            ratios.append(wall["orch"] / wall["bake"])
            print(
                f"{name:8} {pair + 1:>4} {wall['orch']:8.1f} {wall['bake']:8.1f} "
                f"{ratios[-1]:6.3f}  {load()}",
                flush=True,
            )
        summary.append((name, ratios, walls))
    print()
    print(
        f"{'workload':8} {'median orch s':>13} {'median bake s':>13} {'median ratio':>12}  target"
    )
    for name, ratios, walls in summary:
        print(
            f"{name:8} {statistics.median(walls['orch']):13.1f} "
            f"{statistics.median(walls['bake']):13.1f} {statistics.median(ratios):12.3f}  <= 1.0"
        )
    print(f"load average {load()}")


if __name__ == "__main__":
    main()
