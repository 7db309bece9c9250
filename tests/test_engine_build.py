"""`orch build` on the real engine: order, failures, cache, registry, jobs, signals, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.kit import docker, image_file, monorepo, orch_build, processes_with

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"


def diamond(root: Path, prefix: str, extra_defaults: str = "") -> Path:
    plan = (
        extra_defaults
        + "stages:\n"
        + "  base: {context: base}\n  left: {context: left}\n  right: {context: right}\n"
        + "services:\n  app: {context: app}\n"
    )
    return monorepo(
        root,
        prefix,
        plan,
        {
            "base/Dockerfile": BUSYBOX + "RUN echo base > /base.txt\n",
            "left/Dockerfile": "FROM base\nRUN echo left > /left.txt\n",
            "right/Dockerfile": "FROM base\nRUN echo right > /right.txt\n",
            "app/Dockerfile": (
                "FROM base\nCOPY --from=left /left.txt /\nCOPY --from=right /right.txt /\n"
                "RUN cat /base.txt /left.txt /right.txt > /all.txt\n"
            ),
        },
    )


def _window(report: dict, job: str) -> tuple[float, float]:
    for inv in report["invocations"]:
        if job in inv["jobs"]:
            return inv["started_s"], inv["ended_s"]
    raise AssertionError(f"{job} never ran: {report['invocations']}")


@pytest.mark.parametrize("chain", [True, False], ids=["chained", "level-by-level"])
def test_diamond_builds_in_dependency_order_and_hands_images_on(tmp_path, image_prefix, chain):
    root = diamond(tmp_path, image_prefix)
    code, out, report = orch_build(root, *([] if chain else ["--no-chain"]))
    assert code == 0, out
    assert report["ok"] is True
    assert {k: v["status"] for k, v in report["targets"].items()} == dict.fromkeys(
        ["base", "left", "right", "app"], "built"
    )
    app = report["targets"]["app"]
    assert app["image"] == f"{image_prefix}/app:latest"
    assert app["digest"].startswith("sha256:")
    assert app["size_bytes"] > 0
    assert (root / app["log"]).is_file()
    assert image_file(app["image"], "/all.txt") == "base\nleft\nright\n"
    for name in ("base", "left", "right"):  # each image is there, under the plan's tag
        assert image_file(f"{image_prefix}/{name}:latest", "/base.txt") == "base\n"
    if chain:
        # Everything needed building after base: one bake, linked by target: contexts.
        (bake,) = report["invocations"]
        assert sorted(bake["jobs"]) == ["app", "base", "left", "right"]
        linked = json.loads((root / bake["bake_file"]).read_text())["target"]["app"]["contexts"]
        assert linked == {"base": "target:base", "left": "target:left", "right": "target:right"}
        return
    # Each target started only after what it builds on had finished.
    assert _window(report, "left")[0] >= _window(report, "base")[1]
    assert _window(report, "app")[0] >= max(_window(report, "left")[1], _window(report, "right")[1])


def test_failed_target_blocks_only_its_dependents(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        "stages:\n  base: {context: base}\nservices:\n"
        "  good: {context: good}\n  bad: {context: bad}\n  after-bad: {context: after-bad}\n",
        {
            "base/Dockerfile": BUSYBOX + "RUN echo base > /base.txt\n",
            "good/Dockerfile": "FROM base\nRUN echo good > /good.txt\n",
            "bad/Dockerfile": (
                "FROM base\nRUN echo compiling\n"
                'RUN echo "step output line"; echo "boom: undefined symbol frob" >&2; exit 3\n'
            ),
            "after-bad/Dockerfile": "FROM bad\nRUN echo never\n",
        },
    )
    code, out, report = orch_build(root)
    assert code == 1, out
    statuses = {k: v["status"] for k, v in report["targets"].items()}
    assert statuses == {"base": "built", "good": "built", "bad": "failed", "after-bad": "blocked"}
    assert report["ok"] is False
    # The failing step and its last lines are printed, and the full log is on disk.
    assert "bad failed at" in out
    assert "exit 3" in out
    assert "boom: undefined symbol frob" in out
    log = (root / report["targets"]["bad"]["log"]).read_text()
    assert "boom: undefined symbol frob" in log
    assert docker("image", "inspect", f"{image_prefix}/good:latest", check=False)
    assert not docker("image", "inspect", f"{image_prefix}/after-bad:latest", check=False).strip(
        "[]\n"
    )


def test_failure_in_a_shared_bake_does_not_fail_its_batch_siblings(tmp_path, image_prefix):
    # Five independent targets are ready together, so with --jobs 1 they share one bake, which
    # stops them all when one fails: the others must still end up built.
    files = {f"s{i}/Dockerfile": BUSYBOX + f"RUN sleep 1 && echo {i} > /n\n" for i in range(4)}
    files["broken/Dockerfile"] = BUSYBOX + "RUN exit 7\n"
    plan = "services:\n" + "".join(f"  s{i}: {{context: s{i}}}\n" for i in range(4))
    plan += "  broken: {context: broken}\n"
    root = monorepo(tmp_path, image_prefix, plan, files)
    code, out, report = orch_build(root, "--parallel", "1")
    assert code == 1, out
    statuses = {k: v["status"] for k, v in report["targets"].items()}
    assert statuses == {**{f"s{i}": "built" for i in range(4)}, "broken": "failed"}
    assert len(report["invocations"][0]["jobs"]) == 5
    for i in range(4):
        assert image_file(f"{image_prefix}/s{i}:latest", "/n") == f"{i}\n"


def _overlap(report: dict) -> int:
    """The most bake invocations that ran at the same time."""
    points = []
    for inv in report["invocations"]:
        points += [(inv["started_s"], 1), (inv["ended_s"], -1)]
    peak = now = 0
    for _, step in sorted(points, key=lambda p: (p[0], p[1])):
        now += step
        peak = max(peak, now)
    return peak


def test_parallel_bounds_concurrent_bake_invocations(tmp_path, image_prefix):
    nonce = uuid.uuid4().hex
    files = {f"t{i}/Dockerfile": BUSYBOX + f"RUN echo {nonce}-{i} && sleep 2\n" for i in range(4)}
    plan = "services:\n" + "".join(f"  t{i}: {{context: t{i}}}\n" for i in range(4))
    root = monorepo(tmp_path, image_prefix, plan, files)

    code, out, one = orch_build(root, "--parallel", "1", "--max-batch", "1")
    assert code == 0, out
    assert len(one["invocations"]) == 4
    assert _overlap(one) == 1

    (root / "t0/Dockerfile").write_text(BUSYBOX + f"RUN echo {nonce}-again && sleep 2\n")
    for i in range(1, 4):
        (root / f"t{i}/Dockerfile").write_text(BUSYBOX + f"RUN echo {nonce}-again-{i} && sleep 2\n")
    code, out, four = orch_build(root, "--parallel", "4", "--max-batch", "1")
    assert code == 0, out
    assert len(four["invocations"]) == 4
    assert _overlap(four) == 4
    wall_one = max(i["ended_s"] for i in one["invocations"])
    assert wall_one >= 8  # four 2 s steps one after another
    # Four at once take about as long as the longest of them, whatever else the machine is
    # doing: well under their sum (on a quiet machine about 3 s against 8 s and more).
    wall_four = max(i["ended_s"] for i in four["invocations"])
    busy = sum(i["ended_s"] - i["started_s"] for i in four["invocations"])
    assert wall_four < 0.6 * busy, (wall_four, busy)


def _cached_run_step(log: str) -> bool:
    """Whether the RUN step was a cache hit: CACHED, or only its layer pulled from a cache."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "RUN head -c 16 /dev/urandom" in line:
            number = line.split(" ", 1)[0]
            own = [
                ln.removeprefix(number + " ")
                for ln in lines[i + 1 :]
                if ln.startswith(number + " ")
            ]
            if "CACHED" in own:
                return True
            return all(ln.startswith(("sha256:", "extracting sha256:", "DONE")) for ln in own)
    return False


@pytest.mark.parametrize("kind", ["local", "registry"])
def test_exported_cache_survives_a_builder_prune(tmp_path, image_prefix, kind):
    if kind == "local":
        cache = (
            '  cache:\n    from: ["type=local,src=.orch-cache/{name}"]\n'
            '    to: ["type=local,dest=.orch-cache/{name},mode=max"]\n'
        )
    else:
        ref = f"localhost:5000/{image_prefix}/{{name}}:buildcache"
        cache = (
            f'  cache:\n    from: ["type=registry,ref={ref}"]\n'
            f'    to: ["type=registry,ref={ref},mode=max"]\n'
        )
    root = monorepo(
        tmp_path,
        image_prefix,
        cache + "services:\n  svc: {context: svc}\n",
        {
            "svc/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /nonce\nRUN head -c 16 /dev/urandom | od -x > /rand\n"
        },
    )
    code, out, first = orch_build(root)
    assert code == 0, out
    ref = first["targets"]["svc"]["image"]
    rand = image_file(ref, "/rand")
    docker("image", "rm", ref, first["targets"]["svc"]["versioned_image"])  # nothing to reuse
    docker("builder", "prune", "-af")

    code, out, second = orch_build(root)
    assert code == 0, out
    log = (root / second["targets"]["svc"]["log"]).read_text()
    assert _cached_run_step(log), log
    assert second["targets"]["svc"]["cached_steps"] >= 1
    assert image_file(ref, "/rand") == rand  # the step's result came from the cache


def test_registry_hands_images_between_targets(tmp_path, image_prefix):
    root = diamond(tmp_path, image_prefix, "  registry: localhost:5000\n")
    code, out, report = orch_build(root)
    assert code == 0, out
    app = report["targets"]["app"]["image"]
    assert app == f"localhost:5000/{image_prefix}/app:latest"
    manifest = docker("buildx", "imagetools", "inspect", "--raw", app)
    assert json.loads(manifest)["mediaType"]


def _cache_state(cache: Path) -> tuple[str, str, list[str]]:
    current = cache.resolve()
    index = (current / "index.json").read_text()
    blobs = sorted(p.name for p in (current / "blobs" / "sha256").iterdir())
    return str(current), index, blobs


def _cache_is_whole(cache: Path) -> None:
    current = cache.resolve()
    index = json.loads((current / "index.json").read_text())
    for manifest in index["manifests"]:
        digest = manifest["digest"].split(":", 1)[1]
        assert (current / "blobs" / "sha256" / digest).is_file()


CACHE_DEFAULTS = (
    '  cache:\n    from: ["type=local,src={dir}/{{name}}"]\n'
    '    to: ["type=local,dest={dir}/{{name}},mode=max"]\n'
)


def test_failed_build_leaves_the_local_cache_as_it_was(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        CACHE_DEFAULTS.format(dir=".orch-cache") + "services:\n  svc: {context: svc}\n",
        {"svc/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /v\n"},
    )
    code, out, _ = orch_build(root)
    assert code == 0, out
    cache = root / ".orch-cache" / "svc"
    before = _cache_state(cache)

    (root / "svc/Dockerfile").write_text(
        BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /v\nRUN exit 1\n"
    )
    code, out, _ = orch_build(root)
    assert code == 1, out
    assert _cache_state(cache) == before
    versions = [p for p in (root / ".orch-cache" / "svc.versions").iterdir() if p.is_dir()]
    assert versions == [cache.resolve()]


def test_concurrent_runs_share_a_local_cache_without_breaking_it(tmp_path, image_prefix):
    shared = tmp_path / "shared-cache"
    procs = []
    for n in range(2):
        root = monorepo(
            tmp_path / f"checkout{n}",
            f"{image_prefix}-{n}",
            CACHE_DEFAULTS.format(dir=shared) + "services:\n  svc: {context: svc}\n",
            {
                "svc/Dockerfile": BUSYBOX
                + f"RUN echo {uuid.uuid4().hex} && sleep 1 && head -c 100000 /dev/urandom > /r\n"
            },
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "build"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    _cache_is_whole(shared / "svc")
    live = [p for p in (shared / "svc.versions").iterdir() if p.is_dir()]
    assert shared.joinpath("svc").resolve() in live


def _wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_child_within_five_seconds(tmp_path, image_prefix, sig):
    seconds = 900 + os.getpid() % 97  # a sleep only this test runs, to find it in /proc
    root = monorepo(
        tmp_path,
        image_prefix,
        CACHE_DEFAULTS.format(dir=".orch-cache") + "services:\n  slow: {context: slow}\n",
        {"slow/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} && sleep {seconds}\n"},
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "build"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_until(lambda: processes_with(f"sleep {seconds}"), 60), "build never started"
        started = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=10)
        assert time.monotonic() - started < 5
        assert code == 130
        bake_file = str(root / ".orch" / "runs")
        assert _wait_until(lambda: not processes_with(bake_file), 5), processes_with(bake_file)
        assert _wait_until(lambda: not processes_with(f"sleep {seconds}"), 5)
        # Nothing half-written is left as the cache.
        assert not (root / ".orch-cache" / "slow").exists()
        versions = root / ".orch-cache" / "slow.versions"
        assert not versions.exists() or not [p for p in versions.iterdir() if p.is_dir()]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_secret_reaches_run_step_and_nothing_else(tmp_path, image_prefix):
    value = f"s3cr3t-{uuid.uuid4().hex}"
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc:\n    context: svc\n    secrets: [{id: token, env: ORCH_TEST_TOKEN}]\n",
        {
            # A secret is no part of BuildKit's cache key, and BuildKit matches steps by their
            # parent's content: a file with a nonce keeps an earlier run's result (made with
            # another secret) from being reused.
            "svc/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /nonce\n"
            + "RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -c1-64 > /h\n"
        },
    )
    code, out, report = orch_build(root, env={"ORCH_TEST_TOKEN": value})
    assert code == 0, out
    ref = report["targets"]["svc"]["image"]
    assert image_file(ref, "/h").strip() == hashlib.sha256(value.encode()).hexdigest()
    assert value not in out
    # Not in the image: every layer, as `docker save` writes them.
    saved = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
    assert value.encode() not in saved
    # Not in anything orch wrote: logs, bake files, history, the report.
    for path in root.rglob("*"):
        if path.is_file():
            assert value.encode() not in path.read_bytes(), path


def test_builder_option_picks_a_buildx_builder(tmp_path, image_prefix):
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  svc: {context: svc}\n",
        {"svc/Dockerfile": BUSYBOX + "RUN echo hi > /hi\n"},
    )
    code, out, report = orch_build(root, "--builder", "default")
    assert code == 0, out
    assert report["targets"]["svc"]["status"] == "built"

    # A name buildx does not know is a typo, not a builder that is down: exit 2.
    code, out, _ = orch_build(root, "--builder", "no-such-builder")
    assert code == 2, out
    assert "there is no buildx builder named 'no-such-builder'" in out
    assert "docker buildx ls" in out


def test_fail_fast_cancels_running_builds(tmp_path, image_prefix):
    seconds = 800 + os.getpid() % 97
    root = monorepo(
        tmp_path,
        image_prefix,
        "services:\n  slow: {context: slow}\n  broken: {context: broken}\n"
        "  later: {context: later}\n",
        {
            "slow/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} && sleep {seconds}\n",
            "broken/Dockerfile": BUSYBOX + "RUN sleep 2; exit 4\n",
            "later/Dockerfile": "FROM broken\n",
        },
    )
    started = time.monotonic()
    code, out, report = orch_build(root, "--fail-fast", "--max-batch", "1")
    assert time.monotonic() - started < 60, out
    assert code == 1, out
    statuses = {k: v["status"] for k, v in report["targets"].items()}
    assert statuses == {"slow": "cancelled", "broken": "failed", "later": "blocked"}
    assert _wait_until(lambda: not processes_with(f"sleep {seconds}"), 5)
