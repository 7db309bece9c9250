"""Target arguments as users write them: names, globs, `...NAME` and `...^NAME`, for every command
that takes targets; and `--since` with names, an intersection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.errors import UsageError
from orchestrator.plan.selectors import expand
from orchestrator.run.pipeline import Request, select
from tests.kit import commit, make_repo, project_of

# base <- toolchain <- svc-api ; base <- pylib <- svc-worker, svc-web ; tools alone.
PLAN = """\
stages:
  base: {context: base}
  toolchain: {context: toolchain}
  pylib: {context: pylib}
services:
  svc-api: {context: api, test: [test]}
  svc-worker: {context: worker, test: [test]}
  svc-web: {context: web}
  tools: {context: tools}
"""
FILES = {
    "base/Dockerfile": "FROM busybox\n",
    "toolchain/Dockerfile": "FROM base\n",
    "pylib/Dockerfile": "FROM base\n",
    "api/Dockerfile": "FROM toolchain AS test\nFROM toolchain\n",
    "worker/Dockerfile": "FROM pylib AS test\nFROM pylib\n",
    "web/Dockerfile": "FROM pylib\n",
    "tools/Dockerfile": "FROM busybox\n",
}


@pytest.fixture
def project(tmp_path):
    return project_of(tmp_path, PLAN, FILES)


def names(project, *arguments: str) -> list[str]:
    return list(expand(arguments, project.graph).names)


def test_a_glob_selects_every_matching_name_in_build_order(project):
    assert names(project, "svc-*") == ["svc-api", "svc-worker", "svc-web"]
    assert names(project, "svc-w*") == ["svc-worker", "svc-web"]
    assert names(project, "*l*") == ["toolchain", "pylib", "tools"]
    assert names(project, "svc-[aw]pi") == ["svc-api"]
    assert names(project, "t??ls") == ["tools"]


def test_three_dots_select_a_target_and_everything_that_builds_on_it(project):
    assert names(project, "...pylib") == ["pylib", "svc-worker", "svc-web"]
    assert names(project, "...base") == [
        "base",
        "toolchain",
        "pylib",
        "svc-api",
        "svc-worker",
        "svc-web",
    ]
    assert names(project, "...svc-web") == ["svc-web"]


def test_a_caret_leaves_the_named_target_out(project):
    assert names(project, "...^pylib") == ["svc-worker", "svc-web"]
    assert names(project, "...^base") == ["toolchain", "pylib", "svc-api", "svc-worker", "svc-web"]


def test_patterns_combine_and_each_target_comes_once(project):
    assert names(project, "tools", "...^pylib", "svc-*") == [
        "svc-api",
        "svc-worker",
        "svc-web",
        "tools",
    ]
    assert names(project, "...*lib") == ["pylib", "svc-worker", "svc-web"]


@pytest.mark.parametrize(
    ("argument", "said", "hint"),
    [
        ("svc-x*", "'svc-x*' matches no target", "targets: base"),
        ("svc-ap", "unknown target 'svc-ap'", "did you mean 'svc-api'?"),
        ("...pylb", "unknown target 'pylb'", "did you mean 'pylib'?"),
        ("...^svc-web", "'...^svc-web' selects nothing: no target builds on svc-web", "...svc-web"),
        ("...", "'...' names no target", "...NAME"),
        ("", "an empty target name", "glob"),
        ("[svc", "'[svc' matches no target", "targets:"),
    ],
)
def test_an_argument_that_matches_nothing_is_exit_2_with_the_closest_names(
    project, argument, said, hint
):
    with pytest.raises(UsageError) as caught:
        expand([argument], project.graph)
    assert said in caught.value.message
    assert hint in (caught.value.hint or "")
    assert caught.value.exit_code == 2


@given(st.lists(st.sampled_from(["base", "pylib", "svc-*", "...pylib", "...^base", "t*"])))
def test_the_selection_is_in_build_order_without_repeats(arguments):
    project = _PROJECT
    got = names(project, *arguments)
    order = list(project.graph.order)
    assert got == sorted(set(got), key=order.index)


def _project():
    import tempfile
    from pathlib import Path

    return project_of(Path(tempfile.mkdtemp()), PLAN, FILES)


_PROJECT = _project()


# --- the same selection in the run's select step ---------------------------------------------


def test_build_takes_the_selected_names_and_what_they_need(project):
    got = select(project, Request(targets=("...^pylib",)))
    assert list(got.jobset.order) == ["base", "pylib", "svc-worker", "svc-web"]


def test_test_keeps_to_services_with_a_test_stage_where_a_pattern_chose(project):
    got = select(project, Request(test=True, targets=("...base",)))
    assert [k for k in got.jobset.order if ":" in k] == ["svc-api:test", "svc-worker:test"]
    with pytest.raises(UsageError, match="selects no service with a test stage"):
        select(project, Request(test=True, targets=("svc-web*",)))
    with pytest.raises(UsageError, match="has no test stage"):  # a name given outright
        select(project, Request(test=True, targets=("svc-web",)))


def test_since_with_names_is_their_intersection(tmp_path, isolated_git):
    repo = make_repo(tmp_path / "repo", {"buildplan.yaml": "version: 1\n" + PLAN, **FILES})
    (repo / "pylib/lib.py").write_text("x = 1\n")
    commit(repo, "pylib")
    project = project_of(repo, PLAN, {})
    affected = select(project, Request(targets=("svc-*",), since="HEAD~1"))
    assert [k for k in affected.jobset.order if k.startswith("svc-")] == ["svc-worker", "svc-web"]
    only_api = select(project, Request(targets=("svc-api",), since="HEAD~1"))
    assert only_api.jobset.order == ()
    assert "no change since HEAD~1 affects them" in (only_api.note or "")
