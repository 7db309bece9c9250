"""orch's state never enters a build on the real engine, even when a context holds the plan's
own directory (`context: .`, common for a single-service repository)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kit import docker, monorepo, run_orch

pytestmark = pytest.mark.engine


def test_a_context_of_the_plans_own_directory_is_up_to_date_and_ships_no_orch_file(
    tmp_path: Path, image_prefix: str
) -> None:
    root = monorepo(
        tmp_path / "repo",
        image_prefix,
        "services:\n  app: {context: .}\n",
        {"Dockerfile": "FROM busybox:latest\nCOPY . /src\n", "main.sh": "echo hi\n"},
    )
    report = tmp_path / "report.json"  # outside the context: a report there would be refused
    statuses = []
    for _ in range(2):
        proc = run_orch(root, "build", "--report", str(report))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        statuses.append(json.loads(report.read_text())["targets"]["app"]["status"])
    assert statuses == ["built", "up-to-date"]
    listing = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "ls", f"{image_prefix}/app:latest",
        "-A", "/src",
    )  # fmt: skip
    assert sorted(listing.split()) == ["Dockerfile", "buildplan.yaml", "main.sh"]
    assert not (root / ".orch").exists()  # the state is kept outside the context
