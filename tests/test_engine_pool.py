"""A run over two real builder nodes with the loopback registry between them: placement,
hand-off by versioned reference, a node that dies mid-run, and `--push` all or nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kit import REPO, docker, monorepo, report_of
from tests.nodes import NODE2, node2_ready, throwaway_node

pytestmark = pytest.mark.engine

REGISTRY = "127.0.0.1:5000"


def plan(body: str) -> str:
    return f"  registry: {REGISTRY}\n" + body


DIAMOND_PLAN = """\
stages:
  base: {context: base}
  left: {context: left}
  right: {context: right}
services:
  top: {context: top}
"""
DIAMOND_FILES = {
    "base/Dockerfile": "FROM busybox:latest\nRUN echo base > /base\n",
    "left/Dockerfile": "FROM base\nRUN sleep 2 && cat /base > /left && echo left >> /left\n",
    "right/Dockerfile": "FROM base\nRUN sleep 2 && cat /base > /right && echo right >> /right\n",
    "top/Dockerfile": (
        "FROM base\nCOPY --from=left /left /left\nCOPY --from=right /right /right\n"
        "RUN cat /left /right > /all\n"
    ),
}


def orch(
    root: Path, *args: str, timeout: float = 600, report: Path | None = None
) -> tuple[int, str, dict[str, Any]]:
    report = report or root / "report.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args, "--report", str(report)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    doc = report_of(report) if report.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, doc


def registry_digest(ref: str) -> str | None:
    """The manifest digest of a registry tag, or None when the registry has no such tag."""
    proc = subprocess.run(
        ["docker", "buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", ref],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return str(json.loads(proc.stdout)["digest"])


def remote_file(ref: str, path: str) -> str:
    docker("pull", "-q", ref)
    return docker("run", "--rm", "--network", "none", "--entrypoint", "cat", ref, path)


def test_a_diamond_spreads_over_two_nodes_and_hands_images_through_the_registry(
    tmp_path: Path, image_prefix: str
) -> None:
    node2_ready()
    root = monorepo(tmp_path, image_prefix, plan(DIAMOND_PLAN), DIAMOND_FILES)
    code, out, doc = orch(root, "build", "--builder", f"default,{NODE2}", "-j", "1")
    assert code == 0, out
    targets = doc["targets"]
    builders = {name: t["builder"] for name, t in targets.items()}
    # left and right are ready together: one on each node.
    assert {builders["left"], builders["right"]} == {"default", NODE2}, builders
    # top is built where most of what it builds on was: the node that built base.
    assert builders["top"] == builders["base"]
    # What crossed nodes went through the registry by versioned reference: the image top
    # has is made of what each node built.
    ref = targets["top"]["versioned_image"]
    assert ref.startswith(f"{REGISTRY}/{image_prefix}/top:")
    assert remote_file(ref, "/all") == "base\nleft\nbase\nright\n"
    assert f"building on {NODE2}" in out  # the live view says where each target runs


def test_without_a_registry_a_pool_is_a_plan_error(tmp_path: Path, image_prefix: str) -> None:
    root = monorepo(tmp_path, image_prefix, DIAMOND_PLAN, DIAMOND_FILES)
    code, out, _ = orch(root, "build", "--builder", f"default,{NODE2}")
    assert code == 2, out
    assert "through a registry" in out and "no registry:" in out
    assert "registry: localhost:5000" in out  # the fix
    assert "Traceback" not in out


@pytest.fixture
def dead_builders() -> Iterator[list[str]]:
    """Two builders buildx knows that do not answer: docker contexts on a socket nobody serves
    (buildx lists each context as a builder of the docker driver)."""
    names = [f"orchtest-dead-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        docker("context", "create", name, "--docker", "host=unix:///nonexistent/orch-dead.sock")
    yield names
    for name in names:
        docker("context", "rm", "-f", name, check=False)


def test_a_builder_that_does_not_answer_is_left_out(
    tmp_path: Path, image_prefix: str, dead_builders: list[str]
) -> None:
    root = monorepo(tmp_path, image_prefix, plan(DIAMOND_PLAN), DIAMOND_FILES)
    dead = dead_builders[0]
    code, out, doc = orch(root, "build", "--builder", f"default,{dead}")
    assert code == 0, out
    assert f"builder {dead} is left out of this run" in out
    assert {t["builder"] for t in doc["targets"].values()} == {"default"}


def test_when_no_builder_answers_the_run_is_exit_3_naming_each(
    tmp_path: Path, image_prefix: str, dead_builders: list[str]
) -> None:
    root = monorepo(tmp_path, image_prefix, plan(DIAMOND_PLAN), DIAMOND_FILES)
    code, out, _ = orch(root, "build", "--builder", ",".join(dead_builders))
    assert code == 3, out
    assert "no builder of the run answers" in out
    assert all(name in out for name in dead_builders)
    assert "docker buildx ls" in out  # the fix
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("default,orchtest-no-such-builder", "builders: default"),
        ("defualt", "did you mean 'default'?"),
        ("defualt,node2", "did you mean 'default'?"),
    ],
)
def test_a_builder_name_buildx_does_not_know_is_exit_2(
    tmp_path: Path, image_prefix: str, given: str, says: str
) -> None:
    root = monorepo(tmp_path, image_prefix, plan(DIAMOND_PLAN), DIAMOND_FILES)
    code, out, _ = orch(root, "build", "--builder", given)
    assert code == 2, out
    assert "there is no buildx builder named" in out
    assert says in out
    assert "Traceback" not in out


def test_the_example_monorepo_over_both_nodes_publishes_only_after_every_target(
    tmp_path: Path,
) -> None:
    # The README's command: the example spread over this machine's two nodes, images handed
    # on through the loopback registry, the public tags moved once everything was built.
    node2_ready()
    code, out, doc = orch(
        REPO,
        "build",
        "--builder",
        f"default,{NODE2}",
        "-j",
        "1",  # one slot each: the two sides of the example start at once, one on each node
        "--push",
        "--registry",
        REGISTRY,
        "--force",
        timeout=1500,
        report=tmp_path / "report.json",  # not in the checkout
    )
    assert code == 0, out[-5000:]
    targets = doc["targets"]
    builders = {name: t["builder"] for name, t in targets.items()}
    assert set(builders.values()) == {"default", NODE2}, builders
    # go-toolchain and python-runtime were ready together: one of them was built on the node
    # that did not build base, from base's versioned image pulled from the registry.
    assert builders["go-toolchain"] != builders["python-runtime"], builders
    for name, t in targets.items():
        assert t["status"] == "built", (name, t)
        assert t["versioned_image"].startswith(f"{REGISTRY}/orch/{name}:"), t
        assert t["image"] == f"{REGISTRY}/orch/{name}:latest", t  # the public tag points at it
    assert doc["published"] is True
    assert "published: every target's plan tags point at" in out
    # What the public tag gives anyone who pulls it is the image this run built.
    worker = targets["worker"]["image"]
    assert remote_file(worker, "/etc/passwd").count("app:") == 1


SLOW_PLAN = """\
services:
  slow1: {context: slow1}
  slow2: {context: slow2}
"""
SLOW_FILES = {
    f"slow{i}/Dockerfile": f"FROM busybox:latest\nRUN sleep 8 && echo {i} > /out\n" for i in (1, 2)
}


def _watch_until(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """Lines orch printed until one holds `needle`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"orch never printed {needle!r}: {''.join(seen)}")


def test_a_node_killed_mid_run_has_its_targets_finished_on_the_other(
    tmp_path: Path, image_prefix: str
) -> None:
    root = monorepo(tmp_path, image_prefix, plan(SLOW_PLAN), SLOW_FILES)
    report = root / "report.json"
    with throwaway_node(tmp_path) as node:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                "build",
                "--builder",
                f"{node.name},default",
                "-j",
                "1",
                "--report",
                str(report),
            ],
            cwd=root,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            _watch_until(proc, f"building on {node.name}", 60)
            time.sleep(2)  # well inside the step's 8 s
            node.kill()
            _, rest = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, rest
    doc = report_of(report)
    assert doc["lost_builders"] == [node.name]
    moved = [n for n, t in doc["targets"].items() if len(t["attempts"]) > 1]
    assert moved, doc["targets"]
    for name in moved:
        first, last = doc["targets"][name]["attempts"][0], doc["targets"][name]["attempts"][-1]
        assert (first["builder"], first["outcome"]) == (node.name, "cut off")
        assert (last["builder"], last["outcome"]) == ("default", "built")
    assert all(t["status"] == "built" for t in doc["targets"].values())
    assert f"builder {node.name} went away" in rest


def test_the_engine_going_away_is_exit_3_naming_what_was_cut_off(
    tmp_path: Path, image_prefix: str
) -> None:
    root = monorepo(tmp_path, image_prefix, SLOW_PLAN, SLOW_FILES)
    report = root / "report.json"
    with throwaway_node(tmp_path) as node:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestrator",
                "build",
                "--builder",
                node.name,
                "--report",
                str(report),
            ],
            cwd=root,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            _watch_until(proc, "building", 60)
            time.sleep(2)
            node.kill()
            _, rest = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 3, rest
    assert "the engine went away" in rest and "cut off: slow1, slow2" in rest, rest
    assert "Traceback" not in rest
    doc = report_of(report)
    assert doc["engine_gone"] is True
    assert {t["status"] for t in doc["targets"].values()} == {"cancelled"}


PUSH_PLAN = """\
  tags: [release]
services:
  good: {context: good}
  flaky: {context: flaky}
"""


def _push_files(good: str, flaky_ok: bool, flaky: str = "one") -> dict[str, str]:
    step = f"echo {flaky} > /v" if flaky_ok else "echo broken >&2 && exit 1"
    return {
        "good/Dockerfile": f"FROM busybox:latest\nRUN echo {good} > /v\n",
        "flaky/Dockerfile": f"FROM busybox:latest\nRUN {step}\n",
    }


def test_push_moves_the_public_tags_only_when_every_target_succeeded(
    tmp_path: Path, image_prefix: str
) -> None:
    node2_ready()
    body = plan(PUSH_PLAN)
    good = f"{REGISTRY}/{image_prefix}/good:release"
    flaky = f"{REGISTRY}/{image_prefix}/flaky:release"
    root = monorepo(tmp_path, image_prefix, body, _push_files("one", flaky_ok=True))
    code, out, doc = orch(root, "build", "--builder", f"default,{NODE2}", "--push")
    assert code == 0, out
    assert doc["published"] is True
    assert "published: every target's plan tags point at" in out
    before = {ref: registry_digest(ref) for ref in (good, flaky)}
    assert all(before.values()), before
    assert remote_file(good, "/v") == "one\n"

    # good changes and builds; flaky breaks: no public tag moves.
    monorepo(tmp_path, image_prefix, body, _push_files("two", flaky_ok=False))
    code, out, doc = orch(root, "build", "--builder", f"default,{NODE2}", "--push")
    assert code == 1, out
    assert doc["published"] is False
    assert "not published: the plan's tags were left where they were" in out
    assert {ref: registry_digest(ref) for ref in (good, flaky)} == before
    versioned = doc["targets"]["good"]["versioned_image"]
    assert doc["targets"]["good"]["status"] == "built"
    assert registry_digest(versioned) is not None  # what built is there, by version
    assert doc["targets"]["good"]["image"] is None  # no public tag points at it

    # flaky fixed: every public tag moves, good's to what the last run already built.
    monorepo(tmp_path, image_prefix, body, _push_files("two", flaky_ok=True, flaky="two"))
    code, out, doc = orch(root, "build", "--builder", f"default,{NODE2}", "--push")
    assert code == 0, out
    assert doc["published"] is True
    assert doc["targets"]["good"]["status"] == "up-to-date"
    after = {ref: registry_digest(ref) for ref in (good, flaky)}
    assert after[good] != before[good] and after[flaky] != before[flaky]
    assert remote_file(good, "/v") == "two\n"


def test_push_without_a_registry_is_a_plan_error(tmp_path: Path, image_prefix: str) -> None:
    root = monorepo(tmp_path, image_prefix, PUSH_PLAN.split("\n", 1)[1], _push_files("x", True))
    code, out, _ = orch(root, "build", "--push")
    assert code == 2, out
    assert "--push publishes the plan's tags in a registry" in out
