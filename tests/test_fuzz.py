"""Fuzzed plans and Dockerfiles through the real CLI: exit 0, or exit 2 naming the file; never a
traceback. A bounded budget here (FUZZ_EXAMPLES per test, about 20 s for the file on 2 cores);
bench/fuzz_bench.py runs the same strategies at length."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzzing import Case, cases, run_case

FUZZ_EXAMPLES = int(os.environ.get("ORCH_FUZZ_EXAMPLES", "150"))

settings.register_profile(
    "orch-fuzz-suite",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_budget = settings.get_profile("orch-fuzz-suite")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "repo"


def _check(case: Case, root: Path) -> None:
    outcome = run_case(case, root)
    problem = outcome.problem(case.argv)
    assert problem is None, (
        f"orch {' '.join(case.argv)}: {problem}\n{outcome.err[-2000:]}\nfiles: {case.files!r}"
    )


@pytest.mark.slow
@_budget
@given(case=cases(dockerfiles=False))
def test_fuzzed_plans(root: Path, case: Case) -> None:
    _check(case, root)


@pytest.mark.slow
@_budget
@given(case=cases(plans=False))
def test_fuzzed_dockerfiles(root: Path, case: Case) -> None:
    _check(case, root)


@pytest.mark.slow
@_budget
@given(case=cases())
def test_fuzzed_plans_and_dockerfiles(root: Path, case: Case) -> None:
    _check(case, root)


def test_the_checker_catches_what_it_must(root: Path) -> None:
    """A wrong plan is exit 2 naming it, and an outcome without the file's name is a problem."""
    outcome = run_case(Case(files={"buildplan.yaml": b"version: 2\n"}, argv=("plan",)), root)
    assert outcome.code == 2
    assert outcome.problem(("plan",)) is None, outcome.err
    assert "buildplan.yaml" in outcome.err
    unnamed = type(outcome)(code=2, out="", err="error: something\n")
    assert unnamed.problem(("plan",)) == "exit 2 without naming the file"
    assert type(outcome)(code=1, out="", err="").problem(("plan",)) is not None


@pytest.mark.parametrize(
    ("ignore", "line"),
    [(b"[\n", 1), (b"# fine\nok\n!\n", 3), (b"a/\\\n", 1), (b"\xef\xbb\xbf[", 1)],
)
def test_a_dockerignore_buildkit_rejects_is_exit_2_at_its_line(
    root: Path, ignore: bytes, line: int
) -> None:
    """Found by the fuzzer: such a pattern was a traceback."""
    files = {
        "buildplan.yaml": b"version: 1\nservices:\n  svc: {context: svc}\n",
        "svc/Dockerfile": b"FROM busybox\n",
        "svc/.dockerignore": ignore,
    }
    for argv in (("plan",), ("plan", "--json")):
        outcome = run_case(Case(files=files, argv=argv), root)
        assert outcome.code == 2, outcome.err
        assert f"svc/.dockerignore:{line}: error: " in outcome.err, outcome.err
