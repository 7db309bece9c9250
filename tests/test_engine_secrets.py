"""Secrets on the real engine: a build that prints them shows `***` in everything orch writes."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.kit import monorepo, orch_build

pytestmark = pytest.mark.engine


def test_a_secret_a_build_prints_is_masked_in_the_output_the_logs_and_the_report(
    tmp_path, image_prefix
):
    token = f"tok-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"
    netrc = tmp_path / "netrc"  # outside the repository, as a secret file should be
    netrc.write_text(f"machine example.com\npassword {password}\n")
    plan = (
        "services:\n"
        "  bad:\n    context: bad\n    secrets: [{id: tok, env: ORCH_TEST_TOKEN}]\n"
        "  good:\n    context: good\n"
        f'    secrets: [{{id: tok, env: ORCH_TEST_TOKEN}}, {{id: netrc, src: "{netrc}"}}]\n'
    )
    root = monorepo(
        tmp_path / "repo",
        image_prefix,
        plan,
        {
            "bad/Dockerfile": "FROM busybox:latest\n"
            "RUN --mount=type=secret,id=tok cat /run/secrets/tok; "
            f"echo {uuid.uuid4().hex}; false\n",
            "good/Dockerfile": "FROM busybox:latest\n"
            "RUN --mount=type=secret,id=tok --mount=type=secret,id=netrc "
            f"cat /run/secrets/tok /run/secrets/netrc; echo; echo {uuid.uuid4().hex}\n",
        },
    )
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {
        "ORCH_TEST_TOKEN": token,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    code, said, report = orch_build(root, env=env)
    assert code == 1, said
    assert {name: t["status"] for name, t in report["targets"].items()} == {
        "bad": "failed",
        "good": "built",
    }
    # Only the runner is told the values, each on an `::add-mask::` line of its own.
    told = [line for line in said.splitlines() if line.startswith("::add-mask::")]
    assert sorted(told) == sorted(
        [
            f"::add-mask::{token}",
            f"::add-mask::password {password}",
            "::add-mask::machine example.com",
        ]
    )
    shown = "\n".join(line for line in said.splitlines() if not line.startswith("::add-mask::"))
    logs = {name: root / t["log"] for name, t in report["targets"].items()}
    written = {
        "orch's output": shown,
        "the report": (root / "report.json").read_text(),
        "the step summary": summary.read_text(),
        **{f"the log of {name}": path.read_text() for name, path in logs.items()},
    }
    for where, text in written.items():
        assert token not in text, where
        assert password not in text, where
    bad_log = logs["bad"].read_text()
    assert re.search(r"^#\d+ [\d.]+ \*\*\*[0-9a-f]{32}$", bad_log, re.MULTILINE), bad_log
    good_log = logs["good"].read_text()
    assert re.search(r"^#\d+ [\d.]+ \*\*\*$", good_log, re.MULTILINE), good_log  # the password
    assert "***" in shown  # the failing step's tail, in the summary orch prints
