"""Load a plan, read its Dockerfiles, and build the graph: everything orch knows before Docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.dockerfile import Dockerfile, read_dockerfile
from orchestrator.inputs.versions import Manifest, compute_manifests
from orchestrator.plan import Plan, Target, load_plan
from orchestrator.plan.graph import BuildGraph, build_graph
from orchestrator.plan.state import orch_paths

if TYPE_CHECKING:
    from orchestrator.plan.overrides import Override


@dataclass(frozen=True, slots=True)
class Project:
    """A checked plan with its parsed Dockerfiles and dependency graph."""

    plan: Plan
    dockerfiles: dict[str, Dockerfile]
    graph: BuildGraph

    def manifests(
        self, names: Sequence[str], bases: Mapping[str, Mapping[str, str]] | None = None
    ) -> dict[str, Manifest]:
        """The inputs and versions of `names` and of everything upstream of them; `bases`
        gives each target's external images with their digests (see orchestrator.run.resolve)."""
        chosen = self.graph.select(list(names))
        return compute_manifests(
            self.plan.root,
            {n: self.plan.targets[n] for n in chosen},
            {n: self.graph.deps(n) for n in chosen},
            bases=bases,
            orch=orch_paths(self.plan),
        )

    def upstream(self, name: str) -> dict[str, Target]:
        """The targets `name` builds on directly: each reaches its build as a named context."""
        return {d: self.plan.targets[d] for d in self.graph.deps(name)}


def load_project(
    path: Path,
    *,
    registry: str | None = None,
    overrides: Sequence[Override] = (),
    no_cache: bool = False,
    no_cache_filter: Sequence[str] = (),
    platform: Sequence[str] = (),
) -> Project:
    """Read and check everything the plan names; raises PlanError on any user error.
    `registry` stands in for the plan's default registry (see `load_plan`); `overrides`
    (`--set`) and the no-cache flags change its targets for this command
    (orchestrator.plan.overrides), before the Dockerfiles are read with their args."""
    plan = load_plan(path, registry=registry)
    if overrides or no_cache or no_cache_filter or platform:
        from orchestrator.plan.overrides import apply

        plan = apply(
            plan,
            overrides,
            no_cache=no_cache,
            no_cache_filter=no_cache_filter,
            platform=platform,
        )
    return project_of_plan(plan)


def project_of_plan(plan: Plan) -> Project:
    """A loaded plan with its Dockerfiles read and its graph built."""
    dockerfiles = {name: read_dockerfile(t.dockerfile, t.args) for name, t in plan.targets.items()}
    return Project(plan=plan, dockerfiles=dockerfiles, graph=build_graph(plan, dockerfiles))
