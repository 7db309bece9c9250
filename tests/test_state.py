"""Where orch keeps its state, and what orch writes never being an input of a build: not of a
version, a `--since` change or an `orch dev` rebuild, even where a context holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.dev.decide import relevant
from orchestrator.inputs.changes import hits
from orchestrator.plan.state import STATE_DIR, orch_paths, state_dir
from orchestrator.project import Project
from tests.kit import FakeEngine, project_of, write_tree
from tests.test_run import build, statuses

CACHE = """\
defaults:
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
"""
# A single-service repository: the context is the plan's own directory.
AT_ROOT = CACHE + "services:\n  app: {context: .}\n"
FILES = {"Dockerfile": "FROM busybox\nCOPY . /src\n", "main.sh": "echo hi\n"}


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's cache directory, away from the repository."""
    home = tmp_path / "home-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return (tmp_path / "repo").resolve()


def versions(project: Project) -> dict[str, str]:
    return {n: m.version for n, m in project.manifests(list(project.plan.targets)).items()}


# --- Where the state is --------------------------------------------------------------------


def test_contexts_in_subdirectories_keep_the_state_beside_the_plan(repo, cache_home):
    project = project_of(repo, "services:\n  app: {context: app}\n", {"app/Dockerfile": "FROM a\n"})
    assert state_dir(project.plan) == repo / STATE_DIR


@pytest.mark.parametrize(
    ("plan", "files"),
    [
        ("services:\n  app: {context: .}\n", {"Dockerfile": "FROM a\n"}),
        (  # a named context of the plan's own directory sends .orch/ just as well
            "services:\n  app: {context: app, contexts: {all: .}}\n",
            {"app/Dockerfile": "FROM a\n"},
        ),
    ],
    ids=["context", "named-context"],
)
def test_a_context_holding_the_plans_directory_moves_the_state_to_the_users_cache(
    repo, cache_home, plan, files
):
    project = project_of(repo, plan, files)
    state = state_dir(project.plan)
    assert state.parent == cache_home / "orch" / "state"
    assert len(state.name) == 16
    assert state == state_dir(project_of(repo, plan, files).plan)  # the same in every run
    other = project_of(repo / "nested", plan, files)
    assert state_dir(other.plan) != state  # keyed by the plan


def test_a_run_writes_no_orch_file_into_the_context_and_is_up_to_date_the_second_time(
    repo, cache_home
):
    project = project_of(repo, AT_ROOT, FILES)
    engine = FakeEngine()
    first = build(project, engine)
    assert statuses(first) == {"app": "built"}
    assert (repo / ".orch-cache" / "app" / "index.json").is_file()  # the cache, in the context
    again = build(project, engine)
    assert statuses(again) == {"app": "up-to-date"}
    assert not (repo / STATE_DIR).exists()
    state = state_dir(project.plan)
    assert (state / "plan").read_text() == f"{project.plan.path}\n"  # whose state it is
    (log,) = [r.log for r in first.results]
    assert log is not None and Path(log).is_absolute()  # shown where it really is
    assert Path(log).is_relative_to(state) and Path(log).is_file()


# --- What orch writes is no input ---------------------------------------------------------


def test_versions_leave_out_orchs_state_and_local_caches_in_a_context(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(repo / "xdg"))  # even the user's cache, here
    project = project_of(repo, AT_ROOT, FILES)
    before = versions(project)
    state = state_dir(project.plan)
    assert state.is_relative_to(repo)
    write_tree(
        repo,
        {
            f"{state.relative_to(repo)}/history.json": "{}",
            "xdg/orch/checked-plans/abc": "",
            ".orch-cache/app.versions/1/index.json": "{}",
            ".orch-cache/app.versions/1.lock": "",
        },
    )
    (repo / ".orch-cache" / "app").symlink_to("app.versions/1")
    (repo / ".orch-cache" / ".app.0123abcd.link").symlink_to("app.versions/1")  # mid-swap
    assert versions(project) == before
    write_tree(repo, {".orch-cache/notes.txt": "mine"})  # not orch's: an input as any other
    assert versions(project) != before


def test_a_leftover_orch_directory_in_a_context_is_what_buildkit_receives(repo, cache_home):
    """Once the state lives elsewhere, an old `.orch/` is the user's files: a version input
    (and OL110 says to leave it out)."""
    project = project_of(repo, AT_ROOT, FILES)
    before = versions(project)
    write_tree(repo, {".orch/history.json": "{}"})
    assert versions(project) != before


def test_watch_patterns_leave_out_orchs_caches(repo, cache_home):
    plan = CACHE + "services:\n  app:\n    context: app\n    watch: ['**/*.json']\n"
    project = project_of(repo, plan, {"app/Dockerfile": "FROM a\n", "gen/a.json": "{}"})
    before = versions(project)
    write_tree(repo, {".orch-cache/app.versions/1/index.json": "{}", ".orch/sizes.json": "{}"})
    assert versions(project) == before
    write_tree(repo, {"gen/b.json": "{}"})
    assert versions(project) != before


def test_since_and_dev_leave_out_what_orch_writes(repo, cache_home):
    project = project_of(repo, AT_ROOT, FILES)
    own = [".orch-cache/app/index.json", ".orch-cache/app.versions/1/x", ".orch-cache/.app.1.link"]
    assert hits(own, repo, project) == {}
    assert set(hits([*own, "main.sh"], repo, project)) == {"app"}
    for path in own:
        assert not relevant(project, "app", [repo / path])
    assert relevant(project, "app", [repo / "main.sh"])


def test_orchs_paths_name_the_state_the_user_cache_and_each_local_cache(repo, cache_home):
    project = project_of(repo, AT_ROOT, FILES)
    own = orch_paths(project.plan)
    assert own.caches == (str(repo / ".orch-cache" / "app"),)
    assert own.holds(repo / ".orch-cache" / "app.versions" / "x")
    assert own.holds(repo / ".orch-cache" / ".app.0123abcd.link")
    assert not own.holds(repo / ".orch-cache" / "application")
    assert not own.holds(repo / ".orch-cache" / ".other.0123abcd.link")
    assert own.within(str(repo / "src")) is None  # nothing of orch's there: nothing to test
    inside = own.within(str(repo))
    assert inside is not None and inside(".orch-cache/app") and not inside("main.sh")


def _git(root: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_build_leaves_git_status_clean_and_a_users_gitignore_in_the_state_alone(tmp_path):
    project = project_of(
        tmp_path, "services:\n  app: {context: app}\n", {"app/Dockerfile": "FROM busybox\n"}
    )
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plan")
    assert statuses(build(project, FakeEngine())) == {"app": "built"}
    assert (tmp_path / STATE_DIR / ".gitignore").is_file()
    assert _git(tmp_path, "status", "--porcelain", "--untracked-files=all") == ""
    # One the user wrote (or a link to one elsewhere) is theirs: never replaced, nor followed.
    mine = tmp_path / "mine.gitignore"
    mine.write_text("logs/\n")
    (tmp_path / STATE_DIR / ".gitignore").unlink()
    (tmp_path / STATE_DIR / ".gitignore").symlink_to(mine)
    assert statuses(build(project, FakeEngine(), force=True)) == {"app": "built"}
    assert mine.read_text() == "logs/\n"
    assert (tmp_path / STATE_DIR / ".gitignore").is_symlink()


def test_a_local_cache_directory_orch_makes_ignores_itself_and_is_no_input(repo, cache_home):
    """`context: .` with a `.orch-cache/` beside the plan: the first build makes that directory
    with a `.gitignore` of `*`; git status stays clean, and the second build is up to date."""
    project = project_of(repo, AT_ROOT, FILES)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "plan")
    engine = FakeEngine()
    assert statuses(build(project, engine)) == {"app": "built"}
    made = repo / ".orch-cache" / ".gitignore"
    assert made.read_text().splitlines()[-1] == "*"
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert orch_paths(project.plan).holds(made)
    assert not orch_paths(project.plan).holds(repo / ".gitignore")  # the user's, an input
    assert statuses(build(project_of(repo, AT_ROOT, {}), engine)) == {"app": "up-to-date"}


def test_a_cache_directory_that_was_there_gets_no_gitignore(tmp_path):
    from orchestrator.run.cache import made_dirs

    (tmp_path / "build").mkdir()
    made_dirs(tmp_path / "build" / "cache" / "api.versions", tmp_path)
    assert (tmp_path / "build" / "cache" / ".gitignore").is_file()  # the topmost made
    assert not (tmp_path / "build" / ".gitignore").exists()  # the user's directory
    outside = tmp_path / "elsewhere"
    made_dirs(outside / "c.versions", tmp_path / "plan")
    assert not (outside / ".gitignore").exists()  # outside the plan: not orch's to mark
