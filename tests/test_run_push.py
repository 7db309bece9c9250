"""`--push` through the seam the engine sits behind: the plan's tags in the registry move only
when every job succeeded, and a failure, an interrupt or a tag that cannot move says so."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.engine.buildlog import BakeResult
from orchestrator.errors import EngineError
from orchestrator.project import Project
from orchestrator.run.interrupts import Interrupts
from orchestrator.run.jobs import build_jobs
from orchestrator.run.results import RunOutcome
from tests.kit import FakeEngine, project_of
from tests.test_run import execute, statuses

REGISTRY = "localhost:5000"
PLAN = f"""\
defaults:
  registry: "{REGISTRY}/acme"
stages:
  base: {{context: base}}
services:
  api: {{context: api, tags: ["{REGISTRY}/acme/api:latest", "{REGISTRY}/acme/api:v2"]}}
  web: {{context: web}}
"""
FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "api/Dockerfile": "FROM base\n",
    "web/Dockerfile": "FROM base\n",
}
PUBLIC = (
    f"{REGISTRY}/acme/api:latest",
    f"{REGISTRY}/acme/api:v2",
    f"{REGISTRY}/acme/orch/web:latest",
    f"{REGISTRY}/acme/orch/base:latest",
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return project_of(tmp_path.resolve(), PLAN, FILES)


def push(project: Project, engine: FakeEngine, **options: object) -> RunOutcome:
    return execute(project, build_jobs(project, ()), engine, push=True, **options)


def public(engine: FakeEngine) -> dict[str, str | None]:
    return {tag: engine.registry.get(tag) for tag in PUBLIC}


def test_every_public_tag_moves_once_every_target_is_built(project: Project) -> None:
    engine = FakeEngine()
    outcome = push(project, engine)
    assert outcome.ok and outcome.published is True
    moved = public(engine)
    assert None not in moved.values()
    # Each public tag is a copy, made in the registry, of the versioned manifest a bake pushed;
    # no bake ever pushed a public tag itself.
    pushed = {t for tags in engine.tags_built() for t in tags}
    versioned = {r.key: f"{REGISTRY}/acme/orch/{r.key}:{r.version}" for r in outcome.results}
    assert pushed == set(versioned.values())
    assert sorted(engine.tagged) == sorted(
        [
            (versioned["api"], f"{REGISTRY}/acme/api:latest"),
            (versioned["api"], f"{REGISTRY}/acme/api:v2"),
            (versioned["web"], f"{REGISTRY}/acme/orch/web:latest"),
            (versioned["base"], f"{REGISTRY}/acme/orch/base:latest"),
        ]
    )
    for source, tag in engine.tagged:
        assert engine.registry[tag] == engine.registry[source]


def test_a_failed_target_leaves_every_public_tag_where_it_was(project: Project) -> None:
    engine = FakeEngine()
    assert push(project, engine).published is True
    before = public(engine)
    second = FakeEngine(registry=engine.registry, outcomes={"web": "failed"})
    outcome = push(project, second, force=True)
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "failed"}
    assert outcome.published is False
    assert public(engine) == before
    assert not second.tagged
    # What did build is in the registry under its versioned tag, for the next run.
    version = next(r.version for r in outcome.results if r.key == "api")
    api = f"{REGISTRY}/acme/orch/api:{version}"
    assert engine.registry[api] == second.images[api]


def test_an_interrupt_leaves_every_public_tag_where_it_was(project: Project) -> None:
    engine = FakeEngine()
    assert push(project, engine).published is True
    before = public(engine)
    interrupts = Interrupts()

    class Interrupted(FakeEngine):
        async def bake(
            self, bake_file: Path, names: Sequence[str], *, cwd: Path, on_event: Any = None
        ) -> dict[str, BakeResult]:
            if "web" in names:  # base built and pushed; the interrupt comes during web's bake
                interrupts.handle(signal.SIGINT, None)
                self.hold = anyio.Event()  # never set: only the interrupt ends this bake
            return await super().bake(bake_file, names, cwd=cwd, on_event=on_event)

    stopped = Interrupted(registry=engine.registry)
    try:
        outcome = push(project, stopped, force=True, chain=False, interrupts=interrupts)
    finally:
        interrupts.close()
    assert outcome.interrupted and outcome.published is False
    assert statuses(outcome)["base"] == "built"
    assert not stopped.tagged
    assert public(engine) == before


def test_a_tag_the_registry_will_not_move_is_named_and_the_run_is_not_published(
    project: Project,
) -> None:
    class Refusing(FakeEngine):
        async def remote_tag(self, source: str, tags: Sequence[str]) -> None:
            if any(t.startswith(f"{REGISTRY}/acme/orch/web:") for t in tags):
                raise EngineError("imagetools create: 500 Internal Server Error")
            await super().remote_tag(source, tags)

    engine = Refusing()
    outcome = push(project, engine)
    assert statuses(outcome) == {"base": "built", "api": "built", "web": "built"}
    assert outcome.published is False
    problems = [w for w in outcome.warnings if w.startswith("web: ")]
    assert len(problems) == 1
    assert "the plan's tags could not be moved" in problems[0]
    assert "500 Internal Server Error" in problems[0]
    # A registry has no transaction over several tags: the others did move; a re-run moves web's.
    assert engine.registry.get(f"{REGISTRY}/acme/api:latest") is not None
    assert engine.registry.get(f"{REGISTRY}/acme/orch/web:latest") is None
