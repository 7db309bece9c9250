"""A run's local caches through the engine seam: only a build that succeeded moves a cache.

BuildKit exports a target's cache as it goes, so a target can fail after its export finished
(its push refused, bake stopping it for a sibling's failure). That export is complete and still
must not become the cache: the promise is that `dest` moves only when its build succeeded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.buildlog import BakeResult
from orchestrator.project import Project
from orchestrator.run import steps as run
from orchestrator.run.bake import bake_name
from orchestrator.run.jobs import build_jobs
from orchestrator.run.results import RunOutcome
from tests.kit import FakeEngine, project_of

PLAN = """\
defaults:
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
services:
  api: {context: api}
  tools: {context: tools}
"""
FILES = {"api/Dockerfile": "FROM busybox\n", "tools/Dockerfile": "FROM busybox\n"}


class ExportsThenFails(FakeEngine):
    """Exports every target's cache as a successful build does, then reports `verdicts`."""

    verdicts: dict[str, str]

    async def bake(
        self, bake_file: Path, names: Any, *, cwd: Path, on_event: Any = None
    ) -> dict[str, BakeResult]:
        results = await super().bake(bake_file, names, cwd=cwd, on_event=on_event)
        for name, status in self.verdicts.items():
            results[name] = replace(
                results[name],
                status=status,  # type: ignore[arg-type]
                digest=None,
                error="failed to push localhost:5000/tools: 401 Unauthorized",
            )
        return results


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return project_of(tmp_path.resolve(), PLAN, FILES)


def build(project: Project, engine: FakeEngine, *names: str) -> RunOutcome:
    jobset = build_jobs(project, names)
    manifests = project.manifests(sorted({j.target.name for j in jobset.jobs.values()}))
    return run.run(
        project,
        jobset,
        engine,
        manifests=manifests,
        options=run.RunOptions(parallel=1),
        test=False,
    )


def current_version(project: Project, name: str) -> str:
    """The version directory the cache `dest` points at now."""
    return (project.plan.root / ".orch-cache" / name).resolve().name


def versions_of(project: Project, name: str) -> set[str]:
    kept = project.plan.root / ".orch-cache" / f"{name}.versions"
    return {p.name for p in kept.iterdir() if p.is_dir()}


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_target_that_fails_after_its_cache_export_keeps_the_old_cache(
    project: Project, status: str
) -> None:
    build(project, FakeEngine(), "api", "tools")
    before = {name: current_version(project, name) for name in ("api", "tools")}
    engine = ExportsThenFails()
    engine.verdicts = {bake_name("tools"): status}
    outcome = build(project, engine, "api", "tools")
    assert {r.key: r.status for r in outcome.results} == {"api": "built", "tools": "failed"}
    # Stopped in a bake with others, a target is tried alone once more before it fails.
    batches = [sorted(call["target"]) for call in engine.calls]
    assert batches == ([["api", "tools"]] + ([["tools"]] if status == "cancelled" else []))
    assert current_version(project, "tools") == before["tools"]
    assert versions_of(project, "tools") == {before["tools"]}  # the new export is gone
    # The target that built moved its cache to its new export.
    assert current_version(project, "api") != before["api"]
    assert not outcome.ok
