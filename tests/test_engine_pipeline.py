"""The run's pipeline on the real engine: the gate holds images that were already there, and
`orch plan --since` says what `orch build --since` then does."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.kit import commit, docker, git, monorepo, orch_build, run_orch

pytestmark = pytest.mark.engine

REGISTRY = "127.0.0.1:5000"
# busybox is about 1 MB (more in the containerd store, which counts layers unpacked too).
SERVICE = {"svc/Dockerfile": "FROM busybox:latest\nRUN echo hello > /hello.txt\n"}


def test_a_budget_added_after_a_build_fails_the_next_run_though_it_is_up_to_date(
    tmp_path, image_prefix
):
    root = monorepo(tmp_path, image_prefix, "services:\n  svc: {context: svc}\n", SERVICE)
    code, out, _ = orch_build(root)
    assert code == 0, out
    plan = root / "buildplan.yaml"
    plan.write_text(plan.read_text().replace("{context: svc}", "{context: svc, max_size: 100KB}"))
    code, out, report = orch_build(root)
    assert code == 1, out
    svc = report["targets"]["svc"]
    assert svc["status"] == "failed"
    assert "over its max_size of 100.0 kB" in svc["error"]
    assert "(max_size at buildplan.yaml:5:" in svc["error"]  # where the budget is written
    assert report["invocations"] == []  # found, not built again, and still held to it
    assert "Traceback" not in out
    code, out, report = orch_build(root, "--force")
    assert code == 1, out
    assert report["targets"]["svc"]["status"] == "failed"


def test_push_over_budget_never_publishes_even_when_run_again(tmp_path, image_prefix):
    body = f"services:\n  svc: {{context: svc, registry: {REGISTRY}, max_size: 100KB}}\n"
    root = monorepo(tmp_path, image_prefix, body, SERVICE)
    latest = f"{REGISTRY}/{image_prefix}/svc:latest"
    for attempt in (1, 2):
        code, out, report = orch_build(root, "--push")
        assert code == 1, f"attempt {attempt}: {out}"
        svc = report["targets"]["svc"]
        assert svc["status"] == "failed", f"attempt {attempt}"
        assert "over its max_size" in svc["error"], f"attempt {attempt}"
        assert report["published"] is False
    # The versioned image is in the registry (measured there), its public tag is not.
    assert svc["versioned_image"].startswith(f"{REGISTRY}/{image_prefix}/svc:")
    proc = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", latest],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout


PLAN = """\
stages:
  base: {context: base}
services:
  a: {context: a}
  b: {context: b}
"""
FILES = {
    "base/Dockerfile": "FROM busybox:latest\nRUN echo base > /base.txt\n",
    "a/Dockerfile": "FROM base\nCOPY . /a\n",
    "a/main.sh": "echo a\n",
    "b/Dockerfile": "FROM busybox:latest\nCOPY . /b\n",
}


def test_plan_since_says_what_build_since_does(tmp_path, image_prefix, isolated_git):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    git(root, "init", "-q", "-b", "main")
    commit(root, "first")
    code, out, _ = orch_build(root, "b")  # base and a were never built here
    assert code == 0, out
    (root / "a" / "main.sh").write_text("echo A\n")
    proc = run_orch(root, "plan", "--since", "HEAD", "--json")
    assert proc.returncode == 0, proc.stderr
    planned = {t["name"]: t["status"] for t in json.loads(proc.stdout)["targets"]}
    assert planned == {"base": "pending", "a": "pending", "b": "unaffected"}
    code, out, report = orch_build(root, "--since", "HEAD")
    assert code == 0, out
    done = {name: t["status"] for name, t in report["targets"].items()}
    assert done == {"base": "built", "a": "built"}
    expected = {"pending": "built", "up-to-date": "up-to-date"}
    assert {n: expected[s] for n, s in planned.items() if s != "unaffected"} == done
    # Now the plan finds both images, as the build would.
    proc = run_orch(root, "plan", "--since", "HEAD", "--json")
    again = {t["name"]: t["status"] for t in json.loads(proc.stdout)["targets"]}
    assert again == {"base": "up-to-date", "a": "up-to-date", "b": "unaffected"}
    code, out, report = orch_build(root, "--since", "HEAD")
    assert {n: t["status"] for n, t in report["targets"].items()} == {
        "base": "up-to-date",
        "a": "up-to-date",
    }
    assert docker("image", "inspect", f"{image_prefix}/a:latest", "--format", "{{.Id}}")


def test_a_cache_export_out_of_space_leaves_no_image_the_next_run_takes_as_up_to_date(
    tmp_path, image_prefix
):
    body = (
        '  cache:\n    to: ["type=local,dest=.orch-cache/{name},mode=max"]\n'
        "services:\n  svc: {context: svc}\n"
    )
    nonce = uuid.uuid4().hex
    dockerfile = f"FROM busybox:latest\nRUN head -c 3000000 /dev/urandom > /blob # {nonce}\n"
    root = monorepo(tmp_path, image_prefix, body, {"svc/Dockerfile": dockerfile})
    disk = root / ".orch-cache"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], check=True)
    try:
        code, out, report = orch_build(root)
        assert code == 1, out
        svc = report["targets"]["svc"]
        assert svc["status"] == "failed"
        assert "no space left on device" in out
        assert any("untagged, so the next run builds it again" in w for w in svc["warnings"])
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    code, out, report = orch_build(root)  # space again: built, and its cache written
    assert code == 0, out
    assert report["targets"]["svc"]["status"] == "built"
    assert (disk / "svc" / "index.json").is_file()
