"""Reading bake's rawjson progress: events per job, shared vertices, failures, excerpts.

The two captures in tests/data are bake runs of tests/data/rawjson-bake.json on dockerd 26 with
buildx 0.13: `base`, and `svc` and `svc2` built on it in the same (chained) bake; `svc2`'s
`RUN ... && false` fails while `svc` sleeps; then a warm rebuild of base and svc."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from orchestrator.engine.events import Failed, ImageExported, LogLine, StepDone, StepStarted
from orchestrator.engine.progress import BakeProgress, RawJsonLines, excerpts, parse_time

DATA = Path(__file__).parent / "data"
JOBS = {"base": "base", "svc": "svc", "svc2": "svc2"}
UPSTREAM = {"svc": ["base"], "svc2": ["base"]}


def read(name: str) -> tuple[BakeProgress, list[object], RawJsonLines]:
    lines, progress = RawJsonLines(), BakeProgress(JOBS, UPSTREAM, clock0=0.0)
    events: list[object] = []
    for line in (DATA / name).read_text().splitlines(keepends=True):
        for status in lines.feed(line):
            events += progress.feed(status)
    lines.close()
    return progress, events, lines


def test_a_failing_step_fails_its_own_target_once_and_only_stops_its_sibling() -> None:
    progress, events, _ = read("rawjson-chained-failure.txt")
    failed = [e for e in events if isinstance(e, Failed)]
    assert [(e.key, e.step) for e in failed] == [("svc2", "[1/2] RUN echo fail-$RANDOM && false")]
    assert "exit code: 1" in failed[0].error
    svc2, svc = progress.account("svc2"), progress.account("svc")
    assert svc2.error is not None and not svc2.stopped
    assert svc.error is None and svc.stopped  # cancelled by svc2's failure, not its own
    assert svc.exported_s is None and svc2.exported_s is None


def test_an_upstream_is_built_when_its_image_is_exported_before_the_bake_ends() -> None:
    progress, events, _ = read("rawjson-chained-failure.txt")
    exported = [e for e in events if isinstance(e, ImageExported)]
    assert [e.key for e in exported] == ["base"]
    failed_at = next(e.at_s for e in events if isinstance(e, Failed))
    assert exported[0].at_s < failed_at
    assert progress.account("base").exported_s == exported[0].at_s


def test_a_shared_vertex_belongs_to_the_upstream_that_owns_it() -> None:
    # svc reports base's FROM before base does; it is base's step all the same.
    progress, events, _ = read("rawjson-chained-failure.txt")
    assert {e.key for e in events if isinstance(e, StepStarted) and "FROM" in e.step} == {"base"}
    assert [s.name for s in progress.account("base").steps if "RUN" in s.name] == [
        "[2/2] RUN echo base-$RANDOM > /base.txt"
    ]
    assert all("base" not in s.name for s in progress.account("svc").steps)
    assert all("base" not in s.name for s in progress.account("svc2").steps)


def test_cached_steps_are_counted_for_their_own_target() -> None:
    progress, events, _ = read("rawjson-chained-warm.txt")
    base, svc = progress.account("base"), progress.account("svc")
    assert base.cached_steps == 1  # RUN echo base (its FROM is resolved, not cached)
    assert svc.cached_steps == 2  # its two RUNs; base's steps are not counted again
    assert base.exported_s is not None and svc.exported_s is not None
    done = [e for e in events if isinstance(e, StepDone) and e.key == "svc"]
    assert [e.cached for e in done if not e.step.startswith("exporting")] == [True, True]
    assert [e.step for e in done if e.step.startswith("exporting")] == ["exporting to image"]


def test_a_step_log_goes_to_the_target_that_ran_it() -> None:
    progress, events, _ = read("rawjson-chained-failure.txt")
    assert [(e.key, e.text) for e in events if isinstance(e, LogLine)] == [("svc2", "fail-29843")]
    log = progress.account("svc2").log_lines
    at = log.index("#1 [1/2] RUN echo fail-$RANDOM && false")
    assert log[at + 1 : at + 3] == (
        "#1 0.260 fail-29843",
        f"#1 ERROR: {progress.account('svc2').error}",
    )
    assert not any("fail-29843" in line for line in progress.account("svc").log_lines)


def test_the_error_summary_after_the_progress_gives_file_line_and_excerpt() -> None:
    _, _, lines = read("rawjson-chained-failure.txt")
    (found,) = excerpts(lines.text)
    assert (found.file, found.line) == ("Dockerfile", 2)
    assert found.lines[1] == "   2 | >>> RUN echo fail-$RANDOM && false"
    assert any(t.startswith("ERROR: failed to solve") for t in lines.text)


def _status(**vertex: object) -> str:
    return json.dumps({"vertexes": [vertex]})


def test_one_line_objects_and_text_between_them() -> None:
    lines = RawJsonLines()
    got = lines.feed(_status(digest="sha256:a", name="[api 1/2] FROM x") + "\n")
    assert got and got[0]["vertexes"]
    assert lines.feed("#0 building with default instance\n") == []
    assert lines.feed("{ not json }\n") == []
    assert lines.text == ["#0 building with default instance", "{ not json }"]


def test_targets_sharing_a_vertex_with_no_upstream_between_them_both_own_it() -> None:
    progress = BakeProgress({"a": "a", "b": "b"}, {}, clock0=100.0)
    t0, t1 = "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:01.75Z"
    for target in ("a", "b"):
        progress.feed(
            json.loads(_status(digest="sha256:f", name=f"[{target} 1/2] FROM x", started=t0))
        )
    events = progress.feed(
        json.loads(_status(digest="sha256:f", name="[a 1/2] FROM x", started=t0, completed=t1))
    )
    assert sorted(e.key for e in events if isinstance(e, StepDone)) == ["a", "b"]
    done = next(e for e in events if isinstance(e, StepDone))
    assert abs(done.duration_s - 1.25) < 1e-6


def test_a_downstream_step_waits_for_its_upstream_to_settle_ownership() -> None:
    progress = BakeProgress({"base": "base", "app": "app"}, {"app": ["base"]}, clock0=0.0)
    shared = {"digest": "sha256:s", "started": "2026-01-01T00:00:00Z"}
    assert progress.feed({"vertexes": [{**shared, "name": "[app 1/1] RUN make"}]}) == []
    events = progress.feed({"vertexes": [{**shared, "name": "[base 1/1] RUN make"}]})
    assert [(type(e).__name__, e.key) for e in events] == [("StepStarted", "base")]
    log = {"vertex": "sha256:s", "data": base64.b64encode(b"one\ntw").decode()}
    assert [e.text for e in progress.feed({"logs": [log]}) if isinstance(e, LogLine)] == ["one"]


def test_times_are_buildkits_with_nanoseconds_and_unset_is_none() -> None:
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time(None) is None
    assert parse_time("garbage") is None
    a = parse_time("2026-12-02T19:03:32.082502452Z")
    b = parse_time("2026-12-02T19:03:32.410862831Z")
    assert a is not None and b is not None and abs((b - a) - 0.328360379) < 1e-6


def test_a_bake_of_one_target_names_its_steps_bare_and_they_are_its_own() -> None:
    progress = BakeProgress({"api": "api"}, {}, clock0=0.0)
    at = "2026-01-01T00:00:01Z"
    events = progress.feed(
        {
            "vertexes": [
                {"digest": "sha256:i", "name": "[internal] load .dockerignore", "started": at},
                {"digest": "sha256:r", "name": "[2/2] RUN make", "started": at, "completed": at},
                {"digest": "sha256:e", "name": "exporting to image", "completed": at},
            ]
        }
    )
    assert [(type(e).__name__, e.key) for e in events] == [
        ("StepStarted", "api"),
        ("StepDone", "api"),
        ("StepDone", "api"),  # the export's, which the view shows as a step too
        ("ImageExported", "api"),
    ]
    assert [s.name for s in progress.account("api").steps] == ["[2/2] RUN make"]


BLOB = "sha256:" + "4f" * 32


def _one(**vertex: object) -> dict[str, object]:
    return {"vertexes": [{"digest": "sha256:r", "name": "[2/2] RUN make", **vertex}]}


def test_a_step_that_only_pulled_its_layers_from_a_cache_is_cached_and_one_that_ran_is_not():
    at, end = "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"
    for said, cached in (((), True), (("make: done\n",), False)):
        progress = BakeProgress({"api": "api"}, {}, clock0=0.0)
        progress.feed(_one(started=at))
        progress.feed(
            {
                "statuses": [
                    {"id": f"extracting {BLOB}", "vertex": "sha256:r"},
                    {"id": BLOB, "vertex": "sha256:r"},
                    {"id": "transferring context:", "vertex": "sha256:r"},
                    {"id": BLOB, "vertex": "sha256:elsewhere"},
                ]
            }
        )
        for text in said:
            log = {"vertex": "sha256:r", "data": base64.b64encode(text.encode()).decode()}
            progress.feed({"logs": [log]})
        events = progress.feed(_one(started=at, completed=end))
        (done,) = [e for e in events if isinstance(e, StepDone)]
        assert done.cached is cached
        account = progress.account("api")
        assert account.cached_steps == (1 if cached else 0)
        if cached:  # the log says which layers came from the cache, once each
            assert account.log_lines[1:3] == (f"#1 extracting {BLOB} done", f"#1 {BLOB} done")


def test_the_same_output_reported_through_two_targets_is_one_line_and_bad_data_is_dropped():
    progress = BakeProgress({"base": "base", "app": "app"}, {"app": ["base"]}, clock0=0.0)
    at = "2026-01-01T00:00:01Z"
    shared = {"digest": "sha256:s", "started": at}
    progress.feed({"vertexes": [{**shared, "name": "[base 1/1] RUN make"}]})
    data = base64.b64encode(b"one\n").decode()
    record = {"vertex": "sha256:s", "data": data, "timestamp": at, "stream": 1}
    first = progress.feed({"logs": [record]})
    again = progress.feed({"logs": [dict(record)]})  # reported again, through app
    later = progress.feed({"logs": [{**record, "timestamp": "2026-01-01T00:00:03Z"}]})
    assert [e.text for e in first if isinstance(e, LogLine)] == ["one"]
    assert again == []
    assert [e.text for e in later if isinstance(e, LogLine)] == ["one"]  # printed twice: twice
    assert progress.feed({"logs": [{"vertex": "sha256:s", "data": "%%%"}]}) == []
    assert progress.feed({"logs": [{"vertex": "sha256:nope", "data": data}]}) == []
    assert progress.feed({"logs": [{"vertex": "sha256:s", "data": 7}]}) == []


def test_an_unfinished_line_is_kept_until_the_rest_comes_and_ends_the_log_at_the_end():
    progress = BakeProgress({"api": "api"}, {}, clock0=0.0)
    at = "2026-01-01T00:00:01Z"
    progress.feed(_one(started=at))
    for chunk in (b"compil", b"ing\r\nlinking\nhalf"):
        log = {"vertex": "sha256:r", "data": base64.b64encode(chunk).decode()}
        events = progress.feed({"logs": [log]})
    assert [e.text for e in events if isinstance(e, LogLine)] == ["compiling", "linking"]
    account = progress.account("api")
    assert [ln.split(" ", 2)[2] for ln in account.log_lines[1:4]] == [
        "compiling",
        "linking",
        "half",
    ]


def test_log_records_with_odd_fields_are_read_or_dropped_never_a_crash():
    progress = BakeProgress({"api": "api"}, {}, clock0=0.0)
    progress.feed(_one(started="2026-01-01T00:00:01Z"))
    data = base64.b64encode(b"ok\n").decode()
    odd = {"vertex": "sha256:r", "data": data, "stream": [1], "timestamp": {"t": 1}}
    assert [e.text for e in progress.feed({"logs": [odd]}) if isinstance(e, LogLine)] == ["ok"]
    assert progress.feed({"logs": [{"vertex": ["sha256:r"], "data": data}]}) == []
    assert progress.feed({"logs": "not a list", "vertexes": {"not": "a list"}}) == []
