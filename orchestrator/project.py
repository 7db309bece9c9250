"""Load a plan, read its Dockerfiles, and build the graph: everything orch knows before Docker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dockerfile import Dockerfile, read_dockerfile
from orchestrator.inputs.versions import Manifest, compute_manifests
from orchestrator.plan import Plan, Target, load_plan
from orchestrator.plan.graph import BuildGraph, build_graph
from orchestrator.plan.state import orch_paths


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


def load_project(path: Path, *, registry: str | None = None) -> Project:
    """Read and check everything the plan names; raises PlanError on any user error.
    `registry` stands in for the plan's default registry (see `load_plan`)."""
    plan = load_plan(path, registry=registry)
    dockerfiles = {name: read_dockerfile(t.dockerfile, t.args) for name, t in plan.targets.items()}
    return Project(plan=plan, dockerfiles=dockerfiles, graph=build_graph(plan, dockerfiles))
