"""Retries on the real engine: a registry's bad moment is tried again, a broken step is not."""

from __future__ import annotations

import pytest

from tests.kit import monorepo, orch_build
from tests.registry_proxy import RegistryProxy

pytestmark = pytest.mark.engine

# The upload of the versioned tag's manifest. BuildKit tries a failed registry request four
# times itself: four 503s in a row fail the build, with BuildKit's own error.
TAG_MANIFEST = r"^PUT /v2/.*/manifests/[0-9a-f]{8,}"
BUILDKIT_TRIES = 4


def plan(registry: str) -> str:
    return f"  registry: {registry}\nservices:\n  svc: {{context: svc}}\n"


FILES = {"svc/Dockerfile": "FROM busybox:latest\nRUN echo svc > /svc\n"}


def test_a_registry_503_is_retried_and_the_build_succeeds(tmp_path, image_prefix):
    with RegistryProxy(fail_first=BUILDKIT_TRIES, only=TAG_MANIFEST) as proxy:
        root = monorepo(tmp_path, image_prefix, plan(proxy.address), FILES)
        code, out, report = orch_build(root, "--retries", "2")
        faults = proxy.faults
    assert code == 0, out
    assert faults == BUILDKIT_TRIES
    svc = report["targets"]["svc"]
    assert svc["status"] == "built"
    outcomes = [a["outcome"] for a in svc["attempts"]]
    assert outcomes == ["retried", "built"], svc["attempts"]
    assert "503 Service Unavailable" in svc["attempts"][0]["error"]
    assert "↻ svc: 2 attempts" in out


def test_without_retries_the_503_fails_the_target(tmp_path, image_prefix):
    with RegistryProxy(fail_first=BUILDKIT_TRIES, only=TAG_MANIFEST) as proxy:
        root = monorepo(tmp_path, image_prefix, plan(proxy.address), FILES)
        code, out, report = orch_build(root, "--retries", "0")
    assert code == 1, out
    svc = report["targets"]["svc"]
    assert svc["status"] == "failed"
    assert "503 Service Unavailable" in svc["error"]
    assert len(svc["attempts"]) == 1


def test_a_failing_step_is_never_retried(tmp_path, image_prefix):
    files = {"svc/Dockerfile": "FROM busybox:latest\nRUN echo broken >&2 && exit 4\n"}
    root = monorepo(tmp_path, image_prefix, "services:\n  svc: {context: svc}\n", files)
    code, out, report = orch_build(root, "--retries", "3")
    assert code == 1, out
    assert len(report["targets"]["svc"]["attempts"]) == 1
    assert [i["jobs"] for i in report["invocations"]] == [["svc"]]
