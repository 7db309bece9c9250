"""Run unittest and write what it found as JUnit XML, with the standard library only.

    python3 -m tests.lib_jobspec.junit /reports/junit.xml -s tests -t .

The arguments after the file are `unittest discover`'s. The exit status is unittest's (0 when
every test passed): a test stage's RUN writes it to `exit-code` beside the report instead of
failing, so that the report can be exported (see the plan's `reports:`).
"""

from __future__ import annotations

import inspect
import os
import sys
import time
import traceback
import unittest
import xml.etree.ElementTree as ET
from types import TracebackType
from typing import Any

# (attributes of its <testcase>, outcome element or None, message, text)
Case = tuple[dict[str, str], str | None, str, str]
Err = tuple[type[BaseException], BaseException, TracebackType | None]


class JUnitResult(unittest.TextTestResult):
    """A verbose text result that also keeps each test's outcome, time and place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases: list[Case] = []
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        self._started = time.perf_counter()
        super().startTest(test)

    def _case(
        self, test: unittest.TestCase, outcome: str | None = None, message: str = "", text: str = ""
    ) -> None:
        method = getattr(test, getattr(test, "_testMethodName", ""), None)
        attrs = {
            "classname": f"{type(test).__module__}.{type(test).__qualname__}",
            "name": getattr(test, "_testMethodName", str(test)),
            "time": f"{time.perf_counter() - self._started:.3f}",
        }
        try:
            attrs["file"] = os.path.relpath(inspect.getsourcefile(method) or "")
            attrs["line"] = str(inspect.getsourcelines(method)[1])
        except (TypeError, OSError):
            pass
        self.cases.append((attrs, outcome, message, text))

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._case(test)

    def addFailure(self, test: unittest.TestCase, err: Err) -> None:
        super().addFailure(test, err)
        self._case(test, "failure", _first_line(err[1]), "".join(traceback.format_exception(*err)))

    def addError(self, test: unittest.TestCase, err: Err) -> None:
        super().addError(test, err)
        said = f"{err[0].__name__}: {_first_line(err[1])}"
        self._case(test, "error", said, "".join(traceback.format_exception(*err)))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._case(test, "skipped", reason)

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._case(test, "failure", "passed, but is marked as an expected failure")


def _first_line(error: BaseException) -> str:
    """An exception's message as a JUnit `message`: its first line (the body has the rest)."""
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)


def write(cases: list[Case], path: str) -> None:
    failures = sum(1 for _, outcome, _, _ in cases if outcome == "failure")
    errors = sum(1 for _, outcome, _, _ in cases if outcome == "error")
    skipped = sum(1 for _, outcome, _, _ in cases if outcome == "skipped")
    suite = ET.Element(
        "testsuite",
        name="unittest",
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{sum(float(a['time']) for a, _, _, _ in cases):.3f}",
    )
    for attrs, outcome, message, text in cases:
        case = ET.SubElement(suite, "testcase", attrs)
        if outcome is not None:
            child = ET.SubElement(case, outcome, message=message)
            if text:
                child.text = text
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: list[str]) -> int:
    if not argv:
        sys.exit("usage: python3 -m tests.lib_jobspec.junit OUT.xml [unittest discover arguments]")
    out, discover = argv[0], argv[1:]
    loader = unittest.TestLoader()
    start, top = ".", None
    args = iter(discover)
    for arg in args:
        if arg == "-s":
            start = next(args)
        elif arg == "-t":
            top = next(args)
    suite = loader.discover(start, top_level_dir=top)
    result = unittest.TextTestRunner(verbosity=2, resultclass=JUnitResult).run(suite)
    assert isinstance(result, JUnitResult)
    write(result.cases, out)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
