"""Test cases out of a test stage's reports: JUnit XML files and an `exit-code`, read purely.

A test stage with `reports: DIR` follows a convention (docs/ci.md): its test RUN never fails;
it writes JUnit XML under DIR and its exit status into `DIR/exit-code`, and orch exports DIR
after the build (BuildKit cannot export anything of a step that failed). `read_reports` takes
the exported files' bytes and says which cases there are and whether the stage passed.

Reports are written by other programs and read as they are: invalid UTF-8 is replaced, the
characters XML 1.0 cannot hold are replaced, and a file that is still no XML, or too large, is
a problem named in the result while every other file still counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # parsing, through defusedxml, imports them when a report is read
    import xml.etree.ElementTree as ET

Outcome = Literal["passed", "failed", "error", "skipped"]

EXIT_CODE = "exit-code"
# The failing cases a summary, the step summary and the annotations list; the rest are counted
# (and are all in the reports).
LISTED_CASES = 20
# A JUnit file larger than this is left out (a problem says so): whole suites of a large
# monorepo are a few MB; 100 MB is a runaway log, and parsing it would hold it all in memory.
FILE_LIMIT = 32 * 1024 * 1024

_OUTCOMES: tuple[tuple[str, Outcome], ...] = (
    ("failure", "failed"),
    ("error", "error"),
    ("skipped", "skipped"),
)
# The characters XML 1.0 cannot hold, and an XML declaration: compiled when a report is read
# (the first pattern takes milliseconds, which a command that reads no report never pays).
_NOT_XML = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_DECLARATION = r"\A\s*<\?xml[^>]*\?>"


@dataclass(frozen=True, slots=True, kw_only=True)
class TestCase:
    """One `<testcase>` of a report, as its runner wrote it."""

    __test__ = False  # not a pytest class, whatever its name

    suite: str  # the `<testsuite>` it is in ("" when none has a name)
    classname: str
    name: str
    time_s: float = 0.0
    outcome: Outcome = "passed"
    message: str = ""  # the `message` of its failure, error or skip
    kind: str = ""  # the `type` of its failure or error
    body: str = ""  # the text of its failure or error: the traceback, the assertion
    file: str | None = None  # where the runner says the test is (pytest, jest-junit)
    line: int | None = None
    report: str = ""  # the report file it came from, relative to the reports directory

    @property
    def failing(self) -> bool:
        return self.outcome in ("failed", "error")

    @property
    def place(self) -> str:
        """`file:line` where its report says it is (the file alone without a line), or ""."""
        if self.file and self.line is not None:
            return f"{self.file}:{self.line}"
        return self.file or ""

    @property
    def headline(self) -> str:
        """The first line of its message (or its outcome): what a summary shows of it."""
        return next((line.strip() for line in self.message.splitlines() if line.strip()), "") or (
            self.outcome
        )

    @property
    def title(self) -> str:
        """`classname.name` (or the name alone): what a person looks the test up by."""
        return f"{self.classname}.{self.name}" if self.classname else self.name


@dataclass(frozen=True, slots=True)
class Counts:
    """How many cases a stage's reports hold, by outcome."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    def as_json(self) -> dict[str, int]:
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class Reports:
    """What a stage's exported reports say: its cases, its verdict, and what could not be read."""

    cases: tuple[TestCase, ...] = ()
    exit_codes: Mapping[str, int] = field(default_factory=dict)  # file -> the status it holds
    problems: tuple[str, ...] = ()  # each file that could not be read, and why
    files: int = 0  # JUnit files read

    @property
    def counts(self) -> Counts:
        outcomes = [c.outcome for c in self.cases]
        return Counts(
            tests=len(outcomes),
            failures=outcomes.count("failed"),
            errors=outcomes.count("error"),
            skipped=outcomes.count("skipped"),
        )

    @property
    def failing(self) -> tuple[TestCase, ...]:
        return tuple(c for c in self.cases if c.failing)

    @property
    def passed(self) -> bool:
        """Passed when every `exit-code` says 0; without one, when the JUnit files count no
        failure or error. Nothing to judge by (no exit code, no case) is no pass."""
        if self.exit_codes:
            return all(code == 0 for code in self.exit_codes.values())
        if self.problems or not self.cases:
            return False
        return not self.failing

    def verdict(self) -> str:
        """Why the stage passed or failed, in a line: `3 of 120 cases failed`, ..."""
        c = self.counts
        cases = f"{c.tests} case{'s' if c.tests != 1 else ''}"
        bad = c.failures + c.errors
        if self.exit_codes and not all(code == 0 for code in self.exit_codes.values()):
            codes = ", ".join(f"{code}" for code in self.exit_codes.values() if code != 0)
            return f"the tests exited with {codes}" + (
                f": {bad} of {cases} failed" if bad else f" ({cases}, none failed)"
            )
        if bad:
            return f"{bad} of {cases} failed"
        if not self.cases and not self.exit_codes:
            return "its reports hold no test case and no exit-code"
        return f"{cases} passed" if not c.skipped else f"{cases}, {c.skipped} skipped"


def read_reports(files: Mapping[str, bytes], too_large: Mapping[str, int] | None = None) -> Reports:
    """The cases and exit codes of a reports directory, from its files' bytes by their path
    relative to it (`too_large`: files left unread, with their size). Every `*.xml` file is a
    JUnit report; every file named `exit-code`, at any depth (one per platform of a
    multi-platform test), holds an exit status."""
    cases: list[TestCase] = []
    codes: dict[str, int] = {}
    problems: list[str] = []
    read = 0
    for path, size in sorted((too_large or {}).items()):
        problems.append(
            f"{path} is {size / 1e6:.1f} MB, over the {FILE_LIMIT // (1024 * 1024)} MB a "
            "report may have: left out"
        )
    for path, data in sorted(files.items()):
        base = path.rsplit("/", 1)[-1]
        if base == EXIT_CODE:
            said = data.decode("utf-8", "replace").strip()
            if re.fullmatch(r"-?\d{1,4}", said):
                codes[path] = int(said)
            else:
                shown = said[:40] or "nothing"
                problems.append(f"{path} holds {shown!r}, not an exit status")
                codes[path] = 1  # an unreadable status is no pass
        elif base.lower().endswith(".xml"):
            found, problem = parse_junit(data, path)
            if problem is not None:
                problems.append(problem)
            else:
                read += 1
            cases.extend(found)
    return Reports(tuple(cases), codes, tuple(problems), read)


def parse_junit(data: bytes, path: str) -> tuple[list[TestCase], str | None]:
    """The cases of one JUnit XML file, or a problem saying why it is none."""
    text = data.decode("utf-8", "replace")
    text = re.sub(_DECLARATION, "", text, count=1)  # its encoding is moot once decoded
    text = re.sub(_NOT_XML, "\ufffd", text)
    import xml.etree.ElementTree as ET

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(text)
    except ET.ParseError as exc:
        return [], f"{path} is not XML ({exc})"
    except DefusedXmlException as exc:  # entities, DTDs: what a test report never needs
        return [], f"{path} declares what orch does not expand ({type(exc).__name__})"
    if root.tag not in ("testsuites", "testsuite", "testcase"):
        return [], f"{path} is XML but not a JUnit report (its root is <{root.tag[:40]}>)"
    return list(_walk(root, "", path)), None


def _walk(element: ET.Element, suite: str, path: str) -> Iterator[TestCase]:
    if element.tag == "testcase":
        yield _case(element, suite, path)
        return
    if element.tag == "testsuite":
        suite = element.get("name") or suite
    for child in element:
        if child.tag in ("testsuite", "testcase"):
            yield from _walk(child, suite, path)


def _case(element: ET.Element, suite: str, path: str) -> TestCase:
    outcome: Outcome = "passed"
    message = kind = body = ""
    for tag, said in _OUTCOMES:
        found = element.find(tag)
        if found is not None:
            outcome = said
            message = found.get("message") or ""
            kind = found.get("type") or ""
            body = (found.text or "").strip("\n")
            break
    line = element.get("line") or ""
    return TestCase(
        suite=suite,
        classname=element.get("classname") or "",
        name=element.get("name") or "",
        time_s=_seconds(element.get("time")),
        outcome=outcome,
        message=message,
        kind=kind,
        body=body,
        file=element.get("file") or None,
        line=int(line) if line.isdigit() else None,
        report=path,
    )


def _seconds(text: str | None) -> float:
    try:
        value = float((text or "0").replace(",", ""))
    except ValueError:
        return 0.0
    return value if value >= 0 and value == value else 0.0  # NaN is no time
