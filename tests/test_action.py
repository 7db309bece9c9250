"""orch's GitHub Action (action.yml) and the example workflow: inputs reach orch as text, the
outputs and caches are what a workflow reads, the files pass GitHub's schemas and zizmor, and
the action's own `run:` steps work as the runner runs them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.ci import action
from orchestrator.errors import UsageError
from tests.kit import REPO, commit, git, make_repo, read_outputs

ACTION = REPO / "action.yml"
WORKFLOW = REPO / "examples" / "github-workflow.yml"
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def env_of(**inputs: str) -> dict[str, str]:
    return {action.PREFIX + k.upper(): v for k, v in inputs.items()}


# --- inputs to a command line ----------------------------------------------------------------


def test_every_input_is_an_argument_and_never_shell():
    inputs = action.read_inputs(
        env_of(
            command="build",
            targets=" api  worker\n",
            since="origin/feat/$(touch pwned)",
            push="true",
            args="--report 'a report.json' --set \"x=1;y\"",
            file="ci/buildplan.yaml",
        )
    )
    assert action.command_line(inputs) == [
        "-f",
        "ci/buildplan.yaml",
        "build",
        "--since",
        "origin/feat/$(touch pwned)",
        "--push",
        "--report",
        "a report.json",
        "--set",
        "x=1;y",
        "--",
        "api",
        "worker",
    ]


def test_a_target_that_looks_like_an_option_stays_a_target():
    line = action.command_line(action.read_inputs(env_of(targets="--force")))
    assert line == ["build", "--", "--force"]


def test_no_inputs_is_orch_build_of_every_service():
    assert action.command_line(action.read_inputs({})) == ["build"]


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        ({"command": "rm"}, "`command` is 'rm'"),
        ({"push": "maybe"}, "`push` is 'maybe'"),
        ({"command": "test", "push": "true"}, "`push` is true for `orch test`"),
        ({"command": "lint", "since": "auto"}, "`since` is set for `orch lint`"),
        ({"args": "--report 'open"}, "`args` cannot be split"),
    ],
)
def test_bad_inputs_name_the_input_and_the_fix(inputs, said):
    with pytest.raises(UsageError) as caught:
        action.read_inputs(env_of(**inputs))
    assert said in caught.value.message
    assert caught.value.hint


def test_bad_inputs_exit_2_with_the_message(capsys):
    assert action.main(["run"], env_of(command="deploy")) == 2
    assert "error: the action's input `command` is 'deploy'" in capsys.readouterr().err


# --- what is cached ----------------------------------------------------------------------------


def test_each_run_saves_a_new_entry_and_restores_the_newest_of_its_series():
    environ = {"RUNNER_OS": "Linux", "GITHUB_JOB": "service", "GITHUB_RUN_ID": "77"}
    api = action.read_inputs(env_of(targets="api"))
    key, restore = action.cache_key(api, environ | {"GITHUB_RUN_ATTEMPT": "2"})
    assert key.startswith(restore)
    assert key.endswith("-77-2")
    assert restore.startswith("orch-v1-Linux-service-")
    # Matrix entries of one job keep their series apart; so do commands.
    worker = action.read_inputs(env_of(targets="worker"))
    tests = action.read_inputs(env_of(command="test", targets="api"))
    assert (
        len({restore, action.cache_key(worker, environ)[1], action.cache_key(tests, environ)[1]})
        == 3
    )
    assert "," not in key  # actions/cache refuses a key with a comma
    odd = action.cache_key(api, environ | {"GITHUB_JOB": "a,b c"})[0]
    assert "," not in odd and " " not in odd


def test_the_state_worth_keeping_and_every_local_cache_are_cached(tmp_path):
    state = tmp_path / ".orch"
    paths = action.cache_paths(
        state, [tmp_path / ".orch-cache/api", Path("/var/cache/x")], tmp_path
    )
    assert paths == [
        ".orch/history.json",
        ".orch/image-sizes.json",
        ".orch/manifests",
        ".orch-cache/api",
        ".orch-cache/api.versions",
        "/var/cache/x",
        "/var/cache/x.versions",
    ]


# --- the files themselves --------------------------------------------------------------------


def steps_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "runs" in data:
        return list(data["runs"]["steps"])
    return [s for job in data["jobs"].values() for s in job.get("steps", [])]


@pytest.mark.parametrize("path", [ACTION, WORKFLOW], ids=["action", "workflow"])
def test_every_action_used_is_pinned_by_commit(path):
    for step in steps_of(load(path)):
        uses = step.get("uses")
        if uses is not None and uses != "./":
            assert SHA_PIN.match(uses), f"{uses} is not pinned by a commit SHA"


@pytest.mark.parametrize("path", [ACTION, WORKFLOW], ids=["action", "workflow"])
def test_no_expression_is_pasted_into_a_script(path):
    """A `${{ }}` in `run:` is template injection: a branch name becomes shell."""
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), step.get("name")


def test_the_action_exposes_what_a_workflow_reads():
    data = load(ACTION)
    assert set(data["inputs"]) >= {"command", "targets", "since", "push", "args"}
    assert set(data["outputs"]) >= {"ok", "affected", "built", "images", "matrix"}
    uses = [s.get("uses", "") for s in data["runs"]["steps"]]
    assert any(u.startswith("actions/cache/restore@") for u in uses)
    assert any(u.startswith("actions/cache/save@") for u in uses)


def test_the_workflow_grants_least_and_never_pushes_a_pull_request():
    data = load(WORKFLOW)
    assert data["permissions"] == {}
    for name, job in data["jobs"].items():
        assert "write-all" not in str(job.get("permissions"))
        writes = [k for k, v in job.get("permissions", {}).items() if v == "write"]
        assert writes in ([], ["packages"]), name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    shared = data["jobs"]["shared"]
    assert "github.event_name == 'push'" in shared["if"]
    assert "vars.ORCH_REGISTRY != ''" in shared["if"]
    service = data["jobs"]["service"]
    assert service["env"]["PUBLISH"] == (
        "${{ github.event_name == 'push' && vars.ORCH_REGISTRY != '' }}"
    )
    assert service["needs"] == ["affected", "shared"]  # shared targets built once, first
    assert service["strategy"]["matrix"] == "${{ fromJSON(needs.affected.outputs.matrix) }}"
    build = next(s for s in service["steps"] if s.get("name", "").startswith("Build"))
    assert build["with"]["push"] == "${{ env.PUBLISH }}"
    affected = data["jobs"]["affected"]
    assert affected["steps"][0]["with"]["fetch-depth"] == 0  # since: auto needs the history
    assert affected["steps"][1]["with"] == {"command": "matrix", "since": "auto"}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN))
    assert found, f"{name} is a development dependency: scripts/venv installs it"
    return found


@pytest.mark.parametrize(
    ("path", "schema"),
    [(ACTION, "vendor.github-actions"), (WORKFLOW, "vendor.github-workflows")],
    ids=["action", "workflow"],
)
def test_github_s_own_schema_accepts_it(path, schema):
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_above_low():
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", str(ACTION), str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the action's run: steps, as the runner runs them ----------------------------------------

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def lookup(expr: str, context: Mapping[str, Any]) -> Any:
    value: Any = context
    for part in expr.split("."):
        value = value.get(part, "") if isinstance(value, Mapping) else ""
    return value


def condition(text: str, context: Mapping[str, Any]) -> bool:
    """The few forms of `if:` the action uses: lookups, string literals, ==, !=, &&, always()."""
    result = True
    for clause in text.split("&&"):
        clause = clause.strip()
        if clause == "always()":
            continue
        left, op, right = re.split(r"\s*(==|!=)\s*", clause)
        value = lookup(left, context)
        wanted = right.strip("'")
        result = result and ((value == wanted) if op == "==" else (value != wanted))
    return result


def outputs_in(path: Path) -> dict[str, str]:
    return read_outputs(path.read_text()) if path.exists() else {}


def run_action(work: Path, inputs: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, Any]:
    """Run action.yml's steps as the runner would: each `run:` in bash, with its env evaluated,
    its own GITHUB_OUTPUT file, the inputs' defaults; a `uses:` step is what it would give."""
    data = load(ACTION)
    given = {k: str(v.get("default", "")) for k, v in data["inputs"].items()} | dict(inputs)
    context: dict[str, Any] = {"inputs": given, "steps": {}}
    ran: list[str] = []
    for index, step in enumerate(data["runs"]["steps"]):
        if "if" in step and not condition(step["if"], context):
            continue
        uses = step.get("uses", "")
        if uses.startswith("actions/setup-python@"):
            context["steps"][step["id"]] = {"outputs": {"python-path": sys.executable}}
            continue
        if uses:
            ran.append(uses.split("@")[0])  # actions/cache: nothing of it runs here
            continue
        output = work.parent / f"output-{index}"
        env = dict(environ)
        for name, value in step.get("env", {}).items():
            env[name] = EXPRESSION.sub(lambda m: str(lookup(m.group(1), context)), str(value))
        env["GITHUB_OUTPUT"] = str(output)
        cwd = work / EXPRESSION.sub(
            lambda m: str(lookup(m.group(1), context)), step.get("working-directory", ".")
        )
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True
        )
        ran.append(step.get("name", step["run"][:20]))
        context["steps"][step.get("id", str(index))] = {
            "outputs": outputs_in(output),
            "returncode": done.returncode,
            "stderr": done.stderr,
        }
        if done.returncode != 0:
            context["failed"] = step.get("id", str(index))
            break
    context["outputs"] = {
        k: EXPRESSION.sub(lambda m: str(lookup(m.group(1), context)), v["value"])
        for k, v in data["outputs"].items()
    }
    context["ran"] = ran
    return context


PLAN = """\
version: 1
defaults:
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
stages:
  base: {context: base}
services:
  api: {context: api, test: [test]}
  web: {context: web}
"""
FILES = {
    "mono/buildplan.yaml": PLAN,
    "mono/base/Dockerfile": "FROM busybox\n",
    "mono/api/Dockerfile": "FROM base\nCOPY . /src\nFROM base AS test\nRUN true\n",
    "mono/api/main.txt": "api\n",
    "mono/web/Dockerfile": "FROM base\nCOPY . /src\n",
    "README.md": "the repository\n",
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory) -> dict[str, str]:
    """A runner's environment: its temporary directory (where the action's venv goes, made once
    for the module, as a second use in one job reuses it), and the action's own checkout."""
    temp = tmp_path_factory.mktemp("runner")
    home = os.environ.get("HOME", str(temp))
    return {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "RUNNER_TEMP": str(temp),
        "RUNNER_OS": "Linux",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_JOB": "affected",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_RUN_ATTEMPT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **{k: v for k, v in os.environ.items() if k.startswith(("PIP_", "DOCKER_"))},
    }


@pytest.fixture
def pushed(tmp_path, isolated_git) -> tuple[Path, dict[str, str]]:
    """A checkout of a push whose `before` changed only the README: a quiet commit."""
    work = make_repo(tmp_path / "work", FILES)
    before = git(work, "rev-parse", "HEAD")
    (work / "README.md").write_text("the repository, reworded\n")
    commit(work, "words")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": before, "after": git(work, "rev-parse", "HEAD")}))
    summary = tmp_path / "summary.md"
    return work, {"GITHUB_EVENT_PATH": str(event), "GITHUB_STEP_SUMMARY": str(summary)}


@pytest.mark.timeout(300)
def test_the_action_installs_orch_and_sets_the_matrix(runner, pushed):
    work, event = pushed
    (work / "mono/api/main.txt").write_text("api, edited\n")
    commit(work, "api")
    git(work, "reset", "-q", "--soft", "HEAD~2")  # one push of both commits
    commit(work, "both")
    got = run_action(
        work,
        {"command": "matrix", "since": "auto", "working-directory": "mono"},
        runner | event,
    )
    assert "failed" not in got, got["steps"]
    assert got["ran"][:3] == [
        "Install orch",
        "What orch keeps between runs",
        "actions/cache/restore",
    ]
    matrix = json.loads(got["outputs"]["matrix"])
    assert [e["service"] for e in matrix["include"]] == ["api"]
    assert matrix["include"][0]["tests"] == ["test"]
    assert "shared" not in matrix  # strategy.matrix would read it as one more dimension
    paths = got["steps"]["paths"]["outputs"]
    assert paths["paths"].splitlines()[:3] == [
        ".orch/history.json",
        ".orch/image-sizes.json",
        ".orch/manifests",
    ]
    assert ".orch-cache/api" in paths["paths"].splitlines()
    assert paths["key"].startswith(paths["restore-key"])


@pytest.mark.timeout(300)
def test_a_quiet_push_builds_nothing_and_still_sets_every_output(runner, pushed):
    work, event = pushed
    got = run_action(work, {"since": "auto", "working-directory": "mono"}, runner | event)
    assert "failed" not in got, got["steps"]
    out = got["outputs"]
    assert out["ok"] == "true"
    assert json.loads(out["affected"]) == []
    assert json.loads(out["built"]) == {}
    assert "nothing to build" in got["steps"]["run"]["stderr"]
    assert "orch -f buildplan.yaml build --since auto" in got["steps"]["run"]["stderr"]
    summary = Path(event["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.strip()
    assert git(work, "status", "--porcelain") == ""  # orch's state ignores itself


@pytest.mark.timeout(300)
def test_a_bad_input_fails_the_step_with_its_fix(runner, pushed):
    work, event = pushed
    got = run_action(
        work,
        {"command": "build", "push": "yes please", "working-directory": "mono"},
        runner | event,
    )
    assert got["failed"] == "run"
    step = got["steps"]["run"]
    assert step["returncode"] == 2
    assert "`push` is 'yes please'" in step["stderr"]
    assert "Traceback" not in step["stderr"]
