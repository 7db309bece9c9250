"""A run through the seam the engine sits behind: results, cache, state files, interrupts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from orchestrator import planview, run
from orchestrator.bake import bake_name
from orchestrator.errors import PlanError
from orchestrator.interrupts import Interrupts
from orchestrator.jobs import build_jobs, select_test_jobs
from orchestrator.project import Project
from orchestrator.results import RunOutcome
from orchestrator.workspace import KEEP_RUNS, StateError
from tests.kit import FakeEngine, project_of

CACHE = """\
defaults:
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
"""

# base <- api, base <- web;  tools alone.
PLAN = (
    CACHE
    + """\
stages:
  base: {context: base}
services:
  api: {context: api, test: [unit]}
  web: {context: web}
  tools: {context: tools}
"""
)
FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "api/Dockerfile": "FROM base AS unit\nRUN true\nFROM base\n",
    "web/Dockerfile": "FROM base\n",
    "tools/Dockerfile": "FROM busybox\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return project_of(tmp_path.resolve(), PLAN, FILES)


def build(project: Project, engine: FakeEngine, *names: str, **options: object) -> RunOutcome:
    return run.run(
        project,
        build_jobs(project, names),
        engine,
        options=run.RunOptions(**options),  # type: ignore[arg-type]
        test=False,
    )


def statuses(outcome: RunOutcome) -> dict[str, str]:
    return {r.key: r.status for r in outcome.results}


def current_cache(project: Project, name: str) -> str | None:
    index = project.plan.root / ".orch-cache" / name / "index.json"
    return index.read_text() if index.exists() else None


# --- results --------------------------------------------------------------------------------


def test_every_job_gets_one_result_in_build_order_with_its_image(project):
    outcome = build(project, FakeEngine())
    assert outcome.ok
    assert [r.key for r in outcome.results] == ["base", "api", "web", "tools"]
    api = next(r for r in outcome.results if r.key == "api")
    assert api.status == "built"
    assert api.image == "orch/api:latest"
    assert api.digest == "sha256:id-of-orch/api:latest"
    assert api.size_bytes == 1234
    assert api.log == ".orch/logs/api.log"
    log = (project.plan.root / api.log).read_text()
    assert log.startswith("# re-run: docker buildx bake -f .orch/runs/")


def test_a_failure_blocks_its_dependents_and_the_rest_is_built(project):
    outcome = build(project, FakeEngine(outcomes={"base": "failed"}))
    assert not outcome.ok
    assert statuses(outcome) == {
        "base": "failed",
        "api": "blocked",
        "web": "blocked",
        "tools": "built",
    }
    base = outcome.results[0]
    assert base.failed_step == "[base 2/2] RUN make"
    assert base.tail == ("make: *** [all] Error 2",)
    assert next(r for r in outcome.results if r.key == "api").error == "upstream base failed"


def test_a_sibling_stopped_by_a_failing_bake_is_built_again_alone(project):
    engine = FakeEngine(outcomes={"web": "failed"})
    outcome = build(project, engine, "api", "web", parallel=1)
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "failed"}
    batches = [sorted(call["target"]) for call in engine.calls]
    assert batches == [["base"], ["api", "web"], ["api"]]


def test_test_stages_that_build_are_passed(project):
    engine = FakeEngine()
    outcome = run.run(
        project, select_test_jobs(project, ["api"]), engine, options=run.RunOptions(), test=True
    )
    assert statuses(outcome) == {"base": "built", "api:unit": "passed"}
    unit = engine.calls[-1]["target"][bake_name("api:unit")]
    assert unit["output"] == ["type=cacheonly"]
    assert unit["cache-to"] == []
    assert "tags" not in unit


# --- cache ----------------------------------------------------------------------------------


def test_a_built_job_commits_its_cache_and_a_failed_one_keeps_the_old(project):
    build(project, FakeEngine(), "tools")
    assert current_cache(project, "tools") == '{"built": "tools"}'
    versions = project.plan.root / ".orch-cache" / "tools.versions"
    before = {p.name for p in versions.iterdir() if p.is_dir()}
    outcome = build(project, FakeEngine(outcomes={"tools": "failed"}), "tools")
    assert statuses(outcome) == {"tools": "failed"}
    assert {p.name for p in versions.iterdir() if p.is_dir()} == before
    assert (project.plan.root / ".orch-cache/tools").resolve().name in before


def test_an_interrupt_cancels_the_run_aborts_its_export_and_is_not_ok(project):
    build(project, FakeEngine(), "tools")
    before = current_cache(project, "tools")
    interrupts = Interrupts()

    class Interrupted(FakeEngine):
        async def bake(self, bake_file, names, *, cwd):
            interrupts.handle(signal.SIGINT, None)
            return await super().bake(bake_file, names, cwd=cwd)

    engine = Interrupted()
    import anyio

    engine.hold = anyio.Event()  # never set: only the interrupt ends the bake
    outcome = run.run(
        project,
        build_jobs(project, ["tools", "web"]),
        engine,
        options=run.RunOptions(),
        test=False,
        interrupts=interrupts,
    )
    interrupts.close()
    assert outcome.interrupted
    assert not outcome.ok
    assert set(statuses(outcome).values()) == {"cancelled"}
    assert current_cache(project, "tools") == before
    versions = project.plan.root / ".orch-cache" / "tools.versions"
    assert len([p for p in versions.iterdir() if p.is_dir()]) == 1  # the new export is gone


def test_a_cache_directory_that_cannot_be_made_fails_that_job_only(project):
    (project.plan.root / ".orch-cache").mkdir()
    (project.plan.root / ".orch-cache" / "tools.versions").write_text("in the way")
    outcome = build(project, FakeEngine(), "tools", "web")
    assert statuses(outcome) == {"base": "built", "web": "built", "tools": "failed"}
    tools = next(r for r in outcome.results if r.key == "tools")
    assert tools.error is not None
    assert tools.error.startswith("cannot prepare its cache directory")
    assert "tools.versions" in tools.error


# --- state files ----------------------------------------------------------------------------


def test_history_that_cannot_be_saved_is_a_warning(project):
    (project.plan.root / ".orch").mkdir()
    (project.plan.root / ".orch" / "history.json").mkdir()
    outcome = build(project, FakeEngine(), "tools")
    assert outcome.ok
    assert len(outcome.warnings) == 1
    assert "durations were not saved" in outcome.warnings[0]


def test_logs_that_cannot_be_written_are_a_warning_per_job(project):
    (project.plan.root / ".orch").mkdir()
    (project.plan.root / ".orch" / "logs").write_text("in the way")
    outcome = build(project, FakeEngine(), "tools")
    assert outcome.ok
    (tools,) = outcome.results
    assert tools.log is None
    assert tools.warnings and "log could not be written" in tools.warnings[0]


def test_a_state_directory_that_cannot_be_made_stops_the_run_before_it_builds(project):
    (project.plan.root / ".orch").write_text("in the way")
    engine = FakeEngine()
    with pytest.raises(StateError, match=r"cannot write orch's state directory .*\.orch"):
        build(project, engine)
    assert engine.calls == []


def test_each_run_writes_its_own_bake_files_and_leaves_no_metadata(project):
    build(project, FakeEngine(), "tools")
    build(project, FakeEngine(), "tools")
    runs = project.plan.root / ".orch" / "runs"
    dirs = [p for p in runs.iterdir() if p.is_dir()]
    assert len(dirs) == 2
    assert all(len(list(d.glob("*.json"))) == 1 for d in dirs)
    assert not list(runs.rglob(".metadata-*"))


def test_old_runs_are_removed_and_the_newest_kept(project):
    for _ in range(KEEP_RUNS + 3):
        build(project, FakeEngine(), "tools")
    runs = project.plan.root / ".orch" / "runs"
    assert len([p for p in runs.iterdir() if p.is_dir()]) == KEEP_RUNS
    assert len(list(runs.glob("*.lock"))) == KEEP_RUNS


# --- secrets --------------------------------------------------------------------------------

SECRETS = """\
services:
  app:
    context: app
    secrets:
      - {id: token, env: ORCH_TEST_TOKEN}
      - {id: netrc, src: "%s"}
"""


def test_a_secret_whose_variable_is_unset_stops_the_run_at_its_line(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_TEST_TOKEN", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("x")
    project = project_of(tmp_path / "repo", SECRETS % netrc, {"app/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    with pytest.raises(PlanError) as caught:
        build(project, engine)
    assert "secret 'token' of 'app'" in caught.value.message
    assert "ORCH_TEST_TOKEN is not set" in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.line == 6
    assert engine.calls == []


def test_a_secret_whose_file_is_missing_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_TEST_TOKEN", "t")
    plan = SECRETS % (tmp_path / "no-such-file")
    project = project_of(tmp_path / "repo", plan, {"app/Dockerfile": "FROM busybox\n"})
    with pytest.raises(PlanError, match="secret 'netrc' of 'app' cannot be read"):
        build(project, FakeEngine())


def test_an_optional_secret_that_is_missing_is_left_out(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_TEST_TOKEN", raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("x")
    plan = (SECRETS % netrc).replace(
        "env: ORCH_TEST_TOKEN}", "env: ORCH_TEST_TOKEN, optional: true}"
    )
    project = project_of(tmp_path / "repo", plan, {"app/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    assert build(project, engine).ok
    assert engine.calls[0]["target"]["app"]["secret"] == [f"id=netrc,src={netrc}"]


def test_a_secret_path_with_a_comma_is_quoted_for_buildx(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_TEST_TOKEN", "t")
    odd = tmp_path / "a,env=HOME"
    odd.write_text("x")
    project = project_of(tmp_path / "repo", SECRETS % odd, {"app/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    build(project, engine)
    assert engine.calls[0]["target"]["app"]["secret"] == [
        "id=token,env=ORCH_TEST_TOKEN",
        f'id=netrc,"src={odd}"',
    ]


# --- names and references -------------------------------------------------------------------


def test_names_that_differ_only_by_dot_and_underscore_get_their_own_bake(tmp_path):
    plan = "services:\n  a.b: {context: ab}\n  a_b: {context: a_b}\n"
    files = {"ab/Dockerfile": "FROM busybox\n", "a_b/Dockerfile": "FROM busybox\n"}
    project = project_of(tmp_path, plan, files)
    engine = FakeEngine()
    outcome = build(project, engine, parallel=1)  # both in one bake file
    assert statuses(outcome) == {"a.b": "built", "a_b": "built"}
    (call,) = engine.calls
    assert len(call["target"]) == 2
    assert {r.key: r.image for r in outcome.results} == {
        "a.b": "orch/a.b:latest",
        "a_b": "orch/a_b:latest",
    }


TAG_SHAPES = {
    "default": ("", ["orch/svc:latest"]),
    "short": ("tags: [v1]", ["orch/svc:v1"]),
    "several": ("tags: [v1, latest]", ["orch/svc:v1", "orch/svc:latest"]),
    "full": ("tags: [ghcr.io/acme/svc:2]", ["ghcr.io/acme/svc:2"]),
    "no tag": ("tags: [ghcr.io/acme/svc]", ["ghcr.io/acme/svc"]),
    "name in tag": ("tags: ['{name}-1']", ["orch/svc:svc-1"]),
    "image": ("image: 'acme/{name}'", ["acme/svc:latest"]),
    "registry": ("registry: localhost:5000", ["localhost:5000/orch/svc:latest"]),
    "registry and tags": (
        "{registry: localhost:5000, tags: [v2]}",
        ["localhost:5000/orch/svc:v2"],
    ),
}


@pytest.mark.parametrize("shape", list(TAG_SHAPES))
def test_plan_json_bake_file_and_build_agree_on_image_and_tags(tmp_path, shape):
    setting, tags = TAG_SHAPES[shape]
    if setting.startswith("{"):
        line = "  svc: {context: svc, " + setting[1:-1] + "}\n"
    else:
        line = "  svc: {context: svc" + (", " + setting if setting else "") + "}\n"
    project = project_of(tmp_path, "services:\n" + line, {"svc/Dockerfile": "FROM busybox\n"})
    shown = planview.plan_json(project, ["svc"])["targets"][0]  # type: ignore[index]
    engine = FakeEngine()
    outcome = build(project, engine)
    assert shown["image"] == tags[0]
    assert shown["bake"]["tags"] == tags
    assert engine.tags_built() == [tags]
    assert outcome.results[0].image == tags[0]
    from orchestrator.bake import bake_definitions, bake_file
    from orchestrator.jobs import build_job

    hand = bake_file(bake_definitions(project, [build_job(project.plan.targets["svc"])]))
    assert json.loads(json.dumps(hand))["target"]["svc"]["tags"] == tags
