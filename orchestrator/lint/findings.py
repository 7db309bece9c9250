"""A finding of `orch lint`: where, which rule, what is wrong, why it matters, the fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.lint.ids import RULES, Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    file: str  # relative to the plan's directory, `/`-separated
    line: int  # 1-based
    column: int  # 1-based
    rule: str  # OL101, or a hadolint id such as DL3008
    severity: Severity
    message: str  # one line: what is wrong here
    why: str  # one line: what it costs
    fix: str  # what to write instead
    target: str  # the plan target it was found in
    source: str = "orch"  # or "hadolint"

    @property
    def key(self) -> tuple[str, int, int, str, str]:
        """Two targets sharing a Dockerfile find the same thing once."""
        return (self.file, self.line, self.column, self.rule, self.message)


def finding(
    rule: str, target: str, file: str, place: tuple[int, int], message: str, why: str, fix: str
) -> Finding:
    """A finding of one of orch's own rules, at its rule's severity."""
    line, column = place
    return Finding(
        file=file,
        line=line,
        column=column,
        rule=rule,
        severity=RULES[rule].severity,
        message=message,
        why=why,
        fix=fix,
        target=target,
    )


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """By file and place, each place's findings by rule; repeats removed."""
    unique = {f.key: f for f in reversed(list(findings))}
    return sorted(unique.values(), key=lambda f: (f.file, f.line, f.column, f.rule))


def failed(findings: Iterable[Finding]) -> bool:
    """Whether `orch lint` exits 1: an error was found (warnings and notes alone pass)."""
    return any(f.severity == "error" for f in findings)
