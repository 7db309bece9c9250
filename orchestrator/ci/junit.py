"""`orch test --junit FILE`: the test stages of a run as JUnit XML, which CI systems display.

Each test stage job (`service:stage`) is one `<testcase>` in a `<testsuite>` per service;
builds are not tests, and a test stage they kept from running is skipped, with the reason. A
stage with `reports:` whose reports hold test cases is a `<testsuite>` of its own instead,
named `service:stage`, with each case as its runner wrote it (orchestrator.ci.testcases).
Build output passes through `console.printable` first, then ElementTree escapes it; characters
XML 1.0 cannot hold at all are dropped, as a parser would reject the whole file for one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.ci.testcases import TestCase
from orchestrator.report.console import printable
from orchestrator.run.results import JobResult, RunOutcome

# The last lines of a failing step that go into its <failure>; the log has all of them.
TAIL_LINES = 30
MESSAGE_LIMIT = 400

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class _Case:
    service: str
    stage: str
    result: JobResult


def junit_xml(outcome: RunOutcome, *, name: str = "orch test") -> str:
    """The test stage jobs of `outcome` as a JUnit XML document (`<testsuites>`), one
    `<testcase>` per stage: `classname` the service, `name` the stage."""
    every = list(_cases(outcome.results))
    reported = [c for c in every if c.result.reports is not None and c.result.reports.cases]
    cases = [c for c in every if c not in reported]
    suites: dict[str, list[_Case]] = {}
    for case in cases:
        suites.setdefault(case.service, []).append(case)
    elements = [
        _suite(_counts(service, members), [_testcase(case) for case in members])
        for service, members in suites.items()
    ]
    for case in reported:
        elements.append(_reported_suite(case))
    # <testsuites> has no `skipped` in the Ant/Jenkins schema; each <testsuite> does.
    keys = ("tests", "failures", "errors")
    totals = {k: str(sum(int(e.get(k) or 0) for e in elements)) for k in keys}
    time = sum(float(e.get("time") or 0) for e in elements)
    root = ET.Element("testsuites", {"name": _text(name), **totals, "time": _seconds(time)})
    root.extend(elements)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(counts: dict[str, str], cases: list[ET.Element]) -> ET.Element:
    suite = ET.Element("testsuite", counts)
    suite.extend(cases)
    return suite


def _reported_suite(stage: _Case) -> ET.Element:
    """A stage's reported cases as one suite, `service:stage`; its log and whether the cases
    are a cached result in the suite's output."""
    r = stage.result
    assert r.reports is not None
    c = r.reports.counts
    suite = ET.Element(
        "testsuite",
        {
            "name": _text(f"{stage.service}:{stage.stage}"),
            "tests": str(c.tests),
            "failures": str(c.failures),
            "errors": str(c.errors),
            "skipped": str(c.skipped),
            "time": _seconds(sum(case.time_s for case in r.reports.cases)),
        },
    )
    suite.extend(_reported_case(case) for case in r.reports.cases)
    said = []
    if r.reports_cached:
        said.append(f"cached: these cases are from a run at version {r.version}, not run again")
    if r.reports_dir:
        said.append(f"reports: {_text(r.reports_dir)}")
    if r.log and not r.reports_cached:
        said.append(f"log: {_text(r.log)}")
    if said:
        ET.SubElement(suite, "system-out").text = "\n".join(said) + "\n"
    return suite


def _reported_case(case: TestCase) -> ET.Element:
    attrs = {
        "classname": _text(case.classname),
        "name": _text(case.name),
        "time": _seconds(case.time_s),
    }
    if case.file:
        attrs["file"] = _text(case.file)
    if case.line is not None:
        attrs["line"] = str(case.line)
    element = ET.Element("testcase", attrs)
    if case.outcome in ("failed", "error"):
        tag = "failure" if case.outcome == "failed" else "error"
        child = ET.SubElement(element, tag, message=_message(case.message or case.outcome))
        if case.kind:
            child.set("type", _text(case.kind))
        child.text = _text(case.body) + "\n" if case.body else None
    elif case.outcome == "skipped":
        ET.SubElement(element, "skipped", message=_message(case.message or "skipped"))
    return element


def _cases(results: Iterable[JobResult]) -> Iterable[_Case]:
    for r in results:
        service, sep, stage = r.key.partition(":")
        if sep:  # a build job's key has no ':'; it is not a test
            yield _Case(service, stage, r)


def _counts(name: str, cases: list[_Case]) -> dict[str, str]:
    statuses = [c.result.status for c in cases]
    return {
        "name": _text(name),
        "tests": str(len(cases)),
        "failures": str(statuses.count("failed")),
        "errors": "0",
        "skipped": str(statuses.count("blocked") + statuses.count("cancelled")),
        "time": _seconds(sum(c.result.duration_s or 0.0 for c in cases)),
    }


def _testcase(case: _Case) -> ET.Element:
    r = case.result
    element = ET.Element(
        "testcase",
        classname=_text(case.service),
        name=_text(case.stage),
        time=_seconds(r.duration_s or 0.0),
    )
    if r.status == "failed":
        failure = ET.SubElement(element, "failure", message=_message(_failure_message(r)))
        failure.set("type", "failed")
        failure.text = _failure_body(r)
    elif r.status in ("blocked", "cancelled"):
        why = f"{r.status}: {r.error}" if r.error else r.status
        ET.SubElement(element, "skipped", message=_message(why))
    elif r.status == "up-to-date":
        at = f" at version {r.version}" if r.version else ""
        out = ET.SubElement(element, "system-out")
        out.text = f"cached: this stage passed{at} before, so it was not run again\n"
    if r.log and r.status != "up-to-date":
        ET.SubElement(element, "system-out").text = f"log: {_text(r.log)}\n"
    return element


def _failure_message(r: JobResult) -> str:
    if r.failed_step and r.error:
        return f"{r.failed_step}: {r.error}"
    return r.failed_step or r.error or "failed"


def _failure_body(r: JobResult) -> str:
    lines = []
    if r.failed_step:
        lines.append(f"failed step: {_line(r.failed_step)}")
    if r.error:
        lines.append(f"error: {_line(r.error)}")
    tail = r.tail[-TAIL_LINES:]
    if tail:
        more = f" (of {len(r.tail)})" if len(r.tail) > len(tail) else ""
        lines.append(f"last {len(tail)} lines of its output{more}:")
        lines.extend(f"  {_line(line)}" for line in tail)
    return "\n".join(lines) + "\n"


def _message(text: str) -> str:
    # An attribute is one line: CI systems show it as a title.
    return " ".join(_text(printable(text, MESSAGE_LIMIT)).split())


def _line(text: str) -> str:
    return _text(printable(text)).rstrip()


def _text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _seconds(value: float) -> str:
    return f"{value:.3f}"
