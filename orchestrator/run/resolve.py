"""The step between the plan and a build: every selected target's version, base images included.

A version needs the digests of the external images a target builds on, which only the engine
knows. `orch build` and `orch test` have the engine; `orch plan` and `orch why` ask it when it
answers, and say so when it does not (their versions then leave the base images out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

from orchestrator.engine import images
from orchestrator.errors import EngineError
from orchestrator.inputs import bases
from orchestrator.inputs.versions import Manifest
from orchestrator.project import Project
from orchestrator.run.bake import hand_off_ref

NO_ENGINE = (
    "the engine did not answer: versions leave out the digests of external base images, "
    "so they may differ from those of a build"
)


@dataclass(frozen=True, slots=True)
class Versions:
    manifests: Mapping[str, Manifest]  # by target name
    engine: bool  # whether base images were resolved (and images can be looked up)

    @property
    def versions(self) -> dict[str, str]:
        return {name: m.version for name, m in self.manifests.items()}


def external(project: Project, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The external images each of `names` (and what they build on) reads."""
    targets = project.plan.targets
    return {
        n: bases.external_refs(targets[n], project.dockerfiles[n], targets)
        for n in project.graph.select(list(names))
    }


async def versions(
    project: Project, names: Sequence[str], store: images.ImageStore | None, *, pull: bool = False
) -> Versions:
    """The manifests of `names` and their upstream, base images resolved through `store`."""
    if not names:
        return Versions({}, engine=store is not None)
    refs = external(project, names)
    digests: Mapping[str, str] = {}
    if store is not None:
        wanted = sorted({r for rs in refs.values() for r in rs})
        # One listing for the run: the base images and every repository of the targets, so
        # that finding which versions are built asks the engine nothing more.
        targets = project.plan.targets
        local = [targets[n].first_tag for n in refs if not targets[n].registry]
        await store.ids([*wanted, *local], fresh=True)
        digests = await bases.resolve(store, wanted, pull=pull) if wanted else {}
    manifests = project.manifests(names, bases=bases.by_target(refs, digests) if store else None)
    return Versions(manifests, engine=store is not None)


async def reachable_engine() -> images.ImageStore | None:
    """The engine, if it answers; None if not (for the commands that can do without)."""
    from orchestrator.engine.docker import Engine

    try:
        engine = Engine()
        await engine.check_async()
    except EngineError:
        return None
    return engine


def look_up(
    project: Project, names: Sequence[str], *, find: Sequence[str] = ()
) -> tuple[Versions, dict[str, images.Found]]:
    """Versions of `names`, and which of `find` have their versioned image, from the engine
    when it answers (else no base digests and nothing found), on one event loop."""

    async def both() -> tuple[Versions, dict[str, images.Found]]:
        store = await reachable_engine()
        resolved = await versions(project, names, store)
        if store is None or not find:
            return resolved, {}
        targets, by_name = project.plan.targets, resolved.versions
        wanted = {n: (targets[n], hand_off_ref(targets[n], by_name)) for n in find}
        return resolved, await images.find(store, wanted)

    return anyio.run(both)
