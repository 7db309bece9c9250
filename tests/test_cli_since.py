"""`--since`, versions and `orch why` through the CLI, in real git repositories, no engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.commands.main import main
from tests.kit import commit, git, make_repo, write_tree

PLAN = """\
version: 1
stages:
  base: {context: base}
services:
  a: {context: a}
  b: {context: b}
  c: {context: c}
"""
FILES = {
    "buildplan.yaml": PLAN,
    "base/Dockerfile": "FROM busybox\n",
    "a/Dockerfile": "FROM base\nCOPY . /a\n",
    "a/main.py": "print('a')\n",
    "b/Dockerfile": "FROM busybox\nCOPY . /b\n",
    "b/main.py": "print('b')\n",
    "c/Dockerfile": "FROM base\n",
}


pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_repo(tmp_path, FILES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, object]]:
    assert main(["plan", "--json", *args]) == 0
    return {t["name"]: t for t in json.loads(capsys.readouterr().out)["targets"]}


def test_plan_shows_a_version_per_target_that_moves_with_its_inputs(repo, capsys):
    before = plan_json(capsys)
    (repo / "a" / "main.py").write_text("print('A')\n")
    after = plan_json(capsys)
    assert after["a"]["version"] != before["a"]["version"]
    assert {n: after[n]["version"] for n in ("base", "b", "c")} == {
        n: before[n]["version"] for n in ("base", "b", "c")
    }
    assert after["a"]["versioned_image"] == f"orch/a:{after['a']['version']}"


def test_plan_since_gives_each_target_a_status_and_a_reason(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    shown = plan_json(capsys, "--since", "HEAD")
    assert shown["b"]["status"] == "unaffected"
    assert shown["c"]["status"] == "unaffected"
    assert shown["a"]["status"] == "pending"  # unit tests have no engine to find its image in
    assert str(shown["a"]["reason"]).startswith("a/main.py changed (context)")
    # Every target has its version, affected or not: never a null to guess at.
    assert all(isinstance(shown[n]["version"], str) for n in ("a", "b", "c", "base"))


def test_plan_since_lists_the_upstream_a_build_needs_as_part_of_the_run(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    shown = plan_json(capsys, "--since", "HEAD")
    # `orch build --since HEAD` runs a and the base it builds on (built when missing).
    assert shown["base"]["status"] == "pending"
    assert str(shown["base"]["reason"]).startswith("a builds on it, and its image for version ")
    assert {n: t["status"] for n, t in shown.items() if n not in ("a", "base")} == {
        "b": "unaffected",
        "c": "unaffected",
    }


def test_a_changed_stage_affects_what_builds_on_it(repo, capsys):
    (repo / "base" / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    shown = plan_json(capsys, "--since", "HEAD")
    assert {n: t["status"] for n, t in shown.items()} == {
        "base": "pending",
        "a": "pending",
        "b": "unaffected",
        "c": "pending",
    }
    assert "it builds on base, which is affected" in str(shown["c"]["reason"])


def test_build_since_with_nothing_affected_builds_nothing_and_says_so(repo, capsys):
    report = repo / "report.json"
    assert main(["build", "--since", "HEAD", "--report", str(report)]) == 0
    assert "nothing to build: no change since HEAD affects them" in capsys.readouterr().err
    assert json.loads(report.read_text())["targets"] == {}


def test_graph_since_draws_what_is_affected_and_what_it_needs(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    assert main(["graph", "--since", "HEAD"]) == 0
    drawn = capsys.readouterr().out
    assert "a" in drawn and "base" in drawn
    assert "b" not in drawn.split()


def test_why_says_what_it_could_not_look_up_and_that_there_is_no_build_to_compare(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    assert main(["why", "a", "--since", "HEAD"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("a: would be built: its image for version ")
    assert "could not be looked up (the engine did not answer)" in text
    assert "a/main.py changed (context)" in text
    assert "it has not been built in this checkout" in text


def test_why_of_an_unaffected_target_says_so(repo, capsys):
    assert main(["why", "b", "--since", "HEAD"]) == 0
    assert capsys.readouterr().out.startswith("b: unaffected: no change since HEAD")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--since", "no-such-ref"], "no-such-ref"),
        (["why", "nope"], "unknown target"),
    ],
)
def test_bad_since_input_is_exit_2(repo, capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_since_outside_a_git_work_tree_is_exit_2(tmp_path, capsys, monkeypatch):
    write_tree(tmp_path, FILES)
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--since", "HEAD"]) == 2
    assert "--since needs a git work tree" in capsys.readouterr().err


def test_the_plan_table_under_since_shows_each_status_and_why(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    assert main(["plan", "--since", "HEAD"]) == 0
    rows = {
        line.split()[1]: line
        for line in capsys.readouterr().out.splitlines()
        if line[:1].isdigit()  # a row starts with its number
    }
    assert "pending" in rows["a"]
    assert "a/main.py changed" in rows["a"]
    assert "unaffected" in rows["b"]


def test_matrix_since_fans_out_over_the_changed_service_only(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    assert main(["matrix", "--since", "HEAD"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [entry["service"] for entry in shown["include"]] == ["a"]
    assert shown["include"][0]["needs"] == ["base"]


def test_matrix_without_since_has_every_service(repo, capsys):
    assert main(["matrix"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [entry["service"] for entry in shown["include"]] == ["a", "b", "c"]
    assert shown["shared"] == ["base"]


# --- revision syntax ------------------------------------------------------------------------


def test_since_a_range_takes_the_commits_up_to_its_end_and_not_the_work_tree(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    commit(repo, "a changed")
    (repo / "b" / "main.py").write_text("print('B')\n")  # not committed: not in the range
    for since in ("HEAD~1..HEAD", "HEAD~1.."):
        shown = plan_json(capsys, "--since", since)
        assert {n: shown[n]["status"] for n in ("a", "b", "c")} == {
            "a": "pending",
            "b": "unaffected",
            "c": "unaffected",
        }
        assert str(shown["a"]["reason"]).startswith("a/main.py changed (context)")
    # The same range backwards: from the merge base (HEAD~1) to HEAD~1, nothing.
    shown = plan_json(capsys, "--since", "HEAD..HEAD~1")
    assert {t["status"] for t in shown.values()} == {"unaffected"}
    # Without a range the work tree counts.
    assert plan_json(capsys, "--since", "HEAD~1")["b"]["status"] == "pending"


def since_error(capsys: pytest.CaptureFixture[str], since: str) -> str:
    assert main(["plan", "--since", since]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "GitError" not in err
    return err


def test_since_a_three_dot_range_is_refused_with_the_two_dot_form(repo, capsys):
    (repo / "a" / "main.py").write_text("print('A')\n")
    commit(repo, "a changed")
    err = since_error(capsys, "HEAD...HEAD~1")
    assert err.startswith("error: --since HEAD...HEAD~1: orch takes one commit (REF) or one range")
    assert "write `--since HEAD..HEAD~1`" in err
    assert "merge base" in err
    assert "write `--since HEAD~1..x`" in since_error(capsys, "HEAD~1..HEAD..x")


@pytest.mark.parametrize("since", ["@{u}", "@{upstream}", "main@{u}", "main@{UPSTREAM}"])
def test_since_an_upstream_there_is_none_of_says_how_to_set_one(repo, capsys, since):
    err = since_error(capsys, since)
    assert f"error: '{since}': the branch 'main' has no upstream" in err
    assert "git branch --set-upstream-to=origin/main main" in err
    assert "--since origin/main" in err


def test_since_an_upstream_of_a_detached_head_or_of_no_branch_says_so(repo, capsys):
    assert "there is no branch 'nope' in this clone" in since_error(capsys, "nope@{u}")
    git(repo, "checkout", "-q", "--detach")
    assert "HEAD is detached" in since_error(capsys, "@{u}")


def test_since_in_a_repository_with_no_commit_yet_says_so(tmp_path, capsys, monkeypatch):
    write_tree(tmp_path, FILES)
    git(tmp_path, "init", "-q", "-b", "main")
    monkeypatch.chdir(tmp_path)
    for since in ("HEAD", "HEAD~1..HEAD", "@{u}", "main"):
        err = since_error(capsys, since)
        assert "this repository has no commit yet" in err
        assert "git fetch" not in err


@pytest.mark.parametrize("zeros", ["0" * 40, "0" * 64, "0" * 40 + "..HEAD"])
def test_githubs_all_zero_before_on_a_first_push_affects_everything_with_a_warning(
    repo, capsys, zeros
):
    assert main(["plan", "--since", zeros, "--json"]) == 0
    said = capsys.readouterr()
    shown = json.loads(said.out)["targets"]
    assert shown and all(t["status"] != "unaffected" for t in shown)
    assert "names no commit" in said.err and "every target is affected" in said.err
    assert main(["matrix", "--since", zeros]) == 0
    assert len(json.loads(capsys.readouterr().out)["include"]) >= 2  # every service


def test_since_auto_on_a_first_push_affects_everything(repo, capsys, tmp_path, monkeypatch):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": "0" * 40}))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    assert main(["matrix", "--since", "auto"]) == 0
    assert len(json.loads(capsys.readouterr().out)["include"]) >= 2


def test_since_auto_outside_github_actions_is_exit_2_with_the_fix(repo, capsys, monkeypatch):
    for name in ("GITHUB_ACTIONS", "GITHUB_BASE_REF", "GITHUB_EVENT_PATH"):
        monkeypatch.delenv(name, raising=False)
    assert main(["plan", "--since", "auto"]) == 2
    err = capsys.readouterr().err
    assert "not GitHub Actions" in err and "Traceback" not in err
