"""Platforms as an input: `--platform` narrows each target's platforms into a version of its
own, `orch dev` builds the host's, and a bad platform is exit 2."""

from __future__ import annotations

import pytest

from orchestrator.commands.group import platforms_of
from orchestrator.errors import UsageError
from orchestrator.plan.overrides import host_platform, narrowed
from orchestrator.project import load_project
from tests.kit import project_of

PLAN = """\
defaults:
  platforms: [linux/amd64, linux/arm64]
stages:
  base: {context: base}
services:
  api: {context: api}
  edge: {context: edge, platforms: [linux/arm64]}
"""
FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "api/Dockerfile": "FROM base\n",
    "edge/Dockerfile": "FROM busybox\n",
}


@pytest.mark.parametrize(
    ("machine", "platform"),
    [
        ("x86_64", "linux/amd64"),
        ("aarch64", "linux/arm64"),
        ("arm64", "linux/arm64"),
        ("armv7l", "linux/arm/v7"),
    ],
)
def test_the_host_platform_is_named_as_buildkit_names_it(machine, platform):
    assert host_platform(machine) == platform


def test_narrowing_keeps_what_is_asked_and_a_target_without_it_keeps_its_own():
    both = ("linux/amd64", "linux/arm64")
    assert narrowed(both, ["linux/arm64"]) == ("linux/arm64",)
    assert narrowed((), ["linux/arm64"]) == ("linux/arm64",)  # the builder's own, made explicit
    assert narrowed(("linux/arm64",), ["linux/amd64"]) == ("linux/arm64",)  # none asked: its own


def test_a_narrowed_build_has_versions_of_its_own(tmp_path):
    project_of(tmp_path, PLAN, FILES)
    full = load_project(tmp_path / "buildplan.yaml")
    laptop = load_project(tmp_path / "buildplan.yaml", platform=("linux/amd64",))
    assert laptop.plan.targets["api"].platforms == ("linux/amd64",)
    assert laptop.plan.targets["edge"].platforms == ("linux/arm64",)
    names = ["base", "api"]
    a, b = full.manifests(names), laptop.manifests(names)
    assert all(a[n].version != b[n].version for n in names)
    again = load_project(tmp_path / "buildplan.yaml", platform=("linux/amd64",)).manifests(names)
    assert all(again[n].version == b[n].version for n in names)


def test_platforms_are_given_as_a_list_or_repeated():
    assert platforms_of(["linux/amd64,linux/arm64", "linux/arm64"]) == (
        "linux/amd64",
        "linux/arm64",
    )
    for bad in ("linux", "amd64", "linux/amd64/v8/x", "Linux/AMD64"):
        with pytest.raises(UsageError, match="is not a platform"):
            platforms_of([bad])


TESTED = """\
services:
  api:
    context: api
    platforms: [linux/amd64, linux/arm64]
    test: [unit, {stage: slow, platforms: [linux/amd64]}]
"""
TESTED_FILES = {"api/Dockerfile": "FROM busybox AS unit\nFROM busybox AS slow\nFROM busybox\n"}


def test_a_test_stage_runs_on_each_platform_or_on_those_it_names(tmp_path):
    from orchestrator.run.bake import bake_definitions
    from orchestrator.run.jobs import select_test_jobs
    from orchestrator.run.steps import job_versions

    project = project_of(tmp_path, TESTED, TESTED_FILES)
    api = project.plan.targets["api"]
    assert api.tests == ("unit", "slow")
    assert dict(api.test_platforms) == {"slow": ("linux/amd64",)}
    jobset = select_test_jobs(project, ["api"])
    defs = bake_definitions(project, list(jobset.jobs.values()))
    assert defs["api:unit"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert defs["api:slow"]["platforms"] == ["linux/amd64"]
    versions = job_versions(jobset, project.manifests(["api"]))
    assert len({versions["api:unit"], versions["api:slow"]}) == 2


def test_a_test_platform_the_target_is_not_built_for_is_a_plan_error(tmp_path):
    from orchestrator.errors import PlanError

    with pytest.raises(PlanError) as caught:
        project_of(tmp_path, TESTED.replace("[linux/amd64]}", "[linux/s390x]}"), TESTED_FILES)
    assert "names linux/s390x, which api is not built for" in caught.value.message
    assert caught.value.location is not None and caught.value.location.line == 6  # its test:
