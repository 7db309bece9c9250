"""`orch prune` on the real engine: after three edits of a service, the newest version, the one
a plan tag names and the one a container uses stay; every image of other projects stays."""

from __future__ import annotations

import json

import pytest

from tests.kit import docker, monorepo, orch_build, run_orch

pytestmark = pytest.mark.engine

PLAN = "services:\n  app: {context: app}\n"


def versions(prefix: str) -> list[str]:
    listed = docker("image", "ls", "--format", "{{.Tag}}", f"{prefix}/app")
    return sorted(t for t in listed.split() if len(t) == 20)


def build(root, text: str) -> str:
    (root / "app/app.txt").write_text(text)
    code, out, report = orch_build(root)
    assert code == 0, out
    return report["targets"]["app"]["version"]


def test_prune_after_three_edits_keeps_the_newest_the_tagged_and_the_used(tmp_path, image_prefix):
    root = monorepo(
        tmp_path / "mine",
        image_prefix,
        PLAN,
        {"app/Dockerfile": "FROM busybox:latest\nCOPY app.txt /\n"},
    )
    other = monorepo(
        tmp_path / "theirs",
        f"{image_prefix}-other",
        PLAN,
        {"app/Dockerfile": "FROM busybox:latest\nCOPY app.txt /\n", "app/app.txt": "x\n"},
    )
    code, out, theirs = orch_build(other)
    assert code == 0, out
    first = build(root, "one\n")
    used = build(root, "two\n")
    third = build(root, "three\n")
    newest = build(root, "four\n")
    assert build(root, "one\n") == first  # up to date: app:latest points at the first again
    container = docker("create", f"{image_prefix}/app:{used}", "true").strip()
    try:
        assert versions(image_prefix) == sorted([first, used, third, newest])
        dry = run_orch(root, "prune", "--keep", "1", "--dry-run", "-v")
        assert dry.returncode == 0, dry.stderr
        assert f"would remove {image_prefix}/app:{third}" in dry.stdout
        assert "would remove 1 image tag (" in dry.stdout
        assert versions(image_prefix) == sorted([first, used, third, newest])  # nothing yet
        done = run_orch(root, "prune", "--keep", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        assert versions(image_prefix) == sorted([first, used, newest])
        said = json.dumps(done.stdout)
        assert "removed 1 image tag" in said
    finally:
        docker("rm", container)
    # The other project's images are all there.
    other_version = theirs["targets"]["app"]["version"]
    assert docker("image", "inspect", f"{image_prefix}-other/app:{other_version}")
    assert docker("image", "inspect", f"{image_prefix}-other/app:latest")
    # And the tagged one still runs as the plan's latest.
    shown = docker("run", "--rm", f"{image_prefix}/app:latest", "cat", "/app.txt")
    assert shown == "one\n"


def test_build_prune_prunes_after_a_build_that_succeeded(tmp_path, image_prefix):
    root = monorepo(
        tmp_path, image_prefix, PLAN, {"app/Dockerfile": "FROM busybox:latest\nCOPY app.txt /\n"}
    )
    for text in ("1\n", "2\n", "3\n", "4\n"):
        build(root, text)
    assert len(versions(image_prefix)) == 4
    (root / "app/app.txt").write_text("5\n")
    code, out, _ = orch_build(root, "--prune")
    assert code == 0, out
    assert "prune: removed 2 image tags" in out
    assert len(versions(image_prefix)) == 3


def registry_tags(prefix: str) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:5000/v2/{prefix}/app/tags/list") as reply:
        return sorted(json.loads(reply.read()).get("tags") or [])


def test_in_a_registry_prune_lists_and_deletes_only_when_told(tmp_path, image_prefix):
    plan = "services:\n  app: {context: app, registry: '127.0.0.1:5000'}\n"
    root = monorepo(
        tmp_path, image_prefix, plan, {"app/Dockerfile": "FROM busybox:latest\nCOPY app.txt /\n"}
    )
    made = []
    for text in ("1\n", "2\n", "3\n"):
        (root / "app/app.txt").write_text(text)
        code, out, report = orch_build(root, "--push")
        assert code == 0, out
        made.append(report["targets"]["app"]["version"])
    # The parts of a version built over a pool split by platform go with it.
    ref = f"127.0.0.1:5000/{image_prefix}/app"
    docker(
        "buildx", "imagetools", "create", "-t", f"{ref}:{made[0]}-linux-amd64", f"{ref}:{made[0]}"
    )
    assert registry_tags(image_prefix) == sorted([*made, f"{made[0]}-linux-amd64", "latest"])
    listed = run_orch(root, "prune", "--keep", "1")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    for old in made[:2]:
        assert (
            f"past the bound in the registry (--registry-delete deletes): "
            f"127.0.0.1:5000/{image_prefix}/app:{old}"
        ) in listed.stdout
    assert f"{ref}:{made[0]}-linux-amd64" in listed.stdout
    assert registry_tags(image_prefix) == sorted(
        [*made, f"{made[0]}-linux-amd64", "latest"]
    )  # listed, never deleted
    deleted = run_orch(root, "prune", "--keep", "1", "--registry-delete")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert registry_tags(image_prefix) == sorted([made[2], "latest"])
