"""`orch test` on the real engine, and the example monorepo built and tested end to end."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from tests.kit import REPO, docker, image_file, monorepo, run_orch

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"


def services_with_tests(root: Path, prefix: str) -> Path:
    plan = (
        "stages:\n  base: {context: base}\n"
        "services:\n"
        "  calc: {context: calc, target: runtime, test: [unit, lint]}\n"
        "  broken: {context: broken, target: runtime, test: unit}\n"
    )
    calc = (
        "FROM base AS build\nCOPY add.sh /add.sh\n"
        "FROM build AS unit\nRUN test \"$(sh /add.sh 2 2)\" = 4 && echo 'unit: 1 passed'\n"
        "FROM build AS lint\nRUN grep -q '^#!/bin/sh' /add.sh\n"
        "FROM base AS runtime\nCOPY --from=build /add.sh /add.sh\n"
    )
    broken = (
        "FROM base AS build\nCOPY add.sh /add.sh\n"
        "FROM build AS unit\n"
        'RUN got="$(sh /add.sh 2 2)"; echo "expected 5, got $got"; test "$got" = 5\n'
        "FROM base AS runtime\nCOPY --from=build /add.sh /add.sh\n"
    )
    add = "#!/bin/sh\necho $(($1 + $2))\n"
    return monorepo(
        root,
        prefix,
        plan,
        {
            "base/Dockerfile": BUSYBOX + "RUN echo base > /base.txt\n",
            "calc/Dockerfile": calc,
            "calc/add.sh": add,
            "broken/Dockerfile": broken,
            "broken/add.sh": add,
        },
    )


def test_passing_test_stages_exit_zero(tmp_path, image_prefix):
    root = services_with_tests(tmp_path, image_prefix)
    proc = run_orch(root, "test", "calc", "--report", "r.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((root / "r.json").read_text())
    assert report["ok"] is True
    assert report["targets"]["calc:unit"]["status"] == "passed"
    assert report["targets"]["calc:lint"]["status"] == "passed"
    assert report["targets"]["base"]["status"] == "built"
    assert "broken:unit" not in report["targets"]
    # A test stage ships nothing: no image is tagged for it.
    assert report["targets"]["calc:unit"]["image"] is None


def test_failing_test_stage_shows_the_command_and_its_output(tmp_path, image_prefix):
    root = services_with_tests(tmp_path, image_prefix)
    proc = run_orch(root, "test", "--report", "r.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    report = json.loads((root / "r.json").read_text())
    assert report["targets"]["broken:unit"]["status"] == "failed"
    assert report["targets"]["calc:unit"]["status"] == "passed"
    assert "broken:unit failed at" in out
    assert 'test "$got" = 5' in out
    assert "expected 5, got 4" in out


def test_a_service_without_test_stage_is_a_usage_error(tmp_path, image_prefix):
    root = services_with_tests(tmp_path, image_prefix)
    proc = run_orch(root, "test", "base")
    assert proc.returncode == 2
    assert "has no test stage" in proc.stderr


def test_example_monorepo_builds_and_its_tests_pass(tmp_path):
    report_path = tmp_path / "build.json"
    proc = run_orch(REPO, "build", "--report", str(report_path), timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    report = json.loads(report_path.read_text())
    statuses = {k: v["status"] for k, v in report["targets"].items()}
    assert set(statuses) == {"base", "go-toolchain", "python-runtime", "api", "worker", "scheduler"}
    assert set(statuses.values()) <= {"built", "up-to-date"}  # built before on this machine
    api = report["targets"]["api"]
    # The Go service ships FROM scratch: a static binary and nothing of its toolchain.
    assert api["size_bytes"] < 10_000_000 < report["targets"]["go-toolchain"]["size_bytes"]
    config = json.loads(docker("image", "inspect", api["image"]))[0]["Config"]
    assert config["User"] == "65534:65534"
    worker = report["targets"]["worker"]["image"]
    assert image_file(worker, "/etc/passwd").count("app:") == 1
    user = json.loads(docker("image", "inspect", worker))[0]["Config"]["User"]
    assert user not in ("", "root", "0")

    # --force: the test stages run even when they passed at this version before.
    proc = run_orch(REPO, "test", "--force", "--report", str(tmp_path / "test.json"), timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    tests = json.loads((tmp_path / "test.json").read_text())["targets"]
    assert {k: v["status"] for k, v in tests.items() if ":" in k} == {
        "api:test": "passed",
        "worker:test": "passed",
        "scheduler:test": "passed",
    }
    # Each service's test stage reports its cases (`reports: /reports` in the plan).
    for key in ("api:test", "worker:test", "scheduler:test"):
        counts = tests[key]["tests"]
        assert counts["tests"] >= 5 and counts["passed"] == counts["tests"], (key, counts)
        assert (
            not counts["problems"] and counts["reports"] == f".orch/reports/{key.replace(':', '@')}"
        )


def test_junit_output_of_a_real_test_run_validates_and_names_the_failure(tmp_path, image_prefix):
    root = services_with_tests(tmp_path, image_prefix)
    junit = tmp_path / "junit.xml"
    proc = run_orch(root, "test", "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = junit.read_text()
    schema = xmlschema.XMLSchema(REPO / "tests" / "junit.xsd")
    assert not [str(e) for e in schema.iter_errors(text)]
    cases = {(c.get("classname"), c.get("name")): c for c in ET.fromstring(text).iter("testcase")}  # noqa: S314 - orch wrote it
    assert set(cases) == {("calc", "unit"), ("calc", "lint"), ("broken", "unit")}
    failure = cases[("broken", "unit")].find("failure")
    assert failure is not None
    assert "expected 5, got 4" in (failure.text or "")
    assert cases[("calc", "unit")].find("failure") is None


# --- test cases out of a test stage's reports (`reports:`) ------------------------------------

REPORTED = "services:\n  calc: {context: calc, test: [{stage: unit, reports: /reports}]}\n"
# A tiny runner: a case per line of cases.txt (`a b sum`), JUnit XML on stdout, 1 when one fails.
JUNIT_SH = r"""#!/bin/sh
failed=0; body=""; n=0
while read -r a b want; do
  n=$((n + 1)); got=$(sh /add.sh "$a" "$b")
  if [ "$got" = "$want" ]; then
    body="$body<testcase classname=\"add\" name=\"add_${a}_${b}\" time=\"0.001\"/>"
  else
    failed=$((failed + 1))
    body="$body<testcase classname=\"add\" name=\"add_${a}_${b}\" file=\"cases.txt\""
    body="$body line=\"$n\" time=\"0.001\"><failure message=\"expected $want, got $got\">"
    body="$body add.sh $a $b printed $got</failure></testcase>"
  fi
done < /cases.txt
echo "<testsuite name=\"add\" tests=\"$n\" failures=\"$failed\">$body</testsuite>"
[ "$failed" = 0 ]
"""
REPORTED_FILES = {
    "calc/Dockerfile": (
        "FROM busybox:latest AS build\nCOPY add.sh /add.sh\n"
        "FROM build AS unit\nCOPY junit.sh cases.txt /\n"
        "RUN mkdir /reports && sh /junit.sh > /reports/junit.xml; echo $? > /reports/exit-code\n"
    ),
    "calc/add.sh": "#!/bin/sh\necho $(($1 + $2))\n",
    "calc/junit.sh": JUNIT_SH,
}


def reported(root: Path, prefix: str, cases: str) -> Path:
    return monorepo(root, prefix, REPORTED, {**REPORTED_FILES, "calc/cases.txt": cases})


def test_a_failing_case_is_named_with_its_message_and_the_run_exits_1(tmp_path, image_prefix):
    root = reported(tmp_path, image_prefix, "2 2 4\n2 3 6\n1 1 2\n")
    proc = run_orch(root, "test", "--report", "r.json", "--junit", "j.xml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "✗ calc:unit failed" in out
    assert "calc:unit: the tests exited with 1: 1 of 3 cases failed" in out
    assert "✗ add.add_2_3 (cases.txt:2): expected 6, got 5" in out
    assert "reports: .orch/reports/calc@unit" in out
    tests = json.loads((root / "r.json").read_text())["targets"]["calc:unit"]["tests"]
    assert (tests["tests"], tests["failures"], tests["cached"]) == (3, 1, False)
    assert tests["failing"] == [
        {"name": "add.add_2_3", "message": "expected 6, got 5", "file": "cases.txt", "line": 2}
    ]
    suite = ET.fromstring((root / "j.xml").read_text()).find("testsuite")  # noqa: S314 - orch wrote it
    assert suite is not None and suite.get("name") == "calc:unit"
    assert [c.get("name") for c in suite.iter("testcase")] == ["add_2_2", "add_2_3", "add_1_1"]
    # At this version the result is kept: the next run reports it without building.
    again = run_orch(root, "test", "--report", "r2.json")
    assert again.returncode == 1
    assert "(cached" in again.stdout + again.stderr
    second = json.loads((root / "r2.json").read_text())
    assert second["invocations"] == []
    assert second["targets"]["calc:unit"]["tests"]["cached"] is True


def test_a_passing_run_exits_0_with_every_case(tmp_path, image_prefix):
    root = reported(tmp_path, image_prefix, "2 2 4\n2 3 5\n")
    proc = run_orch(root, "test", "--junit", "j.xml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "✓ calc:unit: 2 cases passed" in out
    cases = list(ET.fromstring((root / "j.xml").read_text()).iter("testcase"))  # noqa: S314
    assert [(c.get("name"), c.find("failure")) for c in cases] == [
        ("add_2_2", None),
        ("add_2_3", None),
    ]
    again = run_orch(root, "test")
    assert again.returncode == 0
    assert "✓ calc:unit: 2 cases passed (cached)" in again.stdout + again.stderr


HOSTILE = (
    b'<?xml version="1.0" encoding="UTF-8"?><testsuite name="h">'
    b'<testcase classname="a&quot;b,c" name="bad ]]&gt; \xff\xfe \x01 &lt;/testsuite&gt;">'
    b'<failure message="::error file=x::owned%0A">line one\n]]&gt;\x1b[31mred\x00\n'
    b"::stop-commands::x</failure></testcase>"
    b'<testcase name="fine"/></testsuite>'
)


def test_a_report_with_hostile_characters_still_makes_valid_junit(tmp_path, image_prefix):
    files = {
        "calc/Dockerfile": (
            "FROM busybox:latest AS unit\nCOPY hostile.xml /reports/junit.xml\n"
            "RUN echo 1 > /reports/exit-code\n"
        ),
    }
    root = monorepo(tmp_path, image_prefix, REPORTED, files)
    (root / "calc/hostile.xml").write_bytes(HOSTILE)
    proc = run_orch(root, "test", "--junit", "j.xml", "--ci", "github", env=github_env(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    text = (root / "j.xml").read_text()
    schema = xmlschema.XMLSchema(REPO / "tests" / "junit.xsd")
    assert not [str(e) for e in schema.iter_errors(text)]
    names = [c.get("name") for c in ET.fromstring(text).iter("testcase")]  # noqa: S314
    assert names[1] == "fine" and "]]>" in names[0] and "</testsuite>" in names[0]
    # The annotation's message is data, never a command of the runner's.
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    # Its title escaped as a property (`:` and `,`), one line: the report's own workflow
    # command is the message's text, after the annotation's `::`.
    head, _, message = annotations[0].partition("::")[2].partition("::")
    assert head == 'error title=calc%3Aunit%3A a"b%2Cc.bad ]]> \ufffd\ufffd \ufffd </testsuite>'
    assert message.startswith("::error file=x::owned%250A%0Aline one%0A]]>")


def github_env(tmp_path: Path) -> dict[str, str]:
    summary = tmp_path / "summary.md"
    outputs = tmp_path / "outputs"
    return {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}


def test_a_reports_directory_missing_from_the_stage_fails_it_naming_the_directory(
    tmp_path, image_prefix
):
    files = {"calc/Dockerfile": "FROM busybox:latest AS unit\nRUN echo no reports written\n"}
    root = monorepo(tmp_path, image_prefix, REPORTED, files)
    proc = run_orch(root, "test", "--report", "r.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "calc:unit's reports directory /reports is not in the built stage" in out
    assert "Traceback" not in out
    report = json.loads((root / "r.json").read_text())
    assert len(report["invocations"]) == 1  # judged once: not retried as a cancelled job
    assert not list((root / ".orch/reports").glob("*.new-*"))  # no export left behind
