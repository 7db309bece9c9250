"""A run as GitHub Actions shows it: the step summary, the step outputs and workflow commands.

Everything here is a pure function from a `RunOutcome` to text; writing that text to the files
the runner names, or to standard output, is the caller's part. Only `from_environ` reads the
environment.

Text from a build (step names, errors, output) is hostile: it passes through
`console.printable`, then is escaped for where it lands (a Markdown table cell, HTML, a
workflow command's data or properties), and a target's log is printed between
`::stop-commands::` markers so that a `::error::` it contains is shown, not obeyed.
"""

from __future__ import annotations

import html
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.ci.testcases import LISTED_CASES
from orchestrator.plan.sizes import change_text, size_text
from orchestrator.report.console import printable
from orchestrator.run.results import JobResult, RunOutcome

# Lines of a failing step's output shown in the summary and in an annotation.
TAIL_LINES = 40
ANNOTATION_TAIL_LINES = 10
# A GitHub annotation shows about this much; the rest is in the log.
MESSAGE_LIMIT = 4000

# --- Escaping -----------------------------------------------------------------------------

# Characters with an inline meaning in GitHub's Markdown (emphasis, code, links, images,
# strikethrough, math, mentions, issue references, emoji shortcodes, table cells), escaped
# with a backslash, which GFM allows before any ASCII punctuation. `<`, `>` and `&` become
# entities instead, so no HTML tag or entity can be formed.
_MARKDOWN = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_[]()!|~$@#:"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def markdown_text(text: str, limit: int = 400) -> str:
    """Build text made safe for one line of Markdown or one table cell."""
    flat = " ".join(printable(text, limit).splitlines())
    return flat.translate(_MARKDOWN)


def html_text(text: str, limit: int = 400) -> str:
    """Build text made safe inside an HTML element (`<summary>`, `<pre>`), on one line."""
    return html.escape(" ".join(printable(text, limit).splitlines()), quote=False)


def escape_data(text: str) -> str:
    """A workflow command's data, escaped as the runner unescapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: data escaping plus `:` and `,`."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --- $GITHUB_STEP_SUMMARY ------------------------------------------------------------------

_COLUMNS = ("target", "status", "duration", "size", "cached steps", "note")


def _failed_first(results: Iterable[JobResult]) -> list[JobResult]:
    """Failed jobs first, then the rest; each group in build order."""
    return sorted(results, key=lambda r: r.status != "failed")


def size_change(size: int | None, previous: int | None) -> str:
    """`66.5 MB (+1.2 MB)`: the size and its change against the previous build, when known."""
    change = change_text(size, previous)
    return f"{size_text(size)} ({change})" if change else size_text(size)


def _note(r: JobResult) -> str:
    if r.status == "failed":
        return r.failed_step or r.error or ""
    return r.error or ""


def _row(r: JobResult, previous: int | None) -> str:
    status = f"**{r.status}**" if r.status == "failed" else r.status
    ran = r.duration_s is not None and r.status != "up-to-date"
    cells = (
        markdown_text(r.key),
        status,
        "" if r.duration_s is None else f"{r.duration_s:.1f}s",
        size_change(r.size_bytes, previous),
        str(r.cached_steps) if ran else "",
        markdown_text(_note(r), 200),
    )
    return "| " + " | ".join(cells) + " |"


def _failure(r: JobResult) -> list[str]:
    lines = [f"#### {markdown_text(r.key)} failed", ""]
    if r.failed_step:
        lines.append(f"Failing step: {markdown_text(r.failed_step)}  ")
    if r.error:
        lines.append(f"Error: {markdown_text(r.error)}  ")
    if r.reports is not None and r.reports.failing:
        lines += _failing_cases(r)
    if r.log:
        lines.append(f"Full log: {markdown_text(r.log)}")
    lines.append("")
    if r.tail:
        tail = r.tail[-TAIL_LINES:]
        shown = f"last {len(tail)} lines" if len(tail) > 1 else "last line"
        lines += [
            f"<details><summary>{html_text(r.key)}: {shown} of the output</summary>",
            "",
            # An HTML block that only `</pre>` ends: blank lines and Markdown inside are inert,
            # and no `<` survives escaping to end it early.
            "<pre>",
            *(html_text(line) for line in tail),
            "</pre>",
            "",
            "</details>",
            "",
        ]
    return lines


def _failing_cases(r: JobResult) -> list[str]:
    """The failing cases of a reported test stage: a table of the first LISTED_CASES, each
    message one line, then a count of the rest; where the reports are kept."""
    assert r.reports is not None
    failing = r.reports.failing
    lines = ["", "| failing case | where | message |", "| --- | --- | --- |"]
    for case in failing[:LISTED_CASES]:
        cells = (
            markdown_text(case.title),
            markdown_text(case.place),
            markdown_text(case.headline, 200),
        )  # each escaped, `|` too: one cell each
        lines.append("| " + " | ".join(cells) + " |")
    if len(failing) > LISTED_CASES:
        lines.append(f"\n… and {len(failing) - LISTED_CASES} more failing cases")
    if r.reports_dir:
        lines.append(f"\nReports: {markdown_text(r.reports_dir)}")
    lines.append("")
    return lines


def summary_markdown(
    outcome: RunOutcome,
    *,
    previous_sizes: Mapping[str, int] | None = None,
    title: str | None = None,
    critical: str | None = None,
) -> str:
    """The run as Markdown for `$GITHUB_STEP_SUMMARY`: its critical path in one line, a table,
    failed targets first, then each failure's step and the tail of its output in a collapsed
    block. A size's change is against `previous_sizes[key]`, else the result's own
    `previous_size_bytes`."""
    previous = previous_sizes or {}
    verdict = "interrupted" if outcome.interrupted else ("ok" if outcome.ok else "failed")
    heading = title if title is not None else f"orch {'test' if outcome.test else 'build'}"
    counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts().items()))
    lines = [f"### {markdown_text(heading)}: {verdict}", "", counts or "nothing to do", ""]
    if critical:
        lines += [f"Critical path: {markdown_text(critical)}", ""]
    ordered = _failed_first(outcome.results)
    if ordered:
        lines += [
            "| " + " | ".join(_COLUMNS) + " |",
            "|" + "|".join(" --- " for _ in _COLUMNS) + "|",
            *(_row(r, previous.get(r.key, r.previous_size_bytes)) for r in ordered),
            "",
        ]
    for r in ordered:
        if r.status == "failed":
            lines += _failure(r)
    warnings = [f"{r.key}: {w}" for r in outcome.results for w in r.warnings]
    warnings += outcome.warnings
    if warnings:
        lines += ["#### Warnings", "", *(f"- {markdown_text(w)}" for w in warnings), ""]
    return "\n".join(lines)


# --- $GITHUB_OUTPUT ------------------------------------------------------------------------


def _is_build(r: JobResult) -> bool:
    # Test jobs are keyed `service:stage`; a target name never holds a colon.
    return ":" not in r.key


def _repository(ref: str) -> str:
    """`host:5000/orch/api` from `host:5000/orch/api:tag`: a tag follows the last `/`."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


def _pinned(r: JobResult) -> str | None:
    ref = r.versioned_image or r.image
    if ref is None:
        return None
    return f"{_repository(ref)}@{r.digest}" if r.digest else ref


def outputs(outcome: RunOutcome, *, affected: Iterable[str] = ()) -> dict[str, str]:
    """The step outputs: `ok`, `affected` (a JSON list), `built` (target -> `image@digest`, or
    the versioned tag) and `images` (target -> versioned reference, built or up to date)."""
    built: dict[str, str] = {}
    images: dict[str, str] = {}
    for r in outcome.results:
        if not _is_build(r):
            continue
        if r.status == "built" and (pinned := _pinned(r)) is not None:
            built[r.key] = pinned
        if r.status in ("built", "up-to-date") and r.versioned_image:
            images[r.key] = r.versioned_image
    return {
        "ok": "true" if outcome.ok else "false",
        "affected": json.dumps(sorted(set(affected))),
        "built": json.dumps(built),
        "images": json.dumps(images),
    }


def _fresh_token(prefix: str, texts: Sequence[str]) -> str:
    """A random marker that occurs in none of `texts`."""
    while True:
        token = f"{prefix}{secrets.token_hex(16)}"
        if not any(token in t for t in texts):
            return token


def format_outputs(mapping: Mapping[str, str]) -> str:
    """`name<<DELIMITER`, the value, `DELIMITER`, for each entry: the multi-line form of the
    `$GITHUB_OUTPUT` file, with a random delimiter that the value does not contain."""
    chunks = []
    for name, value in mapping.items():
        if not name or "=" in name or "<<" in name or "\n" in name or "\r" in name:
            raise ValueError(f"{name!r} cannot name a step output")
        if value.endswith("\r"):
            # The runner reads `\r\n` before the delimiter as one line break: the `\r` is lost.
            raise ValueError(
                f"the value of {name} ends in a carriage return, which the runner drops"
            )
        delimiter = _fresh_token("ORCH_EOF_", [value])
        chunks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(chunks)


# --- Workflow commands ---------------------------------------------------------------------


def error_annotation(file: str | None, line: int | None, title: str | None, message: str) -> str:
    """`::error file=…,line=…,title=…::message`, each part escaped as the runner reads it."""
    props = []
    if file is not None:
        props.append(f"file={escape_property(file)}")
        if line is not None:
            props.append(f"line={line}")
    if title is not None:
        props.append(f"title={escape_property(printable(title))}")
    head = f"::error {','.join(props)}" if props else "::error"
    return f"{head}::{escape_data(printable(message, MESSAGE_LIMIT))}"


def failure_annotations(
    outcome: RunOutcome,
    locations: Mapping[str, tuple[str, int]] | None = None,
    case_files: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """One `::error` per failed job, on its Dockerfile line when `locations` knows it
    (job key -> path relative to the repository, line); for a test stage judged by its
    reports, one per failing case instead (the first LISTED_CASES), on the case's file and
    line when its report gives them and `case_files` finds the file ((job key, file) -> path)."""
    found = locations or {}
    files = case_files or {}
    commands = []
    for r in outcome.results:
        if r.status != "failed":
            continue
        if r.reports is not None and r.reports.failing:
            for case in r.reports.failing[:LISTED_CASES]:
                file = files.get((r.key, case.file)) if case.file else None
                body = [
                    case.message or case.outcome,
                    *case.body.splitlines()[:ANNOTATION_TAIL_LINES],
                ]
                commands.append(
                    error_annotation(
                        file, case.line if file else None, f"{r.key}: {case.title}", "\n".join(body)
                    )
                )
            continue
        where = f" at {r.failed_step}" if r.failed_step else ""
        body = [r.error or "failed", *r.tail[-ANNOTATION_TAIL_LINES:]]
        file, line = found.get(r.key, (None, None))
        commands.append(error_annotation(file, line, f"{r.key} failed{where}", "\n".join(body)))
    return commands


def group(name: str) -> str:
    """Opens a collapsed group of log lines."""
    return f"::group::{escape_data(printable(name))}"


def endgroup() -> str:
    return "::endgroup::"


def add_mask(value: str) -> str:
    """`::add-mask::VALUE`: the runner shows `***` for VALUE in the rest of the job's log.
    One line each: a value with a line break is masked line by line."""
    if "\n" in value or "\r" in value:
        raise ValueError("a value to mask holds a line break: mask each of its lines")
    return f"::add-mask::{escape_data(value)}"


def quoted_log(lines: Iterable[str]) -> list[str]:
    """`lines` between `::stop-commands::TOKEN` and `::TOKEN::`, so that the runner shows the
    workflow commands they contain instead of obeying them; TOKEN is fresh and not in them."""
    shown = [part for line in lines for part in printable(line).splitlines() or [""]]
    token = _fresh_token("orch-", shown)
    return [f"::stop-commands::{token}", *shown, f"::{token}::"]


def log_group(name: str, lines: Iterable[str]) -> list[str]:
    """A target's log as a collapsed group whose commands are not obeyed."""
    return [group(name), *quoted_log(lines), endgroup()]


# --- Where the runner wants it -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubTarget:
    """The files a GitHub Actions step reads back; None when the runner names none."""

    summary: Path | None
    output: Path | None


def from_environ(
    environ: Mapping[str, str] | None = None, *, force: bool = False
) -> GitHubTarget | None:
    """The runner's files when orch runs in GitHub Actions (or `force`), else None."""
    env = os.environ if environ is None else environ
    if not force and env.get("GITHUB_ACTIONS") != "true":
        return None
    summary = env.get("GITHUB_STEP_SUMMARY")
    output = env.get("GITHUB_OUTPUT")
    return GitHubTarget(
        summary=Path(summary) if summary else None, output=Path(output) if output else None
    )
