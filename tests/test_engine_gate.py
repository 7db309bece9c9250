"""Engine tests fail in CI when the engine is missing: they never pass by skipping there."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.kit import REPO

ENGINE_TEST = "tests/test_engine_test.py::test_a_service_without_test_stage_is_a_usage_error"


def _run_engine_test(ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DOCKER_HOST"] = "unix:///nonexistent/no-engine-here.sock"
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ENGINE_TEST],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_engine_fails_engine_tests_in_ci():
    proc = _run_engine_test(ci=True)
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout or "1 failed" in proc.stdout
    assert "run scripts/engine" in proc.stdout


def test_missing_engine_skips_engine_tests_outside_ci():
    proc = _run_engine_test(ci=False)
    assert proc.returncode == 0, proc.stdout
    assert "1 skipped" in proc.stdout
