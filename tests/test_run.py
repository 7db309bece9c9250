"""A run through the seam the engine sits behind: results, cache, state files, interrupts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from orchestrator.errors import PlanError
from orchestrator.project import Project
from orchestrator.report import planview
from orchestrator.run import steps as run
from orchestrator.run.bake import RunInputs, bake_definitions, bake_file, bake_name, hand_off_ref
from orchestrator.run.interrupts import Interrupts
from orchestrator.run.jobs import JobSet, build_job, build_jobs, select_test_jobs
from orchestrator.run.results import RunOutcome
from orchestrator.run.workspace import KEEP_RUNS, StateError
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


def execute(
    project: Project,
    jobset: JobSet,
    engine: FakeEngine,
    *,
    test: bool = False,
    interrupts: Interrupts | None = None,
    **options: object,
) -> RunOutcome:
    """`run.run` as `orch build` and `orch test` call it, versions computed from the plan."""
    manifests = project.manifests(sorted({j.target.name for j in jobset.jobs.values()}))
    return run.run(
        project,
        jobset,
        engine,
        manifests=manifests,
        options=run.RunOptions(**options),  # type: ignore[arg-type]
        test=test,
        interrupts=interrupts,
    )


def build(project: Project, engine: FakeEngine, *names: str, **options: object) -> RunOutcome:
    return execute(project, build_jobs(project, names), engine, **options)


def statuses(outcome: RunOutcome) -> dict[str, str]:
    return {r.key: r.status for r in outcome.results}


def current_cache(project: Project, name: str) -> str | None:
    index = project.plan.root / ".orch-cache" / name / "index.json"
    return index.read_text() if index.exists() else None


# --- results --------------------------------------------------------------------------------


def test_every_job_gets_one_result_in_build_order_with_its_image(project):
    engine = FakeEngine()
    outcome = build(project, engine)
    assert outcome.ok
    assert [r.key for r in outcome.results] == ["base", "api", "web", "tools"]
    api = next(r for r in outcome.results if r.key == "api")
    assert api.status == "built"
    assert api.image == "orch/api:latest"
    assert api.version is not None and len(api.version) == 20
    assert api.versioned_image == f"orch/api:{api.version}"
    assert api.digest == engine.images[api.versioned_image]
    assert engine.images["orch/api:latest"] == api.digest  # the plan's tag moved to it
    assert api.size_bytes == 1234
    assert api.log == ".orch/logs/api.log"
    log = (project.plan.root / api.log).read_text()
    assert log.startswith("# re-run: docker buildx bake -f .orch/runs/")


def test_a_failure_reported_under_a_chained_dependent_blocks_that_dependent(project):
    # One chained bake of base, api and web: BuildKit names base's failing step after api.
    # base, built again alone, fails; api never ran on its own account: blocked, not failed.
    engine = FakeEngine(outcomes={"base": "failed"}, blamed={"base": "api"})
    outcome = build(project, engine, "api", "web")
    assert [sorted(call["target"]) for call in engine.calls] == [["api", "base", "web"], ["base"]]
    assert statuses(outcome) == {"base": "failed", "api": "blocked", "web": "blocked"}
    api = next(r for r in outcome.results if r.key == "api")
    assert api.error == "upstream base failed"


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
    outcome = build(project, engine, "api", "web", parallel=1, chain=False)
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "failed"}
    batches = [sorted(call["target"]) for call in engine.calls]
    assert batches == [["base"], ["api", "web"], ["api"]]


def test_what_needs_building_after_an_upstream_goes_into_its_bake_linked(project):
    engine = FakeEngine()
    outcome = build(project, engine, "api", "web")
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "built"}
    (call,) = engine.calls
    assert sorted(call["target"]) == ["api", "base", "web"]
    assert call["target"]["api"]["contexts"] == {"base": "target:base"}
    # Each image still gets its own versioned tag, and the plan's tags move to it.
    base = outcome.results[0]
    assert call["target"]["base"]["tags"] == [f"orch/base:{base.version}"]
    assert (
        engine.images["orch/api:latest"] == engine.images[f"orch/api:{outcome.results[1].version}"]
    )


def test_a_failure_in_a_linked_bake_blocks_its_dependents_and_retries_the_rest_alone(project):
    engine = FakeEngine(outcomes={"web": "failed"})
    outcome = build(project, engine, "api", "web")
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "failed"}
    batches = [sorted(call["target"]) for call in engine.calls]
    # base and api were stopped by web's failure: base again, alone, then api and web.
    assert batches[:2] == [["api", "base", "web"], ["base"]]
    assert sorted(batches[2:]) == [["api"], ["web"]]
    engine = FakeEngine(outcomes={"base": "failed"})
    outcome = build(project, engine, "api", "web")
    assert statuses(outcome) == {"base": "failed", "api": "blocked", "web": "blocked"}
    assert len(engine.calls) == 1


def test_test_stages_that_build_are_passed(project):
    engine = FakeEngine()
    outcome = execute(project, select_test_jobs(project, ["api"]), engine, test=True)
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
        async def bake(self, bake_file, names, *, cwd, on_event=None):
            interrupts.handle(signal.SIGINT, None)
            return await super().bake(bake_file, names, cwd=cwd, on_event=on_event)

    engine = Interrupted()
    import anyio

    engine.hold = anyio.Event()  # never set: only the interrupt ends the bake
    outcome = execute(project, build_jobs(project, ["tools", "web"]), engine, interrupts=interrupts)
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
    manifests = project.manifests(["svc"])
    versions = {n: m.version for n, m in manifests.items()}
    labels = {n: m.inputs for n, m in manifests.items()}
    shown = planview.plan_json(project, ["svc"], versions, None, labels)["targets"][0]  # type: ignore[index]
    versioned = f"{project.plan.targets['svc'].image}:{shown['version']}"  # {image}:{version}
    assert shown["image"] == tags[0]
    assert shown["tags"] == tags
    assert shown["versioned_image"] == versioned
    assert shown["bake"]["tags"] == [versioned]  # the plan's tags move only after success

    engine = FakeEngine()
    outcome = build(project, engine)
    assert engine.tags_built() == [[versioned]]
    assert engine.calls[0]["target"]["svc"]["labels"] == shown["bake"]["labels"]
    (svc,) = outcome.results
    assert (svc.image, svc.versioned_image, svc.version) == (tags[0], versioned, shown["version"])
    store = engine.registry if "registry" in shape else engine.images
    assert {tag: store.get(tag) for tag in tags} == dict.fromkeys(tags, store[versioned])

    job = build_job(project.plan.targets["svc"])
    hand = bake_file(
        bake_definitions(project, [job], link_targets=True, inputs=RunInputs(versions))
    )
    assert json.loads(json.dumps(hand))["target"]["svc"]["tags"] == [versioned, *tags]


# --- versions: build only what is new -------------------------------------------------------


def test_a_second_build_with_nothing_changed_runs_no_bake(project):
    engine = FakeEngine()
    build(project, engine)
    baked = len(engine.calls)
    again = build(project, engine)
    assert len(engine.calls) == baked
    assert set(statuses(again).values()) == {"up-to-date"}
    assert again.ok
    api = next(r for r in again.results if r.key == "api")
    assert api.versioned_image == f"orch/api:{api.version}"
    assert api.digest == engine.images["orch/api:latest"]


def test_editing_one_service_rebuilds_it_alone(project):
    engine = FakeEngine()
    build(project, engine)
    (project.plan.root / "web" / "index.html").write_text("new")
    again = build(project, engine)
    assert statuses(again) == {
        "base": "up-to-date",
        "api": "up-to-date",
        "web": "built",
        "tools": "up-to-date",
    }
    assert sorted(engine.calls[-1]["target"]) == ["web"]


def test_editing_a_stage_rebuilds_it_and_what_builds_on_it(project):
    engine = FakeEngine()
    build(project, engine)
    (project.plan.root / "base" / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    again = build(project, engine)
    assert statuses(again) == {
        "base": "built",
        "api": "built",
        "web": "built",
        "tools": "up-to-date",
    }


def test_upstream_images_are_handed_on_by_their_versioned_tag(project):
    engine = FakeEngine()
    outcome = build(project, engine, "api", chain=False)
    base = outcome.results[0]
    api = engine.calls[-1]["target"]["api"]
    assert api["contexts"] == {"base": f"docker-image://orch/base:{base.version}"}
    assert api["labels"]["dev.orch.version"].startswith(str(outcome.results[1].version))
    inputs = json.loads(api["labels"]["dev.orch.inputs"])  # what the version was made of
    assert dict(inputs["upstream"])["base"].startswith(str(base.version))


def test_a_failed_build_moves_no_tag(project):
    engine = FakeEngine(outcomes={"tools": "failed"})
    build(project, engine, "tools")
    assert "orch/tools:latest" not in engine.images
    assert engine.tagged == []


def test_an_up_to_date_target_gets_its_moved_tag_back(project):
    engine = FakeEngine()
    build(project, engine, "tools")
    engine.images["orch/tools:latest"] = "sha256:someone-elses"
    again = build(project, engine, "tools")
    assert statuses(again) == {"tools": "up-to-date"}
    versioned = again.results[0].versioned_image
    assert engine.images["orch/tools:latest"] == engine.images[str(versioned)]


def test_force_rebuilds_what_is_up_to_date(project):
    engine = FakeEngine()
    build(project, engine, "tools")
    again = build(project, engine, "tools", force=True)
    assert statuses(again) == {"tools": "built"}


def test_a_test_stage_that_passed_is_up_to_date_until_its_inputs_change(project):
    engine = FakeEngine()
    jobs = select_test_jobs(project, ["api"])
    assert statuses(execute(project, jobs, engine, test=True))["api:unit"] == "passed"
    calls = len(engine.calls)
    assert statuses(execute(project, jobs, engine, test=True))["api:unit"] == "up-to-date"
    assert len(engine.calls) == calls
    (project.plan.root / "api" / "main.go").write_text("package main\n")
    assert statuses(execute(project, jobs, engine, test=True))["api:unit"] == "passed"


def test_a_registry_target_is_up_to_date_when_the_registry_has_its_version(tmp_path):
    plan = "services:\n  svc: {context: svc, registry: localhost:5000}\n"
    project = project_of(tmp_path, plan, {"svc/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    build(project, engine)
    engine.images.clear()  # a fresh runner: nothing local, the registry has it
    again = build(project, engine)
    assert statuses(again) == {"svc": "up-to-date"}
    assert len(engine.calls) == 1


# --- image sizes ----------------------------------------------------------------------------


def test_an_image_over_its_max_size_fails_with_its_size_budget_and_largest_layers(tmp_path):
    plan = "services:\n  app:\n    context: app\n    max_size: 1kB\n"
    project = project_of(tmp_path, plan, {"app/Dockerfile": "FROM busybox\nCOPY /out/app /app\n"})
    engine = FakeEngine()
    engine.sizes = {}  # every image 1,234 bytes, over 1 kB
    outcome = build(project, engine)
    (app,) = outcome.results
    assert app.status == "failed"
    assert app.error is not None
    first = app.error.splitlines()[0]
    assert first.startswith("its image is 1.2 kB, over its max_size of 1.0 kB (max_size at ")
    assert "buildplan.yaml:5" in first
    assert "line 2: COPY /out/app /app" in app.error  # the layer, joined to its Dockerfile line
    assert "orch/app:latest" not in engine.images  # a failed build moves no tag


def test_an_image_within_its_budget_builds_and_the_size_change_is_reported(tmp_path):
    plan = "defaults:\n  max_size: 25MB\nservices:\n  app: {context: app}\n"
    project = project_of(tmp_path, plan, {"app/Dockerfile": "FROM busybox\n"})
    assert project.plan.targets["app"].max_size == 25_000_000
    engine = FakeEngine()
    first = build(project, engine).results[0]
    assert (first.status, first.previous_size_bytes) == ("built", None)
    (project.plan.root / "app" / "new.txt").write_text("x")
    engine.sizes = dict.fromkeys(("orch/app:latest",), 2234)
    engine.sizes[str(first.versioned_image).replace(str(first.version), "")] = 0
    again = build(project, engine).results[0]
    assert again.status == "built"
    assert again.previous_size_bytes == 1234


# --- a job that fails after its image was exported ------------------------------------------

SVC = {"svc/Dockerfile": "FROM busybox\n"}


def versioned_of(project: Project, name: str) -> str:
    manifests = project.manifests([name])
    return hand_off_ref(project.plan.targets[name], {n: m.version for n, m in manifests.items()})


def test_a_job_that_fails_after_its_image_was_exported_is_built_again_next_time(tmp_path):
    # A full disk fails the cache export after the image export: the versioned tag must not
    # stay, or the next run finds the target up to date and its cache is never written.
    project = project_of(tmp_path, CACHE + "services:\n  svc: {context: svc}\n", SVC)
    engine = FakeEngine(outcomes={"svc": "export-failed"})
    (first,) = build(project, engine).results
    assert first.status == "failed"
    assert "no space left on device" in str(first.error)
    assert versioned_of(project, "svc") not in engine.images
    assert any("untagged, so the next run builds it again" in w for w in first.warnings)
    engine.outcomes.clear()  # space again
    (second,) = build(project, engine).results
    assert second.status == "built"
    assert (tmp_path / ".orch-cache" / "svc" / "index.json").is_file()


def test_with_force_an_image_that_was_there_keeps_its_tag_when_the_rebuild_fails(tmp_path):
    project = project_of(tmp_path, CACHE + "services:\n  svc: {context: svc}\n", SVC)
    engine = FakeEngine()
    build(project, engine)
    engine.outcomes["svc"] = "export-failed"
    (again,) = build(project, engine, force=True).results
    assert again.status == "failed"
    assert versioned_of(project, "svc") in engine.images  # an earlier run's: not this one's


# --- a builder that cannot read the daemon's images -------------------------------------------


def test_on_a_docker_container_builder_an_upstream_is_carried_in_the_bake_never_by_its_image(
    project,
):
    engine = FakeEngine(driver="docker-container")
    build(project, engine)
    (project.plan.root / "web" / "index.html").write_text("new")
    images_before = dict(engine.images)
    again = build(project, engine)
    assert statuses(again)["web"] == "built"
    assert again.ok
    bake = engine.calls[-1]["target"]
    assert sorted(bake) == ["base", "web"]  # base is carried: built from cache, as a context
    assert bake["web"]["contexts"]["base"] == "target:base"
    assert bake["base"]["output"] == ["type=cacheonly"]
    assert "tags" not in bake["base"] and bake["base"]["cache-to"] == []
    # Only web's image is new: base's versioned tag still names the image it named.
    changed = {ref for ref, image in engine.images.items() if images_before.get(ref) != image}
    assert changed and all(ref.split(":")[0].endswith("web") for ref in changed)


def test_the_daemon_s_images_handed_on_by_reference_fail_on_such_a_builder(project):
    """What the carrying prevents: the fake builder, as BuildKit does, cannot read the image."""
    engine = FakeEngine()
    build(project, engine)
    (project.plan.root / "web" / "index.html").write_text("new")
    engine.driver = "docker-container"
    engine.isolated = lambda: _false()  # type: ignore[method-assign]  # orch not told
    again = build(project, engine)
    assert statuses(again)["web"] == "failed"
    assert "pull access denied" in next(r for r in again.results if r.key == "web").error


async def _false() -> bool:
    return False


def test_on_the_docker_driver_the_upstream_image_is_handed_on_as_it_is(project):
    engine = FakeEngine()
    build(project, engine)
    (project.plan.root / "web" / "index.html").write_text("new")
    build(project, engine)
    bake = engine.calls[-1]["target"]
    assert sorted(bake) == ["web"]
    assert bake["web"]["contexts"]["base"].startswith("docker-image://")
