"""`orch lint` on GoogleCloudPlatform/microservices-demo: what it finds, and how long it takes.

    python bench/lint_bench.py GIT_DIR_OR_CHECKOUT [--rounds N]

Its `src/` (12 services, 12 Dockerfiles) is copied into a temporary directory with the plan
bench/microservices-demo.buildplan.yaml; `orch lint --format json` runs there, with hadolint
when it is installed and without. Printed: the findings by rule (the README's table), each
service's, and the wall time of a whole `orch lint` (median over the rounds).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.lint.ids import RULES

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO / "bench" / "microservices-demo.buildplan.yaml"


def copy_source(source: Path, into: Path) -> str:
    """`src/` of a checkout or a bare git directory into `into`; the commit, if known."""
    if (source / "src").is_dir():
        shutil.copytree(source / "src", into / "src", symlinks=True)
        return "checkout"
    archive = subprocess.run(
        ["git", "--git-dir", str(source), "archive", "HEAD", "src"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return subprocess.run(
        ["git", "--git-dir", str(source), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def lint(root: Path, *args: str) -> tuple[dict[str, object], float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", "lint", "--format", "json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"orch lint failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout), took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path, help="a microservices-demo checkout or git dir")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-lint-bench-") as tmp:
        root = Path(tmp)
        commit = copy_source(args.source, root)
        shutil.copy(PLAN, root / "buildplan.yaml")
        print(f"microservices-demo {commit}")
        for flags in (["--no-hadolint"], []):
            doc, _ = lint(root, *flags)
            times = [lint(root, *flags)[1] for _ in range(args.rounds)]
            shown = " ".join(flags) or f"(hadolint {doc['hadolint']})"
            print(
                f"\norch lint {shown}: {doc['errors']} errors, {doc['warnings']} warnings, "
                f"{doc['notes']} notes in {doc['files']} Dockerfiles; "
                f"{statistics.median(times):.2f} s median of {args.rounds}"
            )
            findings = doc["findings"]
            assert isinstance(findings, list)
            by_rule: dict[str, list[str]] = collections.defaultdict(list)
            for f in findings:
                by_rule[f["rule"]].append(f["target"])
            print("| rule | severity | what | services |")
            print("| --- | --- | --- | --- |")
            for rule, targets in sorted(by_rule.items()):
                first = next(f for f in findings if f["rule"] == rule)
                what = RULES[rule].title if rule in RULES else first["message"].split(". ")[0]
                services = sorted(set(targets))
                print(
                    f"| {rule} | {first['severity']} | {what} | "
                    f"{len(targets)}: {', '.join(services)} |"
                )


if __name__ == "__main__":
    main()
