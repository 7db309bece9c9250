"""`orch build --dry-run` and `orch plan`'s statuses on the real engine: what a build would do,
and nothing built, tagged or written."""

from __future__ import annotations

import json

import pytest

from tests.kit import docker, monorepo, orch_build, run_orch

pytestmark = pytest.mark.engine

PLAN = "stages:\n  base: {context: base}\nservices:\n  app: {context: app}\n  web: {context: web}\n"
FILES = {
    "base/Dockerfile": "FROM busybox:latest\nRUN echo base > /base.txt\n",
    "app/Dockerfile": "FROM base\nCOPY app.txt /\n",
    "app/app.txt": "app\n",
    "web/Dockerfile": "FROM base\nCOPY index.html /\n",
    "web/index.html": "<p>web</p>\n",
}


def images(prefix: str) -> list[str]:
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    return sorted(line for line in listed.splitlines() if line.startswith(prefix))


def test_a_dry_run_after_an_edit_says_what_would_build_and_does_nothing(tmp_path, image_prefix):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    code, out, _ = orch_build(root)
    assert code == 0, out
    (root / "app/app.txt").write_text("app, edited\n")
    before_images = images(image_prefix)
    before_runs = sorted((root / ".orch/runs").iterdir())
    dry = run_orch(root, "build", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    said = dry.stdout + dry.stderr
    assert "app   pending: since its last build here: context app.txt: content changed" in said
    assert "base  up-to-date" in said and "web   up-to-date" in said
    assert "bake 1: app" in said
    assert images(image_prefix) == before_images  # nothing built or tagged
    assert sorted((root / ".orch/runs").iterdir()) == before_runs  # no run directory

    plan = run_orch(root, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    shown = {t["name"]: (t["status"], t["reason"]) for t in json.loads(plan.stdout)["targets"]}
    assert shown["app"] == (
        "pending",
        "since its last build here: context app.txt: content changed",
    )
    assert shown["base"][0] == "up-to-date"


def test_a_glob_and_a_caret_select_what_a_real_build_builds(tmp_path, image_prefix):
    root = monorepo(tmp_path, image_prefix, PLAN, FILES)
    code, out, report = orch_build(root, "...^base")
    assert code == 0, out
    assert sorted(report["targets"]) == ["app", "base", "web"]  # what builds on base, and base
    (root / "app/app.txt").write_text("app, again\n")
    (root / "web/index.html").write_text("<p>again</p>\n")
    code, out, report = orch_build(root, "w*")
    assert code == 0, out
    assert {k: v["status"] for k, v in report["targets"].items()} == {
        "base": "up-to-date",
        "web": "built",
    }
    assert images(image_prefix)  # and app was left as it was: its edit not built
    plan = run_orch(root, "plan", "--json", "a*")
    shown = {t["name"]: t["status"] for t in json.loads(plan.stdout)["targets"]}
    assert shown["app"] == "pending"
