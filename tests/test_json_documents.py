"""Every JSON document orch prints has `"schema_version": 1`, the same keys every time (null
where a value says nothing, never missing), and docs/json.md names each key."""

from __future__ import annotations

import json
import re

from orchestrator.ci.matrix import matrix
from orchestrator.commands.main import main
from orchestrator.lint.findings import Finding
from orchestrator.lint.formats import Report, as_json
from orchestrator.report import summary
from tests.kit import REPO, project_of
from tests.test_report import EVERYTHING

DOCS = (REPO / "docs" / "json.md").read_text()

REPORT = {
    "schema_version", "ok", "interrupted", "engine_gone", "lost_builders", "published",
    "targets", "invocations", "warnings",
}  # fmt: skip
REPORT_JOB = {
    "status", "duration_s", "version", "image", "versioned_image", "digest", "size_bytes",
    "platform_sizes",
    "uncompressed_bytes", "previous_size_bytes", "log", "cached_steps", "warnings", "builder",
    "platform_builders", "attempts", "started_s", "ended_s", "steps", "failed_step",
    "failed_line", "error", "reason", "tests",
}  # fmt: skip
INVOCATION = {"jobs", "started_s", "ended_s", "bake_file", "builder"}
PLAN = {"schema_version", "plan", "targets"}
PLAN_TARGET = {
    "name", "kind", "depends_on", "version", "image", "versioned_image", "tags", "tests",
    "status", "reason", "bake",
}  # fmt: skip
LINT = {
    "schema_version", "ok", "errors", "warnings", "notes", "files", "targets", "hadolint",
    "findings", "run_warnings",
}  # fmt: skip
FINDING = {
    "file", "line", "column", "rule", "severity", "message", "why", "fix", "target", "source",
}  # fmt: skip
TESTS = {
    "tests", "passed", "failures", "errors", "skipped", "reports", "cached", "failing", "problems",
}  # fmt: skip
FAILING = {"name", "message", "file", "line"}
MATRIX = {"schema_version", "include", "shared"}
MATRIX_ENTRY = {"service", "needs", "targets", "tests"}


def documented(keys: set[str]) -> None:
    missing = [k for k in sorted(keys) if not re.search(rf"`{re.escape(k)}`", DOCS)]
    assert not missing, f"docs/json.md does not name {missing}"


def test_the_report_has_its_keys_for_every_job_whatever_its_status():
    doc = summary.document(EVERYTHING)
    assert doc["schema_version"] == 1
    assert set(doc) == REPORT
    assert {r.status for r in EVERYTHING.results} >= {"built", "failed", "blocked", "passed"}
    for job in doc["targets"].values():  # type: ignore[union-attr]
        assert set(job) == REPORT_JOB
    for invocation in doc["invocations"]:  # type: ignore[union-attr]
        assert set(invocation) == INVOCATION
    documented(REPORT | REPORT_JOB | INVOCATION)


def test_plan_json_has_its_keys_with_and_without_since(tmp_path, capsys):
    project_of(
        tmp_path,
        "stages:\n  base: {context: base}\nservices:\n  api: {context: api}\n",
        {"base/Dockerfile": "FROM busybox\n", "api/Dockerfile": "FROM base\n"},
    )
    assert main(["-f", str(tmp_path / "buildplan.yaml"), "plan", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1
    assert set(doc) == PLAN
    for target in doc["targets"]:
        assert set(target) == PLAN_TARGET
        assert isinstance(target["version"], str)
    documented(PLAN | PLAN_TARGET)


def test_lint_json_has_its_keys():
    finding = Finding(
        file="api/Dockerfile",
        line=1,
        column=1,
        rule="OL101",
        severity="warning",
        message="m",
        why="w",
        fix="f",
        target="api",
    )
    doc = json.loads(as_json(Report(findings=[finding], files=1, targets=1, hadolint=None)))
    assert doc["schema_version"] == 1
    assert set(doc) == LINT
    assert set(doc["findings"][0]) == FINDING
    documented(LINT | FINDING)


def test_matrix_has_its_keys(tmp_path):
    project = project_of(
        tmp_path, "services:\n  api: {context: api}\n", {"api/Dockerfile": "FROM busybox\n"}
    )
    doc = matrix(project, None)
    assert doc["schema_version"] == 1
    assert set(doc) == MATRIX
    assert set(doc["include"][0]) == MATRIX_ENTRY
    documented(MATRIX | MATRIX_ENTRY)


def test_a_reported_test_stage_has_its_case_counts_and_failing_cases():
    from orchestrator.ci.testcases import read_reports
    from orchestrator.run.results import JobResult, RunOutcome

    junit = b'<testsuite><testcase name="a"><failure message="m"/></testcase></testsuite>'
    reports = read_reports({"j.xml": junit, "exit-code": b"1"})
    r = JobResult(key="api:test", status="failed", reports=reports, reports_dir=".orch/r")
    doc = summary.document(RunOutcome(results=(r,), test=True))
    tests = doc["targets"]["api:test"]["tests"]  # type: ignore[index]
    assert set(tests) == TESTS
    assert tests["failures"] == 1 and tests["passed"] == 0
    assert [set(f) for f in tests["failing"]] == [FAILING]
    documented(TESTS | FAILING)
