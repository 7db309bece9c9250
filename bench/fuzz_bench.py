"""Fuzz orch's plan and Dockerfile readers at length, through the real CLI in process.

Usage: nice -n 15 .venv/bin/python bench/fuzz_bench.py [--minutes 10] [--examples N] [--seed N]
       [--only plans|dockerfiles|both]

Runs the strategies of tests/fuzzing.py (the suite runs them with a small budget) until the
time or the example count is spent, and prints the examples run, the outcomes by exit code,
the most frequent first lines of exit-2 messages, and each distinct failure found (an exit
code other than 0 or 2, an exit 2 that names no file, a traceback) with a case that shows it.
Exit status 1 when a failure was found.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.fuzzing import Case, cases, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--examples", type=int, default=10**9)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", choices=["plans", "dockerfiles", "both"], default=None)
    args = parser.parse_args()

    deadline = time.monotonic() + args.minutes * 60
    codes: collections.Counter[int] = collections.Counter()
    messages: collections.Counter[str] = collections.Counter()
    failures: dict[str, tuple[int, Case, str]] = {}
    by_kind: collections.Counter[str] = collections.Counter()
    root = Path(tempfile.mkdtemp(prefix="orch-fuzz-")) / "repo"
    started = time.monotonic()
    kinds = [args.only] if args.only else ["plans", "dockerfiles", "both"]

    def one(kind: str, case: Case) -> None:
        if time.monotonic() > deadline or sum(codes.values()) + len(failures) >= args.examples:
            return
        by_kind[kind] += 1
        try:
            outcome = run_case(case, root)
        except BaseException as exc:  # a crash is what is looked for
            frames = traceback.extract_tb(exc.__traceback__)
            last = frames[-1] if frames else None
            where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
            key = f"{type(exc).__name__} at {where}"
            codes[-1] += 1
            first = failures.get(key)
            detail = "".join(traceback.format_exception(exc)[-6:])
            failures[key] = (first[0] + 1 if first else 1, first[1] if first else case, detail)
            return
        codes[outcome.code] += 1
        if outcome.code == 2:
            line = outcome.err.strip().splitlines()[0] if outcome.err.strip() else ""
            messages[_shape(line)] += 1
        problem = outcome.problem(case.argv)
        if problem is not None:
            key = f"{problem}: {' '.join(case.argv)}"
            first = failures.get(key)
            failures[key] = (
                first[0] + 1 if first else 1,
                first[1] if first else case,
                outcome.err[-800:],
            )

    # Each strategy gets its turn in rounds, so a short run still tries every one.
    while time.monotonic() < deadline and sum(codes.values()) < args.examples:
        for kind in kinds:
            strategy = cases(plans=kind != "dockerfiles", dockerfiles=kind != "plans")

            fuzz = settings(
                max_examples=500,
                deadline=None,
                phases=[Phase.generate],
                database=None,
                suppress_health_check=list(HealthCheck),
            )(given(case=strategy)(_bound(one, kind)))
            if args.seed is not None:
                fuzz = seed(args.seed + sum(by_kind.values()))(fuzz)
            fuzz()
            if time.monotonic() > deadline:
                break

    elapsed = time.monotonic() - started
    total = sum(codes.values())
    print(f"examples run: {total} in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.1f}/s)")
    print("  by strategy: " + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items())))
    print(
        "outcomes by exit code: "
        + ", ".join(f"{'crash' if c == -1 else c}: {n}" for c, n in sorted(codes.items()))
    )
    print("most frequent exit-2 messages (file names, numbers and quoted words elided):")
    for shape, n in messages.most_common(12):
        print(f"  {n:6d}  {shape[:110]}")
    print(f"failures found: {len(failures)}")
    for key, (n, case, detail) in failures.items():
        print(f"--- {key} ({n} times); argv {case.argv}")
        for rel, data in case.files.items():
            print(f"  {rel}: {data[:300]!r}")
        print("  " + detail.replace("\n", "\n  "))
    return 1 if failures else 0


def _bound(one: Callable[[str, Case], None], kind: str) -> Callable[[Case], None]:
    def fuzz(case: Case) -> None:
        one(kind, case)

    return fuzz


def _shape(line: str) -> str:
    import re

    line = re.sub(r"^\S*?(buildplan\.yaml|Dockerfile)(:\d+)*", r"\1", line)
    line = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", line)
    return re.sub(r"\d+", "N", line)


if __name__ == "__main__":
    sys.exit(main())
