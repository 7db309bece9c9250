"""A generated plan of many tiny busybox targets, built by `orch build` as a user runs it.

    python bench/big_plan_bench.py [--targets 1000] [--max-batch N] [--parallel J] [--keep]
                                   [--timeout S] [--flat] [--plain-bake] [--overhead ROUNDS]

The plan (in a temporary directory, each run with a fresh nonce, so nothing is cached) has
N targets: a tenth are shared stages, half of them `FROM busybox:latest` and half `FROM`
another stage; of the services a third are `FROM busybox:latest` and the rest `FROM` a stage,
so the graph has three levels. Every Dockerfile copies a tiny file and runs an `echo`.
`--flat` makes every target an independent service `FROM busybox:latest`.

Printed: the targets, orch's wall time, how many were built, failed and blocked (from
`--report`), the sizes of the bake invocations orch ran, and each distinct failure text.
The run is stopped (SIGTERM, as Ctrl-C) after `--timeout` seconds; the figures are then
those of the report orch writes when interrupted.

`--plain-bake` runs one plain `docker buildx bake` of the file `orch plan --bake-file` writes
(every target in one invocation) instead of `orch build`, and prints its error lines.
`--overhead ROUNDS` times ROUNDS plain bakes of one tiny cached target: the fixed cost of a
bake invocation. The exit code is 1 when not every target was built (or the plain bake failed).

What BuildKit (dockerd 26's) does with many targets at once, on a loaded 2-core machine: one
plain bake of 100 tiny independent targets fails with `DeadlineExceeded: failed commit on ref
"history-migrate-sha256:..."` (the build-history record of each target), one of 75 passes;
orch's bakes of about 88 fail with `no such job` or `DeadlineExceeded` and four bakes of 25 at
once fail with `DeadlineExceeded`, while four of 10 at once build.

orch runs from the checkout this script is in (`PYTHONPATH`), so a frozen copy of the
repository (`git worktree add`) is not disturbed by edits elsewhere. Afterwards the images
the run made (a label and a repository prefix of their own name them) are removed, and the
plan directory, with orch's logs and runs, unless `--keep`. BuildKit's build cache is left to the
daemon's garbage collection: other builds share it.
"""

from __future__ import annotations

import argparse
import json
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
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LABEL = "dev.orch.bench"  # its value, the run's prefix, names the images to remove afterwards
ERROR_LINE = re.compile(r"\bERROR\b|error:|failed to", re.IGNORECASE)


def write_plan(root: Path, n: int, prefix: str, *, flat: bool) -> None:
    """N targets in `root`: stages and services as the module docstring says."""
    nonce = uuid.uuid4().hex
    stages = 0 if flat else max(1, n // 10)
    half = (stages + 1) // 2
    plan = ["version: 1", "defaults:", f'  image: "{prefix}/{{name}}"']
    plan.append(f"  labels: {{{LABEL}: {prefix}}}")
    names: list[tuple[str, str]] = []  # (name, what it is FROM)
    for i in range(stages):
        names.append((f"st{i:04d}", "busybox:latest" if i < half else f"st{i - half:04d}"))
    for j in range(n - stages):
        base = "busybox:latest" if flat or j % 3 == 0 else f"st{j % stages:04d}"
        names.append((f"svc{j:04d}", base))
    for kind, chosen in (("stages", names[:stages]), ("services", names[stages:])):
        if chosen:
            plan.append(f"{kind}:")
            plan.extend(f"  {name}: {{context: {name}}}" for name, _ in chosen)
    for name, base in names:
        ctx = root / name
        ctx.mkdir()
        (ctx / "payload.txt").write_text(f"{name} {nonce}\n")
        (ctx / "Dockerfile").write_text(
            f"FROM {base}\nCOPY payload.txt /payload-{name}.txt\nRUN echo {name} > /x\n"
        )
    (root / "buildplan.yaml").write_text("\n".join(plan) + "\n")


def orch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *args]


def orch_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}


def run_timed(argv: list[str], cwd: Path, log: Path, timeout_s: float) -> tuple[int, float, bool]:
    """Run argv with its output in `log`: (exit code, wall seconds, whether it was stopped)."""
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=orch_env())
        stopped = False
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stopped = True
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    return code, time.perf_counter() - start, stopped


def runs_of(sizes: list[int]) -> str:
    """Bake sizes in order, equal neighbours folded: `4x370, 12x1`."""
    out: list[str] = []
    for size in sizes:
        if out and out[-1].endswith(f"x{size}"):
            count = int(out[-1].split("x")[0]) + 1
            out[-1] = f"{count}x{size}"
        else:
            out.append(f"1x{size}")
    return ", ".join(out)


def failure_texts(targets: dict[str, Any]) -> Counter[str]:
    """Each distinct failure text, with target names blanked, and how many it failed."""
    texts: Counter[str] = Counter()
    for name, got in targets.items():
        if got.get("status") != "failed":
            continue
        text = (got.get("error") or "").strip() or "(no error text)"
        texts[re.sub(rf"\b{re.escape(name)}\b", "<target>", text)[:600]] += 1
    return texts


def print_report(report: dict[str, Any], wall: float) -> bool:
    """Print the run's figures; whether every target was built."""
    targets = report.get("targets", {})
    statuses = Counter(t.get("status") for t in targets.values())
    counts = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    print(f"wall {wall:.1f} s; {counts}")
    invocations = report.get("invocations", [])
    sizes = [len(inv["jobs"]) for inv in invocations]
    print(f"bakes: {len(sizes)}, sizes in start order: {runs_of(sizes)}")
    if invocations:
        walls = [inv["ended_s"] - inv["started_s"] for inv in invocations if "ended_s" in inv]
        per = [w / s for w, s in zip(walls, sizes, strict=False) if s]
        print(
            f"bake wall s: median {statistics.median(walls):.1f}, max {max(walls):.1f}; "
            f"s per target in a bake: median {statistics.median(per):.2f}"
        )
    for text, count in failure_texts(targets).most_common():
        print(f"failed {count} with:\n  " + text.replace("\n", "\n  "))
    blocked = Counter(t.get("reason") for t in targets.values() if t.get("status") == "blocked")
    for reason, count in blocked.most_common(3):
        print(f"blocked {count}: {reason}")
    every = bool(targets) and statuses["built"] == len(targets)
    print(f"every target built: {'yes' if every else 'no'} ({statuses['built']}/{len(targets)})")
    return every


def build(root: Path, args: argparse.Namespace) -> bool:
    argv = orch_argv("build", "--report", "report.json", "--parallel", str(args.parallel))
    if args.max_batch is not None:
        argv += ["--max-batch", str(args.max_batch)]
    log = root / "orch-build.log"
    code, wall, stopped = run_timed(argv, root, log, args.timeout)
    print(f"$ {' '.join(argv[1:])}  -> exit {code}" + (" (stopped: timeout)" if stopped else ""))
    report_path = root / "report.json"
    if not report_path.exists():
        print(f"wall {wall:.1f} s; no report written; the end of orch's output:")
        print("  " + "\n  ".join(log.read_text(errors="replace").splitlines()[-30:]))
        return False
    return print_report(json.loads(report_path.read_text()), wall)


def write_bake_file(root: Path, name: str) -> None:
    """The file `orch plan --bake-file` writes for every target of the plan in `root`."""
    subprocess.run(
        orch_argv("plan", "--bake-file", name),
        cwd=root,
        env=orch_env(),
        check=True,
        capture_output=True,
    )


def plain_bake(root: Path, args: argparse.Namespace) -> bool:
    write_bake_file(root, "all.json")
    log = root / "bake.log"
    argv = ["docker", "buildx", "bake", "--progress", "plain", "-f", "all.json"]
    code, wall, stopped = run_timed(argv, root, log, args.timeout)
    lines = log.read_text(errors="replace").splitlines()
    errors = [line for line in lines if ERROR_LINE.search(line) and "CACHED" not in line]
    note = " (stopped: timeout)" if stopped else ""
    print(f"$ {' '.join(argv)}  -> exit {code}{note}; wall {wall:.1f} s")
    for line in errors[:20]:
        print(f"  {line[:400]}")
    if len(errors) > 20:
        print(f"  ... {len(errors) - 20} more error lines")
    return code == 0


def overhead(root: Path, rounds: int) -> None:
    write_bake_file(root, "one.json")
    argv = ["docker", "buildx", "bake", "-f", "one.json"]
    subprocess.run(argv, cwd=root, check=True, capture_output=True)  # warm: later ones cached
    walls = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, cwd=root, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
    shown = " ".join(f"{w:.2f}" for w in walls)
    print(f"bake of 1 cached tiny target, {rounds} times: {shown} s")
    print(f"median {statistics.median(walls):.2f} s, min {min(walls):.2f} s")


def remove_images(prefix: str) -> int:
    """Remove the run's images: one prune by label (one call, fast), then any left by name."""
    subprocess.run(
        ["docker", "image", "prune", "-af", "--filter", f"label={LABEL}={prefix}"],
        capture_output=True,
        check=False,
    )
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    mine = [r for r in refs if r.startswith(prefix + "/")]
    for at in range(0, len(mine), 200):
        subprocess.run(["docker", "image", "rm", "-f", *mine[at : at + 200]], capture_output=True)
    return len(mine)  # left after the prune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--max-batch", type=int, default=None, help="default: orch's own")
    parser.add_argument("--parallel", "-j", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds (default 480)")
    parser.add_argument("--flat", action="store_true", help="independent targets only")
    parser.add_argument("--plain-bake", action="store_true", help="one plain bake of them all")
    parser.add_argument("--overhead", type=int, metavar="ROUNDS", help="bakes of 1 cached target")
    parser.add_argument("--keep", action="store_true", help="keep the plan directory")
    args = parser.parse_args()
    prefix = f"orchbb-{uuid.uuid4().hex[:8]}"
    tmp = tempfile.mkdtemp(prefix="orch-big-plan-")
    root = Path(tmp)
    n = 1 if args.overhead else args.targets
    try:
        write_plan(root, n, prefix, flat=args.flat or bool(args.overhead))
        load = os.getloadavg()
        shape = "independent" if args.flat or args.overhead else "in three levels"
        print(f"{n} tiny targets {shape}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        ok = True
        if args.overhead:
            overhead(root, args.overhead)
        elif args.plain_bake:
            ok = plain_bake(root, args)
        else:
            ok = build(root, args)
    finally:
        start = time.perf_counter()
        left = remove_images(prefix)
        print(f"removed the run's images in {time.perf_counter() - start:.0f} s ({left} by name)")
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
