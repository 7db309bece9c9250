"""Platforms and attestations on the real engine, with QEMU (scripts/engine registers it):
`--platform`, a two-platform image through an upstream stage, and provenance and an SBOM on a
pushed image, read back from the loopback registry."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.kit import docker, monorepo, orch_build

pytestmark = pytest.mark.engine

ARM = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
STAGED = """\
stages:
  base: {context: base}
services:
  app: {context: app}
"""
FILES = {
    "base/Dockerfile": "FROM busybox:latest\nRUN uname -m > /base-arch\n",
    "app/Dockerfile": "FROM base\nRUN uname -m > /app-arch\n",
}


@pytest.fixture
def emulation() -> None:
    if not ARM.exists():
        pytest.fail("QEMU for linux/arm64 is not registered with binfmt_misc: run scripts/engine")


def arch(ref: str, platform: str, path: str) -> str:
    return docker("run", "--rm", "--platform", platform, ref, "cat", path).strip()


def test_platform_builds_that_platform_alone_under_a_version_of_its_own(
    tmp_path, image_prefix, emulation
):
    root = monorepo(tmp_path, image_prefix, STAGED, FILES)
    code, out, native = orch_build(root)
    assert code == 0, out
    code, out, arm = orch_build(root, "--platform", "linux/arm64")
    assert code == 0, out
    app, app_arm = native["targets"]["app"], arm["targets"]["app"]
    assert app_arm["status"] == "built"  # never up to date against the machine's own
    assert app_arm["version"] != app["version"]
    ref = app_arm["versioned_image"]
    assert arch(ref, "linux/arm64", "/app-arch") == "aarch64"
    assert arch(ref, "linux/arm64", "/base-arch") == "aarch64"  # its base, built for arm64 too


def test_a_two_platform_target_is_one_image_with_both(tmp_path, image_prefix, emulation):
    both = "platforms: [linux/amd64, linux/arm64]"
    plan = (
        f"stages:\n  base: {{context: base, {both}}}\nservices:\n  app: {{context: app, {both}}}\n"
    )
    root = monorepo(tmp_path, image_prefix, plan, FILES)
    code, out, report = orch_build(root)
    assert code == 0, out
    ref = report["targets"]["app"]["versioned_image"]
    assert arch(ref, "linux/amd64", "/app-arch") == "x86_64"
    assert arch(ref, "linux/arm64", "/app-arch") == "aarch64"
    code, out, again = orch_build(root)
    assert code == 0, out
    assert again["targets"]["app"]["status"] == "up-to-date"


def registry_json(path: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:5000{path}",
        headers={
            "Accept": "application/vnd.oci.image.index.v1+json, "
            "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.list.v2+json"
        },
    )
    with urllib.request.urlopen(request) as reply:  # noqa: S310 (the loopback registry)
        return json.loads(reply.read())


SBOM_GENERATOR = """\
FROM busybox:latest
COPY scan /bin/scan
RUN chmod +x /bin/scan
ENTRYPOINT ["/bin/scan"]
"""
# BuildKit runs the generator with the scanned root at $BUILDKIT_SCAN_SOURCE and takes every
# file it writes to $BUILDKIT_SCAN_DESTINATION as an in-toto statement of an SPDX document.
SCAN = """#!/bin/sh
set -e
files=$(find "$BUILDKIT_SCAN_SOURCE" -type f | wc -l)
cat > "$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json" <<EOF
{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
 "predicate": {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "orch-test", "documentNamespace": "https://example.invalid/orch-test",
  "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: orch-test"]},
  "comment": "files: $files", "packages": []}}
EOF
"""


def test_a_pushed_image_carries_provenance_and_an_sbom(tmp_path, image_prefix):
    gen = tmp_path / "gen"
    gen.mkdir()
    (gen / "Dockerfile").write_text(SBOM_GENERATOR)
    (gen / "scan").write_text(SCAN)
    generator = f"127.0.0.1:5000/{image_prefix}-sbom:1"
    docker("buildx", "build", "--builder", "default", "-q", "--push", "-t", generator, str(gen))
    plan = (
        "services:\n  app:\n    context: app\n    registry: '127.0.0.1:5000'\n"
        f"    attest: [provenance, sbom]\n    sbom: {{generator: '{generator}'}}\n"
    )
    root = monorepo(
        tmp_path / "repo", image_prefix, plan, {"app/Dockerfile": FILES["base/Dockerfile"]}
    )
    code, out, report = orch_build(root, "--push")
    assert code == 0, out
    version = report["targets"]["app"]["version"]
    index = registry_json(f"/v2/{image_prefix}/app/manifests/{version}")
    kinds = [m.get("annotations", {}).get("vnd.docker.reference.type") for m in index["manifests"]]
    assert "attestation-manifest" in kinds
    attestation = next(
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
    )
    layers = registry_json(f"/v2/{image_prefix}/app/manifests/{attestation['digest']}")["layers"]
    predicates = {layer["annotations"]["in-toto.io/predicate-type"] for layer in layers}
    assert any("slsa.dev/provenance" in p for p in predicates), predicates
    assert "https://spdx.dev/Document" in predicates


def test_a_budget_fails_the_platform_that_is_over_it(tmp_path, image_prefix, emulation):
    # The arm64 image carries 200 kB more: its platform alone breaks the budget.
    dockerfile = (
        "FROM busybox:latest\n"
        'RUN if [ "$(uname -m)" = aarch64 ]; then head -c 200000 /dev/urandom > /big; fi\n'
    )
    plan = (
        "services:\n  app:\n    context: app\n    registry: '127.0.0.1:5000'\n"
        "    platforms: [linux/amd64, linux/arm64]\n    max_size: 1.2MB\n"
    )
    root = monorepo(tmp_path, image_prefix, plan, {"app/Dockerfile": dockerfile})
    code, out, report = orch_build(root)
    assert code == 1, out
    app = report["targets"]["app"]
    assert app["status"] == "failed"
    assert app["error"].startswith("linux/arm64: its image is"), app["error"]
    sizes = app["platform_sizes"]
    assert set(sizes) == {"linux/amd64", "linux/arm64"}
    assert sizes["linux/arm64"] - sizes["linux/amd64"] > 150_000
    assert sizes["linux/amd64"] <= 1_200_000 < sizes["linux/arm64"]


def test_a_local_two_platform_image_reports_each_platform_where_the_engine_tells_it(
    tmp_path, image_prefix, emulation
):
    both = "platforms: [linux/amd64, linux/arm64]"
    root = monorepo(tmp_path, image_prefix, f"services:\n  app: {{context: app, {both}}}\n", FILES)
    (root / "app/Dockerfile").write_text(FILES["base/Dockerfile"])
    code, out, report = orch_build(root)
    assert code == 0, out
    sizes = report["targets"]["app"]["platform_sizes"]
    api = docker("version", "--format", "{{.Server.APIVersion}}").strip()
    if tuple(int(x) for x in api.split(".")) >= (1, 49):
        assert set(sizes) == {"linux/amd64", "linux/arm64"}
        assert "app by platform: linux/amd64 " in out
    else:  # Docker Engine before 28.1: it says so, and the budget is the engine's platform's
        assert sizes == {}
        assert "the size of each platform could not be read" in out


def test_a_local_image_that_lost_a_platform_is_built_again_where_the_engine_tells_it(
    tmp_path, image_prefix, emulation
):
    # Each platform's layer is its own, so that removing arm64's content removes nothing of
    # amd64's or of a base image (`docker image rm --platform` drops shared blobs too).
    files = {
        "app/Dockerfile": "FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n",
        "app/amd64.txt": "amd64\n",
        "app/arm64.txt": "arm64\n",
    }
    both = "platforms: [linux/amd64, linux/arm64]"
    root = monorepo(tmp_path, image_prefix, f"services:\n  app: {{context: app, {both}}}\n", files)
    code, out, report = orch_build(root)
    assert code == 0, out
    ref = report["targets"]["app"]["versioned_image"]
    api = docker("version", "--format", "{{.Server.APIVersion}}").strip()
    if tuple(int(x) for x in api.split(".")) >= (1, 49):
        docker("image", "rm", "--force", "--platform", "linux/arm64", ref)
        code, out, again = orch_build(root)
        assert code == 0, out
        # Not up to date without its arm64 content. (BuildKit's cache still holds the removed
        # layer as built, so this export does not bring the content back: `--no-cache` does.)
        assert again["targets"]["app"]["status"] == "built"
    else:  # Docker Engine before 28.1 cannot tell a platform's content: the image is whole
        code, out, again = orch_build(root)
        assert code == 0, out
        assert again["targets"]["app"]["status"] == "up-to-date"


def test_size_shows_a_platform_s_layers_each_with_its_dockerfile_line(
    tmp_path, image_prefix, emulation
):
    both = "platforms: [linux/amd64, linux/arm64]"
    plan = (
        f"stages:\n  base: {{context: base, {both}}}\nservices:\n  app: {{context: app, {both}}}\n"
    )
    root = monorepo(tmp_path, image_prefix, plan, FILES)
    code, out, _ = orch_build(root)
    assert code == 0, out
    from tests.kit import run_orch

    shown = run_orch(root, "size", "app", "--platform", "linux/arm64")
    api = docker("version", "--format", "{{.Server.APIVersion}}").strip()
    if tuple(int(x) for x in api.split(".")) >= (1, 48):
        assert shown.returncode == 0, shown.stderr
        assert "line   2" in shown.stdout  # app's own RUN
        assert "base/Dockerfile:2" in shown.stdout  # base's RUN, inherited
        assert "COPY busybox-arm64 /bin/busybox" in shown.stdout  # arm64's own layers
    else:
        assert shown.returncode == 3
        assert "the layers of one platform need Docker Engine 28 or later" in shown.stderr


SPLIT_PLAN = """\
  registry: 127.0.0.1:5000
  platforms: [linux/amd64, linux/arm64]
builders:
  - {name: default, platforms: [linux/amd64]}
  - {name: node2, platforms: [linux/arm64]}
stages:
  base: {context: base}
services:
  app: {context: app}
"""


def test_a_pool_splits_each_target_by_platform_and_merges_one_index_in_the_registry(
    tmp_path, image_prefix, emulation
):
    from tests.nodes import node2_ready

    node2_ready()
    root = monorepo(tmp_path, image_prefix, SPLIT_PLAN, FILES)
    code, out, report = orch_build(root)
    assert code == 0, out
    for name in ("base", "app"):
        target = report["targets"][name]
        assert target["platform_builders"] == {"linux/amd64": "default", "linux/arm64": "node2"}
        # One index under the versioned tag, with a manifest of each platform.
        ref = target["versioned_image"]
        repository, tag = ref.removeprefix("127.0.0.1:5000/").rsplit(":", 1)
        index = registry_json(f"/v2/{repository}/manifests/{tag}")
        platforms = {
            f"{m['platform']['os']}/{m['platform']['architecture']}"
            for m in index["manifests"]
            if m["platform"]["os"] != "unknown"
        }
        assert platforms == {"linux/amd64", "linux/arm64"}, index
    # app's arm64 part was built on node2 on base's arm64 part: the hand-off is per platform.
    ref = report["targets"]["app"]["versioned_image"]
    docker("pull", "-q", "--platform", "linux/arm64", ref)
    assert arch(ref, "linux/arm64", "/app-arch") == "aarch64"
    assert arch(ref, "linux/arm64", "/base-arch") == "aarch64"
    # The summary says where each platform was built, with its size.
    assert re.search(
        r"app by platform: linux/amd64 [\d.]+ [kM]B on default, linux/arm64 [\d.]+ [kM]B on node2",
        out,
    ), out
    assert re.search(r"^app +[\d.]+s +\d+ +default\+node2$", out, re.M), out
    # The history keeps each platform's size, for the next run to compare with.
    kept = json.loads((root / ".orch/sizes.json").read_text())["app"]["platforms"]
    assert set(kept) == {"linux/amd64", "linux/arm64"}
    code, out, again = orch_build(root)
    assert code == 0, out
    assert again["targets"]["app"]["status"] == "up-to-date"


def test_a_failing_platform_of_a_split_leaves_no_tag(tmp_path, image_prefix, emulation):
    from tests.nodes import node2_ready

    node2_ready()
    files = {
        **FILES,
        "app/Dockerfile": 'FROM base\nRUN [ "$(uname -m)" = x86_64 ] || { echo no arm; exit 7; }\n',
    }
    root = monorepo(tmp_path, image_prefix, SPLIT_PLAN, files)
    code, out, report = orch_build(root)
    assert code == 1, out
    app = report["targets"]["app"]
    assert app["status"] == "failed"
    assert app["error"].startswith("linux/arm64 on node2: "), app["error"]
    assert app["versioned_image"] is None
    assert "Traceback" not in out
