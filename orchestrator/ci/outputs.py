"""Where a CI system looks: orch's results written into GitHub Actions' own files and log.

`github.py` renders (pure); this module finds the Dockerfile line of each failing step and
writes: the step summary and outputs (appended, as the runner expects), then, on standard
output, each failed target's log in a collapsed group and an `::error` on its Dockerfile line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from orchestrator.ci import github
from orchestrator.dockerfile.lexer import instruction_lines
from orchestrator.project import Project
from orchestrator.run.results import RunOutcome

_STEP = re.compile(r"^\[[^\]]*\]\s*")
# BuildKit names a step with its flags (`RUN --mount=type=cache,target=/go --network=none go
# build`); the lexer gives an instruction's arguments after them.
_FLAGS = re.compile(r"^(?:--[A-Za-z][\w-]*(?:=\S*)?\s+)*")


def step_line(step: str, instructions: Iterable[tuple[int, str, str]]) -> int | None:
    """The Dockerfile line of a BuildKit step such as `[api builder 4/5] RUN go build ./...`."""
    said = " ".join(_STEP.sub("", step).split())
    kind, _, args = said.partition(" ")
    args = _FLAGS.sub("", args)
    for line, keyword, written in instructions:
        if keyword == kind.lower() and " ".join(written.split()) == args:
            return line
    return None


def failure_locations(project: Project, outcome: RunOutcome) -> dict[str, tuple[str, int]]:
    """Each failed job's Dockerfile and line (relative to the plan's directory), where known."""
    found: dict[str, tuple[str, int]] = {}
    for r in outcome.results:
        if r.status != "failed" or not r.failed_step:
            continue
        target = project.plan.targets[r.key.split(":", 1)[0]]
        line = r.failed_line  # BuildKit's own word, when it gave one
        try:
            if line is None:
                line = step_line(r.failed_step, instruction_lines(target.dockerfile))
        except OSError:
            continue
        if line is not None:
            found[r.key] = (target.dockerfile.relative_to(project.plan.root).as_posix(), line)
    return found


def case_locations(project: Project, outcome: RunOutcome) -> dict[tuple[str, str], str]:
    """Where each failing case's file is in the repository, as the plan's directory names it:
    (job key, the file its report names) -> path, for a file found under the target's context
    (a runner names files from its working directory, most often the context's copy)."""
    found: dict[tuple[str, str], str] = {}
    root = project.plan.root
    for r in outcome.results:
        if r.reports is None:
            continue
        target = project.plan.targets[r.key.split(":", 1)[0]]
        for case in r.reports.failing:
            if not case.file or (r.key, case.file) in found:
                continue
            name = case.file.lstrip("/")
            for base in (target.context, root):
                candidate = base / name
                if ".." not in Path(name).parts and candidate.is_file():
                    found[(r.key, case.file)] = candidate.relative_to(root).as_posix()
                    break
    return found


@dataclass(frozen=True, slots=True)
class Written:
    """What went wrong writing GitHub's files: `errors` fail the run (its outputs are part of
    its result: the steps after it read them), `warnings` do not (the step summary is for
    people)."""

    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def write_github(
    target: github.GitHubTarget,
    project: Project,
    outcome: RunOutcome,
    *,
    affected: Iterable[str] = (),
    stream: TextIO | None = None,
    critical: str | None = None,
) -> Written:
    """Write the step summary, the outputs and the failures' log groups and annotations;
    what could not be written."""
    out = stream or sys.stdout
    warnings: list[str] = []
    errors: list[str] = []
    for path, text, variable, problems in (
        (
            target.summary,
            github.summary_markdown(outcome, critical=critical),
            "GITHUB_STEP_SUMMARY",
            warnings,
        ),
        (
            target.output,
            github.format_outputs(github.outputs(outcome, affected=affected)),
            "GITHUB_OUTPUT",
            errors,
        ),
    ):
        if path is None:
            continue
        try:
            with path.open("a", encoding="utf-8") as f:
                f.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            problems.append(f"cannot write {path} (${variable}): {exc.strerror or exc}")
    for r in outcome.results:
        if r.status == "failed" and r.log:
            lines = _log_lines(project.plan.root / r.log)
            out.write("\n".join(github.log_group(f"{r.key} (failed)", lines)) + "\n")
    for command in github.failure_annotations(
        outcome, failure_locations(project, outcome), case_locations(project, outcome)
    ):
        out.write(command + "\n")
    out.flush()
    return Written(tuple(warnings), tuple(errors))


def write_outputs(target: github.GitHubTarget, values: Mapping[str, str]) -> tuple[str, ...]:
    """Append `values` to the step's outputs (when the runner names the file); what could not
    be written, which fails the command: the steps after it read them."""
    if target.output is None:
        return ()
    try:
        with target.output.open("a", encoding="utf-8") as f:
            f.write(github.format_outputs(values))
    except OSError as exc:
        return (f"cannot write {target.output} ($GITHUB_OUTPUT): {exc.strerror or exc}",)
    return ()


def _log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def target_from(
    environ: Mapping[str, str] | None = None, *, ci: str | None
) -> github.GitHubTarget | None:
    """GitHub's files when `--ci github` is given or GITHUB_ACTIONS=true, else None."""
    return github.from_environ(os.environ if environ is None else environ, force=ci == "github")
