"""The dependency graph of a plan: declared and Dockerfile-inferred edges, checked and ordered.

Every run orders the graph, so the order is the standard library's (`graphlib`, which costs no
import time): among the targets ready at each point, the earliest in the plan first. networkx,
whose import alone takes about 0.2 s, is imported only off that path: to name the targets of a
cycle, and for `BuildGraph.graph`, the frozen DiGraph for read-only algorithms. The tests hold
the order and closures to networkx's own.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from orchestrator.errors import Location, PlanError, UsageError, did_you_mean, name_list

if TYPE_CHECKING:
    import networkx as nx

    from orchestrator.dockerfile import Dockerfile, Ref
    from orchestrator.plan import Plan, Target


@dataclass(frozen=True, slots=True)
class Edge:
    """Why `downstream` needs `upstream`: a declared depends_on or a Dockerfile reference."""

    upstream: str
    downstream: str
    reason: str  # "depends_on", "FROM go-toolchain", "COPY --from=shared-lib", "RUN --mount from=x"
    location: Location  # plan line for depends_on; Dockerfile line:column for inferred edges


class BuildGraph:
    """An immutable, acyclic graph of targets; edges point from upstream to downstream."""

    __slots__ = (
        "_deps",
        "_edges",
        "_graph",
        "_index",
        "_kinds",
        "_names",
        "_order",
        "_pred",
        "_root",
        "_succ",
    )

    def __init__(
        self,
        names: Sequence[str],
        edges: Iterable[Edge],
        *,
        kinds: Mapping[str, str] | None = None,
        root: Path | None = None,
    ) -> None:
        self._names = tuple(names)
        self._index = MappingProxyType({n: i for i, n in enumerate(self._names)})
        self._kinds = MappingProxyType(dict(kinds or {}))
        self._root = root
        incoming: dict[str, list[Edge]] = {n: [] for n in self._names}
        succ: dict[str, dict[str, None]] = {n: {} for n in self._names}
        for edge in edges:
            if edge.upstream not in self._index or edge.downstream not in self._index:
                raise ValueError(
                    f"edge {edge.upstream} -> {edge.downstream} names an unknown target"
                )
            incoming[edge.downstream].append(edge)
            succ[edge.upstream][edge.downstream] = None
        self._edges = MappingProxyType({n: tuple(e) for n, e in incoming.items()})
        self._deps = MappingProxyType(
            {n: tuple(dict.fromkeys(e.upstream for e in es)) for n, es in self._edges.items()}
        )
        self._pred = self._deps
        self._succ = MappingProxyType({n: tuple(s) for n, s in succ.items()})
        self._graph: nx.DiGraph | None = None
        self._order = self._ordered()

    def _ordered(self) -> tuple[str, ...]:
        """The build order: a topological order in which, among the targets ready at each
        point, the earliest in the plan comes first; a PlanError naming a cycle if none."""
        sorter = graphlib.TopologicalSorter(self._deps)
        try:
            sorter.prepare()
        except graphlib.CycleError:
            raise self._cycle_error() from None
        ready = [self._index[n] for n in sorter.get_ready()]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = self._names[heapq.heappop(ready)]
            order.append(name)
            sorter.done(name)
            for nxt in sorter.get_ready():
                heapq.heappush(ready, self._index[nxt])
        return tuple(order)

    @property
    def names(self) -> tuple[str, ...]:
        """Every target, in plan order."""
        return self._names

    @property
    def order(self) -> tuple[str, ...]:
        """Every target in build order: among ready targets, the earliest in the plan first."""
        return self._order

    @property
    def kinds(self) -> Mapping[str, str]:
        """Target name -> kind ("stage" or "service"), as the plan declares it."""
        return self._kinds

    @property
    def graph(self) -> nx.DiGraph:
        """The frozen networkx graph (upstream -> downstream), for read-only algorithms."""
        if self._graph is None:
            self._graph = _networkx(self._names, self._succ)
        return self._graph

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._names)

    def deps(self, name: str) -> tuple[str, ...]:
        """Direct upstream targets, deduped: declared first, then in Dockerfile order."""
        self._check((name,))
        return self._deps[name]

    def edges(self, name: str) -> tuple[Edge, ...]:
        """Every reason `name` depends on another target, one Edge per declaration or reference."""
        self._check((name,))
        return self._edges[name]

    def select(self, names: Sequence[str] = ()) -> tuple[str, ...]:
        """`names` and everything upstream of them (all targets when empty), in build order."""
        if not names:
            return self._order
        wanted = self._closure(_as_names(names), self._pred)
        # Filtering works because the closure is ancestor-closed: each of its targets becomes ready
        # at the same point in the whole greedy order as in the closure's own.
        return tuple(n for n in self._order if n in wanted)

    def downstream_closure(self, names: Iterable[str]) -> frozenset[str]:
        """`names` and every target that depends on them, directly or not."""
        return frozenset(self._closure(_as_names(names), self._succ))

    def subgraph_deps(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each of `names`, in build order -> its direct deps that are also in `names`."""
        chosen = _as_names(names)
        self._check(chosen)
        inside = set(chosen)
        return {
            n: tuple(d for d in self._deps[n] if d in inside) for n in self._order if n in inside
        }

    def _closure(self, names: Sequence[str], adjacency: Mapping[str, Iterable[str]]) -> set[str]:
        self._check(names)
        seen = set(names)
        stack = list(seen)
        while stack:
            for nxt in adjacency[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    def _check(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._index:
                raise UsageError(f"unknown target '{name}'", hint=_suggest(name, self._names))

    def _cycle_error(self) -> PlanError:
        import networkx as nx

        cycle = nx.find_cycle(_networkx(self._names, self._succ))
        # Start the report at the target the plan declares first, so it reads the same every run.
        start = min(range(len(cycle)), key=lambda i: self._index[cycle[i][0]])
        cycle = cycle[start:] + cycle[:start]
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        lines = [f"dependency cycle: {path}"]
        first: Location | None = None
        for upstream, downstream in cycle:
            found = [e for e in self._edges[downstream] if e.upstream == upstream]
            first = first or found[0].location
            why = "; ".join(f"{e.reason} at {_relative(e.location, self._root)}" for e in found)
            lines.append(f"  {upstream} -> {downstream}: {why}")
        return PlanError(
            "\n".join(lines),
            location=first,
            hint="remove one of these dependencies, or move what both need into a shared stage",
        )


def _networkx(names: Sequence[str], succ: Mapping[str, Iterable[str]]) -> nx.DiGraph:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    graph.add_edges_from((u, v) for u in names for v in succ[u])
    return nx.freeze(graph)


def build_graph(plan: Plan, dockerfiles: Mapping[str, Dockerfile]) -> BuildGraph:
    """Check the plan against its Dockerfiles and build its graph.

    `dockerfiles` maps target name -> its parsed Dockerfile; a target without one gets only its
    declared edges, which the plan has checked name targets.
    """
    edges: list[Edge] = []
    for name, target in plan.targets.items():
        edges.extend(
            Edge(dep, name, "depends_on", target.depends_on_at.get(dep, target.location))
            for dep in target.depends_on
        )
        dockerfile = dockerfiles.get(name)
        if dockerfile is None:
            continue
        _check_stages(plan, target, dockerfile)
        mapped = {c.name for c in target.contexts}
        edges.extend(
            Edge(ref.name, name, _reason(ref), Location(dockerfile.path, ref.line, ref.column))
            for ref in dockerfile.refs
            if ref.name in plan.targets and ref.name != name and ref.name not in mapped
        )
    kinds = {n: t.kind for n, t in plan.targets.items()}
    return BuildGraph(tuple(plan.targets), edges, kinds=kinds, root=plan.root)


def _check_stages(plan: Plan, target: Target, dockerfile: Dockerfile) -> None:
    stages = dockerfile.stage_names
    wanted: list[tuple[str, str, Location | None]] = []
    if target.target is not None:
        wanted.append(("builds", target.target, target.target_at))
    tests_at = target.tests_at or (None,) * len(target.tests)
    wanted += [("tests", t, at) for t, at in zip(target.tests, tests_at, strict=True)]
    for verb, stage, at in wanted:
        # BuildKit lower-cases `AS` names and `--target` alike, so `Runtime` builds `runtime`.
        if stage.lower() in stages:
            continue
        listed = ", ".join(stages) if stages else "none has a name (`FROM image AS name`)"
        close = did_you_mean(stage.lower(), stages)
        shown = _relative(Location(dockerfile.path), plan.root)
        raise PlanError(
            f"target '{target.name}' {verb} stage '{stage}', which {shown} does not have",
            location=at or target.location,
            hint=f"{close} its stages are: {listed}" if close else f"its stages are: {listed}",
        )


def _as_names(names: Iterable[str]) -> tuple[str, ...]:
    # A lone string is one target name, not a sequence of one-letter names.
    return (names,) if isinstance(names, str) else tuple(names)


def _reason(ref: Ref) -> str:
    if ref.instruction == "FROM":
        return f"FROM {ref.name}"
    if ref.instruction == "RUN --mount":
        return f"RUN --mount from={ref.name}"
    return f"{ref.instruction}={ref.name}"


def _suggest(name: str, names: Sequence[str]) -> str:
    if not names:
        return "the plan has no targets"
    close = did_you_mean(name, names)
    return f"{close} targets: {name_list(names)}" if close else f"targets: {name_list(names)}"


def _relative(location: Location, root: Path | None) -> str:
    """The location with its file relative to where the user stands (the command line's
    case: orchestrator.errors.stand_in), else to the plan directory, when it is inside it."""
    from orchestrator.errors import standing

    if standing():
        return str(location)
    if root is not None and location.file.is_absolute() and location.file.is_relative_to(root):
        location = Location(location.file.relative_to(root), location.line, location.column)
    return str(location)
