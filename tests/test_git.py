"""orchestrator.inputs.git against real repositories made in temporary directories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.inputs.git import (
    MODE_EXEC,
    MODE_FILE,
    MODE_SYMLINK,
    Change,
    GitError,
    HistoryError,
    changed_paths,
    changes_since,
    has_commit,
    index_entries,
    merge_base,
    repository,
    resolve_commit,
    run_git,
    status,
    untracked_files,
)
from tests.kit import commit, git, make_repo, write_tree

pytestmark = pytest.mark.usefixtures("isolated_git")


def test_outside_a_work_tree_there_is_no_repository(tmp_path: Path):
    assert repository(tmp_path) is None


def test_repository_top_is_found_from_a_subdirectory(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"a/b/c": "x"})
    repo = repository(root / "a" / "b")
    assert repo is not None
    assert repo.top == root.resolve()
    assert repo.object_format == "sha1"
    assert not repo.shallow


def test_index_has_object_ids_and_modes_of_files_exec_files_and_symlinks(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"f": "text\n", "bin/run": "#!/bin/sh\n"})
    (root / "bin/run").chmod(0o755)
    (root / "link").symlink_to("f")
    commit(root)
    repo = repository(root)
    assert repo is not None
    entries = index_entries(repo)
    assert entries["f"].mode == MODE_FILE
    assert entries["f"].oid == git(root, "hash-object", "f")
    assert entries["bin/run"].mode == MODE_EXEC
    assert entries["link"].mode == MODE_SYMLINK
    assert entries["link"].oid == git(root, "rev-parse", "HEAD:link")


def test_index_marks_assume_unchanged_paths(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"a": "1", "b": "2"})
    git(root, "update-index", "--assume-unchanged", "b")
    repo = repository(root)
    assert repo is not None
    entries = index_entries(repo)
    assert entries["b"].assume_unchanged
    assert not entries["a"].assume_unchanged


def test_status_sees_modified_deleted_staged_and_untracked_but_not_ignored(tmp_path: Path):
    root = make_repo(
        tmp_path / "r",
        {
            "mod": "1",
            "gone": "1",
            "staged": "1",
            "same": "1",
            "x": "#!/bin/sh\n",
            ".gitignore": "*.log\n",
        },
    )
    write_tree(root, {"mod": "2", "staged": "2", "new/file": "n", "debug.log": "l"})
    (root / "gone").unlink()
    (root / "x").chmod(0o755)
    os.utime(root / "same", (1, 1))  # only the mtime moved: not a change
    git(root, "add", "staged")
    repo = repository(root)
    assert repo is not None
    seen = status(repo)
    assert seen.unstaged == {"mod", "gone", "x"}
    assert seen.staged == {"staged"}
    assert seen.untracked == {"new/file"}
    assert status(repo, untracked=False).untracked == frozenset()
    assert untracked_files(repo) == ("new/file",)


def test_status_counts_both_sides_of_a_staged_rename(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"old/name.txt": "content that stays the same\n"})
    (root / "new").mkdir()
    git(root, "mv", "old/name.txt", "new/name.txt")
    repo = repository(root)
    assert repo is not None
    seen = status(repo)
    assert seen.renamed_from == {"new/name.txt": "old/name.txt"}
    assert seen.paths == {"new/name.txt", "old/name.txt"}


def test_changes_since_a_ref_list_renames_deletions_modes_and_symlinks(tmp_path: Path):
    root = make_repo(
        tmp_path / "r",
        {"keep": "k", "ren/a.txt": "a long enough line to be found as a rename\n", "del": "d"},
    )
    (root / "tool").write_text("#!/bin/sh\n")
    (root / "link").symlink_to("keep")
    commit(root, "second")
    git(root, "mv", "ren/a.txt", "ren/b.txt")
    (root / "del").unlink()
    (root / "tool").chmod(0o755)
    (root / "link").unlink()
    (root / "link").symlink_to("del")
    commit(root, "third")
    repo = repository(root)
    assert repo is not None
    got = set(changes_since(repo, "HEAD~1"))
    assert got == {
        Change("R", "ren/b.txt", old_path="ren/a.txt"),
        Change("D", "del"),
        Change("M", "tool"),
        Change("M", "link"),
    }
    write_tree(root, {"keep": "changed", "untracked": "u"})
    assert changed_paths(repo, "HEAD~1") == {
        "ren/a.txt",
        "ren/b.txt",
        "del",
        "tool",
        "link",
        "keep",
        "untracked",
    }


def test_changes_since_use_the_merge_base_not_the_ref_itself(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"base": "b"})
    git(root, "checkout", "-q", "-b", "feature")
    write_tree(root, {"feature": "f"})
    commit(root, "feature")
    git(root, "checkout", "-q", "main")
    write_tree(root, {"main-only": "m"})
    commit(root, "main moves on")
    git(root, "checkout", "-q", "feature")
    repo = repository(root)
    assert repo is not None
    assert changes_since(repo, "main") == (Change("A", "feature"),)


def test_an_unknown_ref_is_a_history_error_with_a_fix(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"a": "1"})
    repo = repository(root)
    assert repo is not None
    with pytest.raises(HistoryError, match="'nope' is not a commit in this clone") as err:
        changes_since(repo, "nope")
    assert "git fetch origin nope" in err.value.hint


def shallow_clone(origin: Path, dest: Path, *args: str) -> Path:
    subprocess.run(
        ["git", "clone", "-q", "--depth=1", *args, f"file://{origin}", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def test_a_shallow_clone_without_the_ref_says_to_fetch_deeper(tmp_path: Path):
    origin = make_repo(tmp_path / "origin", {"a": "1"})
    write_tree(origin, {"a": "2"})
    commit(origin)
    clone = shallow_clone(origin, tmp_path / "clone")
    repo = repository(clone)
    assert repo is not None and repo.shallow
    with pytest.raises(HistoryError, match="'HEAD~1' is not a commit") as err:
        changes_since(repo, "HEAD~1")
    assert "fetch-depth: 0" in err.value.hint
    assert "`git fetch --deepen=200`" in err.value.hint


def test_a_shallow_clone_without_the_merge_base_says_so(tmp_path: Path):
    origin = make_repo(tmp_path / "origin", {"a": "1"})
    git(origin, "checkout", "-q", "-b", "feature")
    write_tree(origin, {"f": "1"})
    commit(origin, "feature")
    git(origin, "checkout", "-q", "main")
    write_tree(origin, {"a": "2"})
    commit(origin, "main")
    clone = shallow_clone(origin, tmp_path / "clone", "--branch", "feature")
    subprocess.run(
        ["git", "fetch", "-q", "--depth=1", "origin", "main:main"],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    repo = repository(clone)
    assert repo is not None
    with pytest.raises(HistoryError, match="merge base of 'main' and HEAD is not in this shallow"):
        changes_since(repo, "main")


def test_a_failing_git_command_shows_the_command_its_code_and_stderr(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"a": "1"})
    with pytest.raises(GitError) as err:
        run_git(["cat-file", "-p", "no-such-object"], root)
    text = str(err.value)
    assert "git cat-file -p no-such-object" in text
    assert "exited with 128" in text
    assert "no-such-object" in err.value.stderr


def test_changes_between_two_commits_leave_the_work_tree_out(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"base": "b"})
    git(root, "checkout", "-q", "-b", "feature")
    write_tree(root, {"feature": "f"})
    commit(root, "feature")
    git(root, "checkout", "-q", "main")
    write_tree(root, {"main-only": "m"})
    commit(root, "main moves on")
    write_tree(root, {"dirty": "d", "base": "edited"})
    repo = repository(root)
    assert repo is not None
    assert changes_since(repo, "main", "feature") == (Change("A", "feature"),)
    assert changed_paths(repo, "main", "feature") == {"feature"}
    assert changed_paths(repo, "feature", "main") == {"main-only"}
    assert changed_paths(repo, "feature") == {"main-only", "dirty", "base"}


def test_a_ref_naming_no_single_commit_is_a_history_error(tmp_path: Path):
    root = make_repo(tmp_path / "r", {"a": "1"})
    write_tree(root, {"a": "2"})
    commit(root)
    repo = repository(root)
    assert repo is not None
    with pytest.raises(HistoryError, match=r"'HEAD~1\.\.HEAD' names more than one commit"):
        resolve_commit(repo, "HEAD~1..HEAD")
    with pytest.raises(HistoryError, match="the branch 'main' has no upstream") as err:
        resolve_commit(repo, "@{u}")
    assert "`git branch --set-upstream-to=origin/main main`" in err.value.hint
    git(root, "config", "branch.main.remote", "origin")
    git(root, "config", "branch.main.merge", "refs/heads/main")
    git(root, "remote", "add", "origin", str(tmp_path / "nowhere"))
    with pytest.raises(HistoryError, match="upstream branch is not in this clone") as err:
        resolve_commit(repo, "@{upstream}")
    assert "git fetch" in err.value.hint
    # A reflog entry there is none of: git says nothing but its exit code.
    with pytest.raises(HistoryError, match=r"^'HEAD@\{1000\}' is not a commit git can name$"):
        resolve_commit(repo, "HEAD@{1000}")


def test_in_a_repository_with_no_commit_yet_no_ref_is_a_commit(tmp_path: Path):
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    repo = repository(root)
    assert repo is not None
    assert not has_commit(repo)
    for ref in ("HEAD", "main", "@{u}", "nope@{u}"):
        with pytest.raises(HistoryError, match="this repository has no commit yet") as err:
            merge_base(repo, ref)
        assert "git fetch" not in err.value.hint


def test_a_ref_with_a_typo_gets_the_nearest_branches_and_tags(tmp_path: Path):
    origin = make_repo(tmp_path / "origin", {"a": "1"})
    subprocess.run(["git", "-C", str(origin), "branch", "release/2026-12"], check=True)
    subprocess.run(["git", "-C", str(origin), "tag", "v1.4.0"], check=True)
    repo = repository(origin)
    assert repo is not None
    with pytest.raises(HistoryError, match=r"did you mean 'release/2026-12'\?"):
        changes_since(repo, "relase/2026-12")
    with pytest.raises(HistoryError, match=r"did you mean 'v1.4.0'\?") as err:
        changes_since(repo, "v1.4.O~1")
    assert "v1.4.0" in err.value.hint
    with pytest.raises(HistoryError, match=r"is not a commit in this clone$"):
        changes_since(repo, "zzzzqqqq")  # nothing near: the fetch hint, as before
