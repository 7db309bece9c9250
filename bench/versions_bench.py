"""Content versions and changed paths on a generated monorepo: 1,000 services, 50,000 files.

    python bench/versions_bench.py [--dir DIR] [--rounds N]

The monorepo is a git repository with two commits (the second edits a few services). Printed:
the time to compute every target's version (targets: ~1 s, within 2 s for an `orch plan`
that computes them all), and the time to list the paths changed since HEAD~1 (within the
1.5 s of an `orch plan --since HEAD~1`). Each figure is the median of the rounds, each
round with a fresh reader, as a new `orch` process would have.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from orchestrator.inputs import git
from orchestrator.inputs.contexts import ContentReader
from orchestrator.inputs.versions import compute_manifests
from orchestrator.plan import load_plan

SERVICES = 1000
LIBS = 20
FILES_PER_SERVICE = 48
FILES_PER_LIB = 50


def generate(root: Path) -> None:
    """Write the monorepo and commit it twice."""
    plan = ["version: 1", "stages:", "  base: {context: stages/base}", "services:"]
    write(root / "stages/base/Dockerfile", "FROM busybox:latest\n")
    for lib in range(LIBS):
        base = root / f"libs/lib{lib}"
        write(base / ".dockerignore", "tests\n**/*.pyc\n")
        for n in range(FILES_PER_LIB):
            sub = "tests" if n % 10 == 0 else f"pkg{n % 4}"
            write(base / sub / f"mod{n}.py", f"# lib {lib} module {n}\nVALUE = {n}\n")
    for n in range(40):
        write(root / f"libs/proto/p{n}.proto", f"syntax = 'proto3'; // {n}\n")
    for svc in range(SERVICES):
        base = root / f"services/svc{svc}"
        write(base / "Dockerfile", "FROM base\nCOPY --from=shared . /lib\nCOPY . /app\n")
        write(base / ".dockerignore", "*.log\n**/__pycache__\n!keep.log\n")
        for n in range(FILES_PER_SERVICE - 2):
            write(base / f"src/d{n % 6}/f{n}.py", f"# service {svc} file {n}\nprint({n})\n")
        entry = (
            f"  svc{svc}: {{context: services/svc{svc}, contexts: {{shared: libs/lib{svc % LIBS}}}"
        )
        entry += ", watch: ['libs/proto/**']}" if svc % 10 == 0 else "}"
        plan.append(entry)
    write(root / "buildplan.yaml", "\n".join(plan) + "\n")
    run(root, "init", "-q", "-b", "main")
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", "a monorepo")
    for svc in range(0, SERVICES, 100):
        write(root / f"services/svc{svc}/src/d0/f0.py", f"# service {svc}, edited\n")
    run(root, "mv", "libs/lib3/pkg1/mod1.py", "libs/lib3/pkg1/renamed.py")
    run(root, "add", "-A")
    run(root, "commit", "-q", "-m", "edit ten services, rename a module")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def run(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@orch.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@orch.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, env=env, capture_output=True)


R = TypeVar("R")


def timed(rounds: int, fn: Callable[[], R]) -> tuple[float, R]:
    """The median wall time of `rounds` calls, and the last call's result."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temporary dir)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-versions-bench-") as tmp:
        root = (args.dir or Path(tmp)).resolve()
        if not (root / "buildplan.yaml").exists():
            start = time.perf_counter()
            generate(root)
            print(f"generated in {time.perf_counter() - start:.1f} s: {root}")
        files = len(
            subprocess.run(["git", "ls-files"], cwd=root, capture_output=True).stdout.splitlines()
        )
        plan_s, plan = timed(args.rounds, lambda: load_plan(root / "buildplan.yaml"))
        targets = plan.targets
        upstream = {name: ["base"] for name in targets if name != "base"}

        def versions() -> ContentReader:
            reader = ContentReader(root)
            compute_manifests(root, targets, upstream, reader=reader)
            return reader

        versions_s, reader = timed(args.rounds, versions)
        repo = git.repository(root)
        assert repo is not None
        since_s, changed = timed(args.rounds, lambda: git.changed_paths(repo, "HEAD~1"))
        print(f"{len(targets)} targets, {files} tracked files, {args.rounds} rounds, medians:")
        print(f"  load the plan:                    {plan_s:.3f} s")
        print(
            f"  versions of every target:         {versions_s:.3f} s"
            f"  ({reader.files_read} files read, the rest named by git)"
        )
        print(f"  changed paths since HEAD~1:       {since_s:.3f} s  ({len(changed)} paths)")
        orch = [sys.executable, "-m", "orchestrator", "plan", "--json"]
        cli_plan_s, _ = timed(args.rounds, lambda: command(root, orch))
        cli_since_s, out = timed(args.rounds, lambda: command(root, [*orch, "--since", "HEAD~1"]))
        pending = sum(t.get("status") != "unaffected" for t in json.loads(out)["targets"])
        print("whole commands, as CI runs them:")
        print(f"  orch plan --json (every version):  {cli_plan_s:.3f} s  (target < 2 s)")
        print(
            f"  orch plan --since HEAD~1 --json:   {cli_since_s:.3f} s  (target < 1.5 s; "
            f"{pending} affected)"
        )


def command(root: Path, argv: list[str]) -> str:
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr}")
    return proc.stdout


if __name__ == "__main__":
    main()
