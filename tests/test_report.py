"""The end of a run as its user sees it: the summary printed, the `--report` file written."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from pathlib import Path

import pytest

from orchestrator.commands.main import main
from orchestrator.errors import EXIT_USAGE, UsageError
from orchestrator.files import destination
from orchestrator.report import summary as report
from orchestrator.report.console import StatusView, printable
from orchestrator.run.results import Attempt, Invocation, JobResult, RunOutcome
from tests.kit import REPO

FAILED = JobResult(
    key="api",
    status="failed",
    duration_s=2.5,
    failed_step="[api 3/4] RUN go build",
    error="process did not complete successfully: exit code: 1",
    tail=("main.go:3: undefined: x",),
    log=".orch/logs/api.log",
)
OUTCOME = RunOutcome(
    results=(
        JobResult(
            key="base",
            status="built",
            duration_s=1.0,
            image="orch/base:latest",
            digest="sha256:b",
            size_bytes=53_400_000,
            cached_steps=3,
            log=".orch/logs/base.log",
        ),
        FAILED,
        JobResult(key="web", status="blocked", error="upstream api failed"),
        JobResult(key="api:test", status="passed", duration_s=0.5),
    ),
    test=False,
    invocations=(
        Invocation(
            jobs=("base",), started_s=0.0, ended_s=1.0, bake_file=".orch/runs/x/001-base.json"
        ),
    ),
    warnings=("durations were not saved",),
)


def printed(outcome: RunOutcome) -> str:
    stream = io.StringIO()
    report.summary(StatusView([], live=False, stream=stream), outcome)
    return stream.getvalue()


# --- the document ---------------------------------------------------------------------------


def test_the_report_has_one_entry_per_job_with_its_status():
    doc = report.document(OUTCOME)
    assert doc["ok"] is False
    assert doc["interrupted"] is False
    targets = doc["targets"]
    assert list(targets) == ["base", "api", "web", "api:test"]  # type: ignore[call-overload]
    assert {k: v["status"] for k, v in targets.items()} == {  # type: ignore[union-attr]
        "base": "built",
        "api": "failed",
        "web": "blocked",
        "api:test": "passed",
    }
    assert targets["base"]["image"] == "orch/base:latest"  # type: ignore[index]
    assert targets["base"]["size_bytes"] == 53_400_000  # type: ignore[index]
    assert targets["api"]["failed_step"] == "[api 3/4] RUN go build"  # type: ignore[index]
    assert targets["web"]["reason"] == "upstream api failed"  # type: ignore[index]
    assert targets["web"]["duration_s"] is None  # type: ignore[index]
    assert doc["invocations"] == [
        {
            "jobs": ["base"],
            "started_s": 0.0,
            "ended_s": 1.0,
            "bake_file": ".orch/runs/x/001-base.json",
            "builder": None,
        }
    ]
    assert doc["warnings"] == ["durations were not saved"]
    json.dumps(doc)


def test_an_interrupted_run_is_not_ok_even_when_every_job_finished():
    outcome = RunOutcome(
        results=(JobResult(key="a", status="built"),), test=False, interrupted=True
    )
    assert report.document(outcome)["ok"] is False


# --- the summary ----------------------------------------------------------------------------


def test_the_summary_shows_the_failing_step_its_output_and_the_totals():
    text = printed(OUTCOME)
    assert "✗ api failed at [api 3/4] RUN go build" in text
    assert "  | main.go:3: undefined: x" in text
    assert "full log: .orch/logs/api.log" in text
    assert "warning: durations were not saved" in text
    assert "53.4 MB" in text
    assert text.rstrip().endswith("build FAILED: 1 blocked, 1 built, 1 failed, 1 passed")


def test_build_output_reaches_the_terminal_without_control_sequences():
    hostile = JobResult(
        key="api",
        status="failed",
        failed_step="RUN x\x1b]0;owned\x07",
        error="boom\x1b[2J",
        tail=(
            "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\",
            "\x1b[31mred\x1b[0m\r",
            "x" * 1_000_000,
        ),
    )
    text = printed(RunOutcome(results=(hostile,), test=False))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "click" in text
    assert "red" in text
    assert max(len(line) for line in text.splitlines()) < 500
    assert "more characters in the log" in text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("\x1b[1;31mbold red\x1b[0m", "bold red"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("a\x9b2Jb", "ab"),
        ("tab\there", "tab    here"),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("rtl \u202eevil", "rtl evil"),
    ],
)
def test_printable_strips_what_a_terminal_would_obey(raw, shown):
    assert printable(raw) == shown


# --- --report: like a shell redirection -----------------------------------------------------


def test_a_report_path_that_is_a_regular_file_is_replaced(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("old")
    destination(str(path)).write("new")
    assert path.read_text() == "new"


def test_a_report_through_a_symlink_writes_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    destination(str(link)).write("new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_a_report_to_a_fifo_is_written_into_and_the_fifo_stays(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    destination(str(fifo)).write('{"ok": true}\n')
    reader.join(timeout=10)
    assert got == ['{"ok": true}\n']
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_a_report_to_a_full_device_is_an_error_and_the_device_stays():
    target = destination("/dev/full")
    with pytest.raises(UsageError, match="cannot write /dev/full: No space left on device"):
        target.write("x" * 100_000)
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)


def test_a_report_to_dev_null_leaves_it_a_device():
    destination("/dev/null").write("x")
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda p: p.mkdir(), "it is a directory"),
        (lambda p: None, "does not exist"),
    ],
)
def test_a_report_path_that_cannot_be_written_is_a_usage_error(tmp_path, make, why):
    path = tmp_path / "x"
    make(path)
    given = str(path if why != "does not exist" else path / "sub" / "r.json")
    with pytest.raises(UsageError, match=why):
        destination(given)


def test_a_dash_report_goes_to_standard_output(capsys):
    destination("-").write("doc\n")
    assert capsys.readouterr().out == "doc\n"


def test_an_unwritable_report_path_is_exit_2_before_anything_runs(tmp_path, capsys, monkeypatch):
    # Unit tests have no engine: reaching it would be exit 3, so exit 2 shows the check came first.
    monkeypatch.chdir(REPO)
    code = main(["build", "--report", str(tmp_path / "missing" / "r.json")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert "cannot write the report to" in err
    assert "Traceback" not in err


def test_the_summary_shows_each_built_images_size_and_its_change():
    grown = JobResult(
        key="api",
        status="built",
        duration_s=1.0,
        image="orch/api:latest",
        size_bytes=3_400_000,
        previous_size_bytes=2_200_000,
    )
    assert "3.4 MB (+1.2 MB)" in printed(RunOutcome(results=(grown,), test=False))


# --- every field, as a program reading them sees them ---------------------------------------

EVERYTHING = RunOutcome(
    results=(
        JobResult(
            key="base",
            status="built",
            duration_s=1.23456,
            version="3f0c2b8d1e6a97c45b20",
            image="orch/base:latest",
            versioned_image="orch/base:3f0c2b8d1e6a97c45b20",
            digest="sha256:b",
            size_bytes=53_400_000,
            uncompressed_bytes=140_000_000,
            previous_size_bytes=53_000_000,
            cached_steps=3,
            log=".orch/logs/base.log",
            warnings=("cache not imported from .orch-cache/base",),
        ),
        JobResult(key="cli", status="up-to-date", version="9a41d0c6e2b7f8a13c55"),
        FAILED,
        JobResult(key="web", status="blocked", error="upstream api failed"),
        JobResult(key="api:test", status="passed", duration_s=0.5004),
        JobResult(key="docs", status="cancelled", duration_s=0.25, error="fail-fast: api failed"),
    ),
    test=False,
    invocations=(
        Invocation(jobs=("base", "docs"), started_s=0.2504, ended_s=1.23456, bake_file="b.json"),
    ),
    warnings=("durations were not saved",),
)


def test_the_report_document_holds_every_field_of_every_job():
    doc = report.document(EVERYTHING)
    empty = {
        "duration_s": None,
        "version": None,
        "image": None,
        "versioned_image": None,
        "digest": None,
        "size_bytes": None,
        "uncompressed_bytes": None,
        "previous_size_bytes": None,
        "log": None,
        "cached_steps": 0,
        "warnings": [],
    }
    expected = {
        "base": {
            "status": "built",
            "duration_s": 1.235,
            "version": "3f0c2b8d1e6a97c45b20",
            "image": "orch/base:latest",
            "versioned_image": "orch/base:3f0c2b8d1e6a97c45b20",
            "digest": "sha256:b",
            "size_bytes": 53_400_000,
            "uncompressed_bytes": 140_000_000,
            "previous_size_bytes": 53_000_000,
            "log": ".orch/logs/base.log",
            "cached_steps": 3,
            "warnings": ["cache not imported from .orch-cache/base"],
        },
        "cli": {**empty, "status": "up-to-date", "version": "9a41d0c6e2b7f8a13c55"},
        "api": {
            **empty,
            "status": "failed",
            "duration_s": 2.5,
            "log": ".orch/logs/api.log",
            "failed_step": "[api 3/4] RUN go build",
            "error": "process did not complete successfully: exit code: 1",
        },
        "web": {**empty, "status": "blocked", "reason": "upstream api failed"},
        "api:test": {**empty, "status": "passed", "duration_s": 0.5},
        "docs": {
            **empty,
            "status": "cancelled",
            "duration_s": 0.25,
            "reason": "fail-fast: api failed",
        },
    }
    assert (doc["ok"], doc["interrupted"]) == (False, False)
    targets = doc["targets"]
    assert list(targets) == list(expected)  # type: ignore[call-overload]
    for key, want in expected.items():
        got = targets[key]  # type: ignore[index]
        assert {k: got.get(k, "(missing)") for k in want} == want, key
        # A failure has a step and an error; what did not run has a reason instead; every
        # key is there, null where it says nothing.
        for only in {"failed_step", "failed_line", "error", "reason"} - set(want):
            assert got[only] is None, (key, only)
    (invocation,) = doc["invocations"]  # type: ignore[misc]
    assert {k: invocation[k] for k in ("jobs", "started_s", "ended_s", "bake_file")} == {
        "jobs": ["base", "docs"],
        "started_s": 0.25,
        "ended_s": 1.235,
        "bake_file": "b.json",
    }
    assert doc["warnings"] == ["durations were not saved"]
    assert json.loads(json.dumps(doc)) == doc


def test_a_run_where_every_job_is_done_is_ok_and_one_left_undone_is_not():
    done = ("built", "passed", "up-to-date")
    results = tuple(JobResult(key=s, status=s) for s in done)  # type: ignore[arg-type]
    assert report.document(RunOutcome(results=results, test=True))["ok"] is True
    for undone in ("failed", "blocked", "cancelled"):
        outcome = RunOutcome(results=(*results, JobResult(key="x", status=undone)), test=True)
        assert report.document(outcome)["ok"] is False, undone


def test_the_summary_of_every_kind_of_job_line_by_line():
    lines = [line.rstrip() for line in printed(EVERYTHING).splitlines()]
    assert lines == [
        "",
        "✗ api failed at [api 3/4] RUN go build",
        "  process did not complete successfully: exit code: 1",
        "  | main.go:3: undefined: x",
        "  full log: .orch/logs/api.log",
        "",
        "warning: base: cache not imported from .orch-cache/base",
        "warning: durations were not saved",
        "target  image             size                 time  cached steps",
        "base    orch/base:latest  53.4 MB (+400.0 kB)  1.2s  3",
        "build FAILED: 1 blocked, 1 built, 1 cancelled, 1 failed, 1 passed, 1 up-to-date",
    ]


def test_a_summary_without_failures_or_warnings_is_the_table_and_the_verdict():
    same = JobResult(
        key="api",
        status="built",
        image="orch/api:v1",
        size_bytes=2_200_000,
        previous_size_bytes=2_200_000,
    )
    unknown = JobResult(key="cli", status="built", image="orch/cli:v1", duration_s=None)
    imageless = JobResult(key="api:unit", status="passed", duration_s=2.0)
    text = printed(RunOutcome(results=(same, unknown, imageless), test=True))
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines == [
        "target  image        size    time  cached steps",
        "api     orch/api:v1  2.2 MB  0.0s  0",
        "cli     orch/cli:v1          0.0s  0",
        "test ok: 2 built, 1 passed",
    ]


def test_an_interrupted_summary_says_so_whatever_the_jobs_came_to():
    outcome = RunOutcome(
        results=(JobResult(key="a", status="cancelled"),), test=False, interrupted=True
    )
    assert printed(outcome).splitlines() == ["build interrupted: 1 cancelled"]


def test_a_failure_without_a_step_error_or_log_is_one_line():
    bare = JobResult(key="api", status="failed")
    assert printed(RunOutcome(results=(bare,), test=False)).splitlines() == [
        "",
        "✗ api failed",
        "build FAILED: 1 failed",
    ]


def test_a_run_over_a_pool_reports_each_attempt_and_the_builders_lost():
    moved = JobResult(
        key="api",
        status="built",
        duration_s=3.0,
        builder="node2",
        attempts=(
            Attempt(builder="", outcome="cut off", duration_s=1.23456, error="builder went away"),
            Attempt(builder="node2", outcome="built", duration_s=1.76544),
        ),
    )
    outcome = RunOutcome(
        results=(moved,),
        test=False,
        engine_gone=True,
        lost_builders=("", "node3"),
        published=False,
        invocations=(
            Invocation(jobs=("api",), started_s=0.0, ended_s=1.2, bake_file="a.json"),
            Invocation(
                jobs=("api",), started_s=1.2, ended_s=3.0, bake_file="b.json", builder="node2"
            ),
        ),
    )
    doc = report.document(outcome)
    assert (doc["engine_gone"], doc["lost_builders"], doc["published"]) == (
        True,
        [None, "node3"],
        False,
    )
    api = doc["targets"]["api"]  # type: ignore[index]
    assert api["builder"] == "node2"
    assert api["attempts"] == [
        {"builder": None, "outcome": "cut off", "duration_s": 1.235, "error": "builder went away"},
        {"builder": "node2", "outcome": "built", "duration_s": 1.765, "error": None},
    ]
    assert [i["builder"] for i in doc["invocations"]] == [None, "node2"]  # type: ignore[index]
    plain = report.document(RunOutcome(results=(), test=False))
    assert (plain["engine_gone"], plain["lost_builders"], plain["published"]) == (False, [], None)


@pytest.mark.parametrize("engine_gone", [True, False])
def test_the_summary_of_a_run_over_a_pool_tells_attempts_lost_builders_and_publishing(
    engine_gone,
):
    moved = JobResult(
        key="api",
        status="built",
        duration_s=3.0,
        builder="node2",
        versioned_image="orch/api:3f0c",
        attempts=(
            Attempt(builder="", outcome="cut off", duration_s=1.2, error="builder went away"),
            Attempt(builder="node2", outcome="built", duration_s=1.8),
        ),
    )
    once = JobResult(
        key="cli",
        status="built",
        duration_s=1.0,
        image="orch/cli:v1",
        attempts=(Attempt(builder="", outcome="built", duration_s=1.0),),
    )
    cut = JobResult(key="web", status="cancelled", error="cut off: the engine went away (node3)")
    cut2 = JobResult(key="docs", status="cancelled", error="cut off: the engine went away (node3)")
    outcome = RunOutcome(
        results=(moved, once, cut, cut2),
        test=False,
        engine_gone=engine_gone,
        lost_builders=("", "node3"),
        published=not engine_gone,
    )
    lost = (
        "✗ the engine went away (builders default, node3); cut off: web, docs"
        if engine_gone
        else "! builders default, node3 each went away; what it was building was built elsewhere"
    )
    published = (
        "not published: the plan's tags were left where they were, since not every target "
        "succeeded (the versioned images that built are in the registry)"
        if engine_gone
        else "published: every target's plan tags point at what this run built or found"
    )
    assert [line.rstrip() for line in printed(outcome).splitlines()] == [
        "↻ api: 2 attempts: default: cut off (builder went away); node2: built",
        "",
        lost,
        "",
        published,
        "target  image          size  time  cached steps  builder",
        "api     orch/api:3f0c        3.0s  0             node2",
        "cli     orch/cli:v1          1.0s  0             default",
        "build FAILED: 2 built, 2 cancelled",
    ]


def test_an_engine_gone_with_nothing_cut_off_says_so():
    outcome = RunOutcome(
        results=(JobResult(key="a", status="built"),),
        test=False,
        engine_gone=True,
        lost_builders=("n1",),
    )
    assert printed(outcome).splitlines() == [
        "",
        "✗ the engine went away (builder n1); cut off: nothing",
        "build ok: 1 built",
    ]


@pytest.mark.parametrize("width", [80, 120])
def test_the_built_table_shows_every_name_and_image_whole_within_the_width(width):
    from rich.console import Console

    names = [f"payments-reconciliation-worker-{i}" for i in range(3)] + ["go-toolchain"]
    results = tuple(
        JobResult(
            key=name,
            status="built",
            duration_s=12.0,
            image=f"registry.example.com:5000/platform/{name}:latest",
            size_bytes=182_400_000,
            previous_size_bytes=182_401_600,
        )
        for name in names
    )
    view = StatusView([], live=False, stream=io.StringIO())
    view._console = Console(width=width, file=io.StringIO())
    report.summary(view, RunOutcome(results=results, test=False))
    text = view.console.file.getvalue() + view.stream.getvalue()
    assert all(len(line) <= width for line in text.splitlines()), text
    for r in results:
        assert r.key in text and r.image in text and "…" not in text
