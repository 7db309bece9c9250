"""`orch matrix`: one entry per (affected) service, and the shared targets a first job builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.ci.matrix import matrix, step_outputs
from orchestrator.inputs.changes import Affected, PlanThen, decide
from orchestrator.project import Project, load_project
from tests.kit import REPO, project_of

PLAN = """\
stages:
  base: {context: stages/base}
  toolchain: {context: stages/toolchain}
  pylib: {context: stages/pylib}
services:
  api: {context: services/api, target: runtime, test: [test, lint]}
  worker: {context: services/worker, test: test}
  scheduler: {context: services/scheduler}
  edge: {context: services/edge, depends_on: [api]}
"""

FILES = {
    "stages/base/Dockerfile": "FROM busybox\n",
    "stages/toolchain/Dockerfile": "FROM base\n",
    "stages/pylib/Dockerfile": "FROM base\n",
    "services/api/Dockerfile": (
        "FROM toolchain AS build\nFROM build AS test\nFROM build AS lint\n"
        "FROM scratch AS runtime\nCOPY --from=build /app /app\n"
    ),
    "services/api/main.go": "package main\n",
    "services/worker/Dockerfile": "FROM pylib AS test\nFROM pylib\n",
    "services/worker/app.py": "print()\n",
    "services/scheduler/Dockerfile": "FROM pylib\n",
    "services/edge/Dockerfile": "FROM busybox\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return project_of(tmp_path, PLAN, FILES)


def since(project: Project, *changed: str) -> Affected:
    """What `changed` (relative to the plan's directory, its repository's top) affects."""
    text = project.plan.path.read_text()
    then = PlanThen(text=text, path="buildplan.yaml", base="0" * 40)
    return decide(
        project, top=project.plan.root, changed=changed, then=then, now_text=text, ref="main"
    )


def entries(result: dict[str, object]) -> dict[str, dict[str, object]]:
    include = result["include"]
    assert isinstance(include, list)
    return {e["service"]: e for e in include}


def test_every_service_is_an_entry_with_what_it_needs_in_build_order(project):
    result = matrix(project, None)
    assert [e["service"] for e in result["include"]] == ["api", "worker", "scheduler", "edge"]
    by = entries(result)
    assert by["api"]["needs"] == ["base", "toolchain"]
    assert by["worker"]["needs"] == ["base", "pylib"]
    assert by["edge"]["needs"] == ["base", "toolchain", "api"]  # a service it depends on
    assert by["api"]["tests"] == ["test", "lint"]
    assert by["scheduler"]["tests"] == []
    json.dumps(result)  # what the CLI prints


def test_what_two_entries_would_build_is_shared_and_no_entry_builds_it(project):
    result = matrix(project, None)
    # api is an entry and also what edge builds on: its own job and edge's would race on it.
    assert result["shared"] == ["base", "toolchain", "pylib", "api"]
    by = entries(result)
    assert by["api"]["targets"] == []
    assert by["worker"]["targets"] == ["worker"]
    assert by["edge"]["targets"] == ["edge"]
    built = [t for e in result["include"] for t in e["targets"]]
    assert len(built) == len(set(built))  # no target is built by two matrix jobs
    assert not set(built) & set(result["shared"])


def test_after_a_one_service_change_only_that_service_fans_out(project):
    result = matrix(project, since(project, "services/worker/app.py"))
    assert result == {
        "schema_version": 1,
        "include": [
            {
                "service": "worker",
                "needs": ["base", "pylib"],
                "targets": ["base", "pylib", "worker"],
                "tests": ["test"],
            }
        ],
        "shared": [],  # one job: nothing to race with, it builds its stages itself
    }


def test_a_shared_stage_change_fans_out_to_its_users_and_is_built_first(project):
    result = matrix(project, since(project, "stages/pylib/Dockerfile"))
    assert [e["service"] for e in result["include"]] == ["worker", "scheduler"]
    assert result["shared"] == ["base", "pylib"]
    assert [e["targets"] for e in result["include"]] == [["worker"], ["scheduler"]]


def test_a_change_to_a_service_others_build_on_fans_out_to_both(project):
    result = matrix(project, since(project, "services/api/main.go"))
    assert [e["service"] for e in result["include"]] == ["api", "edge"]
    assert result["shared"] == ["base", "toolchain", "api"]


def test_a_change_that_hits_nothing_is_an_empty_matrix(project):
    assert matrix(project, since(project, "README.md")) == {
        "schema_version": 1,
        "include": [],
        "shared": [],
    }


def test_the_example_monorepo_fans_out_to_worker_alone_after_a_worker_change():
    example = load_project(REPO / "buildplan.yaml")
    text = example.plan.path.read_text()
    then = PlanThen(text=text, path="buildplan.yaml", base="0" * 40)
    changed = "examples/monorepo/services/worker/worker/app.py"
    touched = decide(example, top=REPO, changed=[changed], then=then, now_text=text, ref="main")
    result = matrix(example, touched)
    assert result == {
        "schema_version": 1,
        "include": [
            {
                "service": "worker",
                "needs": ["base", "python-runtime"],
                "targets": ["base", "python-runtime", "worker"],
                "tests": ["test"],
            }
        ],
        "shared": [],
    }
    everything = matrix(example, None)
    assert [e["service"] for e in everything["include"]] == ["api", "worker", "scheduler"]
    assert everything["shared"] == ["base", "python-runtime"]


def test_the_step_outputs_are_what_strategy_matrix_and_orch_build_take():
    document = {
        "include": [{"service": "api", "needs": ["base"], "targets": ["api"], "tests": []}],
        "shared": ["base", "toolchain"],
    }
    out = step_outputs(document)
    assert json.loads(out["matrix"]) == {"include": document["include"]}  # no `shared` dimension
    assert out["shared"] == "base toolchain"
    assert json.loads(out["affected"]) == ["api"]
    assert out["any"] == "true"
    assert step_outputs({"include": [], "shared": []})["any"] == "false"
