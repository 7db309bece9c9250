"""`orch build --dry-run` and `orch plan`'s statuses: each job's status and reason, the bakes a
run would start, and nothing built, tagged or written."""

from __future__ import annotations

import io
from pathlib import Path

import anyio
import pytest

from orchestrator.errors import UsageError
from orchestrator.files import destination
from orchestrator.inputs.versions import InputChange
from orchestrator.report.console import StatusView
from orchestrator.run import dryrun, pipeline
from orchestrator.run.jobs import JobSet, build_jobs
from orchestrator.run.steps import RunOptions
from tests.kit import FakeEngine, project_of
from tests.test_run import FILES, PLAN

VERSIONS = {k: f"{k:0<20}" for k in ("base", "api", "web", "tools", "api:unit")}


def jobset(project) -> JobSet:
    return build_jobs(project, [])


@pytest.fixture
def project(tmp_path: Path):
    return project_of(tmp_path.resolve(), PLAN, FILES)


def test_a_found_image_is_up_to_date_and_the_rest_pending_each_with_its_first_reason(project):
    changed = [InputChange("context", "main.go", "content changed")] * 3
    got = dryrun.decide(
        jobset(project),
        VERSIONS,
        found=frozenset({"tools"}),
        changes={"base": changed, "api": [], "web": None, "tools": []},
    )
    assert {k: s.status for k, s in got.items()} == {
        "base": "pending",
        "api": "pending",
        "web": "pending",
        "tools": "up-to-date",
    }
    assert (
        got["base"].reason
        == "since its last build here: context main.go: content changed (and 2 more)"
    )
    assert got["api"].reason == "it builds on base, which is pending"
    assert got["tools"].reason == "its image for version tools000000000000000 exists"


def test_an_image_gone_and_one_never_built_say_so(project):
    only = build_jobs(project, ["tools"])
    gone = dryrun.decide(only, VERSIONS, found=frozenset(), changes={"tools": []})
    assert gone["tools"].reason.endswith("is gone (its last build here was at this version)")
    never = dryrun.decide(only, VERSIONS, found=frozenset(), changes={"tools": None})
    assert "no earlier build here to compare with" in never["tools"].reason
    blind = dryrun.decide(only, VERSIONS, found=frozenset(), changes={}, known=False)
    assert blind["tools"].reason.startswith("the engine did not answer")
    forced = dryrun.decide(only, VERSIONS, found=frozenset({"tools"}), changes={}, force=True)
    assert forced["tools"].status == "pending" and "--force" in forced["tools"].reason


def test_the_bakes_are_those_the_scheduler_would_start(project):
    every = jobset(project)
    assert dryrun.planned_bakes(every, slots=1, max_batch=None, chain=True) == [
        ("base", "tools", "api", "web")
    ]
    # Level by level, two at once: base and tools first, then each service.
    level = dryrun.planned_bakes(every, slots=2, max_batch=None, chain=False)
    assert set(level[0]) | set(level[1]) == {"base", "tools"}
    assert sorted(b for batch in level[2:] for b in batch) == ["api", "web"]
    capped = dryrun.planned_bakes(every, slots=1, max_batch=1, chain=True)
    assert all(len(b) == 1 for b in capped) and len(capped) == 4
    assert dryrun.planned_bakes(JobSet({}, {}, ()), slots=2, max_batch=None, chain=True) == []


def through_pipeline(project, engine: FakeEngine, **request: object) -> str:
    out = io.StringIO()
    view = StatusView([], kind="lines", stream=out)
    ran = anyio.run(
        lambda: pipeline.run(
            project,
            pipeline.Request(ci="none", **request),  # type: ignore[arg-type]
            lambda order: view,
            engine=engine,
        )
    )
    assert ran.exit_code == 0, out.getvalue()
    return out.getvalue()


def dry(project, engine: FakeEngine, **request: object) -> str:
    return through_pipeline(project, engine, dry_run=True, **request)


def build(project, engine: FakeEngine, **request: object) -> str:
    return through_pipeline(project, engine, **request)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_a_dry_run_after_an_edit_names_what_changed_and_builds_nothing(project):
    engine = FakeEngine()
    build(project, engine)
    (project.plan.root / "web" / "index.html").write_text("new")
    calls, tags, before = len(engine.calls), list(engine.tagged), tree(project.plan.root)
    said = dry(project, engine)
    assert "web    pending: since its last build here: context index.html: added" in said
    assert "base   up-to-date: its image for version" in said
    assert (
        "dry run: 1 to build in 1 bake, 3 up to date; nothing was built, tagged or written" in said
    )
    assert "  bake 1: web" in said
    assert len(engine.calls) == calls and engine.tagged == tags
    assert tree(project.plan.root) == before  # no run directory, log, cache or state file


def test_a_dry_run_of_tests_says_which_stage_passed(project):
    engine = FakeEngine()
    build(project, engine)
    said = dry(project, engine, test=True)
    assert "api:unit  pending: it has not passed at version" in said
    assert "bake 1: api:unit" in said


def test_a_dry_run_with_nothing_to_do_says_so(project):
    engine = FakeEngine()
    build(project, engine)
    said = dry(project, engine)
    assert "dry run: nothing to build; 4 up to date" in said


def test_a_dry_run_refuses_to_write_a_report(project, tmp_path):
    with pytest.raises(UsageError, match="--dry-run writes nothing, and --report writes a file"):
        dry(project, FakeEngine(), report=destination(str(tmp_path / "r.json")))


def test_the_command_line_takes_dry_run(project):
    from orchestrator.commands.group import request_of

    request = request_of(
        (), test=False, parallel=2, max_batch=10, no_chain=False, dry_run=True, report=None
    )
    assert request.dry_run is True
    assert isinstance(request.options, RunOptions)


def test_a_long_reason_wraps_at_words_under_itself_on_a_narrow_terminal(project):
    long = dryrun.JobStatus("api", "pending", "since its last build here: " + "word " * 20)
    text = dryrun.render({"api": long}, [("api",)], verb="build", width=40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines[1].startswith(" " * 7) and not lines[1].strip().startswith("d")
    assert "nothing was built," in text.replace("\n  ", " ")
