"""Which findings are left out: rules a target's `lint:` ignores (or leaves off, on a shared
stage), and `# orch-lint: ignore=ID[,ID...] reason` comments in the Dockerfile, on the line
above an instruction (or among its continuation lines)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from orchestrator.dockerfile.steps import Steps
from orchestrator.errors import Location, PlanError
from orchestrator.lint.findings import Finding
from orchestrator.lint.ids import RULES, closest, is_known, known_list
from orchestrator.plan import Target

MARKER = "orch-lint:"
_IGNORE = re.compile(r"orch-lint:\s*ignore\s*=\s*([^\s]*)(.*)")


def rule_applies(rule_id: str, target: Target) -> bool:
    """Whether orch's rule `rule_id` checks `target`, as its `lint:` and kind say."""
    if rule_id in target.lint.ignore:
        return False
    rule = RULES.get(rule_id)
    if rule is None or target.kind == "service" or rule.on_stages:
        return True
    return rule_id in target.lint.enable


def inline_ignores(steps: Steps) -> dict[int, frozenset[str]]:
    """Each `# orch-lint: ignore=...` comment's line -> the ids it names; an unknown id, or a
    comment orch cannot read, is an error at its line."""
    found: dict[int, frozenset[str]] = {}
    for line, text in steps.comments.items():
        if not text.startswith(MARKER):
            continue
        match = _IGNORE.match(text)
        where = Location(steps.path, line, 1)
        if match is None or not match.group(1).strip(","):
            raise PlanError(
                f"cannot read the comment `# {text}`",
                location=where,
                hint="write `# orch-lint: ignore=OL101` (ids separated by commas, then the "
                "reason) on the line above the instruction",
            )
        ids = [i for i in match.group(1).split(",") if i]
        for rule_id in ids:
            if not is_known(rule_id):
                close = closest(rule_id)
                raise PlanError(
                    f"`# orch-lint: ignore=` names {rule_id!r}, which is no rule of orch lint",
                    location=where,
                    hint=f"{close + ' ' if close else ''}known rules: {known_list()}",
                )
        found[line] = frozenset(ids)
    return found


def ignored_inline(finding: Finding, steps: Steps, ignores: Mapping[int, frozenset[str]]) -> bool:
    """Whether a comment above the finding's instruction, or inside it, names its rule."""
    if not ignores:
        return False
    first, last = finding.line, finding.line
    for step in (*steps.meta, *(s for stage in steps.stages for s in stage)):
        if step.line <= finding.line <= step.end_line:
            first, last = step.line, step.end_line
            break
    lines = set(range(first, last + 1))
    above = first - 1
    while above in steps.comments:
        lines.add(above)
        above -= 1
    return any(finding.rule in ignores.get(line, ()) for line in lines)


def kept(
    findings: Iterable[Finding],
    targets: Mapping[str, Target],
    steps_by_file: Mapping[Path, Steps],
    files: Mapping[str, Path],
) -> list[Finding]:
    """The findings neither the plan nor the Dockerfile ignores. `files` maps a finding's
    file back to its path."""
    ignores = {path: inline_ignores(steps) for path, steps in steps_by_file.items()}
    out = []
    for f in findings:
        if f.rule in targets[f.target].lint.ignore:
            continue
        path = files.get(f.file)
        if path is not None and ignored_inline(f, steps_by_file[path], ignores[path]):
            continue
        out.append(f)
    return out
