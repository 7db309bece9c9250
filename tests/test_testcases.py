"""Test cases out of a test stage's reports: JUnit XML as runners write it, hostile bytes, and
the verdict from `exit-code`."""

from __future__ import annotations

from orchestrator.ci.testcases import FILE_LIMIT, read_reports

PYTEST = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="0.5">
<testcase classname="tests.test_kv" name="test_put" file="tests/test_kv.py" line="12" time="0.01"/>
<testcase classname="tests.test_kv" name="test_get" file="tests/test_kv.py" line="20" time="0.2">
<failure message="AssertionError: assert 'a' == 'b'">def test_get():
&gt;       assert get() == "b"
E       AssertionError</failure></testcase>
<testcase classname="tests.test_kv" name="test_slow" time="0"><skipped message="slow"/></testcase>
</testsuite></testsuites>
"""

GOTESTSUM = b"""<testsuites tests="2" failures="0" errors="1">
<testsuite tests="2" failures="0" errors="1" name="example.com/api" time="1,234.5">
<testcase classname="example.com/api" name="TestHandler" time="0.003"></testcase>
<testcase classname="example.com/api" name="TestPanic" time="0.000">
<error message="panic: boom" type="panic">goroutine 1 [running]:</error></testcase>
</testsuite></testsuites>"""


def test_cases_keep_their_names_times_messages_bodies_and_places() -> None:
    got = read_reports({"junit.xml": PYTEST, "exit-code": b"1\n"})
    assert [(c.title, c.outcome) for c in got.cases] == [
        ("tests.test_kv.test_put", "passed"),
        ("tests.test_kv.test_get", "failed"),
        ("tests.test_kv.test_slow", "skipped"),
    ]
    failed = got.failing[0]
    assert failed.message == "AssertionError: assert 'a' == 'b'"
    assert '>       assert get() == "b"' in failed.body
    assert (failed.file, failed.line, failed.time_s, failed.suite) == (
        "tests/test_kv.py",
        20,
        0.2,
        "pytest",
    )
    assert got.counts.as_json() == {
        "tests": 3,
        "passed": 1,
        "failures": 1,
        "errors": 0,
        "skipped": 1,
    }
    assert not got.passed
    assert got.verdict() == "the tests exited with 1: 1 of 3 cases failed"


def test_the_exit_code_decides_and_without_one_the_failures_do() -> None:
    assert read_reports({"junit.xml": GOTESTSUM, "exit-code": b"0"}).passed  # its word wins
    without = read_reports({"junit.xml": GOTESTSUM})
    assert not without.passed and without.verdict() == "1 of 2 cases failed"
    assert without.cases[1].kind == "panic" and without.cases[0].time_s == 0.003
    clean_xml = PYTEST.replace(b"<failure", b"<system-out").replace(b"</failure>", b"</system-out>")
    clean = read_reports({"a/junit.xml": clean_xml})
    assert clean.passed and clean.counts.failures == 0
    # One exit-code per platform of a multi-platform test: every one must say 0.
    both = {"linux_amd64/exit-code": b"0", "linux_arm64/exit-code": b"2"}
    assert not read_reports(both).passed


def test_nothing_to_judge_by_is_no_pass() -> None:
    empty = read_reports({})
    assert not empty.passed
    assert empty.verdict() == "its reports hold no test case and no exit-code"
    odd = read_reports({"exit-code": b"passed!"})
    assert not odd.passed and "holds 'passed!', not an exit status" in odd.problems[0]


def test_a_report_that_is_not_xml_is_a_problem_and_the_others_still_count() -> None:
    got = read_reports(
        {
            "broken.xml": b"<testsuite><testcase name='x'>",
            "other.xml": b"<html><body>hi</body></html>",
            "good.xml": GOTESTSUM,
            "notes.txt": b"ignored",
        }
    )
    assert len(got.cases) == 2 and got.files == 1
    assert any(p.startswith("broken.xml is not XML (") for p in got.problems)
    assert "other.xml is XML but not a JUnit report (its root is <html>)" in got.problems


def test_hostile_bytes_do_not_break_reading() -> None:
    hostile = (
        b'<testsuite name="s"><testcase classname="c" name="bad \xff\xfe ]]&gt; \x01\x1b[31m">'
        b'<failure message="::error::x%0A">\x00\x07 ]]&gt; &lt;/testsuite&gt;</failure>'
        b"</testcase></testsuite>"
    )
    (case,) = read_reports({"r.xml": hostile}).cases
    assert "\ufffd" in case.name and "]]>" in case.name
    assert case.message == "::error::x%0A" and "</testsuite>" in case.body


def test_entities_are_not_expanded() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>'
    )
    got = read_reports({"bomb.xml": bomb})
    assert not got.cases
    assert got.problems == ("bomb.xml declares what orch does not expand (EntitiesForbidden)",)


def test_a_report_too_large_is_named_with_its_size() -> None:
    got = read_reports({"exit-code": b"0"}, too_large={"huge.xml": 100_000_000})
    assert got.problems == (
        f"huge.xml is 100.0 MB, over the {FILE_LIMIT // 2**20} MB a report may have: left out",
    )
