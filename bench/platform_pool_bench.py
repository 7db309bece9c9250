"""A two-platform cold build: one builder doing both platforms against a pool that splits each
target between the builders that name its platforms, on the real engine.

    .venv/bin/python -m bench.platform_pool_bench [--rounds 3] [--services 3] [--mb 60]

The plan: a stage `FROM busybox:latest` and `--services` services on it, each for linux/amd64
and linux/arm64, pushed to the loopback registry, every step a CPU-bound `sha256sum` of `--mb`
MB. `orch build --force --builder default` builds each target whole on one builder (arm64
under QEMU); `orch build --force` goes through the plan's `builders:`, where `default` names
linux/amd64 and `node2` linux/arm64, so each target is built in two parts merged into one
index. Builder caches are pruned before each build; the two ways alternate.

On this machine both nodes share its 2 cores and node2 emulates arm64 too, so the figure shows
what the split costs (two bakes and a merge per target), not what a native arm64 machine
gains: there, the arm64 part runs 5 to 20 times faster than under QEMU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.pool_engine_bench import ORCH, REGISTRY, prune


def write_plan(root: Path, services: int, mb: int, prefix: str) -> None:
    cpu = f"RUN dd if=/dev/zero bs=1M count={mb} 2>/dev/null | sha256sum > /sum"
    nonce = uuid.uuid4().hex
    lines = [
        "version: 1",
        "defaults:",
        f'  image: "{prefix}/{{name}}"',
        f"  registry: {REGISTRY}",
        "  platforms: [linux/amd64, linux/arm64]",
        "builders:",
        "  - {name: default, platforms: [linux/amd64]}",
        "  - {name: node2, platforms: [linux/arm64]}",
        "stages:",
        "  base: {context: base}",
        "services:",
    ]
    (root / "base").mkdir()
    (root / "base/Dockerfile").write_text(f"FROM busybox:latest\nRUN echo {nonce}\n{cpu}\n")
    for i in range(services):
        name = f"s{i}"
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text(f"FROM base\nRUN echo {nonce}-{i}\n{cpu}\n")
        lines.append(f"  {name}: {{context: {name}}}")
    (root / "buildplan.yaml").write_text("\n".join(lines) + "\n")


def build(root: Path, *args: str) -> tuple[float, dict[str, object]]:
    report = root / "report.json"
    start = time.perf_counter()
    proc = subprocess.run(
        [*ORCH, "build", "--force", "--report", str(report), *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"orch build {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    return took, json.loads(report.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--mb", type=int, default=60, help="MB hashed by each step")
    args = parser.parse_args()
    whole: list[float] = []
    split: list[float] = []
    with tempfile.TemporaryDirectory(prefix="orch-platform-bench-") as tmp:
        root = Path(tmp)
        write_plan(root, args.services, args.mb, f"orchbench-{uuid.uuid4().hex[:8]}")
        for r in range(args.rounds):
            for label, extra, out in (
                ("one builder, both platforms", ("--builder", "default"), whole),
                ("split: amd64 on default, arm64 on node2", (), split),
            ):
                prune()
                took, report = build(root, *extra)
                targets = report["targets"]
                assert isinstance(targets, dict)
                where = {t["platform_builders"].get("linux/arm64") for t in targets.values()}
                out.append(took)
                print(f"round {r + 1}: {label}: {took:6.1f} s (arm64 on {where})", flush=True)
    ratios = [b / a for a, b in zip(whole, split, strict=True)]
    print(
        f"{args.services + 1} two-platform targets, {args.mb} MB hashed per step: "
        f"one builder median {statistics.median(whole):.1f} s, "
        f"split median {statistics.median(split):.1f} s, "
        f"split / one median {statistics.median(ratios):.3f} "
        f"({min(ratios):.3f}-{max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
