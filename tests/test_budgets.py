"""The gate on its own: which results it holds to a budget, what it says, what it leaves."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from orchestrator.errors import EngineError, Location
from orchestrator.run.budgets import gate, gated, over_budget
from orchestrator.run.jobs import Job, JobSet, build_job
from orchestrator.run.results import JobResult
from tests.kit import FakeEngine, make_target

AT = Location(Path("buildplan.yaml"), 7, 5)


def jobset_of(*jobs: Job) -> JobSet:
    return JobSet(
        jobs={j.key: j for j in jobs},
        deps={j.key: () for j in jobs},
        order=tuple(j.key for j in jobs),
    )


def result(key: str, status: str = "built", size: int | None = 2000, **kw: object) -> JobResult:
    return JobResult(
        key=key,
        status=status,  # type: ignore[arg-type]
        versioned_image=f"orch/{key}:v1",
        size_bytes=size,
        image=f"orch/{key}:latest",
        **kw,  # type: ignore[arg-type]
    )


def run_gate(results, jobset, engine):
    return anyio.run(lambda: gate(results, jobset, engine))


def test_over_budget_names_the_size_the_budget_and_where_it_is_written(tmp_path):
    target = make_target(tmp_path, "app", max_size=1000, max_size_at=AT)
    assert over_budget(target, 1000, []) is None  # at the budget is within it
    assert over_budget(make_target(tmp_path, "free"), 10**9, []) is None  # no budget
    said = over_budget(target, 1001, [])
    assert (
        said == "its image is 1.0 kB, over its max_size of 1.0 kB (max_size at buildplan.yaml:7:5)"
    )


def test_with_layers_the_place_of_the_budget_ends_the_first_line(tmp_path):
    from orchestrator.plan.sizes import Layer

    target = make_target(tmp_path, "app", max_size=1000, max_size_at=AT)
    said = over_budget(target, 5000, [Layer(4000, "COPY big /big", line=3)])
    assert said is not None
    first, *rest = said.splitlines()
    assert first.endswith("(max_size at buildplan.yaml:7:5)")
    assert "line 3: COPY big /big" in rest[0]


def test_only_built_or_found_images_with_a_budget_are_gated(tmp_path):
    budgeted = make_target(tmp_path, "app", max_size=1000)
    free = make_target(tmp_path, "free")
    tests = Job(key="app:unit", target=budgeted, stage="unit", test=True)
    jobset = jobset_of(build_job(budgeted), build_job(free), tests)
    results = [
        result("app"),
        result("free"),
        result("app:unit", status="passed"),
    ]
    assert [r.key for r in gated(results, jobset)] == ["app"]
    assert gated([result("app", status="failed")], jobset) == []
    unnamed = JobResult(key="app", status="built", size_bytes=2000)  # no versioned image
    assert gated([unnamed], jobset) == []


def test_a_failed_image_loses_its_tag_and_says_whether_it_was_there_before(tmp_path):
    app = make_target(tmp_path, "app", max_size=1000)
    web = make_target(tmp_path, "web", max_size=1000)
    jobset = jobset_of(build_job(app), build_job(web))
    done, warnings = run_gate(
        [result("app"), result("web", status="up-to-date")], jobset, FakeEngine()
    )
    assert warnings == ()
    app_r, web_r = done
    assert (app_r.status, app_r.image, app_r.size_bytes) == ("failed", None, 2000)
    assert "was built before" not in str(app_r.error)
    assert web_r.status == "failed"
    assert str(web_r.error).endswith(
        "(its image orch/web:v1 was built before; the budget holds for it all the same)"
    )


def test_within_budget_nothing_changes(tmp_path):
    app = make_target(tmp_path, "app", max_size=5000)
    jobset = jobset_of(build_job(app))
    before = result("app")
    done, warnings = run_gate([before], jobset, FakeEngine())
    assert done == (before,)
    assert warnings == ()


def test_a_registry_image_is_measured_there_and_keeps_the_size(tmp_path):
    app = make_target(tmp_path, "app", max_size=5000, registry="localhost:5000")
    jobset = jobset_of(build_job(app))
    engine = FakeEngine(registry={"orch/app:v1": "sha256:x"}, sizes={"orch/app:v1": 3000})
    (r,), warnings = run_gate([result("app", size=None)], jobset, engine)
    assert (r.status, r.size_bytes) == ("built", 3000)
    assert warnings == ()
    engine.sizes["orch/app:v1"] = 6000
    (r,), _ = run_gate([result("app", size=None)], jobset, engine)
    assert (r.status, r.size_bytes) == ("failed", 6000)


def test_an_unknown_size_is_a_warning_and_the_others_are_still_checked(tmp_path):
    lost = make_target(tmp_path, "lost", max_size=10, registry="localhost:5000")
    big = make_target(tmp_path, "big", max_size=10)
    jobset = jobset_of(build_job(lost), build_job(big))
    (lost_r, big_r), warnings = run_gate(
        [result("lost", size=None), result("big")], jobset, FakeEngine()
    )
    assert lost_r.status == "built"  # not measured: not failed on a guess
    assert warnings == ("lost: the size of orch/lost:v1 could not be read: max_size not checked",)
    assert big_r.status == "failed"


class RegistryDown(FakeEngine):
    async def remote_sizes(self, refs):
        raise EngineError("the registry localhost:5000 did not answer")


def test_a_registry_that_does_not_answer_is_said_once_and_fails_nothing(tmp_path):
    app = make_target(tmp_path, "app", max_size=10, registry="localhost:5000")
    jobset = jobset_of(build_job(app))
    (r,), warnings = run_gate([result("app", size=None)], jobset, RegistryDown())
    assert r.status == "built"
    assert warnings == (
        "image sizes could not be read from the registry: "
        "the registry localhost:5000 did not answer",
        "app: the size of orch/app:v1 could not be read: max_size not checked",
    )


@pytest.mark.parametrize("status", ["failed", "blocked", "cancelled"])
def test_what_did_not_build_is_left_as_it_is(tmp_path, status):
    app = make_target(tmp_path, "app", max_size=10)
    jobset = jobset_of(build_job(app))
    before = result("app", status=status)
    assert run_gate([before], jobset, FakeEngine()) == ((before,), ())


# --- per platform ----------------------------------------------------------------------------

TWO = "services:\n  app: {context: app, platforms: [linux/amd64, linux/arm64], max_size: 2kB}\n"


def test_a_budget_holds_on_each_platform_and_the_failure_names_it(tmp_path):
    from tests.kit import FakeEngine, project_of
    from tests.test_run import build

    project = project_of(tmp_path, TWO, {"app/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    first = build(project, engine)
    ref = first.results[0].versioned_image
    engine.per_platform[ref] = {"linux/amd64": 1_500, "linux/arm64": 2_500}
    (app,) = build(project, engine).results
    assert app.status == "failed"
    assert app.error.startswith("linux/arm64: its image is 2.5 kB, over its max_size of 2.0 kB")
    assert "was built before; the budget holds for it all the same" in app.error
    assert dict(app.platform_sizes) == {"linux/amd64": 1_500, "linux/arm64": 2_500}


def test_sizes_per_platform_go_into_the_result_and_unknown_ones_warn(tmp_path):
    from tests.kit import FakeEngine, project_of
    from tests.test_run import build

    plan = TWO.replace(", max_size: 2kB", "")
    project = project_of(tmp_path, plan, {"app/Dockerfile": "FROM busybox\n"})
    engine = FakeEngine()
    outcome = build(project, engine)
    assert outcome.ok
    assert any("the size of each platform could not be read" in w for w in outcome.warnings)
    ref = outcome.results[0].versioned_image
    engine.per_platform[ref] = {"linux/amd64": 1_000, "linux/arm64": 1_100}
    (app,) = build(project, engine).results
    assert dict(app.platform_sizes) == {"linux/amd64": 1_000, "linux/arm64": 1_100}
