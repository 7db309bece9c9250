"""A builder that cannot read the daemon's images (docker-container, remote, kubernetes, cloud):
the bake files orch sends it, run by the real buildx and BuildKit.

Those drivers need a BuildKit image this machine cannot fetch, so the engine here is the docker
driver's, told it is isolated: every bake then carries its upstream (`target:` links) instead of
naming the daemon's image, which is what such a builder needs. What must hold on the real bake:
the carried upstream is built as a context and exported nowhere, its image and tags stay as they
were, and the downstream image holds what the upstream made. The registry path, the other way
such a builder reads an upstream, is the pool's (tests/test_engine_pool.py).
"""

from __future__ import annotations

import json

import pytest

from orchestrator.engine.docker import Engine
from orchestrator.project import load_project
from orchestrator.run import steps as run
from orchestrator.run.jobs import build_jobs, select_test_jobs
from tests.kit import docker, image_file, monorepo

pytestmark = pytest.mark.engine


class Isolated(Engine):
    async def isolated(self) -> bool:
        return True


PLAN = """\
stages:
  base: {context: base}
  toolchain: {context: toolchain}
services:
  api: {context: api, test: [test]}
"""
FILES = {
    "base/Dockerfile": "FROM busybox:latest\nRUN echo base > /base.txt\n",
    "toolchain/Dockerfile": "FROM base\nRUN echo toolchain > /toolchain.txt\n",
    "api/Dockerfile": (
        "FROM toolchain AS test\nRUN test -f /toolchain.txt\n"
        "FROM toolchain\nCOPY app.txt /\nRUN cat /base.txt /toolchain.txt /app.txt > /all.txt\n"
    ),
    "api/app.txt": "app\n",
}


def build(root, *, test: bool = False):
    project = load_project(root / "buildplan.yaml")
    jobset = select_test_jobs(project, ["api"]) if test else build_jobs(project, ["api"])
    names = sorted({j.target.name for j in jobset.jobs.values()})
    outcome = run.run(
        project,
        jobset,
        Isolated(),
        manifests=project.manifests(names),
        options=run.RunOptions(),
        test=test,
    )
    return project, outcome


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).strip()


def test_an_edit_below_up_to_date_stages_bakes_them_as_contexts_and_leaves_their_images(
    tmp_path, image_prefix
):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    _, first = build(root)
    assert first.ok, [(r.key, r.status, r.error) for r in first.results]
    versioned = {r.key: r.versioned_image for r in first.results}
    ids = {name: image_id(versioned[name]) for name in ("base", "toolchain")}

    (root / "api/app.txt").write_text("app, edited\n")
    project, again = build(root)
    assert {r.key: r.status for r in again.results} == {
        "base": "up-to-date",
        "toolchain": "up-to-date",
        "api": "built",
    }
    (result,) = [r for r in again.results if r.key == "api"]
    assert image_file(result.image or "", "/all.txt") == "base\ntoolchain\napp, edited\n"
    # The carried stages were built as contexts only: their images and tags are as they were.
    assert {name: image_id(versioned[name]) for name in ("base", "toolchain")} == ids
    newest = max(
        (project.plan.root / ".orch/runs").glob("*/*-api.json"), key=lambda p: p.stat().st_mtime
    )
    sent = json.loads(newest.read_text())["target"]
    assert sorted(sent) == ["api", "base", "toolchain"]
    assert sent["api"]["contexts"] == {"toolchain": "target:toolchain"}
    assert sent["toolchain"]["output"] == ["type=cacheonly"]


def test_a_test_stage_builds_on_the_carried_toolchain(tmp_path, image_prefix):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    assert build(root)[1].ok
    _, tested = build(root, test=True)
    assert {r.key: r.status for r in tested.results} == {
        "base": "up-to-date",
        "toolchain": "up-to-date",
        "api:test": "passed",
    }, [r.error for r in tested.results]
