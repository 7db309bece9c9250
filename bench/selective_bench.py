"""Warm builds of the example monorepo: orch against one plain `docker buildx bake`.

    python bench/selective_bench.py [--rounds N] [--edits N]

A copy of the example (the root plan and examples/) is made a git repository and built once.
Then, with the same targets, outputs and caches (`orch plan --bake-file` writes the plain bake
file), printed side by side, each the median over the rounds:
- nothing changed: `orch build` against the plain warm bake (target: at most 0.5x);
- one service's source edited: `orch build` (which runs one bake, of that service) against the
  plain bake of every target after an edit of the same kind (target: at most 0.8x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EDITED = "examples/monorepo/services/worker/worker/__init__.py"


def run(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return took


def orch(root: Path, *args: str) -> float:
    return run([sys.executable, "-m", "orchestrator", *args], root)


def edit(root: Path) -> None:
    path = root / EDITED
    path.write_text(path.read_text() + f"\n# edited {uuid.uuid4().hex}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--edits", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-selective-bench-") as tmp:
        root = Path(tmp)
        shutil.copy(REPO / "buildplan.yaml", root)
        shutil.copytree(REPO / "examples", root / "examples")
        for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "example"]):
            subprocess.run(
                ["git", "-c", "user.name=bench", "-c", "user.email=bench@orch.invalid", *git],
                cwd=root,
                check=True,
            )
        print(f"first build (fills the caches): {orch(root, 'build'):.1f} s")
        bake = ["docker", "buildx", "bake", "-f", str(root / "all.json")]

        def plain() -> float:
            orch(root, "plan", "--bake-file", str(root / "all.json"))
            return run(bake, root)

        plain()  # its own first run exports the caches it reads afterwards
        noop_orch = [orch(root, "build") for _ in range(args.rounds)]
        noop_bake = [run(bake, root) for _ in range(args.rounds)]
        edit_orch, edit_bake, bakes = [], [], []
        for _ in range(args.edits):
            edit(root)
            report = root / "report.json"
            edit_orch.append(orch(root, "build", "--report", str(report)))
            bakes.append(len(json.loads(report.read_text())["invocations"]))
            edit(root)
            edit_bake.append(plain())
        rows = [
            ("nothing changed", noop_orch, noop_bake, 0.5),
            ("one service edited", edit_orch, edit_bake, 0.8),
        ]
        print(f"{'':20} {'orch s':>8} {'bake s':>8} {'ratio':>7}  target")
        for name, o, b, goal in rows:
            mo, mb = statistics.median(o), statistics.median(b)
            print(f"{name:20} {mo:8.2f} {mb:8.2f} {mo / mb:7.2f}  <= {goal}")
        print(f"bake invocations per edited build: {bakes}")


if __name__ == "__main__":
    main()
