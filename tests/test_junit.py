"""`orch test --junit`: test stages as JUnit XML, checked against the Ant/Jenkins schema."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.ci.junit import TAIL_LINES, junit_xml
from orchestrator.run.results import JobResult, RunOutcome

SCHEMA = xmlschema.XMLSchema(Path(__file__).with_name("junit.xsd"))


def valid(text: str) -> ET.Element:
    """The document, once the schema has accepted it (fails with the schema's reason)."""
    errors = [str(e) for e in SCHEMA.iter_errors(text)]
    assert not errors, "\n".join(errors)
    return ET.fromstring(text)  # noqa: S314 - orch's own output, just made by the test


def outcome(*results: JobResult) -> RunOutcome:
    return RunOutcome(results=results, test=True)


def case(root: ET.Element, service: str, stage: str) -> ET.Element:
    found = root.findall(f".//testcase[@classname='{service}'][@name='{stage}']")
    assert len(found) == 1, ET.tostring(root, encoding="unicode")
    return found[0]


def test_each_test_stage_is_a_testcase_and_builds_are_not():
    root = valid(
        junit_xml(
            outcome(
                JobResult(key="base", status="built", duration_s=3.0),
                JobResult(key="api:test", status="passed", duration_s=1.25),
                JobResult(key="api:lint", status="passed", duration_s=0.5),
                JobResult(key="web:test", status="passed", duration_s=2.0),
            )
        )
    )
    cases = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
    assert cases == [("api", "test"), ("api", "lint"), ("web", "test")]
    assert [s.get("name") for s in root.iter("testsuite")] == ["api", "web"]
    assert case(root, "api", "test").get("time") == "1.250"
    assert root.get("tests") == "3"
    assert root.get("time") == "3.750"  # the test stages' own time; the build's is not a test's


def test_a_failed_stage_carries_its_failing_command_and_the_tail_of_its_output():
    tail = tuple(f"line {i}" for i in range(50))
    root = valid(
        junit_xml(
            outcome(
                JobResult(
                    key="api:test",
                    status="failed",
                    duration_s=4.0,
                    failed_step="[test 3/3] RUN go test ./...",
                    error="process did not complete successfully: exit code: 1",
                    tail=tail,
                    log=".orch/logs/api@test.log",
                )
            )
        )
    )
    failure = case(root, "api", "test").find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "[test 3/3] RUN go test ./...: process did not complete successfully: exit code: 1"
    )
    body = failure.text or ""
    assert "failed step: [test 3/3] RUN go test ./..." in body
    assert f"last {TAIL_LINES} lines of its output (of 50):" in body
    assert "line 49" in body
    assert "line 19\n" not in body  # only the last TAIL_LINES
    assert "  line 20\n" in body
    assert case(root, "api", "test").findtext("system-out") == "log: .orch/logs/api@test.log\n"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), root.get("failures")) == ("1", "1")


def test_an_up_to_date_stage_passes_with_its_cached_result_noted():
    root = valid(
        junit_xml(outcome(JobResult(key="api:test", status="up-to-date", version="3f0c2b8d1e")))
    )
    testcase = case(root, "api", "test")
    assert testcase.find("failure") is None
    assert testcase.find("skipped") is None
    assert testcase.get("time") == "0.000"
    note = testcase.findtext("system-out") or ""
    assert note.startswith("cached:")
    assert "3f0c2b8d1e" in note


@pytest.mark.parametrize("status", ["blocked", "cancelled"])
def test_a_stage_that_did_not_run_is_skipped_with_the_reason(status):
    root = valid(
        junit_xml(outcome(JobResult(key="web:test", status=status, error="upstream base failed")))
    )
    skipped = case(root, "web", "test").find("skipped")
    assert skipped is not None
    assert skipped.get("message") == f"{status}: upstream base failed"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("skipped"), suite.get("failures")) == ("1", "0")


def test_build_output_reaches_the_file_without_escape_sequences_and_still_parses():
    hostile = "\x1b]0;owned\x07<b>&amp;</b> ]]> \x1b[2Jdone\x00\x08 \ud800 \ufffe"
    root = valid(
        junit_xml(
            outcome(
                JobResult(
                    key="api:test",
                    status="failed",
                    failed_step='RUN echo "<x>" && false',
                    error=hostile,
                    tail=(hostile, "x" * 5000),
                )
            )
        )
    )
    failure = case(root, "api", "test").find("failure")
    assert failure is not None
    assert failure.get("message") == 'RUN echo "<x>" && false: <b>&amp;</b> ]]> done'
    body = failure.text or ""
    assert "  <b>&amp;</b> ]]> done\n" in body
    assert "owned" not in body
    assert "more characters in the log" in body  # a long line is cut, as orch prints it


def test_a_run_without_test_stages_is_an_empty_valid_report():
    root = valid(junit_xml(outcome(JobResult(key="base", status="failed"))))
    assert (root.get("tests"), list(root)) == ("0", [])


@given(
    text=st.text(),
    status=st.sampled_from(["passed", "failed", "up-to-date", "blocked", "cancelled"]),
)
def test_any_output_makes_a_valid_report(text, status):
    result = JobResult(
        key="svc:test",
        status=status,
        failed_step=text,
        error=text,
        tail=(text,),
        log=text,
        duration_s=12345.678,
    )
    valid(junit_xml(outcome(result)))
