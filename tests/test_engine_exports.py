"""How images are exported, on the real engine: a stage no other machine reads gets zstd layers,
is handed to the build on it and runs; shipped images keep gzip throughout."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from tests.kit import image_file, monorepo, orch_build, run_orch

pytestmark = pytest.mark.engine

PLAN = """\
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
stages:
  tool: {context: tool}
  runtime: {context: runtime}
services:
  app: {context: app}
"""
FILES = {
    # Random bytes: a layer that compression cannot hide, as a toolchain's binaries.
    "tool/Dockerfile": (
        "FROM busybox:latest\nRUN head -c 3000000 /dev/urandom > /tool.bin\n"
        "RUN echo tool > /tool.txt\n"
    ),
    "runtime/Dockerfile": "FROM busybox:latest\nRUN echo runtime > /runtime.txt\n",
    "app/Dockerfile": (
        "FROM tool AS build\nRUN cat /tool.txt > /built.txt\n"
        "RUN wc -c < /tool.bin >> /built.txt\n"
        "FROM runtime\nCOPY --from=build /built.txt /built.txt\n"
    ),
}


def layer_types(ref: str) -> list[str]:
    """The media types of the image's layers, as `docker save` writes them (an OCI layout)."""
    data = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())

        def blob(digest: str) -> dict:
            member = tar.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}")
            assert member is not None
            return json.loads(member.read())

        index_file = tar.extractfile("index.json")
        assert index_file is not None
        todo = json.loads(index_file.read())["manifests"]
        while todo:
            desc = todo.pop(0)
            if f"blobs/sha256/{desc['digest'].removeprefix('sha256:')}" not in names:
                continue  # another platform's manifest, not in the saved image
            doc = blob(desc["digest"])
            if "manifests" in doc:
                todo = doc["manifests"] + todo
            elif doc.get("layers"):
                return [layer["mediaType"] for layer in doc["layers"]]
    raise AssertionError(f"no image manifest with layers in `docker save {ref}`")


def test_a_stage_only_built_upon_gets_zstd_layers_is_handed_on_and_runs(tmp_path, image_prefix):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    code, out, report = orch_build(root)
    assert code == 0, out
    tool, runtime, app = (report["targets"][n]["image"] for n in ("tool", "runtime", "app"))

    # The tool stage's own layers are zstd; the busybox layer under it keeps its blob.
    tool_layers = layer_types(tool)
    assert tool_layers[-2:] == ["application/vnd.oci.image.layer.v1.tar+zstd"] * 2
    assert not any("zstd" in t for t in tool_layers[:-2])
    # What ships is gzip all the way down, runtime included since app is made on it.
    for ref in (runtime, app):
        assert all(t.endswith("gzip") for t in layer_types(ref)), layer_types(ref)

    assert image_file(tool, "/tool.txt") == "tool\n"
    assert image_file(app, "/built.txt") == "tool\n3000000\n"
    assert (root / ".orch-cache/tool/index.json").is_file()

    size = run_orch(root, "size", "tool")
    assert size.returncode == 0, size.stdout + size.stderr
    assert "RUN head -c 3000000 /dev/urandom" in size.stdout

    # The content version is the same whatever the compression: nothing to build again.
    code, out, again = orch_build(root)
    assert code == 0, out
    assert {k: v["status"] for k, v in again["targets"].items()} == dict.fromkeys(
        ["tool", "runtime", "app"], "up-to-date"
    )
