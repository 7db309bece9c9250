"""`orch schema` and `orch completion`: what editors and shells get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from orchestrator.plan.schema import editor_schema
from tests.kit import REPO, write_tree

ORCH = [sys.executable, "-m", "orchestrator"]


def orch(*args: str, cwd=REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ORCH, *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_the_schema_file_in_the_repository_is_what_orch_schema_prints():
    done = orch("schema")
    assert done.returncode == 0, done.stderr
    kept = (REPO / "buildplan.schema.json").read_text()
    assert json.loads(done.stdout) == json.loads(kept), "run: orch schema > buildplan.schema.json"


def test_the_schema_accepts_the_shipped_plan_and_says_what_a_value_must_be():
    schema = editor_schema()
    Draft202012Validator.check_schema(schema)
    plan = yaml.safe_load((REPO / "buildplan.yaml").read_text())
    assert list(Draft202012Validator(schema).iter_errors(plan)) == []
    assert not any(k.startswith("x-") for k in _keys(schema))
    context = schema["properties"]["services"]["additionalProperties"]["properties"]["context"]
    assert context["description"] == "A directory path relative to the plan file."
    bad = {"version": 1, "services": {"api": {"context": "api", "dockerfle": "Dockerfile"}}}
    assert list(Draft202012Validator(schema).iter_errors(bad))


def _keys(node: object) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_the_shipped_plan_names_the_schema_for_editors():
    first = (REPO / "buildplan.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=buildplan.schema.json"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_completion_script(shell):
    done = orch("completion", shell)
    assert done.returncode == 0, done.stderr
    assert "_ORCH_COMPLETE" in done.stdout


def test_an_unknown_shell_is_a_usage_error():
    done = orch("completion", "powershell")
    assert done.returncode == 2
    assert "'powershell' is not one of" in done.stderr


def complete(words: str, cwd) -> list[str]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "orch")],  # click names the variable after it
        cwd=cwd,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "_ORCH_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        },
    )
    assert "Traceback" not in done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


PLAN = "version: 1\nstages:\n  base: {context: base}\nservices:\n  api: {context: api}\n"
FILES = {"base/Dockerfile": "FROM busybox\n", "api/Dockerfile": "FROM base\n"}


def test_target_names_are_completed_from_the_plan(tmp_path):
    write_tree(tmp_path, {"buildplan.yaml": PLAN, **FILES})
    assert complete("orch build a", tmp_path) == ["api"]
    assert complete("orch why ", tmp_path) == ["base", "api"]
    write_tree(
        tmp_path / "ci",
        {
            "plan.yaml": PLAN.replace("api", "web"),
            "base/Dockerfile": "FROM busybox\n",
            "web/Dockerfile": "FROM base\n",
        },
    )
    assert complete("orch -f ci/plan.yaml plan w", tmp_path) == ["web"]


def test_a_broken_plan_completes_nothing_and_says_nothing(tmp_path):
    write_tree(tmp_path, {"buildplan.yaml": "version: 1\nservices: [\n"})
    assert complete("orch build ", tmp_path) == []
