"""Content versions on the real engine: what is up to date is not built, tags move on success."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import uuid

import pytest

from tests.kit import docker, image_file, monorepo, orch_build, run_orch

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"


def stage_and_app(root, prefix):
    nonce = uuid.uuid4().hex
    return monorepo(
        root,
        prefix,
        "stages:\n  base: {context: base}\n"
        "services:\n  app: {context: app}\n  other: {context: other}\n",
        {
            "base/Dockerfile": BUSYBOX + f"RUN echo base-{nonce} > /base.txt\n",
            "app/Dockerfile": "FROM base\nCOPY main.txt /main.txt\n",
            "app/main.txt": "one\n",
            "other/Dockerfile": BUSYBOX + f"RUN echo other-{nonce} > /other.txt\n",
        },
    )


def test_a_second_build_with_nothing_changed_runs_no_bake(tmp_path, image_prefix):
    root = stage_and_app(tmp_path, image_prefix)
    code, out, first = orch_build(root)
    assert code == 0, out
    code, out, second = orch_build(root)
    assert code == 0, out
    assert second["invocations"] == []
    assert {k: v["status"] for k, v in second["targets"].items()} == dict.fromkeys(
        ["base", "app", "other"], "up-to-date"
    )
    for name in ("base", "app", "other"):
        assert second["targets"][name]["digest"] == first["targets"][name]["digest"]
    assert "build ok: 3 up-to-date" in out


def test_editing_one_service_rebuilds_that_service_only(tmp_path, image_prefix):
    root = stage_and_app(tmp_path, image_prefix)
    code, out, _ = orch_build(root)
    assert code == 0, out
    (root / "app" / "main.txt").write_text("two\n")
    code, out, report = orch_build(root)
    assert code == 0, out
    statuses = {k: v["status"] for k, v in report["targets"].items()}
    assert statuses == {"base": "up-to-date", "app": "built", "other": "up-to-date"}
    assert [i["jobs"] for i in report["invocations"]] == [["app"]]
    assert image_file(f"{image_prefix}/app:latest", "/main.txt") == "two\n"


def test_a_retagged_upstream_tag_does_not_change_what_a_downstream_build_uses(
    tmp_path, image_prefix
):
    root = stage_and_app(tmp_path, image_prefix)
    code, out, _ = orch_build(root, "app")
    assert code == 0, out
    base_file = image_file(f"{image_prefix}/base:latest", "/base.txt")
    # Another build moves the stage's plain tag to an image without /base.txt.
    docker("tag", "busybox:latest", f"{image_prefix}/base:latest")
    (root / "app" / "main.txt").write_text("two\n")
    code, out, report = orch_build(root, "app")
    assert code == 0, out
    assert report["targets"]["base"]["status"] == "up-to-date"
    assert report["targets"]["app"]["status"] == "built"
    assert image_file(f"{image_prefix}/app:latest", "/base.txt") == base_file
    # The stage's plain tag points at its versioned image again.
    assert docker("image", "inspect", "-f", "{{.Id}}", f"{image_prefix}/base:latest") == docker(
        "image", "inspect", "-f", "{{.Id}}", report["targets"]["base"]["versioned_image"]
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_target_that_failed_after_its_image_was_loaded_moves_no_tag(tmp_path, image_prefix):
    cache = f"type=registry,ref=127.0.0.1:{_closed_port()}/cache:{{name}}"
    root = monorepo(
        tmp_path,
        image_prefix,
        f'  cache:\n    to: ["{cache}"]\nservices:\n  svc: {{context: svc}}\n',
        {"svc/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /n\n"},
    )
    code, out, report = orch_build(root)
    assert code == 1, out
    assert report["targets"]["svc"]["status"] == "failed"
    assert docker("image", "inspect", f"{image_prefix}/svc:latest", check=False) == "[]\n"


def test_a_refreshed_base_image_rebuilds_its_users_and_why_says_so(tmp_path, image_prefix):
    outside = f"{image_prefix}-outside:1"  # an image no plan target makes
    for content in ("old", "new"):
        ctx = tmp_path / f"outside-{content}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(BUSYBOX + f"RUN echo {content}-{uuid.uuid4().hex} > /v\n")
        docker(
            "buildx", "build", "--builder", "default", "-q", "-t", f"{outside}-{content}", str(ctx)
        )
    docker("tag", f"{outside}-old", outside)
    root = monorepo(
        tmp_path / "repo",
        image_prefix,
        "stages:\n  base: {context: base}\nservices:\n  app: {context: app}\n",
        {
            "base/Dockerfile": f"FROM {outside}\nRUN cp /v /base-v\n",
            "app/Dockerfile": "FROM base\nRUN cp /base-v /app-v\n",
        },
    )
    code, out, _ = orch_build(root)
    assert code == 0, out
    docker("tag", f"{outside}-new", outside)  # refreshed, as a security fix would
    why = run_orch(root, "why", "app")
    assert "would be built" in why.stdout, why.stdout + why.stderr
    assert "upstream base: version" in why.stdout
    why_base = run_orch(root, "why", "base")
    assert f"base image {outside}: moved from sha256:" in why_base.stdout, why_base.stdout
    code, out, report = orch_build(root)
    assert code == 0, out
    assert {k: v["status"] for k, v in report["targets"].items()} == {
        "base": "built",
        "app": "built",
    }
    assert image_file(f"{image_prefix}/app:latest", "/app-v").startswith("new-")
    code, out, report = orch_build(root)
    assert code == 0, out
    assert report["invocations"] == []
    up = run_orch(root, "why", "app")
    assert up.stdout.startswith("app: up-to-date: its image for version "), up.stdout


def test_an_image_over_its_budget_fails_and_names_its_largest_layer(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc:\n    context: svc\n    max_size: 100kB\n",
        {
            "svc/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /n\n"
            + "RUN head -c 3000000 /dev/urandom > /big\n"
        },
    )
    code, out, report = orch_build(root)
    assert code == 1, out
    svc = report["targets"]["svc"]
    assert svc["status"] == "failed"
    assert "over its max_size of 100.0 kB" in svc["error"]
    assert "line 3: RUN head -c 3000000 /dev/urandom > /big" in svc["error"]
    assert "line 3: RUN head -c 3000000" in out
    assert docker("image", "inspect", f"{image_prefix}/svc:latest", check=False) == "[]\n"


def test_orch_size_shows_layers_with_their_lines_and_each_stage(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc: {context: svc}\n",
        {
            "svc/Dockerfile": BUSYBOX.replace("\n", " AS build\n")
            + "RUN head -c 2000000 /dev/urandom > /big && head -c 1000 /dev/urandom > /small\n"
            + "FROM scratch AS runtime\nCOPY --from=build /small /small\n"
        },
    )
    code, out, _ = orch_build(root)
    assert code == 0, out
    proc = run_orch(root, "size", "svc")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "line   4  COPY /small /small" in text
    stages = text.split("each named stage, built with --target:")[1]
    build_size, runtime_size = (
        next(line for line in stages.splitlines() if line.endswith(stage))
        for stage in ("build", "runtime")
    )
    assert (
        "MB" in build_size and "kB" in runtime_size
    )  # the builder carries what the runtime does not
    assert not [
        r for r in docker("image", "ls", "--format", "{{.Tag}}").split() if "orch-size-probe" in r
    ]


def test_a_registry_target_is_up_to_date_from_the_registry_alone(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc: {context: svc, registry: localhost:5000}\n",
        {"svc/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /n\n"},
    )
    code, out, first = orch_build(root)
    assert code == 0, out
    svc = first["targets"]["svc"]
    assert svc["versioned_image"].startswith(f"localhost:5000/{image_prefix}/svc:")
    # A fresh runner: nothing local, the registry has the versioned image.
    docker("image", "rm", "-f", svc["image"], svc["versioned_image"])
    code, out, second = orch_build(root)
    assert code == 0, out
    assert second["targets"]["svc"]["status"] == "up-to-date"
    assert second["invocations"] == []
    # The plan's tag in the registry leads to the versioned image's manifest (imagetools
    # wraps it in an index of one), and a no-op run does not tag it again.
    raw = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--raw", svc["image"]],
        capture_output=True,
        check=True,
    ).stdout
    versioned = second["targets"]["svc"]["digest"]
    listed = [m["digest"] for m in json.loads(raw).get("manifests", [])]
    assert versioned in listed or f"sha256:{hashlib.sha256(raw).hexdigest()}" == versioned
    code, out, _ = orch_build(root)
    assert code == 0, out
    after = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--raw", svc["image"]],
        capture_output=True,
        check=True,
    ).stdout
    assert after == raw  # not tagged again
