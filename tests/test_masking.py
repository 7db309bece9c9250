"""Secret values masked in what orch writes of its builds' output: the masker, then a run on a
fake engine whose build prints them, through every file and stream the run writes."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence

import anyio
import pytest

from orchestrator.ci.github import add_mask
from orchestrator.errors import Location
from orchestrator.files import destination
from orchestrator.plan.model import Secret
from orchestrator.report.console import StatusView
from orchestrator.run import pipeline
from orchestrator.run.masking import MASK, MIN_LENGTH, Masker, maskable, secret_values
from tests.kit import FakeEngine, make_target, project_of

# --- the masker -----------------------------------------------------------------------------


def test_every_occurrence_of_a_value_is_masked():
    mask = Masker.of(["hunter22"])
    assert mask("#7 0.2 hunter22 and hunter22") == "#7 0.2 *** and ***"
    assert mask("nothing here") == "nothing here"
    assert mask("") == ""


def test_no_values_leave_text_as_it_is():
    assert Masker.of([])("hunter22") == "hunter22"
    assert Masker()("hunter22") == "hunter22"


def test_values_shorter_than_four_characters_are_left_as_they_are():
    assert MIN_LENGTH == 4
    mask = Masker.of(["abc", "  x  ", "", "abcd"])
    assert mask.values == ("abcd",)
    assert mask("abc x abcd") == "abc x ***"


def test_a_value_that_contains_another_is_masked_whole():
    mask = Masker.of(["token", "token-with-more"])
    assert mask.values == ("token-with-more", "token")  # longest first
    assert mask("a token-with-more b token") == "a *** b ***"


def test_overlapping_values_leave_no_part_of_either_between_masks():
    mask = Masker.of(["abcdef", "defghi"])
    assert mask("x abcdefghi y") == "x *** y"
    assert Masker.of(["aaaa"])("aaaaaa") == "***"  # overlapping occurrences of one value


def test_a_multi_line_value_is_masked_whole_and_line_by_line():
    value = "machine example.com\n  password s3cr3t-pass\nab\n"
    assert maskable(value) == [value, "machine example.com", "password s3cr3t-pass"]
    mask = Masker.of([value])
    assert mask("#9 0.1   password s3cr3t-pass") == "#9 0.1   ***"
    assert mask("#9 0.1 machine example.com") == "#9 0.1 ***"
    assert mask("ab") == "ab"  # a line too short to mask
    assert mask.single_lines == ("password s3cr3t-pass", "machine example.com")


@pytest.mark.parametrize("value", ["a.b*c+d", "(x|y)[0-9]", "\\d+$^", "50% off", "a\tb c"])
def test_characters_a_pattern_would_read_are_matched_as_written(value):
    mask = Masker.of([value])
    assert mask(f"<{value}>") == f"<{MASK}>"
    assert mask("<a-b-c-d> (x) [0] 5") == "<a-b-c-d> (x) [0] 5"


def test_secret_values_come_from_the_environment_and_the_files(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_bytes(b"login me\npassword \xffpw-1234\n")
    at = Location(tmp_path / "buildplan.yaml", 1, 1)
    target = make_target(
        tmp_path,
        "app",
        secrets=(
            Secret(id="tok", env="TOK", location=at),
            Secret(id="unset", env="UNSET", optional=True, location=at),
            Secret(id="left-out", env="LEFT", optional=True, location=at),
            Secret(id="netrc", src=netrc, location=at),
            Secret(id="gone", src=tmp_path / "nope", optional=True, location=at),
        ),
    )
    environ = {"TOK": "tok-value", "LEFT": "left-value"}
    found = secret_values([target], environ, absent={("app", "left-out")})
    assert found == ["tok-value", "login me\npassword \ufffdpw-1234\n"]


def test_add_mask_is_one_line_escaped_as_the_runner_reads_it():
    assert add_mask("50%0A off") == "::add-mask::50%250A off"
    with pytest.raises(ValueError, match="line break"):
        add_mask("a\nb")


# --- a run whose builds print the secrets ---------------------------------------------------

# Made fresh: no other text of the run can hold them by chance.
TOKEN = f"tok-{uuid.uuid4().hex[:12]}"
PASSWORD = f"pw-{uuid.uuid4().hex[:12]}"
SHORT = "xyz"
PLAN = """\
services:
  bad:
    context: bad
    secrets:
      - {id: tok, env: ORCH_TEST_TOKEN}
      - {id: netrc, src: "%s"}
      - {id: short, env: ORCH_TEST_SHORT}
  good:
    context: good
    secrets:
      - {id: tok, env: ORCH_TEST_TOKEN}
"""
FILES = {"bad/Dockerfile": "FROM busybox\nRUN make\n", "good/Dockerfile": "FROM busybox\n"}


def test_no_secret_a_build_prints_reaches_what_the_run_writes(
    tmp_path, monkeypatch, capsys, isolated_git
):
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine example.com\npassword {PASSWORD}\n")
    project = project_of(tmp_path / "repo", PLAN % netrc, FILES)
    monkeypatch.setenv("ORCH_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("ORCH_TEST_SHORT", SHORT)
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    printed = f"#6 0.31 {TOKEN} password {PASSWORD} {SHORT}"
    engine = FakeEngine(
        outcomes={"bad": "failed"},
        errors={"bad": f"process did not complete successfully: {TOKEN}"},
        tails={"bad": (printed,)},
        steps={"bad": f"[2/2] RUN make TOKEN={TOKEN}"},
        logs={"bad": ("#6 [2/2] RUN make", printed), "good": (f"#5 {TOKEN}",)},
        warnings={"good": (f"cache not imported: {TOKEN}",)},
    )
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    request = pipeline.Request(
        report=destination(str(report)), junit=destination(str(junit)), ci="github"
    )
    err = io.StringIO()

    def view_for(order: Sequence[str]) -> StatusView:
        return StatusView(list(order), stream=err, kind="plain")  # the build output as well

    ran = anyio.run(lambda: pipeline.run(project, request, view_for, engine=engine))
    assert {r.key: r.status for r in ran.outcome.results} == {"bad": "failed", "good": "built"}
    assert "bad | " in err.getvalue() and "good | " in err.getvalue()
    out = capsys.readouterr().out
    logs = {r.key: project.plan.root / str(r.log) for r in ran.outcome.results}
    written = {
        "the console": err.getvalue(),
        "the log groups and annotations": "\n".join(
            line for line in out.splitlines() if not line.startswith("::add-mask::")
        ),
        "the report": report.read_text(),
        "JUnit": junit.read_text(),
        "the step summary": summary.read_text(),
        "bad's log": logs["bad"].read_text(),
        "good's log": logs["good"].read_text(),
    }
    for where, text in written.items():
        assert TOKEN not in text, where
        assert PASSWORD not in text, where
    assert f"#6 0.31 *** *** {SHORT}" in written["bad's log"]
    assert "#5 ***" in written["good's log"]
    assert f"#6 0.31 *** *** {SHORT}" in written["the console"]  # the failing step's tail
    assert "process did not complete successfully: ***" in written["the report"]
    assert json.loads(report.read_text())["targets"]["good"]["warnings"] == [
        "cache not imported: ***"
    ]
    # The runner is told each value before anything builds, and masks it in its own log too.
    masks = [line for line in out.splitlines() if line.startswith("::add-mask::")]
    assert masks == [
        f"::add-mask::password {PASSWORD}",
        "::add-mask::machine example.com",
        f"::add-mask::{TOKEN}",
    ]
    assert out.index("::add-mask::") == 0


def test_no_add_mask_outside_github(tmp_path, monkeypatch, capsys, isolated_git):
    project = project_of(
        tmp_path / "repo",
        "services:\n  good:\n    context: good\n    secrets: [{id: tok, env: ORCH_TEST_TOKEN}]\n",
        FILES,
    )
    monkeypatch.setenv("ORCH_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    request = pipeline.Request(ci="none")
    err = io.StringIO()
    ran = anyio.run(
        lambda: pipeline.run(
            project,
            request,
            lambda order: StatusView(list(order), live=False, stream=err),
            engine=FakeEngine(),
        )
    )
    assert ran.outcome.ok
    assert TOKEN not in capsys.readouterr().out


def test_add_mask_is_not_printed_to_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Terminal(), io.StringIO()
    mask = Masker.of([TOKEN])
    pipeline.mask_in_runner(mask, tty)
    pipeline.mask_in_runner(mask, pipe)
    assert tty.getvalue() == ""
    assert pipe.getvalue() == f"::add-mask::{TOKEN}\n"
