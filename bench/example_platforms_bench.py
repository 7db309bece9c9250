"""The example monorepo cold, for the host's platform and for linux/amd64 and linux/arm64
(arm64 under QEMU), on the real engine.

    ORCH_EXAMPLE_PLATFORMS=1 scripts/engine     # QEMU and a two-platform debian:bookworm-slim
    .venv/bin/python -m bench.example_platforms_bench [--rounds 1]

Each build is a fresh copy of the example (bench/cold_bench.py's, images under a name of
their own) with BuildKit's cache pruned first, so nothing of an earlier build is reused.
Printed: each build's wall time and the slowest target's, and the two-platform / host ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.cold_bench import PRUNE, example

BOTH = "linux/amd64,linux/arm64"


def build(platforms: str | None) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="orch-example-platforms-") as tmp:
        root = Path(tmp)
        example(root, f"orchbench-{uuid.uuid4().hex[:8]}")
        subprocess.run(PRUNE, capture_output=True, check=True)
        argv = [sys.executable, "-m", "orchestrator", "build", "--report", str(root / "r.json")]
        argv += ["--platform", platforms] if platforms else []
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        targets = json.loads((root / "r.json").read_text())["targets"]
        slowest = max(targets, key=lambda n: targets[n]["duration_s"] or 0)
        return took, f"{slowest} {targets[slowest]['duration_s']:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    host: list[float] = []
    both: list[float] = []
    for r in range(args.rounds):
        for label, platforms, out in (("host", None, host), ("amd64+arm64", BOTH, both)):
            took, slowest = build(platforms)
            out.append(took)
            print(f"round {r + 1}: {label}: {took:6.1f} s (slowest: {slowest})", flush=True)
    print(
        f"example cold: host median {statistics.median(host):.1f} s, "
        f"two platforms median {statistics.median(both):.1f} s, "
        f"ratio {statistics.median(both) / statistics.median(host):.2f}"
    )


if __name__ == "__main__":
    main()
