"""The command line as a user meets it: output, exit codes, and no traceback on bad input."""

from __future__ import annotations

import json
import os

import pytest

from orchestrator import __version__
from orchestrator.commands.main import main
from tests.kit import REPO, write_tree
from tests.plan_corpus import CASES, CORPUS, prepare


@pytest.fixture
def at_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["plan"], ["graph"], ["build"], ["test"]])
def test_every_command_has_help(capsys, command):
    assert main([*command, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_plan_json_lists_the_example_in_a_valid_build_order(capsys, at_repo):
    assert main(["plan", "--json"]) == 0
    targets = json.loads(capsys.readouterr().out)["targets"]
    names = [t["name"] for t in targets]
    assert set(names) == {"base", "go-toolchain", "python-runtime", "api", "worker", "scheduler"}
    seen: set[str] = set()
    for t in targets:
        assert set(t["depends_on"]) <= seen, t
        seen.add(t["name"])
    api = next(t for t in targets if t["name"] == "api")
    assert api["kind"] == "service"
    assert api["depends_on"] == ["go-toolchain"]
    bake = api["bake"]
    assert bake["context"] == "examples/monorepo/services/api"
    assert bake["dockerfile"] == "Dockerfile"
    assert bake["target"] == "runtime"
    toolchain = next(t for t in targets if t["name"] == "go-toolchain")
    assert toolchain["versioned_image"] == f"orch/go-toolchain:{toolchain['version']}"
    assert bake["contexts"] == {"go-toolchain": f"docker-image://{toolchain['versioned_image']}"}
    assert api["image"] == "orch/api:latest"
    assert api["tags"] == ["orch/api:latest"]
    assert bake["tags"] == [api["versioned_image"]]  # the plan's tag moves once it is built
    assert bake["cache-from"] == ["type=local,src=.orch-cache/api"]
    assert bake["cache-to"] == ["type=local,dest=.orch-cache/api,mode=max"]
    assert bake["args"] == {}
    assert bake["platforms"] == []
    worker = next(t for t in targets if t["name"] == "worker")
    assert worker["bake"]["contexts"]["shared"] == "examples/monorepo/libs/jobspec"


def test_plan_of_one_target_is_it_and_its_upstream(capsys, at_repo):
    assert main(["plan", "api", "--json"]) == 0
    names = [t["name"] for t in json.loads(capsys.readouterr().out)["targets"]]
    assert names == ["base", "go-toolchain", "api"]


def test_plan_table_shows_each_target(capsys, at_repo):
    assert main(["plan"]) == 0
    out = capsys.readouterr().out
    for name in ("base", "go-toolchain", "python-runtime", "api", "worker", "scheduler"):
        assert name in out


def test_bake_file_is_one_self_contained_bake(tmp_path, capsys, at_repo):
    out = tmp_path / "all.json"
    assert main(["plan", "api", "--bake-file", str(out)]) == 0
    bake = json.loads(out.read_text())
    assert bake["group"]["default"]["targets"] == ["base", "go-toolchain", "api"]
    assert bake["target"]["api"]["contexts"] == {"go-toolchain": "target:go-toolchain"}


@pytest.mark.parametrize(
    ("fmt", "needle"),
    [("text", "api"), ("mermaid", "flowchart"), ("dot", "digraph")],
)
def test_graph_formats(capsys, at_repo, fmt, needle):
    assert main(["graph", "--format", fmt]) == 0
    assert needle in capsys.readouterr().out


def test_unknown_target_is_exit_2_with_a_suggestion(capsys, at_repo):
    assert main(["plan", "apii"]) == 2
    err = capsys.readouterr().err
    assert "unknown target 'apii'" in err
    assert "did you mean 'api'" in err
    assert "Traceback" not in err


def test_missing_plan_file_is_exit_2(tmp_path, capsys):
    assert main(["-f", str(tmp_path / "nope.yaml"), "plan"]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_contradicting_flags_are_exit_2(capsys, at_repo):
    assert main(["build", "--fail-fast", "--keep-going"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_missing_engine_is_exit_3(tmp_path, capsys, monkeypatch):
    # The autouse fixture points DOCKER_HOST at a socket that does not exist.
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nservices:\n  svc: {context: svc}\n",
            "svc/Dockerfile": "FROM busybox:latest\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    assert main(["build"]) == 3
    err = capsys.readouterr().err
    # With a docker CLI, the daemon is not answering; without one, the CLI is not found.
    assert "not answering" in err or "docker CLI was not found" in err
    assert "scripts/engine" in err
    assert "Traceback" not in err
    assert not (tmp_path / ".orch" / "runs").exists()  # no run was started


@pytest.mark.parametrize("case", CASES)
def test_every_bad_plan_is_exit_2_with_a_located_message(case, tmp_path, capsys):
    plan = prepare(CORPUS / case, tmp_path)
    assert main(["-f", str(plan), "plan"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "hint: " in err
    assert str(plan) in err.splitlines()[0]


def test_a_cycle_through_dockerfiles_is_printed_with_where_each_edge_comes_from(tmp_path, capsys):
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": (
                "version: 1\nstages:\n  a: {context: a}\n"
                "services:\n  b:\n    context: b\n    depends_on: [a]\n"
            ),
            "a/Dockerfile": "FROM busybox:latest AS x\nCOPY --from=b /out /out\n",
            "b/Dockerfile": "FROM busybox:latest\nRUN echo b > /out\n",
        },
    )
    assert main(["-f", str(tmp_path / "buildplan.yaml"), "plan"]) == 2
    err = capsys.readouterr().err
    assert "a -> b -> a" in err
    assert "depends_on" in err
    assert "a/Dockerfile:2" in err
    assert "Traceback" not in err


def test_a_target_stage_the_dockerfile_lacks_lists_the_stages_it_has(tmp_path, capsys):
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nservices:\n  svc: {context: svc, target: runtme}\n",
            "svc/Dockerfile": "FROM busybox:latest AS build\nFROM build AS runtime\n",
        },
    )
    assert main(["-f", str(tmp_path / "buildplan.yaml"), "plan"]) == 2
    err = capsys.readouterr().err
    assert "runtme" in err
    assert "build, runtime" in err
    assert "did you mean 'runtime'" in err
    assert err.startswith(f"{tmp_path / 'buildplan.yaml'}:3:")


def test_missing_docker_cli_is_exit_3(tmp_path, capsys, monkeypatch):
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nservices:\n  svc: {context: svc}\n",
            "svc/Dockerfile": "FROM busybox:latest\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert main(["build"]) == 3
    err = capsys.readouterr().err
    assert "docker CLI was not found" in err
    assert "Traceback" not in err


def test_plan_json_is_valid_utf8_json_when_a_path_is_not_utf8(tmp_path, monkeypatch, capsysbinary):
    root = tmp_path / os.fsdecode(b"repo-\xfd")  # a directory name that is not UTF-8
    write_tree(
        root,
        {
            "buildplan.yaml": "version: 1\nservices:\n  svc: {context: svc}\n",
            "svc/Dockerfile": "FROM busybox:latest\n",
        },
    )
    monkeypatch.chdir(root)
    assert main(["plan", "--json"]) == 0
    out = capsysbinary.readouterr().out
    doc = json.loads(out.decode("utf-8"))  # strict UTF-8: no lone surrogate got through
    assert "repo-\\xfd" in doc["plan"]  # the byte, written as the text \xfd
