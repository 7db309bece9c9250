"""What `orch plan` prints: the targets in build order, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.bake import bake_definitions
from orchestrator.jobs import build_job
from orchestrator.project import Project

# Keys every target of `orch plan --json` shows, even when the plan leaves them empty.
BAKE_KEYS: dict[str, object] = {
    "target": None,
    "contexts": {},
    "args": {},
    "platforms": [],
    "tags": [],
    "cache-from": [],
    "cache-to": [],
}


def plan_json(project: Project, names: Sequence[str]) -> dict[str, object]:
    """`orch plan --json`: the targets in a valid build order with the bake orch would send."""
    plan, graph = project.plan, project.graph
    definitions = bake_definitions(project, [build_job(plan.targets[n]) for n in names])
    items = []
    for name in names:
        t = plan.targets[name]
        items.append(
            {
                "name": name,
                "kind": t.kind,
                "depends_on": list(graph.deps(name)),
                "image": t.ref,
                "tests": list(t.tests),
                "bake": {**BAKE_KEYS, **definitions[name]},
            }
        )
    return {"plan": str(plan.path), "targets": items}


def plan_table(project: Project, names: Sequence[str]) -> None:
    plan, graph = project.plan, project.graph
    table = Table(title=f"{len(names)} targets from {plan.path.name}, in build order")
    for column in ("#", "target", "kind", "stage", "depends on", "image"):
        table.add_column(column, overflow="fold")
    for i, name in enumerate(names, 1):
        t = plan.targets[name]
        why: dict[str, set[str]] = {}
        for edge in graph.edges(name):
            why.setdefault(edge.upstream, set()).add(edge.reason.split(" ", 1)[0])
        deps = [f"{up} ({', '.join(sorted(r))})" for up, r in why.items()]
        stage = t.target or "(last)"
        if t.tests:
            stage += f"; test: {', '.join(t.tests)}"
        table.add_row(str(i), name, t.kind, stage, ", ".join(deps), t.ref)
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # a pipe or a CI log: no reason to wrap at 80 columns
    console.print(table)
