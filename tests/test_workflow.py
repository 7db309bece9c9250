"""examples/github-workflow.yml wires orch as the README says: affected detection, shared stages
built once, a matrix job per service."""

from __future__ import annotations

from typing import Any

import yaml

from tests.kit import REPO

WORKFLOW = REPO / "examples" / "github-workflow.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


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
