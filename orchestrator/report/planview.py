"""What `orch plan` prints: the targets in build order, as a table or as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from orchestrator.engine.images import Found
from orchestrator.inputs.changes import Affected
from orchestrator.inputs.versions import short
from orchestrator.jsontext import versioned
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
        status, reason = statuses[name] if statuses and name in statuses else (None, None)
        items.append(
            {
                "name": name,
                "kind": t.kind,
                "depends_on": list(graph.deps(name)),
                "version": short(versions[name]) if name in versions else None,
                "image": t.first_tag,
                "versioned_image": hand_off_ref(t, versions) if name in versions else None,
                "tags": list(t.tags),
                "tests": list(t.tests),
                "status": status,
                "reason": reason,
                "bake": {**BAKE_KEYS, **definitions[name]},
            }
        )
    return versioned({"plan": str(plan.path), "targets": items})


def plan_table(
    project: Project,
    names: Sequence[str],
    versions: Mapping[str, str],
    statuses: Statuses | None = None,
    *,
    wide: bool = False,
    console: Console | None = None,
) -> None:
    """The plan as a table when it fits the terminal (or with `wide`), else a block of lines
    per target: names, images and versions are shown whole, never folded mid-word."""
    plan, graph = project.plan, project.graph
    heads = ["#", "target", "kind", "stage", "depends on", "image", "version"]
    heads += ["status", "why"] if statuses else []
    rows: list[list[str]] = []
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
        rows.append(row + list(statuses[name] if statuses else ()))
    console = console or Console(highlight=False)
    if not console.is_terminal and console.width == 80 and not wide:
        console.width = 160  # a pipe or a CI log: no reason to wrap at 80 columns
    title = f"{len(names)} targets from {plan.path.name}, in build order"
    # The table's width with each column as wide as its longest value (the reasons wrap at
    # words, so they count for at most 30), two columns between each.
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)
    ]
    if statuses:
        widths[-1] = min(widths[-1], 30)
    needed = sum(widths) + 2 * (len(heads) - 1)
    if wide:
        console.width = max(console.width, needed)  # one row per target, however wide
    if needed <= console.width:
        table = Table(title=title, box=None, pad_edge=False, padding=(0, 1), title_justify="left")
        for i, head in enumerate(heads):
            prose = head == "why"
            table.add_column(head, no_wrap=not prose, min_width=None if prose else widths[i])
        for row in rows:
            table.add_row(*row)
        # Without the padding rich gives each line's last cell: text people copy and diff.
        with console.capture() as captured:
            console.print(table)
        lines = [line.rstrip() for line in captured.get().splitlines()]
        console.file.write("\n".join(lines) + "\n")
        console.file.flush()
        return
    console.print(title, markup=False, highlight=False)
    for lines in (_block(heads, row, console.width) for row in rows):
        console.print("", markup=False)
        for line in lines:
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def _block(heads: Sequence[str], row: Sequence[str], width: int) -> list[str]:
    """One target as lines of at most `width` columns: `1  api  service`, then a line per
    field; a value that does not fit beside its name goes on the next line, and prose wraps
    at words."""
    import textwrap

    fields = dict(zip(heads, row, strict=True))
    lines = [f"{fields['#']}  {fields['target']}  {fields['kind']}"]
    if len(lines[0]) > width:
        lines = [f"{fields['#']}  {fields['target']}", f"   {fields['kind']}"]
    for head in heads[3:]:
        value = fields[head]
        if not value:
            continue
        line = f"   {head:<10} {value}"
        if len(line) <= width:
            lines.append(line)
            continue
        lines.append(f"   {head}")
        lines += textwrap.wrap(
            value,
            width=max(20, width),
            initial_indent="      ",
            subsequent_indent="      ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


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
