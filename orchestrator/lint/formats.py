"""Findings as text for a person, JSON for a program, and GitHub workflow commands that put
each one on its Dockerfile line in a pull request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from orchestrator import jsontext
from orchestrator.ci.github import MESSAGE_LIMIT, escape_data, escape_property
from orchestrator.lint.findings import Finding
from orchestrator.lint.ids import RULES
from orchestrator.report.console import printable

FORMATS = ("text", "json", "github")


@dataclass(frozen=True, slots=True)
class Report:
    findings: Sequence[Finding]
    files: int  # Dockerfiles read
    targets: int
    hadolint: str | None  # its version, when its findings are merged
    warnings: Sequence[str] = ()  # about the run itself (hadolint could not be read, ...)


def _counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {
        level: sum(f.severity == level for f in findings) for level in ("error", "warning", "info")
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary(report: Report) -> str:
    counts = _counts(report.findings)
    found = ", ".join(
        _plural(counts[level], word)
        for level, word in (("error", "error"), ("warning", "warning"), ("info", "note"))
        if counts[level]
    )
    merged = f", hadolint {report.hadolint} merged" if report.hadolint else ""
    where = f"{_plural(report.files, 'Dockerfile')} of {_plural(report.targets, 'target')}"
    return f"orch lint: {found or 'no findings'} in {where}{merged}"


def text(report: Report) -> str:
    lines = []
    for f in report.findings:
        name = RULES[f.rule].name if f.rule in RULES else f.source
        lines.append(
            f"{f.file}:{f.line}:{f.column}: {f.severity} {f.rule} {printable(f.message, 2000)} "
            f"[{f.target}] ({name})"
        )
        lines.append(f"    why: {printable(f.why, 2000)}")
        lines.append(f"    fix: {printable(f.fix, 2000)}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> str:
    counts = _counts(report.findings)
    document = {
        "schema_version": jsontext.SCHEMA_VERSION,
        "ok": counts["error"] == 0,
        "errors": counts["error"],
        "warnings": counts["warning"],
        "notes": counts["info"],
        "files": report.files,
        "targets": report.targets,
        "hadolint": report.hadolint,
        "findings": [asdict(f) for f in report.findings],
        "run_warnings": list(report.warnings),
    }
    return jsontext.dumps(document, indent=2) + "\n"  # a file name's odd bytes as \xHH


_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def annotation(f: Finding) -> str:
    """`::error file=…,line=…,col=…,title=…::message`, escaped as the runner reads it."""
    props = ",".join(
        (
            f"file={escape_property(f.file)}",
            f"line={f.line}",
            f"col={f.column}",
            f"title={escape_property(printable(f'{f.rule} ({f.target})'))}",
        )
    )
    body = printable(f"{f.message}\nwhy: {f.why}\nfix: {f.fix}", MESSAGE_LIMIT)
    return f"::{_COMMANDS[f.severity]} {props}::{escape_data(body)}"


def github(report: Report) -> str:
    lines = [annotation(f) for f in report.findings]
    lines.extend(f"::warning::{escape_data(printable(w))}" for w in report.warnings)
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str) -> str:
    return {"text": text, "json": as_json, "github": github}[fmt](report)
