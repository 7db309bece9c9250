"""External base images: which a target reads, resolved in one call, and moving its version."""

from __future__ import annotations

import anyio
import pytest

from orchestrator.engine.docker import familiar
from orchestrator.inputs import bases
from orchestrator.inputs.versions import diff_manifests
from orchestrator.run import resolve
from tests.kit import FakeEngine, project_of

PLAN = """\
stages:
  base: {context: base}
services:
  app:
    context: app
    contexts: {tools: "docker-image://tools:1", lib: lib}
  pinned: {context: pinned}
"""
FILES = {
    "base/Dockerfile": "ARG V=12\nFROM debian:${V}\n",
    "app/Dockerfile": (
        "FROM base AS build\nCOPY --from=golang:1.22 /usr/local/go /go\n"
        "RUN --mount=from=tools,target=/t true\nCOPY --from=lib . /lib\n"
        "FROM scratch\nCOPY --from=build /go /go\n"
    ),
    "lib/x.txt": "x\n",
    "pinned/Dockerfile": "FROM alpine@sha256:" + "a" * 64 + "\n",
}


@pytest.fixture
def project(tmp_path):
    return project_of(tmp_path, PLAN, FILES)


def test_a_target_reads_its_outside_images_not_plan_targets_or_directory_contexts(project):
    refs = resolve.external(project, ["app", "pinned"])
    assert refs["base"] == ("debian:12",)  # after ARG substitution
    assert refs["app"] == ("golang:1.22", "tools:1")  # `base` is a target, `lib` a directory
    assert refs["pinned"] == ("alpine@sha256:" + "a" * 64,)


def test_every_reference_of_a_run_is_resolved_in_one_local_call():
    refs = [f"img{i}:latest" for i in range(50)]
    engine = FakeEngine(images={ref: f"sha256:{i}" for i, ref in enumerate(refs)})
    digests = anyio.run(lambda: bases.resolve(engine, refs, pull=False))
    assert digests == {ref: f"sha256:{i}" for i, ref in enumerate(refs)}
    assert [kind for kind, _ in engine.lookups] == ["ids"]


def test_a_pinned_reference_is_its_own_digest_and_is_looked_up_nowhere():
    ref = "alpine@sha256:" + "b" * 64
    engine = FakeEngine()
    assert anyio.run(lambda: bases.resolve(engine, [ref], pull=False)) == {
        ref: "sha256:" + "b" * 64
    }
    assert engine.lookups == []


def test_what_is_not_here_is_looked_up_in_its_registry_and_pull_asks_the_registry_first():
    engine = FakeEngine(
        images={"a:1": "sha256:local"}, registry={"a:1": "sha256:r", "b:1": "sha256:b"}
    )
    assert anyio.run(lambda: bases.resolve(engine, ["a:1", "b:1", "c:1"], pull=False)) == {
        "a:1": "sha256:local",
        "b:1": "sha256:b",
        "c:1": bases.UNRESOLVED,
    }
    assert engine.lookups == [("ids", ("a:1", "b:1", "c:1")), ("remote", ("b:1", "c:1"))]
    pulled = anyio.run(lambda: bases.resolve(engine, ["a:1"], pull=True))
    assert pulled == {"a:1": "sha256:r"}


def test_a_refreshed_base_image_moves_the_version_of_its_users_and_what_is_downstream(project):
    engine = FakeEngine(images={"debian:12": "sha256:old", "golang:1.22": "sha256:g"})
    before = anyio.run(lambda: resolve.versions(project, ["app", "pinned"], engine)).manifests
    engine.images["debian:12"] = "sha256:new"
    after = anyio.run(lambda: resolve.versions(project, ["app", "pinned"], engine)).manifests
    assert after["base"].version != before["base"].version
    assert after["app"].version != before["app"].version  # downstream of base
    assert after["pinned"].version == before["pinned"].version
    assert [str(c) for c in diff_manifests(before["base"], after["base"])] == [
        "base image debian:12: moved from sha256:old to sha256:new"
    ]


def test_without_an_engine_versions_leave_base_images_out_and_say_so(project):
    resolved = anyio.run(lambda: resolve.versions(project, ["base"], None))
    assert resolved.engine is False
    assert resolved.manifests["base"].bases == ()


@pytest.mark.parametrize(
    ("ref", "shown"),
    [
        ("debian:bookworm-slim", ("debian", "bookworm-slim")),
        ("docker.io/library/debian:bookworm-slim", ("debian", "bookworm-slim")),
        ("docker.io/acme/tool", ("acme/tool", "latest")),
        ("busybox", ("busybox", "latest")),
        ("127.0.0.1:5000/orch/api:1a2b", ("127.0.0.1:5000/orch/api", "1a2b")),
        ("127.0.0.1:5000/orch/api", ("127.0.0.1:5000/orch/api", "latest")),
        ("busybox@sha256:" + "0" * 64, None),
    ],
)
def test_a_reference_is_matched_to_the_listing_as_docker_shows_it(ref, shown):
    assert familiar(ref) == shown
