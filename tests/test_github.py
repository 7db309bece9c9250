"""What GitHub Actions gets from a run, read back the way GitHub reads it.

The readers below model the runner and GitHub's Markdown: the step outputs file as the runner's
file-command reader splits it, workflow commands as the runner parses and unescapes them, and
table rows as GFM splits cells on unescaped pipes.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.ci import github
from orchestrator.report.console import printable
from orchestrator.run.results import JobResult, RunOutcome

BASE = JobResult(
    key="base",
    status="built",
    duration_s=12.34,
    version="0123456789abcdef0123",
    image="localhost:5000/orch/base:latest",
    versioned_image="localhost:5000/orch/base:0123456789abcdef0123",
    digest="sha256:" + "b" * 64,
    size_bytes=66_500_000,
    cached_steps=3,
)
TOOLCHAIN = JobResult(
    key="go-toolchain",
    status="up-to-date",
    version="fedcba9876543210fedc",
    image="orch/go-toolchain:latest",
    versioned_image="orch/go-toolchain:fedcba9876543210fedc",
    size_bytes=300_000_000,
)
API = JobResult(
    key="api",
    status="failed",
    duration_s=2.5,
    failed_step="[api 3/4] RUN go build ./...",
    error="process did not complete successfully: exit code: 1",
    tail=("main.go:3: undefined: x",),
    log=".orch/logs/api.log",
)
WEB = JobResult(key="web", status="blocked", error="upstream api failed")
WORKER = JobResult(
    key="worker",
    status="built",
    duration_s=1.0,
    image="orch/worker:latest",
    versioned_image="orch/worker:1111111111aaaaaaaaaa",
    size_bytes=12_000_000,
)
WORKER_TEST = JobResult(key="worker:test", status="passed", duration_s=0.5)
OUTCOME = RunOutcome(results=(BASE, TOOLCHAIN, API, WEB, WORKER, WORKER_TEST), test=False)


# --- Readers, as GitHub reads ---------------------------------------------------------------


def table_rows(markdown: str) -> list[list[str]]:
    """Each table row's cells, as rendered text: split on unescaped pipes, then unescaped."""
    rows = []
    for line in markdown.splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([rendered(cell.strip()) for cell in cells])
    return rows[1:]  # the header


def rendered(text: str) -> str:
    """The text a GFM inline span shows: backslash escapes and entities undone."""
    assert not re.search(r"<[A-Za-z/!?]", text), f"raw HTML in {text!r}"
    assert not re.search(r"(?<!\\)[`*_\[\]~$@]", text.replace("**", "")), f"markup in {text!r}"
    if text.startswith("**") and text.endswith("**"):  # bold
        text = text[2:-2]
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text))


def read_output_file(text: str) -> dict[str, str]:
    """The runner's reading of `$GITHUB_OUTPUT`: `NAME=VALUE` or `NAME<<DELIM` lines, the value
    the text between that line and the line that is exactly DELIM, less the line break before."""
    values: dict[str, str] = {}
    index = 0

    def read_line() -> tuple[str, str | None]:
        nonlocal index
        lf = text.find("\n", index)
        if lf < 0:
            line, index = text[index:], len(text)
            return line, None
        crlf = text.find("\r\n", index)
        newline = "\r\n" if 0 <= crlf < lf else "\n"
        line = text[index : lf + 1 - len(newline)]
        index = lf + 1
        return line, newline

    while index < len(text):
        line, _ = read_line()
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            values[line[:equals]] = line[equals + 1 :]
            continue
        name, delimiter = line.split("<<", 1)
        assert name and delimiter
        start = end = index
        while True:
            assert index < len(text), "matching delimiter not found"
            got, newline = read_line()
            if got == delimiter:
                break
            assert newline is not None
            end = index - len(newline)
        values[name] = text[start:end] if start < end else ""
    return values


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def read_command(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command as the runner parses it: name, properties, data."""
    assert line.startswith("::")
    end = line.index("::", 2)
    info, data = line[2:end], line[end + 2 :]
    name, _, props = info.partition(" ")
    properties = {}
    for pair in filter(None, props.split(",")):
        key, _, value = pair.partition("=")
        properties[key] = unescape_property(value)
    return name, properties, unescape_data(data)


def obeyed(lines: list[str]) -> list[tuple[str, dict[str, str], str]]:
    """The workflow commands the runner would carry out, honouring `::stop-commands::`."""
    commands = []
    resume: str | None = None
    for line in lines:
        if resume is not None:
            if line == f"::{resume}::":
                resume = None
            continue
        if not line.startswith("::") or "::" not in line[2:]:
            continue
        name, props, data = read_command(line)
        if name == "stop-commands":
            resume = data
        else:
            commands.append((name, props, data))
    return commands


# --- The step summary -------------------------------------------------------------------------


def test_the_summary_table_has_every_job_with_failed_ones_first():
    rows = table_rows(github.summary_markdown(OUTCOME))
    assert [r[0] for r in rows] == ["api", "base", "go-toolchain", "web", "worker", "worker:test"]
    assert [r[1] for r in rows] == [
        "failed",
        "built",
        "up-to-date",
        "blocked",
        "built",
        "passed",
    ]
    by_key = {r[0]: r for r in rows}
    assert by_key["base"][2:5] == ["12.3s", "66.5 MB", "3"]
    assert by_key["go-toolchain"][2:5] == ["", "300.0 MB", ""]
    assert by_key["api"][5] == "[api 3/4] RUN go build ./..."
    assert by_key["web"][5] == "upstream api failed"


def test_the_summary_heading_gives_the_verdict_and_the_counts():
    text = github.summary_markdown(OUTCOME)
    assert text.startswith("### orch build: failed\n\n1 blocked, 2 built, 1 failed, 1 passed,")
    ok = RunOutcome(results=(BASE,), test=True)
    assert github.summary_markdown(ok).startswith("### orch test: ok\n")
    assert github.summary_markdown(ok, title="CI images").startswith("### CI images: ok\n")
    stopped = RunOutcome(results=(BASE,), test=False, interrupted=True)
    assert github.summary_markdown(stopped).startswith("### orch build: interrupted\n")
    assert "nothing to do" in github.summary_markdown(RunOutcome(results=(), test=False))


@pytest.mark.parametrize(
    ("size", "previous", "shown"),
    [
        (66_500_000, 65_300_000, "66.5 MB (+1.2 MB)"),
        (12_000_000, 1_100_000_000, "12.0 MB (-1.1 GB)"),
        (800, 800, "800 B (same)"),
        (66_500_000, None, "66.5 MB"),
        (None, 1000, ""),
    ],
)
def test_sizes_show_their_change_against_the_previous_build(size, previous, shown):
    result = JobResult(key="api", status="built", size_bytes=size)
    outcome = RunOutcome(results=(result,), test=False)
    prior = {} if previous is None else {"api": previous}
    rows = table_rows(github.summary_markdown(outcome, previous_sizes=prior))
    assert rows[0][3] == shown


def test_the_previous_size_comes_from_the_result_unless_the_caller_names_one():
    result = JobResult(
        key="api", status="built", size_bytes=2_000_000, previous_size_bytes=1_000_000
    )
    outcome = RunOutcome(results=(result,), test=False)
    assert table_rows(github.summary_markdown(outcome))[0][3] == "2.0 MB (+1.0 MB)"
    rows = table_rows(github.summary_markdown(outcome, previous_sizes={"api": 2_500_000}))
    assert rows[0][3] == "2.0 MB (-500.0 kB)"


HOSTILE = "a | b\nc <script>alert(1)</script> & `x` *y* [l](http://e) @user :smile: $x$ \x1b[2J\\|"


def test_hostile_build_text_stays_in_its_cell_and_shows_as_written():
    result = JobResult(
        key="api", status="failed", failed_step=HOSTILE, error=HOSTILE, tail=(HOSTILE,)
    )
    text = github.summary_markdown(RunOutcome(results=(result,), test=False))
    rows = table_rows(text)
    assert len(rows) == 1
    assert len(rows[0]) == 6
    assert (
        rows[0][5]
        == "a | b c <script>alert(1)</script> & `x` *y* [l](http://e) @user :smile: $x$ \\|"
    )
    assert "\x1b" not in text
    assert "<script" not in text


def test_a_failure_shows_its_step_and_the_tail_of_its_output_collapsed():
    tail = (*(f"line {i}" for i in range(100)), "</pre></details><img src=x>", "::error::x")
    result = JobResult(
        key="api",
        status="failed",
        failed_step="[api 3/4] RUN go build",
        error="exit code: 1",
        tail=tail,
        log=".orch/logs/api.log",
    )
    text = github.summary_markdown(RunOutcome(results=(result, BASE), test=False))
    failure = text[text.index("#### api failed") :]
    assert "Failing step: \\[api 3/4\\] RUN go build" in failure
    assert "Error: exit code\\: 1" in failure
    assert "Full log: .orch/logs/api.log" in failure
    summary_line = next(line for line in failure.splitlines() if "<summary>" in line)
    assert (
        summary_line
        == f"<details><summary>api: last {github.TAIL_LINES} lines of the output</summary>"
    )
    block = failure[failure.index("<pre>\n") + 6 : failure.index("\n</pre>")]
    shown = [html.unescape(line) for line in block.split("\n")]
    assert shown == list(tail[-github.TAIL_LINES :])
    assert "<" not in block  # nothing in it can close the block or open a tag
    assert failure.count("</details>") == 1


def test_failures_come_in_build_order_after_the_table_and_warnings_last():
    other = JobResult(key="web", status="failed", error="boom", warnings=("cache | missed",))
    outcome = RunOutcome(results=(API, BASE, other), test=False, warnings=("state not saved",))
    text = github.summary_markdown(outcome)
    table_end = text.index("\n\n", text.index("| --- "))
    assert table_end < text.index("#### api failed") < text.index("#### web failed")
    assert text.index("#### web failed") < text.index("#### Warnings")
    assert "- web\\: cache \\| missed" in text
    assert "- state not saved" in text


# --- Step outputs -----------------------------------------------------------------------------


def test_outputs_name_the_verdict_the_affected_targets_and_the_images():
    values = github.outputs(OUTCOME, affected=["web", "api", "api"])
    assert values["ok"] == "false"
    assert json.loads(values["affected"]) == ["api", "web"]
    assert json.loads(values["built"]) == {
        "base": f"localhost:5000/orch/base@sha256:{'b' * 64}",
        "worker": "orch/worker:1111111111aaaaaaaaaa",  # no digest known: the versioned tag
    }
    assert json.loads(values["images"]) == {
        "base": "localhost:5000/orch/base:0123456789abcdef0123",
        "go-toolchain": "orch/go-toolchain:fedcba9876543210fedc",
        "worker": "orch/worker:1111111111aaaaaaaaaa",
    }
    assert github.outputs(RunOutcome(results=(BASE,), test=False))["ok"] == "true"


def test_the_outputs_file_reads_back_exactly():
    values = github.outputs(OUTCOME, affected=["api"])
    assert read_output_file(github.format_outputs(values)) == values


@given(
    st.dictionaries(
        st.text(st.characters(blacklist_characters="=<\r\n"), min_size=1),
        st.text().filter(lambda v: not v.endswith("\r")),
    )
)
def test_any_output_value_reads_back_exactly(values):
    assert read_output_file(github.format_outputs(values)) == values


def test_a_value_holding_delimiter_like_lines_reads_back_exactly(monkeypatch):
    # The first delimiter drawn occurs in the value; the one written is a fresh one.
    drawn = iter(["feed", "feed", "cafe"])
    monkeypatch.setattr(github.secrets, "token_hex", lambda _n: next(drawn))
    value = "a\nORCH_EOF_feed\nb<<c\nx=y\n"
    text = github.format_outputs({"v": value})
    assert text.startswith("v<<ORCH_EOF_cafe\n")
    assert read_output_file(text) == {"v": value}


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "a\nb"])
def test_a_name_the_runner_would_misread_is_refused(name):
    with pytest.raises(ValueError, match="cannot name"):
        github.format_outputs({name: "v"})


def test_a_value_ending_in_a_carriage_return_is_refused():
    with pytest.raises(ValueError, match="carriage return"):
        github.format_outputs({"v": "x\r"})


# --- Workflow commands ------------------------------------------------------------------------


def test_an_annotation_reads_back_with_every_property():
    line = github.error_annotation(
        "services/a,b/Docker:file", 7, "api failed: 100%, really", "exit 1\nat %0A line"
    )
    assert line.count("::") == 2
    name, props, data = read_command(line)
    assert name == "error"
    assert props == {
        "file": "services/a,b/Docker:file",
        "line": "7",
        "title": "api failed: 100%, really",
    }
    assert data == "exit 1\nat %0A line"


@given(st.text(), st.text(), st.text())
def test_annotation_escaping_round_trips(file, title, message):
    file, title, message = (t.replace("\r", "") for t in (file, title, message))
    name, props, data = read_command(github.error_annotation(file, 3, title, message))
    assert name == "error"
    assert props["file"] == file
    assert props["title"] == printable(title)
    assert data == printable(message, github.MESSAGE_LIMIT)


def test_an_annotation_without_a_place_has_no_properties():
    assert github.error_annotation(None, None, None, "boom") == "::error::boom"
    assert github.error_annotation(None, 3, "t", "m") == "::error title=t::m"


def test_failed_jobs_are_annotated_on_their_dockerfile_line_when_it_is_known():
    other = JobResult(key="web", status="failed", error="cannot reach the registry")
    outcome = RunOutcome(results=(BASE, API, other), test=False)
    commands = [
        read_command(c)
        for c in github.failure_annotations(outcome, {"api": ("services/api/Dockerfile", 9)})
    ]
    assert commands == [
        (
            "error",
            {
                "file": "services/api/Dockerfile",
                "line": "9",
                "title": "api failed at [api 3/4] RUN go build ./...",
            },
            "process did not complete successfully: exit code: 1\nmain.go:3: undefined: x",
        ),
        ("error", {"title": "web failed"}, "cannot reach the registry"),
    ]


def test_a_log_inside_its_group_cannot_issue_workflow_commands():
    log = [
        "step 1",
        "::error file=x,line=1::forged",
        "::endgroup::",
        "::add-mask::secret",
        "::stop-commands::abc",
        "::abc::",
        "::set-output name=ok::true",
        "two\nlines",
        "\x1b]0;title\x07coloured",
    ]
    lines = github.log_group("api\nbuild", log)
    assert obeyed(lines) == [("group", {}, "api\nbuild"), ("endgroup", {}, "")]
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) > 20
    assert lines[-2] == f"::{token}::"
    assert lines[2:-2] == [*log[:7], "two", "lines", "coloured"]
    assert not any(token in line for line in lines[2:-2])


def test_the_stop_token_is_never_one_the_log_holds(monkeypatch):
    drawn = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(github.secrets, "token_hex", lambda _n: next(drawn))
    lines = github.quoted_log(["::orch-aaaa::", "::error::x"])
    assert lines[0] == "::stop-commands::orch-bbbb"
    assert obeyed(lines) == []


def test_an_empty_log_is_still_quoted():
    lines = github.quoted_log([])
    assert len(lines) == 2
    assert obeyed(lines) == []


# --- The runner's files -----------------------------------------------------------------------


def test_outside_github_actions_there_is_nothing_to_write():
    assert github.from_environ({}) is None
    assert github.from_environ({"GITHUB_ACTIONS": "false", "GITHUB_OUTPUT": "/o"}) is None


def test_in_github_actions_the_runner_names_the_files():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": "/s", "GITHUB_OUTPUT": "/o"}
    assert github.from_environ(env) == github.GitHubTarget(summary=Path("/s"), output=Path("/o"))


def test_forced_without_the_runners_files_names_none():
    assert github.from_environ({}, force=True) == github.GitHubTarget(summary=None, output=None)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": ""}
    assert github.from_environ(env) == github.GitHubTarget(summary=None, output=None)


def test_from_environ_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", "/tmp/out")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert github.from_environ() == github.GitHubTarget(summary=None, output=Path("/tmp/out"))


def test_an_annotation_takes_buildkits_line_when_the_step_text_matches_no_line(tmp_path):
    from orchestrator.ci.outputs import failure_locations
    from orchestrator.run.results import JobResult, RunOutcome
    from tests.kit import project_of

    dockerfile = "FROM busybox\nRUN <<EOF\nset -e\nexit 5\nEOF\n"
    project = project_of(
        tmp_path, "services:\n  api: {context: api}\n", {"api/Dockerfile": dockerfile}
    )
    failed = JobResult(
        key="api", status="failed", failed_step="[2/2] RUN <<EOF set -e exit 5 EOF", failed_line=2
    )
    guessed = JobResult(key="api", status="failed", failed_step="[2/2] RUN <<EOF set -e exit 5 EOF")
    assert failure_locations(project, RunOutcome(results=(failed,), test=False)) == {
        "api": ("api/Dockerfile", 2)
    }
    assert failure_locations(project, RunOutcome(results=(guessed,), test=False)) == {}
