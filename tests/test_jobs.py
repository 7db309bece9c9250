"""Which jobs `orch build` and `orch test` run, and after what: selection over a loaded plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import EXIT_USAGE, UsageError
from orchestrator.project import load_project
from orchestrator.run.jobs import JobSet, build_jobs, select_test_jobs
from tests.kit import project_of

EXAMPLE = Path(__file__).resolve().parent.parent / "buildplan.yaml"

# base <- tools <- web <- gateway (COPY --from=web);  base <- docs;  lonely and unused stand alone.
SMALL_PLAN = """\
stages:
  base: {context: stages/base}
  tools: {context: stages/tools}
  unused: {context: stages/unused}
services:
  lonely:
    context: services/lonely
    target: runtime
    test: test
  web:
    context: services/web
    target: runtime
    test: [lint, test]
  gateway:
    context: services/gateway
    test: test
  docs:
    context: services/docs
"""

SMALL_FILES = {
    "stages/base/Dockerfile": "FROM busybox\n",
    "stages/tools/Dockerfile": "FROM base\nRUN echo tools\n",
    "stages/unused/Dockerfile": "FROM busybox\n",
    "services/lonely/Dockerfile": (
        "FROM busybox AS build\nRUN echo build\n"
        "FROM build AS test\nRUN echo test\n"
        "FROM busybox AS runtime\nCOPY --from=build /etc/hostname /x\n"
    ),
    "services/web/Dockerfile": (
        "FROM tools AS build\nRUN echo build\n"
        "FROM build AS lint\nRUN echo lint\n"
        "FROM build AS test\nRUN echo test\n"
        "FROM busybox AS runtime\nCOPY --from=build /etc/hostname /x\n"
    ),
    "services/gateway/Dockerfile": (
        "FROM busybox AS test\nCOPY --from=web /x /x\nFROM busybox\nCOPY --from=web /x /x\n"
    ),
    "services/docs/Dockerfile": "FROM base\n",
}


@pytest.fixture(scope="module")
def example():
    return load_project(EXAMPLE)


@pytest.fixture
def small(tmp_path):
    return project_of(tmp_path, SMALL_PLAN, SMALL_FILES)


def assert_runnable(jobset: JobSet) -> None:
    """What the scheduler needs: every job once, each after the jobs it depends on."""
    assert len(set(jobset.order)) == len(jobset.order), f"a job is listed twice: {jobset.order}"
    assert set(jobset.order) == set(jobset.jobs) == set(jobset.deps)
    seen: set[str] = set()
    for key in jobset.order:
        missing = [d for d in jobset.deps[key] if d not in seen]
        assert not missing, f"{key} comes before its dependencies {missing}"
        seen.add(key)


# --- orch build -----------------------------------------------------------------------------


def test_build_with_no_names_builds_every_service_and_its_upstream(example):
    jobs = build_jobs(example, [])
    assert_runnable(jobs)
    assert set(jobs.order) == {
        "base",
        "go-toolchain",
        "python-runtime",
        "api",
        "worker",
        "scheduler",
    }
    assert jobs.order[0] == "base"
    assert jobs.deps["api"] == ("go-toolchain",)
    assert jobs.deps["worker"] == ("python-runtime",)


def test_build_jobs_ship_the_targets_stage(example):
    jobs = build_jobs(example, [])
    api = jobs.jobs["api"]
    assert (api.key, api.stage, api.test) == ("api", "runtime", False)
    assert jobs.jobs["base"].stage is None


def test_build_of_one_service_is_it_and_what_it_builds_on(example):
    jobs = build_jobs(example, ["api"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "go-toolchain", "api")
    assert jobs.deps == {"base": (), "go-toolchain": ("base",), "api": ("go-toolchain",)}


def test_build_of_a_stage_builds_only_its_upstream(example):
    jobs = build_jobs(example, ["python-runtime"])
    assert jobs.order == ("base", "python-runtime")


def test_build_with_no_names_skips_stages_no_service_needs(small):
    jobs = build_jobs(small, [])
    assert_runnable(jobs)
    assert "unused" not in jobs.jobs
    assert set(jobs.order) == {"base", "tools", "lonely", "web", "gateway", "docs"}


def test_build_of_a_name_given_twice_builds_it_once(example):
    jobs = build_jobs(example, ["api", "api"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "go-toolchain", "api")


def test_build_of_an_unknown_name_is_a_usage_error_with_a_suggestion(example):
    with pytest.raises(UsageError) as info:
        build_jobs(example, ["apii"])
    assert info.value.exit_code == EXIT_USAGE == 2
    assert "apii" in info.value.message
    assert "api" in (info.value.hint or "")


# --- orch test ------------------------------------------------------------------------------


def test_test_with_no_names_tests_every_service_after_its_direct_deps(example):
    jobs = select_test_jobs(example, [])
    assert_runnable(jobs)
    assert jobs.order == (
        "base",
        "go-toolchain",
        "python-runtime",
        "api:test",
        "worker:test",
        "scheduler:test",
    )
    assert jobs.deps["api:test"] == ("go-toolchain",)
    assert jobs.deps["worker:test"] == ("python-runtime",)
    assert jobs.deps["scheduler:test"] == ("python-runtime",)


def test_test_builds_no_service_image_it_does_not_need(example):
    jobs = select_test_jobs(example, [])
    assert not {"api", "worker", "scheduler"} & set(jobs.jobs)


def test_test_jobs_build_the_test_stage_and_upstream_jobs_build_images(example):
    jobs = select_test_jobs(example, ["api"])
    test = jobs.jobs["api:test"]
    assert (test.stage, test.test, test.target.name) == ("test", True, "api")
    assert jobs.jobs["go-toolchain"].test is False


def test_test_of_one_service_builds_only_the_upstream_of_its_deps(example):
    jobs = select_test_jobs(example, ["api"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "go-toolchain", "api:test")
    assert "python-runtime" not in jobs.jobs


def test_test_of_a_service_with_no_deps_builds_nothing_first(small):
    jobs = select_test_jobs(small, ["lonely"])
    assert_runnable(jobs)
    assert jobs.order == ("lonely:test",)
    assert jobs.deps == {"lonely:test": ()}


def test_every_test_stage_of_a_service_is_a_job_with_the_same_deps(small):
    jobs = select_test_jobs(small, ["web"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "tools", "web:lint", "web:test")
    assert jobs.deps["web:lint"] == jobs.deps["web:test"] == ("tools",)


def test_a_service_a_test_builds_on_is_built_not_tested(small):
    jobs = select_test_jobs(small, ["gateway"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "tools", "web", "gateway:test")
    assert jobs.jobs["web"].test is False
    assert jobs.deps["gateway:test"] == ("web",)


def test_test_with_no_names_skips_services_without_test_stages(small):
    jobs = select_test_jobs(small, [])
    assert_runnable(jobs)
    assert "docs" not in jobs.jobs
    assert not any(key.startswith("docs:") for key in jobs.jobs)
    assert [k for k in jobs.order if ":" in k] == [
        "lonely:test",
        "web:lint",
        "web:test",
        "gateway:test",
    ]


def test_test_of_a_name_given_twice_runs_its_stages_once(example):
    jobs = select_test_jobs(example, ["api", "api"])
    assert_runnable(jobs)
    assert jobs.order == ("base", "go-toolchain", "api:test")


@pytest.mark.parametrize("name", ["docs", "base"])
def test_test_of_a_target_without_test_stages_is_a_usage_error(small, name):
    with pytest.raises(UsageError) as info:
        select_test_jobs(small, [name])
    assert info.value.exit_code == 2
    assert name in info.value.message
    assert "test" in (info.value.hint or "")


def test_test_of_an_unknown_name_is_a_usage_error(example):
    with pytest.raises(UsageError) as info:
        select_test_jobs(example, ["workr"])
    assert info.value.exit_code == 2
    assert "worker" in (info.value.hint or "")


def test_test_of_a_plan_without_test_stages_is_a_usage_error(tmp_path):
    plan = "services:\n  docs: {context: docs}\n"
    project = project_of(tmp_path, plan, {"docs/Dockerfile": "FROM busybox\n"})
    with pytest.raises(UsageError) as info:
        select_test_jobs(project, [])
    assert info.value.exit_code == 2
