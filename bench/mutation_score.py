"""Mutation score of the pure core, per module: how many plausible bugs the unit suite notices.

    .venv/bin/python bench/mutation_score.py              # every module of [tool.mutmut]
    .venv/bin/python bench/mutation_score.py graph plan   # some of them
    .venv/bin/python bench/mutation_score.py --report     # print the last results, run nothing
    .venv/bin/python bench/mutation_score.py --survivors  # test again only what survived last

mutmut copies the package into mutants/, makes each mutant there (a single change: `<` for
`<=`, a string altered, an argument dropped, ...) and runs the unit tests that cover the mutated
function, never the engine tests. A mutant is killed when a test fails (or it times out), and
survives when every test passes. Each run tests every mutant of the modules named, and keeps
the results in mutants/ for --report. It runs under `nice -n 15` with two workers. Mutants
listed in tests/equivalent_mutants.md change no behaviour; the last column leaves them out.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = ROOT / "tests" / "equivalent_mutants.md"

# mutmut's exit codes of a mutant's test run (mutmut/stats.py), as this score counts them.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout",
          152: "timeout", 255: "timeout", 37: "killed"}  # fmt: skip
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}


def modules() -> dict[str, str]:
    """Each module to mutate (by short name) and its mutant-name prefix, from pyproject."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    found: dict[str, str] = {}
    for pattern in config["only_mutate"]:
        dotted = pattern.removesuffix("/*").removesuffix(".py").replace("/", ".")
        found[dotted.removeprefix("orchestrator.")] = dotted + "."
    return found


def equivalent_patterns() -> list[str]:
    """The mutants tests/equivalent_mutants.md lists: each line starts with `- `NAME``, where
    NAME may hold `*` for every mutant of a function."""
    if not EQUIVALENT.is_file():
        return []
    return re.findall(r"^- `([^`]+)`", EQUIVALENT.read_text(), flags=re.MULTILINE)


def is_listed(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def results() -> dict[str, int | None]:
    """Every mutant's exit code from mutants/**/*.meta (None: not run yet)."""
    codes: dict[str, int | None] = {}
    for meta in (ROOT / "mutants" / "orchestrator").rglob("*.py.meta"):
        for _ in range(20):  # a running mutmut rewrites these files as results come in
            try:
                codes.update(json.loads(meta.read_text())["exit_code_by_key"])
                break
            except json.JSONDecodeError:
                time.sleep(0.1)
    return codes


def report(prefixes: dict[str, str]) -> None:
    codes = results()
    equivalent = equivalent_patterns()
    rows = []
    totals: Counter[str] = Counter()
    for module, prefix in prefixes.items():
        mine = {k: v for k, v in codes.items() if k.startswith(prefix)}
        count = Counter(
            "killed" if v in KILLED else "survived" if v in SURVIVED else
            "not run" if v is None else "other"
            for v in mine.values()
        )  # fmt: skip
        eq = sum(1 for k, v in mine.items() if v in SURVIVED and is_listed(k, equivalent))
        count["equivalent"] = eq
        count["total"] = len(mine)
        totals.update(count)
        rows.append((module, count))
    rows.append(("all", totals))
    print(f"{'module':<22} {'killed':>6} {'total':>6} {'score':>7} {'survived':>8} "
          f"{'not run':>7} {'equiv':>5} {'score w/o equiv':>15}")  # fmt: skip
    for module, c in rows:
        tested = c["killed"] + c["survived"] + c["other"]
        score = c["killed"] / tested if tested else 0.0
        rest = tested - c["equivalent"]
        adjusted = c["killed"] / rest if rest else 0.0
        print(f"{module:<22} {c['killed']:>6} {tested:>6} {score:>7.1%} {c['survived']:>8} "
              f"{c['not run']:>7} {c['equivalent']:>5} {adjusted:>15.1%}")  # fmt: skip
    survivors = sorted(
        k for k, v in codes.items()
        if v in SURVIVED
        and k.startswith(tuple(prefixes.values()))
        and not is_listed(k, equivalent)
    )  # fmt: skip
    listing = ROOT / "mutants" / "survivors.txt"
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("".join(f"{name}\n" for name in survivors))
    print(
        f"\n{len(survivors)} survivors not listed as equivalent, in "
        f"{listing.relative_to(ROOT)}; `.venv/bin/mutmut show NAME` shows one"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="*", help="short names: graph, plan, dockerfile, ...")
    parser.add_argument("--report", action="store_true", help="print the last results only")
    parser.add_argument(
        "--survivors", action="store_true", help="test again only the mutants that survived last"
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    known = modules()
    unknown = [m for m in args.module if m not in known]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = {m: known[m] for m in args.module} if args.module else known
    os.chdir(ROOT)
    if not args.report:
        mutmut = Path(sys.executable).with_name("mutmut")
        argv = ["nice", "-n", "15", str(mutmut), "run", "--max-children", str(args.workers)]
        names = [p + "*" for p in chosen.values()]
        if args.survivors:
            codes = results()
            names = sorted(
                k
                for k, v in codes.items()
                if v in SURVIVED and k.startswith(tuple(chosen.values()))
            )
            if not names:
                print("no survivors to test again")
                report(chosen)
                return 0
        started = time.monotonic()
        # mutmut's live counter goes to a log; the table below is what it found.
        log_path = ROOT / "mutants" / "run.log"
        log_path.parent.mkdir(exist_ok=True)
        with log_path.open("w") as log:
            proc = subprocess.run([*argv, *names], stdout=log, stderr=log, check=False)
        print(f"mutmut ran {time.monotonic() - started:.0f} s (exit {proc.returncode}); "
              f"its output is in {log_path.relative_to(ROOT)}\n")  # fmt: skip
        if proc.returncode != 0:
            print(log_path.read_text()[-3000:])
    report(chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
