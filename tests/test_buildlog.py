"""A bake's outcome per target, judged from BuildKit's rawjson account and bake's exit code.

The captures in tests/data are bake runs of tests/data/rawjson-bake.json on dockerd 26 with
buildx 0.13 (see tests/test_progress.py); the rest are status objects as BuildKit writes them."""

from __future__ import annotations

import base64
from pathlib import Path

from orchestrator.engine.buildlog import bake_results
from orchestrator.engine.progress import TAIL_LINES, BakeProgress, RawJsonLines, bake_upstream

DATA = Path(__file__).parent / "data"
NAMES = ["base", "svc", "svc2"]
UPSTREAM = {"svc": ["base"], "svc2": ["base"]}
T0 = "2026-01-01T00:00:00Z"


def at(seconds: float) -> str:
    return f"2026-01-01T00:00:{seconds:09.6f}Z"


def captured(name: str) -> tuple[BakeProgress, list[str]]:
    lines = RawJsonLines()
    progress = BakeProgress({n: n for n in NAMES}, UPSTREAM, clock0=0.0)
    for line in (DATA / name).read_text().splitlines(keepends=True):
        for status in lines.feed(line):
            progress.feed(status)
    lines.close()
    progress.clock0 = min(  # the bake's start, as the engine would have taken it
        s.started_s for n in NAMES for s in progress.account(n).steps
    )
    return progress, lines.text


def vertex(digest: str, name: str, start: float, end: float | None, **more: object) -> object:
    v: dict[str, object] = {"digest": digest, "name": name, "started": at(start)}
    if end is not None:
        v["completed"] = at(end)
    return {"vertexes": [{**v, **more}]}


def log(digest: str, text: str, when: float = 0.5) -> object:
    return {"logs": [{"vertex": digest, "data": base64.b64encode(text.encode()).decode(),
                      "timestamp": at(when)}]}  # fmt: skip


def fed(names: list[str], upstream: dict[str, list[str]], *statuses: object) -> BakeProgress:
    progress = BakeProgress({n: n for n in names}, upstream, clock0=0.0)
    progress.clock0 = progress.clock0 or 1767225600.0  # T0, in seconds since the epoch
    for status in statuses:
        assert isinstance(status, dict)
        progress.feed(status)
    progress.finish()
    return progress


def test_a_chained_failure_fails_its_own_target_builds_the_upstream_and_stops_the_sibling() -> None:
    progress, text = captured("rawjson-chained-failure.txt")
    meta = {"base": {"containerimage.digest": "sha256:b"}}
    got = bake_results(NAMES, progress, text, 1, meta, wall=60.0)
    assert {n: r.status for n, r in got.items()} == {
        "base": "built",  # exported before svc2 failed: built, not stopped by it
        "svc": "cancelled",  # cut off by svc2's failure: the only one to run again
        "svc2": "failed",
    }
    assert got["base"].digest == "sha256:b"
    failed = got["svc2"]
    assert failed.failed_step == "[1/2] RUN echo fail-$RANDOM && false"
    assert failed.error is not None and "exit code: 1" in failed.error
    assert failed.line == 2  # BuildKit's own word: Dockerfile:2
    assert any(">>> RUN echo fail-$RANDOM && false" in ln for ln in failed.excerpt)
    assert any(ln.startswith("fail-") for ln in failed.tail)
    assert got["base"].duration_s < got["svc2"].duration_s < 60.0  # base's own end, early


def test_a_warm_rebuild_counts_each_targets_own_cached_steps() -> None:
    progress, text = captured("rawjson-chained-warm.txt")
    got = bake_results(["base", "svc"], progress, text, 0, {}, wall=60.0)
    assert all(r.status == "built" for r in got.values())
    assert got["base"].cached_steps >= 1  # base's RUN, cached, is base's
    assert all("base" not in s.name for s in got["svc"].steps)


def test_a_cache_that_cannot_be_imported_is_a_warning_of_a_built_target() -> None:
    progress = fed(
        ["svc"],
        {},
        vertex(
            "sha256:c",
            "importing cache manifest from r/cache:svc",
            0.1,
            0.2,
            error="r/cache:svc: not found",
        ),
        vertex("sha256:r", "[2/2] RUN make", 0.2, 1.0),
        vertex("sha256:e", "exporting to image", 1.0, 1.5),
    )
    (got,) = bake_results(["svc"], progress, [], 0, {}, wall=2.0).values()
    assert got.status == "built"
    assert got.warnings == ("cache not imported from r/cache:svc: r/cache:svc: not found",)
    assert got.duration_s == 1.5


def test_a_bake_that_failed_before_any_step_fails_each_target_with_its_words() -> None:
    text = ["ERROR: failed to read bake file: no such file", "more"]
    got = bake_results(["a", "b"], fed(["a", "b"], {}), text, 1, {}, wall=0.3)
    assert {r.status for r in got.values()} == {"failed"}
    assert got["a"].error == "failed to read bake file: no such file"
    assert got["a"].tail[-2:] == tuple(text)
    silent = bake_results(["a"], fed(["a"], {}), [], 7, {}, wall=0.3)
    assert silent["a"].error == "docker buildx bake exited with 7"


def test_a_target_cut_off_while_it_exported_its_cache_runs_again() -> None:
    # Its image was exported; its cache export was cancelled by b's failure: a half-written
    # cache must not be kept, so it is cancelled (and baked again), not built.
    progress = fed(
        ["a", "b"],
        {},
        vertex("sha256:ae", "[a] exporting to image", 0.5, 1.0),
        vertex(
            "sha256:ac",
            "[a] exporting cache to client directory",
            1.0,
            1.2,
            error="context canceled",
        ),
        vertex("sha256:br", "[b 2/2] RUN false", 0.1, 1.1, error="exit code: 1"),
    )
    got = bake_results(["a", "b"], progress, [], 1, {}, wall=2.0)
    assert (got["a"].status, got["b"].status) == ("cancelled", "failed")


def test_a_test_stage_exports_nothing_and_ends_with_its_last_step() -> None:
    progress = fed(["t"], {}, vertex("sha256:r", "[test 3/3] RUN pytest", 0.2, 4.0))
    (got,) = bake_results(["t"], progress, [], 0, {}, wall=5.0).values()
    assert (got.status, got.duration_s) == ("built", 4.0)


def test_the_tail_is_the_failing_steps_last_lines_only() -> None:
    lines = "".join(f"line {i}\n" for i in range(100))
    progress = fed(
        ["a"],
        {},
        vertex("sha256:o", "[1/2] RUN other", 0.1, 0.2),
        log("sha256:o", "not this\n"),
        vertex("sha256:f", "[2/2] RUN make", 0.2, None),
        log("sha256:f", lines),
        vertex("sha256:f", "[2/2] RUN make", 0.2, 0.9, error="exit code: 2"),
    )
    (got,) = bake_results(["a"], progress, [], 1, {}, wall=1.0).values()
    assert got.status == "failed" and got.failed_step == "[2/2] RUN make"
    assert got.tail == tuple(f"line {i}" for i in range(100 - TAIL_LINES, 100))


def test_output_of_a_step_read_before_its_owner_settled_is_still_in_its_log() -> None:
    shared = "sha256:s"
    progress = fed(
        ["base", "app"],
        {"app": ["base"]},
        vertex(shared, "[app 1/2] RUN make", 0.1, None),
        log(shared, "compiling\n"),  # app reports it first; base may still own it
        vertex(shared, "[base 1/2] RUN make", 0.1, 0.4),
        vertex("sha256:be", "[base] exporting to image", 0.4, 0.5),
    )
    got = bake_results(["base", "app"], progress, [], 0, {}, wall=1.0)
    assert got["base"].log_lines[:3] == ("#1 [1/2] RUN make", "#1 0.400 compiling", "#1 DONE 0.3s")
    assert not any("compiling" in ln for ln in got["app"].log_lines)


def test_two_failures_in_one_bake_each_get_their_own_excerpt() -> None:
    progress = fed(
        ["a", "b"],
        {},
        vertex("sha256:a", "[a 2/2] RUN one", 0.1, 0.5, error="a broke"),
        vertex("sha256:b", "[b 3/3] RUN two", 0.1, 0.6, error="b broke"),
    )
    text = [
        "Dockerfile:3",
        "--------------------",
        "   3 | >>> RUN two",
        "--------------------",
        "ERROR: target b: failed to solve: b broke",
        "Dockerfile:2",
        "--------------------",
        "   2 | >>> RUN one",
        "--------------------",
        "ERROR: target a: failed to solve: a broke",
    ]
    got = bake_results(["a", "b"], progress, text, 1, {}, wall=1.0)
    assert (got["a"].line, got["b"].line) == (2, 3)


def test_upstreams_in_a_bake_file_are_its_target_contexts_followed_through() -> None:
    definition = {
        "target": {
            "base": {"context": "base"},
            "tool": {"contexts": {"base": "target:base"}},
            "app": {"contexts": {"tool": "target:tool", "img": "docker-image://x:1"}},
            "loop": {"contexts": {"loop": "target:loop"}},
        }
    }
    got = bake_upstream(definition, ["base", "tool", "app", "loop"])
    assert got == {"base": set(), "tool": {"base"}, "app": {"tool", "base"}, "loop": set()}
