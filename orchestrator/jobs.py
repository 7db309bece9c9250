"""Which jobs a run has: the targets to build, or the test stages to run, and their order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.bake import Job, build_job, stage_jobs
from orchestrator.errors import UsageError
from orchestrator.project import Project


@dataclass(frozen=True, slots=True)
class JobSet:
    """The jobs of one run and their dependencies on each other."""

    jobs: dict[str, Job]
    deps: dict[str, tuple[str, ...]]
    order: tuple[str, ...]


def build_jobs(project: Project, names: Sequence[str]) -> JobSet:
    """The named targets (every service when none) and everything upstream of them."""
    graph, targets = project.graph, project.plan.targets
    selected = graph.select(list(names) or list(project.plan.services))
    deps = graph.subgraph_deps(selected)
    return JobSet(
        jobs={n: build_job(targets[n]) for n in selected}, deps=deps, order=tuple(selected)
    )


def select_test_jobs(project: Project, names: Sequence[str]) -> JobSet:
    """Each selected service's test stages, after the targets those stages build on."""
    plan, graph = project.plan, project.graph
    services = list(dict.fromkeys(names)) or [n for n in plan.services if plan.targets[n].tests]
    for name in services:
        graph.select([name])  # unknown names fail here, with a suggestion
        t = plan.targets[name]
        if not t.tests:
            raise UsageError(
                f"target '{name}' has no test stage",
                hint=f"add `test: <stage>` to '{name}' in the plan",
            )
    if not services:
        raise UsageError("no service in the plan has a test stage", hint="add `test: <stage>`")
    direct = [d for s in services for d in graph.deps(s)]
    upstream = graph.select(direct) if direct else ()
    deps: dict[str, tuple[str, ...]] = dict(graph.subgraph_deps(upstream))
    jobs = {n: build_job(plan.targets[n]) for n in upstream}
    order = list(upstream)
    for name in services:
        for job in stage_jobs(plan.targets[name]):
            jobs[job.key] = job
            deps[job.key] = graph.deps(name)
            order.append(job.key)
    return JobSet(jobs=jobs, deps=deps, order=tuple(order))
