"""Jobs, the units of work of a run: a target built to ship, or one of a service's test stages.

`build_jobs` and `select_test_jobs` select them from the project; `JobSet` holds them in build order
with their dependencies on each other, which is what the scheduler runs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.errors import UsageError
from orchestrator.plan import Target
from orchestrator.plan.specs import CacheEntry
from orchestrator.project import Project


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One unit of scheduling: a target built to ship, or one of a service's test stages."""

    key: str  # "api" for a build, "api:test" for a test stage
    target: Target
    stage: str | None  # the Dockerfile stage to build; None: the last one
    test: bool = False

    @property
    def image(self) -> str | None:
        """The reference the job's image gets; a test stage ships none."""
        return None if self.test else self.target.first_tag

    @property
    def cache_to(self) -> tuple[CacheEntry, ...]:
        # A test stage proves something and ships nothing: it must not overwrite the
        # service's own cache with a cache of the test stage.
        return () if self.test else self.target.cache_to


def build_job(target: Target) -> Job:
    return Job(key=target.name, target=target, stage=target.target)


def stage_jobs(target: Target) -> tuple[Job, ...]:
    return tuple(
        Job(key=f"{target.name}:{stage}", target=target, stage=stage, test=True)
        for stage in target.tests
    )


@dataclass(frozen=True, slots=True)
class JobSet:
    """The jobs of one run, in build order, and their dependencies on each other."""

    jobs: Mapping[str, Job]
    deps: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]


def build_jobs(project: Project, names: Sequence[str]) -> JobSet:
    """The named targets (every service when none) and everything upstream of them."""
    graph, targets = project.graph, project.plan.targets
    selected = graph.select(list(names) or list(project.plan.services))
    return JobSet(
        jobs={n: build_job(targets[n]) for n in selected},
        deps=graph.subgraph_deps(selected),
        order=tuple(selected),
    )


def select_test_jobs(project: Project, names: Sequence[str]) -> JobSet:
    """Each selected service's test stages, after the targets those stages build on."""
    plan, graph = project.plan, project.graph
    services = list(dict.fromkeys(names)) or [n for n in plan.services if plan.targets[n].tests]
    for name in services:
        graph.select([name])  # unknown names fail here, with a suggestion
        if not plan.targets[name].tests:
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


def pending(jobset: JobSet, done: Collection[str]) -> JobSet:
    """The jobs still to run once `done` need not: each keeps its deps on the others."""
    order = tuple(key for key in jobset.order if key not in done)
    return JobSet(
        jobs={key: jobset.jobs[key] for key in order},
        deps={key: tuple(d for d in jobset.deps[key] if d not in done) for key in order},
        order=order,
    )
