"""orchestrator.inputs.changes: what a change since a ref hits, on real git repositories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.errors import Location, PlanError, UsageError
from orchestrator.inputs.changes import (
    Affected,
    Hit,
    PlanChange,
    PlanUnknown,
    Upstream,
    affected,
    effective_entries,
    plan_changes,
    since_range,
)
from orchestrator.project import load_project
from tests.kit import commit, git, write_tree

pytestmark = pytest.mark.usefixtures("isolated_git")


def touch(top: Path, rel: str) -> None:
    """Edit a file (a comment line at its end, so a Dockerfile stays valid) or create it."""
    path = top / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write("# edited\n")


PLAN = """\
version: 1
defaults:
  args: {GO: "1.22", MODE: prod}
  cache:
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
stages:
  base: {context: stages/base}
  toolchain: {context: stages/toolchain}
services:
  api:
    context: services/api
    args: {MODE: debug}
  worker:
    context: services/worker
    contexts: {shared: libs/shared}
  scheduler:
    context: services/scheduler
    dockerfile: app.Dockerfile
    contexts: {shared: libs/shared}
  docs:
    context: services/docs
    watch: ["proto/**", "!proto/README.md"]
    args: {GO: "1.21"}
    cache:
      to: ["type=local,dest=.orch-cache/docs-own,mode=max"]
"""

# The repository holds the plan in `mono/`, beside files that are no part of it.
FILES = {
    ".gitignore": "*.log\n",
    "README.md": "the repository\n",
    "tools/lint.sh": "echo lint\n",
    "mono/buildplan.yaml": PLAN,
    "mono/stages/base/Dockerfile": "FROM busybox\nCOPY setup.sh /\n",
    "mono/stages/base/setup.sh": "echo base\n",
    "mono/stages/toolchain/Dockerfile": "FROM base\n",
    "mono/services/api/Dockerfile": "FROM toolchain AS b\nFROM scratch\nCOPY --from=b / /\n",
    "mono/services/api/.dockerignore": "*.md\n!KEEP.md\ntmp/\n",
    "mono/services/api/main.go": "package main\n",
    "mono/services/api/util.go": "package main\n",
    "mono/services/api/run.sh": "echo run\n",
    "mono/services/api/README.md": "api\n",
    "mono/services/api/KEEP.md": "kept\n",
    "mono/services/api/tmp/scratch": "x\n",
    "mono/services/worker/Dockerfile": "FROM base\nCOPY --from=shared / /lib\n",
    "mono/services/worker/worker.py": "print()\n",
    "mono/services/scheduler/app.Dockerfile": "FROM base\n",
    "mono/services/scheduler/app.Dockerfile.dockerignore": "notes/\n",
    "mono/services/scheduler/.dockerignore": "*.txt\n",
    "mono/services/scheduler/main.py": "print()\n",
    "mono/services/scheduler/notes/todo": "x\n",
    "mono/services/scheduler/help.txt": "x\n",
    "mono/services/docs/Dockerfile": "FROM busybox\n",
    "mono/proto/api.proto": "syntax\n",
    "mono/proto/README.md": "protos\n",
    "mono/libs/shared/.dockerignore": "tests/\n.dockerignore\n",
    "mono/libs/shared/job.py": "JOB = 1\n",
    "mono/libs/shared/tests/test_job.py": "pass\n",
}


def make_monorepo(top: Path) -> Path:
    """The repository with one commit, tagged `before`; returns its top."""
    top.mkdir(parents=True)
    git(top, "init", "-q", "-b", "main")
    write_tree(top, FILES)
    commit(top, "first")
    git(top, "tag", "before")
    return top


def since_before(top: Path) -> Affected:
    return affected(load_project(top / "mono" / "buildplan.yaml"), "before")


def rules(result: Affected) -> dict[str, set[tuple[str, str]]]:
    """Target -> the (path, rule) pairs of its hits."""
    return {
        name: {(r.path, r.rule) for r in reasons if isinstance(r, Hit)}
        for name, reasons in result.reasons.items()
    }


@pytest.fixture
def top(tmp_path: Path) -> Path:
    return make_monorepo(tmp_path / "repo")


def test_nothing_changed_hits_nothing(top: Path) -> None:
    result = since_before(top)
    assert result.targets == frozenset()
    assert result.changed == ()
    assert result.base == git(top, "rev-parse", "before")


def test_a_change_in_a_services_source_hits_it_only(top: Path) -> None:
    write_tree(top, {"mono/services/api/main.go": "package main // edited\n"})
    result = since_before(top)
    assert result.targets == {"api"}
    assert result.reasons["api"] == (
        Hit(target="api", path="mono/services/api/main.go", kind="context"),
    )
    assert result.changed == ("mono/services/api/main.go",)


def test_a_change_in_a_shared_named_context_hits_every_user_of_it(top: Path) -> None:
    write_tree(top, {"mono/libs/shared/job.py": "JOB = 2\n"})
    result = since_before(top)
    assert result.targets == {"worker", "scheduler"}
    for name in ("worker", "scheduler"):
        assert rules(result)[name] == {("mono/libs/shared/job.py", "named context shared")}


def test_a_change_in_a_stages_context_hits_it_and_everything_downstream(top: Path) -> None:
    write_tree(top, {"mono/stages/base/setup.sh": "echo changed\n"})
    commit(top)
    result = since_before(top)
    assert result.targets == {"base", "toolchain", "api", "worker", "scheduler"}
    assert result.reasons["base"] == (
        Hit(target="base", path="mono/stages/base/setup.sh", kind="context"),
    )
    assert result.reasons["toolchain"] == (Upstream(target="toolchain", upstream="base"),)
    assert result.reasons["api"] == (Upstream(target="api", upstream="toolchain"),)
    assert result.reasons["worker"] == (Upstream(target="worker", upstream="base"),)
    assert list(result.reasons) == ["base", "toolchain", "api", "worker", "scheduler"]


@pytest.mark.parametrize(
    ("path", "hit"),
    [
        ("mono/services/api/README.md", set()),  # *.md
        ("mono/services/api/KEEP.md", {("api", "context")}),  # !KEEP.md
        ("mono/services/api/docs/guide.md", {("api", "context")}),  # *.md is top-level only
        ("mono/services/api/tmp/scratch", set()),  # tmp/
        ("mono/services/api/.dockerignore", {("api", "dockerignore"), ("api", "context")}),
        ("mono/services/api/Dockerfile", {("api", "dockerfile"), ("api", "context")}),
        ("mono/libs/shared/tests/test_job.py", set()),  # the named context's own tests/
        # its ignore file excludes itself, yet changes what the named context sends
        (
            "mono/libs/shared/.dockerignore",
            {("worker", "named context shared"), ("scheduler", "named context shared")},
        ),
    ],
)
def test_dockerignore_decides_which_context_files_hit(
    top: Path, path: str, hit: set[tuple[str, str]]
) -> None:
    touch(top, path)
    result = since_before(top)
    found = {(name, rule) for name, pairs in rules(result).items() for _, rule in pairs}
    assert found == hit
    assert set(rules(result)) == {name for name, _ in hit}


@pytest.mark.parametrize(
    ("path", "hit"),
    [
        # app.Dockerfile.dockerignore is in use: notes/ is left out, *.txt is sent
        ("mono/services/scheduler/notes/todo", set()),
        ("mono/services/scheduler/help.txt", {"context"}),
        ("mono/services/scheduler/main.py", {"context"}),
        ("mono/services/scheduler/app.Dockerfile.dockerignore", {"dockerignore", "context"}),
        # the context's .dockerignore is not in use: only a file of the context
        ("mono/services/scheduler/.dockerignore", {"context"}),
        ("mono/services/scheduler/app.Dockerfile", {"dockerfile", "context"}),
    ],
)
def test_a_dockerfile_specific_ignore_file_replaces_the_contexts(
    top: Path, path: str, hit: set[str]
) -> None:
    touch(top, path)
    result = since_before(top)
    assert {rule for _, rule in rules(result).get("scheduler", set())} == hit
    assert result.targets == ({"scheduler"} if hit else set())


def test_removing_the_dockerfile_specific_ignore_file_switches_back_to_the_contexts(
    top: Path,
) -> None:
    (top / "mono/services/scheduler/app.Dockerfile.dockerignore").unlink()
    result = since_before(top)
    # the deleted file was sent too: nothing excluded it
    assert rules(result) == {
        "scheduler": {
            ("mono/services/scheduler/app.Dockerfile.dockerignore", "dockerignore"),
            ("mono/services/scheduler/app.Dockerfile.dockerignore", "context"),
        }
    }
    # now .dockerignore is in use: its edits are rule changes, *.txt is left out
    commit(top)
    git(top, "tag", "-f", "before")
    write_tree(top, {"mono/services/scheduler/.dockerignore": "*.txt\n*.md\n"})
    write_tree(top, {"mono/services/scheduler/more.txt": "x\n"})
    assert rules(since_before(top)) == {
        "scheduler": {
            ("mono/services/scheduler/.dockerignore", "dockerignore"),
            ("mono/services/scheduler/.dockerignore", "context"),
        }
    }


@pytest.mark.parametrize(
    ("path", "targets"),
    [
        ("mono/proto/api.proto", {"docs"}),
        ("mono/proto/v2/jobs.proto", {"docs"}),
        ("mono/proto/README.md", set()),  # !proto/README.md
        ("mono/protocol.txt", set()),
    ],
)
def test_a_watch_pattern_hits_its_target(top: Path, path: str, targets: set[str]) -> None:
    touch(top, path)
    result = since_before(top)
    assert result.targets == targets
    if targets:
        assert result.reasons["docs"] == (
            Hit(target="docs", path=path, kind="watch", detail="proto/**"),
        )
        (reason,) = result.reasons["docs"]
        assert isinstance(reason, Hit)
        assert reason.rule == "watch proto/**"


@pytest.mark.parametrize("path", ["README.md", "tools/lint.sh", "tools/new.sh"])
def test_a_path_outside_the_plan_directory_hits_nothing(top: Path, path: str) -> None:
    touch(top, path)
    result = since_before(top)
    assert result.changed == (path,)
    assert result.targets == frozenset()


def test_untracked_files_count_and_gitignored_ones_do_not(top: Path) -> None:
    write_tree(
        top, {"mono/services/api/new.go": "package main\n", "mono/services/worker/x.log": "log"}
    )
    result = since_before(top)
    assert result.changed == ("mono/services/api/new.go",)
    assert rules(result) == {"api": {("mono/services/api/new.go", "context")}}


def _rename(top: Path) -> None:
    git(top, "mv", "mono/services/api/util.go", "mono/services/worker/util.go")
    commit(top, "move util.go")


def _delete(top: Path) -> None:
    (top / "mono/services/api/util.go").unlink()


def _exec_bit(top: Path) -> None:
    (top / "mono/services/api/run.sh").chmod(0o755)


def _new_symlink(top: Path) -> None:
    (top / "mono/services/worker/lib").symlink_to("../../libs/shared")


def _retarget_symlink(top: Path) -> None:
    link = top / "mono/services/api/current"
    link.symlink_to("main.go")
    commit(top, "link")
    git(top, "tag", "-f", "before")
    link.unlink()
    link.symlink_to("util.go")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _rename,
            {
                "api": {("mono/services/api/util.go", "context")},
                "worker": {("mono/services/worker/util.go", "context")},
            },
        ),
        (_delete, {"api": {("mono/services/api/util.go", "context")}}),
        (_exec_bit, {"api": {("mono/services/api/run.sh", "context")}}),
        (_new_symlink, {"worker": {("mono/services/worker/lib", "context")}}),
        (_retarget_symlink, {"api": {("mono/services/api/current", "context")}}),
    ],
    ids=["rename", "deletion", "exec-bit", "new-symlink", "symlink-target"],
)
def test_renames_deletions_modes_and_symlinks_count(
    top: Path, edit: Callable[[Path], None], expected: dict[str, set[tuple[str, str]]]
) -> None:
    edit(top)
    assert rules(since_before(top)) == expected


def test_a_committed_change_and_an_uncommitted_one_both_count(top: Path) -> None:
    write_tree(top, {"mono/services/api/main.go": "package main // 1\n"})
    commit(top)
    write_tree(top, {"mono/services/worker/worker.py": "print(2)\n"})
    git(top, "add", "mono/services/worker/worker.py")
    assert since_before(top).targets == {"api", "worker"}


# --- Plan entries -------------------------------------------------------------------------


def edit_plan(top: Path, old: str, new: str) -> None:
    path = top / "mono/buildplan.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_args_change_in_one_target_does_not_hit_another(top: Path) -> None:
    edit_plan(top, "args: {MODE: debug}", "args: {MODE: trace}")
    result = since_before(top)
    assert result.targets == {"api"}
    assert result.reasons["api"] == (PlanChange(target="api", keys=("args",)),)
    assert result.reasons["api"][0].describe() == "its plan entry changed: args"


def test_the_keys_of_a_changed_entry_are_told_in_the_plans_order(top: Path) -> None:
    edit_plan(
        top,
        "    context: services/api\n    args: {MODE: debug}",
        "    tags: [edge]\n    args: {MODE: trace}\n    context: services/api\n"
        "    labels: {team: core}\n    platforms: [linux/arm64]\n    target: b",
    )
    result = since_before(top)
    (change,) = result.reasons["api"]
    assert change == PlanChange(
        target="api", keys=("target", "args", "labels", "platforms", "tags")
    )
    assert change.describe() == "its plan entry changed: target, args, labels, platforms, tags"


def test_a_target_new_in_the_plan_is_told_so(top: Path) -> None:
    edit_plan(top, "  docs:\n", "  api2:\n    context: services/api\n  docs:\n")
    result = since_before(top)
    assert result.reasons["api2"] == (PlanChange(target="api2", new=True),)
    assert result.reasons["api2"][0].describe() == "new in the plan"


def test_a_defaults_change_hits_the_targets_that_inherit_it(top: Path) -> None:
    edit_plan(top, 'GO: "1.22", MODE: prod', 'GO: "1.23", MODE: prod')
    result = since_before(top)
    # docs sets its own GO; api sets MODE only, so it inherits GO
    assert result.targets == {"base", "toolchain", "api", "worker", "scheduler"}
    for name in result.targets:
        assert PlanChange(target=name, keys=("args",)) in result.reasons[name]


def test_a_target_overriding_the_changed_default_is_hit_only_through_its_upstream(
    top: Path,
) -> None:
    edit_plan(top, 'GO: "1.22", MODE: prod', 'GO: "1.22", MODE: fast')
    result = since_before(top)
    assert PlanChange(target="docs", keys=("args",)) in result.reasons["docs"]
    # api sets its own MODE: its entry is the same, but the toolchain it builds on is not
    assert result.reasons["api"] == (Upstream(target="api", upstream="toolchain"),)


def test_a_cache_default_hits_only_targets_without_their_own_direction(top: Path) -> None:
    edit_plan(top, "dest=.orch-cache/{name},mode=max", "dest=.orch-cache/{name},mode=min")
    result = since_before(top)
    assert "docs" not in result.targets
    assert PlanChange(target="worker", keys=("cache",)) in result.reasons["worker"]


def test_a_new_target_is_affected_and_the_others_are_not(top: Path) -> None:
    write_tree(top, {"mono/services/web/Dockerfile": "FROM busybox\n"})
    with (top / "mono/buildplan.yaml").open("a") as plan:
        plan.write("  web: {context: services/web}\n")
    result = since_before(top)
    assert result.targets == {"web"}
    assert PlanChange(target="web", new=True) in result.reasons["web"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("context: services/api", "context: ./services/api/"),
        ("    args: {MODE: debug}", "    args: {MODE: debug}\n    dockerfile: Dockerfile"),
        ("    args: {MODE: debug}", "    args: {MODE: debug}\n    depends_on: []"),
        ("    args: {MODE: debug}", "    args: {MODE: debug}\n    tags: [latest]"),
        ("args: {MODE: debug}", "args: {MODE: debug, GO: '1.22'}"),  # the value it inherited
        ("# nothing", "# nothing"),
    ],
)
def test_an_entry_written_differently_but_meaning_the_same_is_unchanged(
    top: Path, old: str, new: str
) -> None:
    edit_plan(top, "services:\n", "# nothing\nservices:\n")
    commit(top)
    git(top, "tag", "-f", "before")
    edit_plan(top, old, new)
    assert since_before(top).targets == frozenset()


def test_a_plan_that_did_not_exist_at_the_ref_affects_every_target(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_tree(top, {"README.md": "x\n"})
    commit(top, "empty")
    git(top, "tag", "before")
    write_tree(top, FILES)
    commit(top)
    result = since_before(top)
    assert result.targets == {"base", "toolchain", "api", "worker", "scheduler", "docs"}
    reason = result.reasons["docs"][-1]
    assert isinstance(reason, PlanUnknown)
    assert reason.cause.startswith("the plan mono/buildplan.yaml did not exist at ")


@pytest.mark.parametrize(
    ("then", "now", "expected"),
    [
        ({"services": {"a": {"context": "a"}}}, {"services": {"a": {"context": "a"}}}, {}),
        (
            {"services": {"a": {"context": "a"}}},
            {"stages": {"a": {"context": "a"}}},
            {"a": ("kind",)},
        ),
        (
            {"defaults": {"labels": {"x": "1"}}, "services": {"a": {"context": "a"}}},
            {"services": {"a": {"context": "a", "labels": {"x": "1"}}}},
            {},
        ),
        (
            {
                "defaults": {"cache": {"from": ["f"], "to": ["t"]}},
                "services": {"a": {"context": "a"}},
            },
            {
                "defaults": {"cache": {"from": ["f"]}},
                "services": {"a": {"context": "a", "cache": {"to": ["t"]}}},
            },
            {},
        ),
        (
            {"defaults": {"platforms": ["linux/amd64"]}, "services": {"a": {"context": "a"}}},
            {"services": {"a": {"context": "b", "platforms": ["linux/arm64"]}}},
            {"a": ("context", "platforms")},
        ),
        (
            {"services": {"a": {"context": "a", "test": "t"}}},
            {"services": {"a": {"context": "a", "test": ["t"]}}},
            {},
        ),
        (  # how `orch dev` runs it and what `orch lint` checks: nothing a build reads
            {"services": {"a": {"context": "a", "dev": {"ports": ["8080:8080"]}}}},
            {"services": {"a": {"context": "a", "lint": {"ignore": ["OL101"]}}}},
            {},
        ),
    ],
)
def test_plan_entries_are_compared_with_defaults_applied(
    then: dict[str, object], now: dict[str, object], expected: dict[str, tuple[str, ...]]
) -> None:
    changes = plan_changes(effective_entries(then), effective_entries(now))
    assert {n: c.keys for n, c in changes.items()} == expected


# --- When git cannot say ------------------------------------------------------------------


def _shallow_clone_of(tmp_path: Path) -> tuple[Path, str]:
    """A depth-1 clone of main, which also fetched the tip of a branch that left main two
    commits before its tip: the merge base is not in the clone."""
    source = make_monorepo(tmp_path / "source")
    git(source, "checkout", "-q", "-b", "feature")
    write_tree(source, {"mono/services/api/main.go": "package main // feature\n"})
    commit(source, "feature")
    git(source, "checkout", "-q", "main")
    for n in (1, 2):
        write_tree(source, {"mono/services/worker/worker.py": f"print({n})\n"})
        commit(source, f"main {n}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "main", f"file://{source}", "clone")
    git(clone, "fetch", "-q", "--depth", "1", "origin", "feature:feature")
    return clone, "feature"


def test_a_shallow_clone_without_the_merge_base_is_a_usage_error_with_the_fetch_hint(
    tmp_path: Path,
) -> None:
    clone, ref = _shallow_clone_of(tmp_path)
    project = load_project(clone / "mono" / "buildplan.yaml")
    with pytest.raises(UsageError) as caught:
        affected(project, ref)
    assert "merge base" in caught.value.message
    assert "shallow" in caught.value.message
    assert caught.value.hint is not None
    assert "git fetch --deepen=" in caught.value.hint
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("ref", ["feature", "HEAD~1"])
def test_the_fetch_a_shallow_clone_is_told_works_as_printed(tmp_path: Path, ref: str) -> None:
    import re
    import shlex

    clone, _ = _shallow_clone_of(tmp_path)
    project = load_project(clone / "mono" / "buildplan.yaml")
    with pytest.raises(UsageError) as caught:
        affected(project, ref)
    hint = caught.value.hint or ""
    command = re.search(r"`(git fetch [^`]+)`", hint)
    assert command is not None, hint
    git(clone, *shlex.split(command.group(1))[1:])  # exactly as printed
    then = re.search(r"then --since (\S+?)[ ,]", hint)
    found = affected(project, then.group(1) if then else ref)
    assert found.base  # the merge base is there now


def test_a_ref_a_shallow_clone_lacks_is_a_usage_error_with_the_fetch_hint(tmp_path: Path) -> None:
    clone, _ = _shallow_clone_of(tmp_path)
    with pytest.raises(UsageError) as caught:
        affected(load_project(clone / "mono" / "buildplan.yaml"), "HEAD~1")
    assert "is not a commit in this clone" in caught.value.message
    assert caught.value.hint is not None
    assert "--unshallow" in caught.value.hint


def test_outside_a_git_work_tree_since_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write_tree(
        root, {k.removeprefix("mono/"): v for k, v in FILES.items() if k.startswith("mono/")}
    )
    with pytest.raises(UsageError) as caught:
        affected(load_project(root / "buildplan.yaml"), "HEAD")
    assert "--since needs a git work tree" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("- a list\n", "it is not a mapping of version:, stages: and services:"),
        ("version: 1\ndefaults: [a]\nservices: {}\n", "its defaults: is not a mapping"),
    ],
)
def test_a_plan_at_the_ref_that_is_no_plan_says_why_for_every_target(
    tmp_path: Path, text: str, why: str
) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_tree(top, {**FILES, "mono/buildplan.yaml": text})
    commit(top, "not a plan")
    git(top, "tag", "before")
    write_tree(top, FILES)
    result = since_before(top)
    assert len(result.targets) == 6
    reason = result.reasons["api"][0]
    base = git(top, "rev-parse", "--short=12", "before").strip()
    assert reason.describe() == (
        f"the plan mono/buildplan.yaml at {base} cannot be read ({why}), so it is not compared"
    )


def test_a_setting_orch_has_no_place_for_in_its_order_is_told_last(top: Path) -> None:
    edit_plan(top, "    args: {MODE: debug}", "    args: {MODE: trace}\n    max_size: 25MB")
    (change,) = since_before(top).reasons["api"]
    assert change == PlanChange(target="api", keys=("args", "max_size"))


def test_a_plan_that_cannot_be_read_at_the_ref_affects_every_target(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write_tree(top, {**FILES, "mono/buildplan.yaml": "version: 1\nservices: [unclosed\n"})
    commit(top, "broken plan")
    git(top, "tag", "before")
    write_tree(top, FILES)
    result = since_before(top)
    assert result.targets == {"base", "toolchain", "api", "worker", "scheduler", "docs"}
    (reason,) = result.reasons["base"]
    assert isinstance(reason, PlanUnknown)
    assert "cannot be read" in reason.describe()


def test_the_plan_is_compared_at_the_merge_base_not_at_the_refs_tip(top: Path) -> None:
    git(top, "checkout", "-q", "-b", "feature")
    touch(top, "mono/services/api/main.go")
    commit(top, "api on the branch")
    git(top, "checkout", "-q", "main")
    edit_plan(top, "context: services/worker\n", "context: services/worker\n    args: {X: y}\n")
    touch(top, "mono/services/worker/worker.py")
    commit(top, "worker on main")
    git(top, "checkout", "-q", "feature")
    # what main did since the branch left it is no change of this branch
    result = affected(load_project(top / "mono" / "buildplan.yaml"), "main")
    assert result.targets == {"api"}
    assert result.base == git(top, "rev-parse", "before")


def test_a_plan_at_the_top_of_the_repository(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    plan = "version: 1\nservices:\n  all: {context: .}\n  one: {context: one}\n"
    write_tree(top, {"buildplan.yaml": plan, "Dockerfile": "FROM busybox\n"})
    write_tree(top, {"one/Dockerfile": "FROM busybox\n", ".dockerignore": "one/\n"})
    commit(top, "first")
    git(top, "tag", "before")
    touch(top, "one/code")
    edit_plan_at = top / "buildplan.yaml"
    edit_plan_at.write_text(plan.replace("{context: one}", "{context: one, args: {A: b}}"))
    result = affected(load_project(edit_plan_at), "before")
    # the plan file is part of the context `.`; one/ is not
    assert rules(result) == {
        "all": {("buildplan.yaml", "context")},
        "one": {("one/code", "context")},
    }
    assert PlanChange(target="one", keys=("args",)) in result.reasons["one"]


def test_an_ignore_pattern_buildkit_rejects_is_a_plan_error_at_its_line(top: Path) -> None:
    write_tree(top, {"mono/services/api/.dockerignore": "node_modules\n[\n"})
    with pytest.raises(PlanError) as caught:
        since_before(top)
    assert caught.value.location == Location(top / "mono/services/api/.dockerignore", 2)
    assert caught.value.hint == "BuildKit rejects this pattern too: fix or remove it"


def test_a_named_contexts_ignore_pattern_buildkit_rejects_is_a_plan_error_too(top: Path) -> None:
    write_tree(top, {"mono/libs/shared/.dockerignore": "!\n"})
    with pytest.raises(PlanError) as caught:
        since_before(top)
    assert caught.value.location == Location(top / "mono/libs/shared/.dockerignore", 1)


def test_effective_entries_apply_defaults_and_keep_what_is_no_mapping_as_written() -> None:
    data = {
        "defaults": {"args": {"B": "2"}, "platforms": ["linux/arm64"], "cache": {"to": ["t"]}},
        "stages": {"base": None},
        "services": {
            "api": "not a mapping",
            7: {"context": "a", "args": {"A": "1"}, "dev": {"ports": [1]}},
        },
    }
    assert effective_entries(data) == {
        "base": {"kind": "stage", "entry": None},
        "api": {"kind": "service", "entry": "not a mapping"},
        "7": {
            "kind": "service",
            "context": "a",
            "args": {"B": "2", "A": "1"},
            "platforms": ["linux/arm64"],
            "cache": {"to": ["t"]},
            "image": "orch/{name}",
            "tags": ["latest"],
            "dockerfile": "Dockerfile",
        },
    }


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"services": [1]}, "its services: is not a mapping"),
        ({"stages": "x"}, "its stages: is not a mapping"),
    ],
)
def test_effective_entries_of_a_section_that_is_no_mapping_say_which(data, why) -> None:
    with pytest.raises(ValueError, match=f"^{why}$"):
        effective_entries(data)


def test_effective_entries_write_paths_and_each_cache_direction_one_way() -> None:
    data = {
        "defaults": {"cache": {"from": ["f"], "to": ["t"]}},
        "services": {
            "w": {
                "context": "./a/",
                "dockerfile": "./app.Dockerfile",
                "contexts": {"shared": "libs/./shared", "img": "docker-image://x//y"},
                "cache": {"to": ["own"]},
            }
        },
    }
    assert effective_entries(data) == {
        "w": {
            "kind": "service",
            "context": "a",
            "dockerfile": "app.Dockerfile",
            "contexts": {"shared": "libs/shared", "img": "docker-image://x//y"},
            "cache": {"from": ["f"], "to": ["own"]},
            "image": "orch/{name}",
            "tags": ["latest"],
        }
    }


# --- ranges ---------------------------------------------------------------------------------


def test_a_range_compares_its_end_with_the_merge_base_and_leaves_the_work_tree_out(
    top: Path,
) -> None:
    git(top, "checkout", "-q", "-b", "feature")
    touch(top, "mono/services/api/main.go")
    edit_plan(top, "context: services/worker\n", "context: services/worker\n    args: {X: y}\n")
    commit(top, "api and the worker's args on the branch")
    git(top, "checkout", "-q", "main")
    touch(top, "mono/libs/shared/job.py")
    commit(top, "shared on main, after the branch left")
    # In the work tree, not in any commit of the range: neither counts.
    touch(top, "mono/services/docs/Dockerfile")
    edit_plan(top, "args: {MODE: debug}", "args: {MODE: trace}")
    project = load_project(top / "mono" / "buildplan.yaml")
    result = affected(project, "main..feature")
    assert result.ref == "main..feature"
    assert result.base == git(top, "rev-parse", "before")
    assert result.changed == ("mono/buildplan.yaml", "mono/services/api/main.go")
    assert result.targets == {"api", "worker"}
    assert PlanChange(target="worker", keys=("args",)) in result.reasons["worker"]
    assert rules(result)["api"] == {("mono/services/api/main.go", "context")}
    # The work tree and main's own commit count without a range.
    assert {"docs", "api", "worker", "scheduler"} <= affected(project, "before").targets


def test_a_range_whose_end_has_no_plan_or_a_broken_one_compares_no_plan_entry(top: Path) -> None:
    plan = top / "mono" / "buildplan.yaml"
    text = plan.read_text()
    git(top, "rm", "-q", "mono/buildplan.yaml")
    commit(top, "no plan")
    write_tree(top, {"mono/buildplan.yaml": "version: [\n"})
    commit(top, "a broken plan")
    plan.write_text(text)
    project = load_project(plan)
    (reason,) = affected(project, "before..HEAD~1").reasons["docs"]
    assert isinstance(reason, PlanUnknown)
    assert reason.cause == "the plan mono/buildplan.yaml does not exist at " + git(
        top, "rev-parse", "--short=12", "HEAD~1"
    )
    reasons = affected(project, "before..HEAD").reasons["docs"]
    assert any(isinstance(r, PlanUnknown) and "cannot be read" in r.cause for r in reasons)


@pytest.mark.parametrize(
    ("since", "instead"),
    [("a...b", "a..b"), ("...b", "HEAD..b"), ("a..b..c", "a..c")],
)
def test_since_range_refuses_three_dots_and_three_ends(since: str, instead: str) -> None:
    with pytest.raises(UsageError) as caught:
        since_range(since)
    assert caught.value.hint is not None
    assert caught.value.hint.startswith(f"write `--since {instead}`")


def test_since_range_reads_either_end_left_out_as_head() -> None:
    assert since_range("origin/main") == ("origin/main", None)
    assert since_range("a..b") == ("a", "b")
    assert since_range("a..") == ("a", "HEAD")
    assert since_range("..b") == ("HEAD", "b")


# --- What CI hands --since ----------------------------------------------------------------


@pytest.mark.parametrize("ref", ["0" * 40, "0" * 64, "0" * 40 + "..HEAD"])
def test_a_ref_of_zeros_names_no_commit_and_affects_every_target(tmp_path: Path, ref: str) -> None:
    top = make_monorepo(tmp_path / "repo")
    project = load_project(top / "mono" / "buildplan.yaml")
    found = affected(project, ref)
    assert found.targets == frozenset(project.plan.targets)
    assert (found.ref, found.base, found.changed) == (ref, "", ())
    assert all(
        [r.describe() for r in found.reasons[n]] == ["no commit to compare with"]
        for n in project.plan.targets
    )
    assert found.warning is not None
    assert found.warning.startswith(f"--since {ref[:12]}… names no commit")
    assert "every target is affected" in found.warning
    for near in ("0" * 39, "0" * 41, "0" * 40 + "1"):  # not GitHub's no-commit: a ref as any
        with pytest.raises(UsageError):
            affected(project, near)


def test_since_auto_takes_the_pull_requests_base_else_the_pushs_before(tmp_path: Path) -> None:
    import json

    from orchestrator.inputs.changes import AUTO, auto_ref

    assert AUTO == "auto"
    pull = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "release/1.x"}
    assert auto_ref(pull) == "origin/release/1.x"
    event = tmp_path / "event.json"
    pushed = {"GITHUB_ACTIONS": "true", "GITHUB_BASE_REF": "", "GITHUB_EVENT_PATH": str(event)}
    event.write_text(json.dumps({"before": "a" * 40}))
    assert auto_ref(pushed) == "a" * 40
    for body in ('{"schedule": "0 0 * * *"}', '{"before": ""}', '{"before": 7}', "[]", "not json"):
        event.write_text(body)
        with pytest.raises(UsageError, match="neither a pull request nor a push") as raised:
            auto_ref(pushed)
        assert raised.value.hint == "name a ref for this event, such as --since origin/main"
    event.unlink()
    with pytest.raises(UsageError, match="neither a pull request nor a push"):
        auto_ref(pushed)
    for outside in ({}, {"GITHUB_EVENT_PATH": str(event)}, {"GITHUB_ACTIONS": "false"}):
        with pytest.raises(UsageError, match="this is not GitHub Actions") as raised:
            auto_ref(outside)
        assert raised.value.hint == (
            "name a ref instead, such as --since origin/main or --since HEAD~1"
        )


def test_since_auto_on_a_first_push_is_every_target(tmp_path: Path, monkeypatch) -> None:
    import json

    top = make_monorepo(tmp_path / "repo")
    project = load_project(top / "mono" / "buildplan.yaml")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"before": "0" * 40}))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    found = affected(project, "auto")
    assert found.ref == "0" * 40 and found.targets == frozenset(project.plan.targets)
    event.write_text(json.dumps({"before": "HEAD"}))
    assert affected(project, "auto").ref == "HEAD"
