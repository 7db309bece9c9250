"""Drawings of the dependency graph: plain text, Mermaid and Graphviz DOT."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.plan.graph import BuildGraph


def render_text(graph: BuildGraph, names: Sequence[str] = ()) -> str:
    """One line per target of `select(names)`, in build order: `name  <- dep1, dep2`."""
    chosen = graph.select(names)
    width = max((len(n) for n in chosen), default=0)
    lines = []
    for name in chosen:
        deps = graph.deps(name)
        lines.append(f"{name:<{width}}  <- {', '.join(deps)}" if deps else name)
    return "\n".join(lines) + "\n" if lines else ""


def render_mermaid(
    graph: BuildGraph, names: Sequence[str] = (), kinds: Mapping[str, str] | None = None
) -> str:
    """A Mermaid flowchart of `select(names)`: stages as subroutine boxes, services as rounded."""
    kinds = graph.kinds if kinds is None else kinds
    chosen = graph.select(names)
    # Mermaid ids cannot hold every character a target name can, so nodes get positional ids.
    ids = {name: f"n{i}" for i, name in enumerate(chosen)}
    lines = [
        "flowchart LR",
        "  classDef stage fill:#e8eefb,stroke:#5b7bc0",
        "  classDef service fill:#e9f6ea,stroke:#4f9a58",
    ]
    for name in chosen:
        kind = kinds.get(name, "service")
        label = '"' + name.replace('"', "#quot;") + '"'
        shape = f"[[{label}]]" if kind == "stage" else f"({label})"
        lines.append(f"  {ids[name]}{shape}:::{_css_class(kind)}")
    for name in chosen:
        lines.extend(f"  {ids[dep]} --> {ids[name]}" for dep in graph.deps(name))
    return "\n".join(lines) + "\n"


def render_dot(
    graph: BuildGraph, names: Sequence[str] = (), kinds: Mapping[str, str] | None = None
) -> str:
    """A Graphviz digraph of `select(names)`; edges only a Dockerfile implies are dashed."""
    kinds = graph.kinds if kinds is None else kinds
    chosen = graph.select(names)
    lines = [
        "digraph orch {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    ]
    for name in chosen:
        kind = kinds.get(name, "service")
        look = 'shape=component, fillcolor="#e8eefb"' if kind == "stage" else 'fillcolor="#e9f6ea"'
        lines.append(f"  {_dot_id(name)} [{look}, tooltip={_dot_id(kind)}];")
    for name in chosen:
        reasons: dict[str, list[str]] = {}
        for edge in graph.edges(name):
            reasons.setdefault(edge.upstream, []).append(edge.reason)
        for dep, why in reasons.items():
            style = "" if "depends_on" in why else ", style=dashed"
            tooltip = _dot_id("; ".join(dict.fromkeys(why)))
            lines.append(f"  {_dot_id(dep)} -> {_dot_id(name)} [tooltip={tooltip}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _css_class(kind: str) -> str:
    return "stage" if kind == "stage" else "service"


def _dot_id(text: str) -> str:
    """A DOT double-quoted string: names hold '-' and '.', which bare DOT ids cannot."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
