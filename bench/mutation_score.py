"""Mutation score of the pure core, per module: how many plausible bugs the unit suite notices.

    scripts/mutation                     # every module of [tool.orch-mutation] in pyproject.toml
    scripts/mutation graph plan          # some of them
    scripts/mutation --report            # print the last results, run nothing
    scripts/mutation --survivors report  # test only what survived or was not reached last

mutmut makes each mutant (a single change: `<` for `<=`, a string altered, an argument
dropped, ...) in a copy of the package and runs the unit tests that reach the mutated function,
never the engine tests. A mutant is killed when a test fails (or it times out), and survives
when every test passes, or when no test reaches it. Each module runs on its own in
.mutation/MODULE/ (a copy of orchestrator/ and tests/, and mutmut's settings for that module:
its files, its tests), under `nice -n 15` with two workers; its results stay there for
--report. Mutants listed in tests/equivalent_mutants.md change no behaviour, or cannot be
switched on by mutmut; the last column leaves them out.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
EQUIVALENT = ROOT / "tests" / "equivalent_mutants.md"

# mutmut's exit codes of a mutant's test run (mutmut/stats.py), as this score counts them.
KILLED = {1, 3, 36, -24, 24, 152, 255, 37}  # a test failed, it timed out, the type check caught it
SURVIVED = {0, 5, 33}  # every test passed, or no test reaches the mutated function


def config() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """mutmut's shared settings, each module's files and tests, and pytest's settings."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    return tool["mutmut"], tool["orch-mutation"], tool["pytest"]["ini_options"]


def prefix(patterns: list[str]) -> tuple[str, ...]:
    """The mutant names of a module's files start with these."""
    return tuple(p.removesuffix("*").removesuffix(".py").replace("/", ".") for p in patterns)


def equivalent_patterns() -> list[str]:
    """The mutants tests/equivalent_mutants.md lists: each such line starts with `- `NAME``,
    where NAME may hold `*` for every mutant of a function."""
    if not EQUIVALENT.is_file():
        return []
    return re.findall(r"^- `([^`]+)`", EQUIVALENT.read_text(), flags=re.MULTILINE)


def is_listed(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def results(module: str) -> dict[str, int | None]:
    """Every mutant's exit code in the module's last run (None: not run yet)."""
    codes: dict[str, int | None] = {}
    for meta in (WORK / module / "mutants" / "orchestrator").rglob("*.py.meta"):
        for _ in range(20):  # a running mutmut rewrites these files as results come in
            try:
                codes.update(json.loads(meta.read_text())["exit_code_by_key"])
                break
            except json.JSONDecodeError:
                time.sleep(0.1)
    return codes


def toml_value(value: object) -> str:
    return json.dumps(value)  # strings, lists of strings, booleans and numbers read the same


def prepare(module: str, spec: dict[str, Any]) -> Path:
    """A copy of the package and the tests, and mutmut's settings for this module alone."""
    shared, _, pytest_ini = config()
    work = WORK / module
    work.mkdir(parents=True, exist_ok=True)
    for part in ("orchestrator", "tests"):
        shutil.rmtree(work / part, ignore_errors=True)
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
    settings = {
        **shared,
        "only_mutate": spec["mutate"],
        "pytest_add_cli_args_test_selection": spec["tests"],
    }
    lines = ["[tool.mutmut]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in pytest_ini.items()]
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return work


def run(
    module: str, spec: dict[str, Any], *, survivors: bool, workers: int, minutes: float
) -> None:
    names = [p + "*" for p in prefix(spec["mutate"])]
    if survivors:
        # What survived, and what an interrupted run did not reach.
        names = sorted(k for k, v in results(module).items() if v in SURVIVED or v is None)
        if not names:
            print(f"{module}: no survivors to test again")
            return
    work = prepare(module, spec)
    mutmut = Path(sys.executable).with_name("mutmut")
    argv = ["nice", "-n", "15", str(mutmut), "run", "--max-children", str(workers), *names]
    log_path = work / "run.log"
    started = time.monotonic()
    # mutmut's live counter goes to a log; the table is made from its results.
    with log_path.open("w") as log:
        # Its own process group: a time limit stops mutmut and every worker it forked.
        proc = subprocess.Popen(argv, cwd=work, stdout=log, stderr=log, start_new_session=True)
        try:
            code = proc.wait(timeout=minutes * 60 if minutes else None)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            code = proc.wait()
            print(f"{module}: stopped after {minutes} minutes; --survivors goes on from there")
    took = time.monotonic() - started
    print(f"{module}: mutmut ran {took:.0f} s (exit {code}), log in {log_path}")
    if code not in (0, -signal.SIGTERM):
        print(log_path.read_text()[-3000:])


def report(modules: dict[str, dict[str, Any]], *, markdown: bool = False) -> None:
    equivalent = equivalent_patterns()
    totals: Counter[str] = Counter()
    rows = []
    survivors = []
    for module, spec in modules.items():
        # Only the mutants of the module's files as they are listed now: a run before a file
        # moved in or out of the module holds others.
        mine = prefix(spec["mutate"])
        codes = {k: v for k, v in results(module).items() if k.startswith(mine)}
        count: Counter[str] = Counter()
        for name, code in codes.items():
            if code in KILLED:
                count["killed"] += 1
            elif code in SURVIVED:
                count["survived"] += 1
                if is_listed(name, equivalent):
                    count["listed"] += 1
                else:
                    survivors.append(name)
            elif code is None:
                count["not run"] += 1
            else:
                count["other"] += 1  # a crash of the test process, counted as survived
                survivors.append(name)
        meta = list((WORK / module / "mutants").rglob("*.py.meta"))
        when = max((m.stat().st_mtime for m in meta), default=0.0)
        totals.update(count)
        rows.append((module, count, time.strftime("%Y-%m-%d %H:%M", time.gmtime(when))))
    rows.append(("all", totals, ""))
    if markdown:
        print(
            "| module | killed / tested | score | without the listed | not reached "
            "| measured (UTC) |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for module, c, when in rows:
            tested = c["killed"] + c["survived"] + c["other"]
            rest = tested - c["listed"]
            print(
                f"| {module} | {c['killed']:,} / {tested:,} | "
                f"{c['killed'] / tested if tested else 0:.1%} | "
                f"{c['killed'] / rest if rest else 0:.1%} | {c['not run']:,} | {when} |"
            )
        return
    print(f"{'module':<11} {'killed':>6} {'tested':>6} {'score':>6} {'survived':>8} "
          f"{'listed':>6} {'w/o listed':>10} {'not run':>7}  last result (UTC)")  # fmt: skip
    for module, c, when in rows:
        tested = c["killed"] + c["survived"] + c["other"]
        score = c["killed"] / tested if tested else 0.0
        rest = tested - c["listed"]
        adjusted = c["killed"] / rest if rest else 0.0
        print(f"{module:<11} {c['killed']:>6} {tested:>6} {score:>6.1%} {c['survived']:>8} "
              f"{c['listed']:>6} {adjusted:>10.1%} {c['not run']:>7}  {when}")  # fmt: skip
    listing = WORK / "survivors.txt"
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("".join(f"{name}\n" for name in sorted(survivors)))
    print(
        f"\n{len(survivors)} survivors not in {EQUIVALENT.relative_to(ROOT)}: "
        f"{listing.relative_to(ROOT)}; `cd .mutation/MODULE && mutmut show NAME` shows one"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="*", help="short names: graph, plan, dockerfile, ...")
    parser.add_argument("--report", action="store_true", help="print the last results only")
    parser.add_argument("--markdown", action="store_true", help="the table as Markdown, for README")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="test only the mutants that survived, or that an interrupted run did not reach",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--minutes", type=float, default=0, help="stop each module's run after this long"
    )
    args = parser.parse_args()
    _, known, _ = config()
    unknown = [m for m in args.module if m not in known]
    if unknown:
        parser.error(f"unknown module {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = {m: known[m] for m in args.module} if args.module else known
    if not args.report:
        for module, spec in chosen.items():
            run(
                module,
                spec,
                survivors=args.survivors,
                workers=args.workers,
                minutes=args.minutes,
            )
    report(chosen, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
