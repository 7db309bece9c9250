"""`orch build` in GitHub Actions, on the real engine: what it writes into the runner's files."""

from __future__ import annotations

import re
import uuid

import pytest

from orchestrator.ci.outputs import step_line
from orchestrator.dockerfile.lexer import instruction_lines
from tests.kit import monorepo, read_outputs, run_orch

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"


def test_a_run_in_github_actions_writes_its_summary_outputs_and_annotations(tmp_path, image_prefix):
    root = monorepo(
        tmp_path / "repo",
        image_prefix,
        "services:\n  good: {context: good}\n  bad: {context: bad}\n",
        {
            "good/Dockerfile": BUSYBOX + f"RUN echo {uuid.uuid4().hex} > /n\n",
            "bad/Dockerfile": BUSYBOX
            + f"RUN echo {uuid.uuid4().hex} > /n\n"
            + "RUN echo '::error::forged by the build' && exit 3\n",
        },
    )
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "CI": "true",
    }
    proc = run_orch(root, "build", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = [line for line in summary.read_text().splitlines() if line.startswith("|")]
    rows = table[2:]  # past the header and its rule
    assert rows[0].startswith("| bad |") and "failed" in rows[0]  # failures first
    assert any(row.startswith("| good |") and "built" in row for row in rows)
    assert "<details>" in summary.read_text()
    outputs = read_outputs(output.read_text())
    assert outputs["ok"] == "false"
    assert f"{image_prefix}/good:" in outputs["images"]
    # The annotation sits on the failing RUN's line of bad/Dockerfile.
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1, proc.stdout
    assert re.match(r"::error file=bad/Dockerfile,line=3,", annotations[0]), annotations[0]
    # The build's own `::error::` is shown inside stop-commands, never obeyed.
    stop = re.search(r"^::stop-commands::(\S+)$", proc.stdout, re.M)
    assert stop is not None
    inside = proc.stdout.split(stop.group(0), 1)[1].split(f"::{stop.group(1)}::", 1)[0]
    assert "::error::forged by the build" in inside


def test_step_names_find_their_dockerfile_line():
    instructions = [(1, "from", "busybox"), (2, "run", "echo a"), (3, "run", "make  all")]
    assert step_line("[api 3/3] RUN make all", instructions) == 3
    assert step_line("[2/3] RUN echo a", instructions) == 2
    assert step_line("[api builder 2/3] RUN echo b", instructions) is None


def test_a_step_with_flags_finds_its_line(tmp_path):
    # As BuildKit names a RUN written over four lines with --mount and --network.
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/c \\\n    --network=none \\\n"
        "    echo one  &&  \\\n    echo two\n"
        "RUN --network=none echo three\n"
    )
    instructions = instruction_lines(dockerfile)
    step = (
        "[stage-0 2/3] RUN --mount=type=cache,target=/c     --network=none"
        "     echo one  &&      echo two"
    )
    assert step_line(step, instructions) == 2
    assert step_line("[api 3/3] RUN --network=none echo three", instructions) == 6
