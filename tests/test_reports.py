"""A test stage's reports on a fake engine: what each kind of reports directory makes of the
stage, what is kept under the state, and the cached result of a second run (the engine tests are
tests/test_engine_test.py's)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.ci.junit import junit_xml
from orchestrator.errors import PlanError
from orchestrator.run import steps as run
from orchestrator.run.bake import bake_name, reports_key
from orchestrator.run.jobs import select_test_jobs
from tests.kit import FakeEngine, project_of

PLAN = """\
services:
  api:
    context: api
    test: [{stage: test, reports: /reports}]
"""
FILES = {"api/Dockerfile": "FROM busybox AS build\nFROM build AS test\nRUN true\n"}
TEST = bake_name("api:test")
EXPORT = bake_name(reports_key("api:test"))
JUNIT = b"""<testsuite name="go"><testcase classname="kv" name="TestPut" time="0.1"/>
<testcase classname="kv" name="TestGet" file="server_test.go" line="42" time="0.2">
<failure message="want b, got a">server_test.go:42: want b, got a</failure></testcase>
</testsuite>"""


def run_tests(tmp_path: Path, engine: FakeEngine, *, force: bool = False) -> run.RunOutcome:
    project = project_of(tmp_path, PLAN, FILES)
    return run.run(
        project,
        select_test_jobs(project, ["api"]),
        engine,
        manifests=project.manifests(["api"]),
        options=run.RunOptions(force=force),
        test=True,
    )


def stage(outcome: run.RunOutcome) -> run.JobResult:
    return next(r for r in outcome.results if r.key == "api:test")


def test_the_stage_fails_by_its_exit_code_and_names_each_failing_case(tmp_path: Path) -> None:
    engine = FakeEngine(exported={EXPORT: {"junit.xml": JUNIT, "exit-code": b"1\n"}})
    r = stage(run_tests(tmp_path, engine))
    assert r.status == "failed"
    assert r.error == "api:test: the tests exited with 1: 1 of 2 cases failed"
    assert r.reports is not None and [c.title for c in r.reports.failing] == ["kv.TestGet"]
    assert r.reports_dir == ".orch/reports/api@test"
    kept = tmp_path / ".orch/reports/api@test"
    assert (kept / "junit.xml").read_bytes() == JUNIT
    # The export went to a directory of its own, and nothing of it is left beside the kept one.
    assert sorted(p.name for p in kept.parent.iterdir()) == ["api@test", "api@test.json"]
    (call,) = engine.calls
    export = call["target"][EXPORT]
    assert export["dockerfile-inline"] == "FROM scratch\nCOPY --from=tested /reports/ /\n"
    assert export["contexts"] == {"tested": f"target:{TEST}"}
    assert export["output"][0].startswith(f"type=local,dest={tmp_path}/.orch/reports/api@test.new-")


def test_the_merged_junit_holds_each_case_under_the_stage_s_suite(tmp_path: Path) -> None:
    engine = FakeEngine(exported={EXPORT: {"junit.xml": JUNIT, "exit-code": b"1"}})
    doc = ET.fromstring(junit_xml(run_tests(tmp_path, engine)))  # noqa: S314 - orch wrote it
    (suite,) = doc.findall("testsuite")
    assert suite.get("name") == "api:test"
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing = suite.findall("testcase")[1]
    assert (failing.get("name"), failing.get("file"), failing.get("line")) == (
        "TestGet",
        "server_test.go",
        "42",
    )
    failure = failing.find("failure")
    assert failure is not None and failure.get("message") == "want b, got a"
    assert doc.get("tests") == "2" and doc.get("failures") == "1"


def test_a_second_run_at_the_same_version_reports_the_kept_cases_as_cached(
    tmp_path: Path,
) -> None:
    engine = FakeEngine(exported={EXPORT: {"junit.xml": JUNIT, "exit-code": b"1"}})
    run_tests(tmp_path, engine)
    again = stage(run_tests(tmp_path, engine))
    assert len(engine.calls) == 1  # not built again
    assert again.status == "failed" and again.reports_cached
    assert again.error is not None and again.error.endswith("(cached: at this version before)")
    assert again.reports is not None and len(again.reports.cases) == 2
    forced = stage(run_tests(tmp_path, engine, force=True))
    assert len(engine.calls) == 2 and not forced.reports_cached


def test_a_passing_stage_is_up_to_date_with_its_cases_next_time(tmp_path: Path) -> None:
    passing = JUNIT.replace(b"<failure", b"<system-out").replace(b"</failure>", b"</system-out>")
    engine = FakeEngine(exported={EXPORT: {"junit.xml": passing, "exit-code": b"0"}})
    first = stage(run_tests(tmp_path, engine))
    assert first.status == "passed" and first.reports is not None
    again = stage(run_tests(tmp_path, engine))
    assert again.status == "up-to-date" and again.reports_cached
    assert again.reports is not None and again.reports.counts.tests == 2


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({}, "api:test's reports directory /reports is empty"),
        ({"junit.xml": b"this is no XML"}, "api:test: its reports hold no test case"),
    ],
)
def test_an_empty_or_unreadable_directory_fails_the_stage_saying_so(
    tmp_path: Path, files: dict[str, bytes], says: str
) -> None:
    r = stage(run_tests(tmp_path, FakeEngine(exported={EXPORT: files})))
    assert r.status == "failed"
    assert r.error is not None and r.error.startswith(says), r.error


def test_a_missing_directory_fails_the_stage_naming_it_although_bake_cancelled_it(
    tmp_path: Path,
) -> None:
    engine = FakeEngine(
        outcomes={EXPORT: "failed"},
        errors={EXPORT: 'failed to compute cache key: "/reports": not found'},
    )
    r = stage(run_tests(tmp_path, engine))
    assert r.status == "failed"
    assert r.error == "api:test's reports directory /reports is not in the built stage"
    assert len(engine.calls) == 1  # judged once, not retried as a cancelled job


def test_a_fifo_and_a_huge_file_are_left_out_and_the_rest_still_counts(tmp_path: Path) -> None:
    engine = FakeEngine(exported={EXPORT: {"junit.xml": JUNIT, "exit-code": b"1"}})
    real_export = engine._export

    def export(spec: dict, cwd: Path, name: str, *, cache: bool = True) -> None:
        real_export(spec, cwd, name, cache=cache)
        for output in spec.get("output", []):
            if output.startswith("type=local"):
                dest = Path(dict(p.split("=", 1) for p in output.split(","))["dest"])
                os.mkfifo(dest / "pipe.xml")
                with (dest / "huge.xml").open("wb") as f:
                    f.truncate(100 * 1024 * 1024)  # sparse: 100 MB without the disk

    engine._export = export  # type: ignore[method-assign]
    r = stage(run_tests(tmp_path, engine))
    assert r.status == "failed" and r.reports is not None
    assert r.reports.counts.tests == 2
    problems = "\n".join(r.reports.problems)
    assert "huge.xml is 104.9 MB, over the 32 MB a report may have: left out" in problems
    assert "pipe.xml is not a regular file: left out" in problems


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("reports", "is not an absolute path inside the stage"),
        ("/app/../../etc", "is not an absolute path inside the stage"),
        ("/", "cannot be exported"),
        ("/a,b", "cannot be exported"),
    ],
)
def test_a_reports_path_outside_the_stage_is_a_plan_error(
    tmp_path: Path, given: str, says: str
) -> None:
    plan = PLAN.replace("reports: /reports", f"reports: {given!r}")
    with pytest.raises(PlanError, match=says) as caught:
        project_of(tmp_path, plan, FILES)
    assert "api:test" in caught.value.message
    assert caught.value.location is not None and caught.value.location.line == 5


def test_a_summary_lists_twenty_failing_cases_then_counts_the_rest() -> None:
    from orchestrator.ci.github import summary_markdown
    from orchestrator.ci.testcases import read_reports
    from orchestrator.report.summary import failing_cases
    from orchestrator.run.results import JobResult, RunOutcome

    cases = "".join(
        f'<testcase name="t{i}"><failure message="no {i}"/></testcase>' for i in range(25)
    )
    reports = read_reports({"j.xml": f"<testsuite>{cases}</testsuite>".encode()})
    r = JobResult(key="api:test", status="failed", reports=reports)
    lines = failing_cases(r)
    assert lines[0] == "✗ t0: no 0" and lines[19] == "✗ t19: no 19"
    assert lines[20:] == ["… and 5 more failing cases"]
    markdown = summary_markdown(RunOutcome(results=(r,), test=True))
    assert "| t19 |  | no 19 |" in markdown and "| t20 |" not in markdown
    assert "… and 5 more failing cases" in markdown


def test_a_stage_whose_run_fails_is_failed_as_before_with_the_convention_as_a_warning(
    tmp_path: Path,
) -> None:
    engine = FakeEngine(outcomes={TEST: "failed"})
    r = stage(run_tests(tmp_path, engine))
    assert r.status == "failed" and r.reports is None
    assert r.failed_step is not None  # the RUN's own failure, as without reports:
    (warning,) = r.warnings
    assert "since the test RUN itself failed" in warning
    assert "`; echo $? > /reports/exit-code`" in warning
    assert not list((tmp_path / ".orch/reports").glob("*.new-*"))


def test_a_case_name_with_a_pipe_stays_one_cell_of_the_step_summary() -> None:
    from markdown_it import MarkdownIt

    from orchestrator.ci.github import summary_markdown
    from orchestrator.ci.testcases import read_reports
    from orchestrator.run.results import JobResult, RunOutcome

    junit = b'<testsuite><testcase name="a|b" file="t.py" line="3"><failure message="x|y"/>'
    reports = read_reports({"j.xml": junit + b"</testcase></testsuite>"})
    r = JobResult(key="api:test", status="failed", reports=reports)
    markdown = summary_markdown(RunOutcome(results=(r,), test=True))
    html = MarkdownIt("commonmark").enable("table").render(markdown)  # GitHub reads it as GFM
    assert "<td>a|b</td><td>t.py:3</td><td>x|y</td>" in html.replace("\n", "")
