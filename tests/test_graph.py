"""The dependency graph: declared and inferred edges, checks, build order, and drawings."""

from __future__ import annotations

import dataclasses
import itertools
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.dockerfile import Dockerfile, Ref, Stage, parse_dockerfile, read_dockerfile
from orchestrator.errors import Location, PlanError, UsageError
from orchestrator.plan import NamedContext, Plan, Target, load_plan
from orchestrator.plan.graph import BuildGraph, Edge, build_graph
from orchestrator.report.drawing import render_dot, render_mermaid, render_text

ROOT = Path("/repo")
PLAN = ROOT / "buildplan.yaml"
STAGES = ("builder", "test", "runtime")


# --- fixture factory ------------------------------------------------------------------------


def make_target(
    name: str,
    *,
    kind: str = "service",
    depends_on: Sequence[str] = (),
    target: str | None = None,
    tests: Sequence[str] = (),
    contexts: Sequence[str] = (),
    line: int = 1,
) -> Target:
    """A target defined at plan line `line`: its depends_on entries on the lines after it, then
    its `target:` value, then its `test:` list."""
    folder = ROOT / ("shared" if kind == "stage" else "services") / name
    target_line = line + 1 + len(depends_on)
    return Target(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        context=folder,
        dockerfile=folder / "Dockerfile",
        target=target,
        tests=tuple(tests),
        depends_on=tuple(depends_on),
        contexts=tuple(NamedContext(name=c, ref="docker-image://busybox:latest") for c in contexts),
        location=Location(PLAN, line, 3),
        depends_on_at={d: Location(PLAN, line + 1 + i, 9) for i, d in enumerate(depends_on)},
        target_at=Location(PLAN, target_line, 13) if target is not None else None,
        tests_at=tuple(Location(PLAN, target_line + 1, 12 + 6 * i) for i in range(len(tests))),
    )


def make_plan(*targets: Target) -> Plan:
    return Plan(path=PLAN, root=ROOT, version=1, targets={t.name: t for t in targets})


def make_dockerfile(
    target: Target,
    refs: Iterable[tuple[str, str, int, int]] = (),
    stages: Sequence[str | None] = STAGES,
) -> Dockerfile:
    """`target`'s Dockerfile: `stages` by name, `refs` as (instruction, name, line, column)."""
    return Dockerfile(
        path=target.dockerfile,
        stages=tuple(
            Stage(index=i, name=s, base="busybox:latest", line=1 + 2 * i)
            for i, s in enumerate(stages)
        ),
        refs=tuple(Ref(name=n, instruction=ins, line=ln, column=c) for ins, n, ln, c in refs),
    )


def df_loc(target: str, line: int, column: int, kind: str = "services") -> Location:
    return Location(ROOT / kind / target / "Dockerfile", line, column)


@pytest.fixture
def monorepo() -> tuple[Plan, dict[str, Dockerfile]]:
    """go-toolchain and shared-lib stages, an api that uses both, a web that depends on api."""
    tool = make_target("go-toolchain", kind="stage", line=2)
    lib = make_target("shared-lib", kind="stage", depends_on=["go-toolchain"], line=5)
    api = make_target("api", depends_on=["shared-lib"], line=9, tests=["test"])
    web = make_target("web", depends_on=["api"], line=13)
    plan = make_plan(tool, lib, api, web)
    dockerfiles = {
        "go-toolchain": make_dockerfile(tool, [("FROM", "golang:1.22", 1, 6)]),
        "shared-lib": make_dockerfile(lib),
        "api": make_dockerfile(
            api,
            [
                ("FROM", "go-toolchain", 3, 6),
                ("COPY --from", "shared-lib", 7, 8),
                ("RUN --mount", "go-toolchain", 9, 11),
            ],
        ),
        "web": make_dockerfile(web, [("FROM", "node:20", 1, 6)]),
    }
    return plan, dockerfiles


# --- edges and provenance -------------------------------------------------------------------


def test_declared_and_inferred_edges_keep_their_provenance(monorepo) -> None:
    graph = build_graph(*monorepo)
    assert graph.names == ("go-toolchain", "shared-lib", "api", "web")
    assert graph.edges("api") == (
        Edge("shared-lib", "api", "depends_on", Location(PLAN, 10, 9)),
        Edge("go-toolchain", "api", "FROM go-toolchain", df_loc("api", 3, 6)),
        Edge("shared-lib", "api", "COPY --from=shared-lib", df_loc("api", 7, 8)),
        Edge("go-toolchain", "api", "RUN --mount from=go-toolchain", df_loc("api", 9, 11)),
    )
    # Deduped: declared first, then in the order the Dockerfile names them.
    assert graph.deps("api") == ("shared-lib", "go-toolchain")
    assert graph.deps("shared-lib") == ("go-toolchain",)
    assert graph.deps("go-toolchain") == ()
    assert graph.kinds == {
        "go-toolchain": "stage",
        "shared-lib": "stage",
        "api": "service",
        "web": "service",
    }


def test_edges_from_a_parsed_dockerfile_point_at_the_name() -> None:
    tool = make_target("go-toolchain", kind="stage")
    lib = make_target("shared-lib", kind="stage", line=3)
    api = make_target("api", target="runtime", tests=["test"], line=5)
    text = (
        "ARG GO=1.22\n"
        "FROM go-toolchain AS builder\n"
        "COPY --from=shared-lib /lib /src/lib\n"
        "RUN --mount=type=cache,target=/root/.cache --mount=from=debian,target=/d go build\n"
        "FROM builder AS test\n"
        "RUN go test ./...\n"
        "FROM scratch AS runtime\n"
        "COPY --from=builder /out/api /api\n"
    )
    dockerfiles = {
        "go-toolchain": make_dockerfile(tool),
        "shared-lib": make_dockerfile(lib),
        "api": parse_dockerfile(text, api.dockerfile),
    }
    graph = build_graph(make_plan(tool, lib, api), dockerfiles)
    assert graph.edges("api") == (
        Edge("go-toolchain", "api", "FROM go-toolchain", df_loc("api", 2, 6)),
        Edge("shared-lib", "api", "COPY --from=shared-lib", df_loc("api", 3, 13)),
    )


def test_ref_to_a_name_outside_the_plan_is_a_base_image_not_an_edge(monorepo) -> None:
    graph = build_graph(*monorepo)
    assert graph.deps("web") == ("api",)
    assert "golang:1.22" not in graph


def test_a_stage_alias_of_the_same_dockerfile_is_not_an_edge() -> None:
    # `FROM busybox AS shared-lib` then `FROM shared-lib`: the second FROM means the local stage,
    # so the Dockerfile lists no ref, even though a plan target has that name.
    lib = make_target("shared-lib", kind="stage")
    api = make_target("api", line=4)
    aliased = Dockerfile(
        path=api.dockerfile,
        stages=(
            Stage(index=0, name="shared-lib", base="busybox:latest", line=1),
            Stage(index=1, name="runtime", base="shared-lib", line=3),
        ),
        refs=(),
    )
    graph = build_graph(make_plan(lib, api), {"shared-lib": make_dockerfile(lib), "api": aliased})
    assert graph.deps("api") == ()


def test_an_explicit_named_context_suppresses_the_inferred_edge() -> None:
    lib = make_target("shared-lib", kind="stage")
    api = make_target("api", contexts=["shared-lib"], line=4)
    refs = [("COPY --from", "shared-lib", 5, 8)]
    plan = make_plan(lib, api)
    graph = build_graph(
        plan, {"shared-lib": make_dockerfile(lib), "api": make_dockerfile(api, refs)}
    )
    assert graph.deps("api") == ()
    assert graph.select(["api"]) == ("api",)


def test_a_ref_to_the_target_itself_is_ignored() -> None:
    api = make_target("api")
    graph = build_graph(make_plan(api), {"api": make_dockerfile(api, [("FROM", "api", 1, 6)])})
    assert graph.deps("api") == ()
    assert graph.edges("api") == ()


def test_target_without_a_parsed_dockerfile_gets_declared_edges_only() -> None:
    lib = make_target("lib", kind="stage")
    api = make_target("api", depends_on=["lib"], line=4)
    graph = build_graph(make_plan(lib, api), {})
    assert graph.deps("api") == ("lib",)


# --- stage checks ---------------------------------------------------------------------------


def test_unknown_build_stage_lists_the_stages_and_the_closest_match() -> None:
    api = make_target("api", target="tset", line=7)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(api), {"api": make_dockerfile(api)})
    err = caught.value
    assert err.message == (
        "target 'api' builds stage 'tset', which services/api/Dockerfile does not have"
    )
    assert err.hint == "did you mean 'test'? its stages are: builder, test, runtime"
    # At the `target:` value, not at the target's own line.
    assert err.location == Location(PLAN, 8, 13)
    assert err.render().startswith("/repo/buildplan.yaml:8:13: error: target 'api' builds")


def test_unknown_test_stage_is_reported_too() -> None:
    api = make_target("api", target="runtime", tests=["test", "lint"], line=7)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(api), {"api": make_dockerfile(api)})
    err = caught.value
    assert err.message == (
        "target 'api' tests stage 'lint', which services/api/Dockerfile does not have"
    )
    assert err.hint == "its stages are: builder, test, runtime"
    assert err.location == Location(PLAN, 9, 18)  # the second item of `test:`


def test_stage_errors_of_a_loaded_plan_point_at_the_value(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "Dockerfile").write_text("FROM busybox AS build\nFROM build AS runtime\n")
    path = tmp_path / "buildplan.yaml"
    body = "version: 1\nservices:\n  app:\n    context: app\n"
    for setting, at in (
        ("    target: nonexistent\n", (5, 13)),
        ("    test: [build, lnit]\n", (5, 19)),
    ):
        path.write_text(body + setting)
        plan = load_plan(path)
        with pytest.raises(PlanError) as caught:
            build_graph(plan, {"app": read_dockerfile(plan.targets["app"].dockerfile)})
        assert caught.value.location == Location(path, *at)


def test_unnamed_stages_cannot_be_targeted() -> None:
    api = make_target("api", target="runtime")
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(api), {"api": make_dockerfile(api, stages=(None,))})
    assert caught.value.hint is not None
    assert "none has a name" in caught.value.hint


def test_known_stages_pass_whatever_their_case() -> None:
    api = make_target("api", target="Runtime", tests=["test"])
    assert build_graph(make_plan(api), {"api": make_dockerfile(api)}).names == ("api",)


# --- cycles ---------------------------------------------------------------------------------


def test_cycle_message_prints_the_path_and_where_each_edge_comes_from() -> None:
    a = make_target("a", depends_on=["b"], line=11)
    b = make_target("b", line=20)
    dockerfiles = {"a": make_dockerfile(a), "b": make_dockerfile(b, [("FROM", "a", 3, 6)])}
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(a, b), dockerfiles)
    err = caught.value
    assert err.message.splitlines() == [
        "dependency cycle: a -> b -> a",
        "  a -> b: FROM a at services/b/Dockerfile:3:6",
        "  b -> a: depends_on at buildplan.yaml:12:9",
    ]
    assert err.location == df_loc("b", 3, 6)


def test_cycle_line_lists_every_reason_for_one_edge() -> None:
    a = make_target("a", depends_on=["b"], line=1)
    b = make_target("b", depends_on=["a"], line=4)
    dockerfiles = {"a": make_dockerfile(a), "b": make_dockerfile(b, [("COPY --from", "a", 2, 8)])}
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(a, b), dockerfiles)
    assert caught.value.message.splitlines() == [
        "dependency cycle: a -> b -> a",
        "  a -> b: depends_on at buildplan.yaml:5:9; COPY --from=a at services/b/Dockerfile:2:8",
        "  b -> a: depends_on at buildplan.yaml:2:9",
    ]
    assert caught.value.location == Location(PLAN, 5, 9)


def test_a_target_depending_on_itself_is_a_cycle() -> None:
    a = make_target("a", depends_on=["a"], line=3)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(a), {})
    assert caught.value.message.splitlines()[0] == "dependency cycle: a -> a"


@pytest.mark.parametrize("order", ["abc", "acb", "bac", "bca", "cab", "cba"])
def test_a_cycle_is_told_from_the_target_the_plan_declares_first(order: str) -> None:
    # b needs a, c needs b, a needs c: the cycle a -> b -> c -> a, whatever the plan's order.
    needs = {"a": "c", "b": "a", "c": "b"}
    targets = [make_target(n, depends_on=[needs[n]], line=1 + 3 * i) for i, n in enumerate(order)]
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(*targets), {})
    at = "abc".index(order[0])
    path = ("abc" * 2)[at : at + 3] + order[0]
    err = caught.value
    assert err.message.splitlines()[0] == "dependency cycle: " + " -> ".join(path)
    # The place shown is the first edge of that path: its downstream's depends_on entry.
    downstream = next(t for t in targets if t.name == path[1])
    assert err.location == downstream.depends_on_at[path[0]]
    assert err.hint == (
        "remove one of these dependencies, or move what both need into a shared stage"
    )


def test_a_cycle_reached_from_outside_it_is_told_from_its_first_declared_target() -> None:
    # x is declared first and leads into the cycle at b: the search meets b first.
    x = make_target("x", line=1)
    a = make_target("a", depends_on=["c"], line=4)
    b = make_target("b", depends_on=["x", "a"], line=8)
    c = make_target("c", depends_on=["b"], line=13)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(x, a, b, c), {})
    assert caught.value.message.splitlines()[0] == "dependency cycle: a -> b -> c -> a"


def test_a_depends_on_without_its_own_place_is_shown_at_the_target() -> None:
    a = dataclasses.replace(make_target("a", depends_on=["b"], line=3), depends_on_at={})
    b = dataclasses.replace(make_target("b", depends_on=["a"], line=7), depends_on_at={})
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(a, b), {})
    assert caught.value.message.splitlines()[1:] == [
        "  a -> b: depends_on at buildplan.yaml:7:3",
        "  b -> a: depends_on at buildplan.yaml:3:3",
    ]


def test_an_edge_naming_a_target_the_graph_lacks_is_a_programming_error() -> None:
    for upstream, downstream in (("ghost", "a"), ("a", "ghost")):
        with pytest.raises(ValueError, match=f"edge {upstream} -> {downstream} names an unknown"):
            BuildGraph(("a",), [Edge(upstream, downstream, "depends_on", Location(PLAN, 1, 1))])


def test_a_stage_asked_of_a_dockerfile_without_named_stages_says_none_has_a_name() -> None:
    app = make_target("app", target="runtime", line=2)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(app), {"app": make_dockerfile(app, stages=[None, None])})
    assert caught.value.message == (
        "target 'app' builds stage 'runtime', which services/app/Dockerfile does not have"
    )
    assert caught.value.hint == "its stages are: none has a name (`FROM image AS name`)"


def test_a_cycle_through_a_file_outside_the_plan_directory_shows_its_whole_path() -> None:
    a = make_target("a", depends_on=["b"], line=1)
    outside = Path("/elsewhere/b/Dockerfile")
    b = dataclasses.replace(make_target("b", line=4), dockerfile=outside)
    dockerfile = dataclasses.replace(make_dockerfile(b, [("FROM", "a", 2, 6)]), path=outside)
    with pytest.raises(PlanError) as caught:
        build_graph(make_plan(a, b), {"b": dockerfile})
    assert caught.value.message.splitlines()[1:] == [
        "  a -> b: FROM a at /elsewhere/b/Dockerfile:2:6",
        "  b -> a: depends_on at buildplan.yaml:2:9",
    ]


def test_a_graph_without_a_plan_directory_shows_locations_as_given() -> None:
    edges = [
        Edge("a", "b", "depends_on", Location(Path("plan.yaml"), 3, 9)),
        Edge("b", "a", "depends_on", Location(Path("/abs/plan.yaml"), 7, 9)),
    ]
    with pytest.raises(PlanError) as caught:
        BuildGraph(("a", "b"), edges)
    assert caught.value.message.splitlines() == [
        "dependency cycle: a -> b -> a",
        "  a -> b: depends_on at plan.yaml:3:9",
        "  b -> a: depends_on at /abs/plan.yaml:7:9",
    ]


def test_selecting_from_a_plan_without_targets_says_it_has_none() -> None:
    with pytest.raises(UsageError) as caught:
        BuildGraph((), ()).select(["api"])
    assert caught.value.message == "unknown target 'api'"
    assert caught.value.hint == "the plan has no targets"


# --- selection ------------------------------------------------------------------------------


def test_select_is_the_upstream_closure_in_build_order(monorepo) -> None:
    graph = build_graph(*monorepo)
    assert graph.select() == ("go-toolchain", "shared-lib", "api", "web")
    assert graph.select(["api"]) == ("go-toolchain", "shared-lib", "api")
    assert graph.select(["shared-lib", "shared-lib"]) == ("go-toolchain", "shared-lib")
    assert graph.downstream_closure(["shared-lib"]) == {"shared-lib", "api", "web"}
    assert graph.subgraph_deps(["web", "api", "go-toolchain"]) == {
        "go-toolchain": (),
        "api": ("go-toolchain",),
        "web": ("api",),
    }


def test_select_breaks_ties_by_plan_order_not_by_name() -> None:
    # zeta and alpha are ready first; zeta goes first because the plan declares it first.
    zeta = make_target("zeta", kind="stage")
    alpha = make_target("alpha", line=3)
    mid = make_target("mid", depends_on=["zeta"], line=5)
    late = make_target("late", line=8)
    early_dep = make_target("early", depends_on=["late"], line=9)
    graph = build_graph(make_plan(zeta, alpha, mid, late, early_dep), {})
    assert graph.select() == ("zeta", "alpha", "mid", "late", "early")
    assert graph.select(["early", "mid"]) == ("zeta", "mid", "late", "early")


def test_unknown_target_is_a_usage_error_with_a_suggestion(monorepo) -> None:
    graph = build_graph(*monorepo)
    with pytest.raises(UsageError) as caught:
        graph.select(["apu"])
    assert caught.value.message == "unknown target 'apu'"
    assert caught.value.hint == ("did you mean 'api'? targets: go-toolchain, shared-lib, api, web")
    with pytest.raises(UsageError, match="unknown target 'nope'"):
        graph.deps("nope")
    with pytest.raises(UsageError) as caught:
        graph.downstream_closure(["zzzzzz"])
    assert caught.value.hint == "targets: go-toolchain, shared-lib, api, web"


def test_unknown_target_hint_stays_short_for_big_plans() -> None:
    graph = BuildGraph([f"svc-{i}" for i in range(500)], [])
    with pytest.raises(UsageError) as caught:
        graph.select(["svc-x"])
    assert caught.value.hint is not None
    assert caught.value.hint.endswith(", ... (500 in all)")
    assert caught.value.hint.count(",") < 20


def test_graph_is_read_only(monorepo) -> None:
    graph = build_graph(*monorepo)
    with pytest.raises(nx.NetworkXError):
        graph.graph.add_edge("web", "api")
    with pytest.raises(AttributeError):
        graph.extra = 1  # type: ignore[attr-defined]


# --- drawings -------------------------------------------------------------------------------


def test_render_text_lists_deps_in_build_order(monorepo) -> None:
    graph = build_graph(*monorepo)
    assert render_text(graph, ["api"]) == (
        "go-toolchain\nshared-lib    <- go-toolchain\napi           <- shared-lib, go-toolchain\n"
    )


def test_mermaid_has_every_node_and_edge(monorepo) -> None:
    graph = build_graph(*monorepo)
    text = render_mermaid(graph)
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    ids = {}
    for line in lines:
        if m := re.fullmatch(r'\s+(n\d+)(?:\[\["(.+)"\]\]|\("(.+)"\)):::(stage|service)', line):
            name = m[2] or m[3]
            ids[m[1]] = name
            assert m[4] == graph.kinds[name]
            assert (m[2] is not None) == (m[4] == "stage")
    assert sorted(ids.values()) == sorted(graph.names)
    drawn = {
        (ids[m[1]], ids[m[2]])
        for line in lines
        if (m := re.fullmatch(r"\s+(n\d+) --> (n\d+)", line))
    }
    assert drawn == {(d, n) for n in graph.names for d in graph.deps(n)}


_DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def _parse_dot(text: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Enough of DOT to check orch's output: quoted ids, `a -> b`, attribute lists, one per line."""
    lines = text.strip().splitlines()
    assert lines[0] == "digraph orch {"
    assert lines[-1] == "}"
    unquote = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
    attr = rf"\[(?:\w+=(?:{_DOT_STRING}|[\w#.,]+)(?:, )?)+\]"
    nodes: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for line in lines[1:-1]:
        line = line.strip()
        if m := re.fullmatch(rf"{_DOT_STRING} -> {_DOT_STRING} ({attr});", line):
            edges.add((unquote(m[1]), unquote(m[2])))
        elif m := re.fullmatch(rf"{_DOT_STRING} ({attr});", line):
            nodes[unquote(m[1])] = m[2]
        else:
            assert re.fullmatch(rf"(rankdir=LR|node {attr});", line), line
    assert edges <= {(u, v) for u in nodes for v in nodes}
    return nodes, edges


def test_dot_is_well_formed_and_has_every_node_and_edge(monorepo) -> None:
    graph = build_graph(*monorepo)
    text = render_dot(graph)
    nodes, edges = _parse_dot(text)
    if shutil.which("dot"):  # Graphviz itself, where installed, is the final word on syntax
        subprocess.run(["dot", "-Tplain"], input=text, text=True, capture_output=True, check=True)
    assert set(nodes) == set(graph.names)
    assert "shape=component" in nodes["go-toolchain"]
    assert "shape=component" not in nodes["api"]
    assert edges == {(d, n) for n in graph.names for d in graph.deps(n)}


def test_dot_quotes_awkward_names_and_dashes_inferred_only_edges() -> None:
    lib = make_target('lib."x"\\y', kind="stage")
    api = make_target("api.v2", line=4)
    refs = [("FROM", lib.name, 1, 6)]
    graph = build_graph(make_plan(lib, api), {"api.v2": make_dockerfile(api, refs)})
    text = render_dot(graph, ["api.v2"])
    nodes, edges = _parse_dot(text)
    assert set(nodes) == {'lib."x"\\y', "api.v2"}
    assert edges == {('lib."x"\\y', "api.v2")}
    assert "style=dashed" in text
    assert "#quot;" in render_mermaid(graph)


def test_drawings_of_a_selection_show_only_its_closure(monorepo) -> None:
    graph = build_graph(*monorepo)
    nodes, _ = _parse_dot(render_dot(graph, ["shared-lib"], {"go-toolchain": "stage"}))
    assert set(nodes) == {"go-toolchain", "shared-lib"}
    assert "web" not in render_mermaid(graph, ["api"])


# --- properties on random graphs ------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[int], set[tuple[int, int]], set[tuple[int, int]]]:
    """n targets, a random topological permutation, and edges split into declared and inferred."""
    n = draw(st.integers(1, 24))
    perm = draw(st.permutations(range(n)))
    pairs = [(perm[i], perm[j]) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * n)) if pairs else []
    declared = set(draw(st.lists(st.sampled_from(chosen), unique=True))) if chosen else set()
    return n, list(perm), declared, set(chosen) - declared


def _random_project(
    n: int, declared: set[tuple[int, int]], inferred: set[tuple[int, int]]
) -> tuple[Plan, dict[str, Dockerfile]]:
    """Targets t0..tn-1 in plan order; (u, v) means v needs u."""
    name = "t{}".format
    targets = [
        make_target(
            name(v), depends_on=[name(u) for u, w in sorted(declared) if w == v], line=v * 10
        )
        for v in range(n)
    ]
    dockerfiles = {
        t.name: make_dockerfile(t, [("FROM", name(u), 1, 6) for u, w in sorted(inferred) if w == v])
        for v, t in enumerate(targets)
    }
    return make_plan(*targets), dockerfiles


def _reference(n: int, edges: set[tuple[int, int]]) -> nx.DiGraph:
    ref = nx.DiGraph()
    ref.add_nodes_from(f"t{i}" for i in range(n))
    ref.add_edges_from((f"t{u}", f"t{v}") for u, v in edges)
    return ref


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_select_is_a_deterministic_topological_closure(dag, data) -> None:
    n, _, declared, inferred = dag
    graph = build_graph(*_random_project(n, declared, inferred))
    ref = _reference(n, declared | inferred)
    order = graph.select()
    assert sorted(order) == sorted(ref.nodes)
    position = {name: i for i, name in enumerate(order)}
    assert all(position[u] < position[v] for u, v in ref.edges)
    # Among ready targets, the earliest in the plan goes first.
    assert list(order) == list(nx.lexicographical_topological_sort(ref, key=lambda s: int(s[1:])))

    names = data.draw(st.lists(st.sampled_from(list(ref.nodes)), max_size=4))
    picked = graph.select(names)
    # No names selects everything.
    closure = set(names).union(*(nx.ancestors(ref, x) for x in names)) if names else set(ref)
    assert set(picked) == closure
    assert len(picked) == len(closure)
    assert list(picked) == [x for x in order if x in closure]
    assert graph.downstream_closure(names) == set(names).union(
        *(nx.descendants(ref, x) for x in names)
    )
    again = build_graph(*_random_project(n, declared, inferred))
    assert again.select(names) == picked
    assert graph.select(names) == picked


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_a_back_edge_always_reports_a_real_cycle(dag, data) -> None:
    n, _, declared, inferred = dag
    # (x, y) closes a cycle when y already reaches x; y == x is a target needing itself.
    ref = _reference(n, declared | inferred)
    back = data.draw(
        st.sampled_from(
            [(int(x[1:]), int(y[1:])) for y in ref for x in sorted(nx.descendants(ref, y) | {y})]
        )
    )
    # A Dockerfile naming its own target is not an edge, so a self-loop can only be declared.
    if data.draw(st.booleans()) or back[0] == back[1]:
        declared2, inferred2 = declared | {back}, inferred
    else:
        declared2, inferred2 = declared, inferred | {back}
    with pytest.raises(PlanError) as caught:
        build_graph(*_random_project(n, declared2, inferred2))
    lines = caught.value.message.splitlines()
    assert lines[0].startswith("dependency cycle: ")
    path = lines[0].removeprefix("dependency cycle: ").split(" -> ")
    assert path[0] == path[-1]
    assert len(set(path[:-1])) == len(path) - 1
    full = _reference(n, declared2 | inferred2)
    steps = list(itertools.pairwise(path))
    assert all(full.has_edge(u, v) for u, v in steps)
    assert [line.split(":")[0].strip() for line in lines[1:]] == [f"{u} -> {v}" for u, v in steps]
    assert caught.value.location is not None


def test_a_lone_string_is_one_target_name(monorepo) -> None:
    graph = build_graph(*monorepo)
    assert graph.select("api") == graph.select(["api"])
    assert graph.downstream_closure("api") == {"api", "web"}
