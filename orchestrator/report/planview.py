"""What `orch plan` prints: the targets in build order, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.engine.images import Found
from orchestrator.inputs.changes import Affected
from orchestrator.inputs.versions import short
from orchestrator.project import Project
from orchestrator.run.bake import RunInputs, bake_definitions, hand_off_ref
from orchestrator.run.jobs import build_job

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


# Under --since: each target's status (unaffected, up-to-date, pending) and why.
Statuses = Mapping[str, tuple[str, str]]


def plan_json(
    project: Project,
    names: Sequence[str],
    versions: Mapping[str, str],
    statuses: Statuses | None = None,
    inputs_by_name: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """`orch plan --json`: the targets in a valid build order, each with its version, its image
    and tags, the bake orch would send for it, and under --since its status and reason."""
    plan, graph = project.plan, project.graph
    inputs = RunInputs(versions=versions, inputs=inputs_by_name or {})
    definitions = bake_definitions(
        project, [build_job(plan.targets[n]) for n in names], inputs=inputs
    )
    items = []
    for name in names:
        t = plan.targets[name]
        status = {"status": statuses[name][0], "reason": statuses[name][1]} if statuses else {}
        items.append(
            {
                **status,
                "name": name,
                "kind": t.kind,
                "depends_on": list(graph.deps(name)),
                "version": short(versions[name]) if name in versions else None,
                "image": t.first_tag,
                "versioned_image": hand_off_ref(t, versions) if name in versions else None,
                "tags": list(t.tags),
                "tests": list(t.tests),
                "bake": {**BAKE_KEYS, **definitions[name]},
            }
        )
    return {"plan": str(plan.path), "targets": items}


def plan_table(
    project: Project,
    names: Sequence[str],
    versions: Mapping[str, str],
    statuses: Statuses | None = None,
) -> None:
    plan, graph = project.plan, project.graph
    table = Table(title=f"{len(names)} targets from {plan.path.name}, in build order")
    columns = ["#", "target", "kind", "stage", "depends on", "image", "version"]
    for column in columns + (["status", "why"] if statuses else []):
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
        version = short(versions[name]) if name in versions else ""
        row = [str(i), name, t.kind, stage, ", ".join(deps), t.first_tag, version]
        table.add_row(*row, *(statuses[name] if statuses else ()))
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # a pipe or a CI log: no reason to wrap at 80 columns
    console.print(table)


def statuses(
    names: Sequence[str],
    versions: Mapping[str, str],
    affected: Affected,
    run: Mapping[str, Sequence[str]],
    found: Mapping[str, Found],
    *,
    known: bool,
) -> dict[str, tuple[str, str]]:
    """Each target's status under --since, as `orch build --since` would find it, and the
    first reason for it. `run` holds the targets that build would run, each with those of the
    run that build on it directly: each is up-to-date (its versioned image is `found`) or
    pending; a target outside the run is unaffected. `known` is False when the engine was not
    there to look images up."""
    shown: dict[str, tuple[str, str]] = {}
    unknown = "" if known else "; the engine did not answer, so its image was not looked up"
    for name in names:
        if name not in run:
            if name in affected.targets:
                shown[name] = ("unaffected", "a change affects it, but no selected target needs it")
            else:
                shown[name] = ("unaffected", f"no change since {affected.ref} is an input of it")
        elif name in found:
            shown[name] = ("up-to-date", f"its image for version {short(versions[name])} exists")
        elif name in affected.targets:
            reasons = [r.describe() for r in affected.reasons.get(name, ())]
            more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
            shown[name] = ("pending", (reasons[0] if reasons else "affected") + more + unknown)
        else:
            users = ", ".join(run[name]) or "the run"
            shown[name] = (
                "pending",
                f"{users} builds on it, and its image for version {short(versions[name])} "
                "is not there" + unknown,
            )
    return shown
