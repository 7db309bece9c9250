"""The plan is found where the user stands or above, `-f` works before or after the command,
and messages name the plan's files relative to where the user stands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.commands.group import find_plan
from orchestrator.commands.main import main
from tests.kit import write_tree

PLAN = "version: 1\nstages:\n  base: {context: base}\nservices:\n  api: {context: svc/api}\n"
FILES = {
    "buildplan.yaml": PLAN,
    "base/Dockerfile": "FROM busybox\n",
    "svc/api/Dockerfile": "FROM base\n",
    "svc/api/src/main.go": "package main\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_tree(tmp_path, FILES)
    return tmp_path


def plan_json(capsys, *argv: str) -> dict:
    assert main([*argv, "plan", "--json"] if not argv or argv[0] == "-f" else list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_the_nearest_plan_above_is_found_and_named_relative(repo):
    assert find_plan(repo / "svc/api/src") == Path("../../../buildplan.yaml")
    assert find_plan(repo) == Path("buildplan.yaml")
    assert find_plan(repo.parent) == Path("buildplan.yaml")  # none: the load says so


def test_a_command_run_deep_in_the_tree_reads_the_plan_above(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo / "svc/api/src")
    shown = plan_json(capsys)
    assert [t["name"] for t in shown["targets"]] == ["base", "api"]


@pytest.mark.parametrize(
    "argv",
    [
        ["-f", "ci.yaml", "plan", "--json"],
        ["plan", "-f", "ci.yaml", "--json"],
        ["plan", "--json", "--file", "ci.yaml"],
        ["-f", "ci.yaml", "plan", "-f", "ci.yaml", "--json"],
    ],
)
def test_f_works_before_or_after_the_command(repo, monkeypatch, capsys, argv):
    write_tree(repo, {"ci.yaml": PLAN})
    monkeypatch.chdir(repo)
    assert main(argv) == 0, capsys.readouterr().err
    shown = json.loads(capsys.readouterr().out)
    assert shown["plan"].endswith("ci.yaml")


def test_two_plans_named_is_exit_2(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["-f", "a.yaml", "plan", "-f", "b.yaml"]) == 2
    assert "-f a.yaml and -f b.yaml name two plans" in capsys.readouterr().err


def test_every_command_takes_f_after_its_name(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo / "svc")
    for argv in (["graph"], ["matrix"], ["lint", "--no-hadolint"], ["schema"]):
        code = main([*argv, "-f", "../buildplan.yaml"])
        assert code in (0, 1), (argv, capsys.readouterr().err)  # lint may find something
        capsys.readouterr()


def test_an_error_names_the_file_relative_to_where_the_user_stands(repo, monkeypatch, capsys):
    (repo / "svc/api/Dockerfile").write_text("FROM base\nRUNN true\n")
    monkeypatch.chdir(repo / "base")
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("../svc/api/Dockerfile:2:1: error: unknown instruction: RUNN")
    monkeypatch.chdir(repo)
    assert main(["plan"]) == 2
    assert capsys.readouterr().err.startswith("svc/api/Dockerfile:2:1: error:")


def test_no_plan_anywhere_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan"]) == 2
    err = capsys.readouterr().err
    assert "no plan file at buildplan.yaml" in err
    assert "orch init" in err and "nearest directory above" in err
