"""What `orch plan` prints, and the summary after a build or test run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from orchestrator.bake import bake_target, build_job

if TYPE_CHECKING:
    from orchestrator.console import Progress
    from orchestrator.project import Project
    from orchestrator.run import RunSummary


# Keys every target of `orch plan --json` shows, even when the plan leaves them empty.
BAKE_KEYS: dict[str, Any] = {
    "target": None,
    "contexts": {},
    "args": {},
    "platforms": [],
    "tags": [],
    "cache-from": [],
    "cache-to": [],
}


def plan_json(project: Project, names: Sequence[str]) -> dict[str, Any]:
    """`orch plan --json`: the targets in a valid build order with the bake orch would send."""
    plan, graph = project.plan, project.graph
    items = []
    for name in names:
        t = plan.targets[name]
        deps = graph.deps(name)
        items.append(
            {
                "name": name,
                "kind": t.kind,
                "depends_on": list(deps),
                "image": t.tags[0] if t.tags else None,
                "tests": list(t.tests),
                "bake": {
                    **BAKE_KEYS,
                    **bake_target(build_job(t), root=plan.root, upstream=project.upstream(name)),
                },
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
        table.add_row(str(i), name, t.kind, stage, ", ".join(deps), t.tags[0] if t.tags else "")
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # a pipe or a CI log: no reason to wrap at 80 columns
    console.print(table)


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return ""


def summary(progress: Progress, result: RunSummary, *, test: bool) -> None:
    """Failures with their failing step and last lines, then one line of totals."""
    for key, rec in result.records.items():
        if rec.status != "failed":
            continue
        progress.print("")
        progress.print(f"✗ {key} failed" + (f" at {rec.failed_step}" if rec.failed_step else ""))
        if rec.error:
            progress.print(f"  {rec.error}")
        for line in rec.tail:
            progress.print(f"  | {line}")
        if rec.log:
            progress.print(f"  full log: {rec.log}")
    counts: dict[str, int] = {}
    for rec in result.records.values():
        counts[rec.status] = counts.get(rec.status, 0) + 1
    if not test:
        built = [(k, r) for k, r in result.records.items() if r.status == "built" and r.image]
        if built:
            table = Table(box=None, show_header=True, pad_edge=False)
            for column in ("target", "image", "size", "time", "cached steps"):
                table.add_column(column)
            for key, rec in built:
                table.add_row(
                    key,
                    rec.image or "",
                    _size(rec.size_bytes),
                    f"{rec.duration_s:.1f}s",
                    str(rec.cached_steps),
                )
            progress.console.print(table)
    words = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    verdict = "interrupted" if result.interrupted else ("ok" if result.ok else "FAILED")
    progress.print(f"{'test' if test else 'build'} {verdict}: {words}")
