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
