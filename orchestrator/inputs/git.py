"""The only module that runs git: what is tracked, what is dirty, what changed since a ref.

Every call goes through `run_git`, with a list argv and NUL-separated output, so no path
is ever quoted, split or mangled on the way.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from orchestrator import processes

# Output parsed here must not depend on the user's configuration.
_FIXED_CONFIG = ("-c", "core.quotepath=false", "-c", "color.ui=false", "-c", "diff.external=")

MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_SYMLINK = 0o120000
MODE_GITLINK = 0o160000


class GitError(Exception):
    """A git command failed: the command, its exit code and what it printed on stderr."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str, cwd: Path) -> None:
        self.argv = tuple(argv)
        self.code = code
        self.stderr = stderr
        self.cwd = cwd
        shown = stderr.strip() or "(nothing on stderr)"
        super().__init__(f"`{' '.join(self.argv)}` in {cwd} exited with {code}: {shown}")


class HistoryError(Exception):
    """A ref, or the merge base of a ref and HEAD, is not in this clone, or the ref names no
    single commit (a range, a missing upstream, no commit yet); `hint` says how to fix it.

    orch never guesses what changed when it cannot see the history: a shallow CI clone
    must fetch deeper.
    """

    def __init__(self, message: str, *, ref: str, hint: str) -> None:
        self.ref = ref
        self.hint = hint
        super().__init__(message)


def run_git(args: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,)) -> bytes:
    """Run `git ARGS` in `cwd` and return its stdout; a GitError for an exit code not in `ok`."""
    argv = ["git", *_FIXED_CONFIG, *args]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        proc = processes.run_sync(argv, cwd=cwd, env=env)
    except FileNotFoundError:
        raise GitError(
            ["git", *args], 127, "git is not installed (not found on PATH)", cwd
        ) from None
    if proc.returncode not in ok:
        stderr = proc.stderr.decode("utf-8", "replace")
        raise GitError(["git", *args], proc.returncode, stderr, cwd)
    return proc.stdout


def _fields(output: bytes) -> list[str]:
    """NUL-separated output as paths the way `os` spells them (undecodable bytes kept)."""
    return [os.fsdecode(item) for item in output.split(b"\0") if item]


# --- The work tree ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repository:
    """A git work tree: its top directory and its object format (sha1 or sha256)."""

    top: Path
    git_dir: Path
    object_format: str = "sha1"
    shallow: bool = False


def repository(path: Path) -> Repository | None:
    """The work tree `path` is in; None outside any work tree or when git is not installed.

    Any other failure (such as git refusing a repository owned by another user) is a
    GitError: treating it as "no repository" would hide why.
    """
    try:
        out = run_git(
            [
                "rev-parse",
                "--is-inside-work-tree",
                "--show-toplevel",
                "--absolute-git-dir",
                "--show-object-format",
                "--is-shallow-repository",
            ],
            path,
        )
    except GitError as exc:
        if exc.code == 127 or "not a git repository" in exc.stderr:
            return None
        raise
    lines = [os.fsdecode(line) for line in out.split(b"\n")]
    if len(lines) < 5 or lines[0] != "true":
        return None
    return Repository(
        top=Path(os.path.realpath(lines[1])),
        git_dir=Path(lines[2]),
        object_format=lines[3],
        shallow=lines[4] == "true",
    )


class IndexEntry(NamedTuple):
    """A tracked file as the index holds it (a tuple: tens of thousands are made per run)."""

    mode: int  # 0o100644, 0o100755, 0o120000 (symlink), 0o160000 (submodule)
    oid: str  # the blob's object id
    assume_unchanged: bool = False  # git does not look at the work tree for it


# "<tag> <mode> <oid> <stage>\t<path>\0", from `ls-files --stage -v -z`
_INDEX_RECORD = re.compile(rb"([A-Za-z?]) ([0-7]+) ([0-9a-f]+) ([0-3])\t([^\0]*)\0")


def index_entries(repo: Repository) -> dict[str, IndexEntry]:
    """Every tracked path (relative to the top, `/`-separated) with its mode and object id.

    Paths in conflict are left out: their work tree content is all there is.
    """
    out = run_git(["ls-files", "-z", "--stage", "-v", "--full-name"], repo.top)
    return parse_index(out)


def parse_index(out: bytes) -> dict[str, IndexEntry]:
    """The output of `git ls-files -z --stage -v`, parsed."""
    result: dict[str, IndexEntry] = {}
    conflicted: list[str] = []
    decode = os.fsdecode
    for tag, mode, oid, stage, raw in _INDEX_RECORD.findall(out):
        path = decode(raw)
        if stage != b"0":
            conflicted.append(path)
            continue
        result[path] = IndexEntry(int(mode, 8), oid.decode("ascii"), tag.islower())
    for path in conflicted:
        result.pop(path, None)
    return result


@dataclass(frozen=True, slots=True)
class WorkTree:
    """What a version computation needs from git, read in one go."""

    index: Mapping[str, IndexEntry]
    unstaged: frozenset[str]  # tracked paths whose work tree differs from the index
    converted: frozenset[str]  # tracked paths whose bytes checkout converts
    exec_bits: bool = (
        True  # core.filemode: git sees exec-bit changes, so a clean entry's mode holds
    )


def work_tree(repo: Repository) -> WorkTree:
    """The index, the unstaged paths and the converted paths; the first two are read by two
    git processes running at once, since each takes a while on a large repository."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        listing = pool.submit(index_entries, repo)
        seen = pool.submit(status, repo, untracked=False)
        config = core_config(repo)
        index = listing.result()
        unstaged = seen.result().unstaged
    return WorkTree(
        index=index,
        unstaged=unstaged,
        converted=converted_paths(repo, list(index), config),
        exec_bits=config.get("core.filemode", "true").lower() not in ("false", "no", "off", "0"),
    )


@dataclass(frozen=True, slots=True)
class Status:
    """What `git status` sees: paths relative to the top, `/`-separated."""

    unstaged: frozenset[str] = frozenset()  # the work tree differs from the index (or deleted)
    staged: frozenset[str] = frozenset()  # the index differs from HEAD
    untracked: frozenset[str] = frozenset()  # not ignored
    renamed_from: Mapping[str, str] = field(default_factory=dict)  # staged renames: new -> old

    @property
    def paths(self) -> frozenset[str]:
        """Every path that differs from HEAD, both sides of a rename included."""
        return self.unstaged | self.staged | self.untracked | frozenset(self.renamed_from.values())


def status(repo: Repository, *, untracked: bool = True) -> Status:
    """`git status` of the whole work tree; untracked files only when asked (they cost a walk)."""
    args = ["status", "--porcelain=v2", "-z", "--ignore-submodules=none"]
    args.append("--untracked-files=all" if untracked else "--untracked-files=no")
    items = run_git(args, repo.top).split(b"\0")
    unstaged: set[str] = set()
    staged: set[str] = set()
    new: set[str] = set()
    renamed: dict[str, str] = {}
    i = 0
    while i < len(items):
        item = items[i]
        i += 1
        if not item:
            continue
        kind = item[:1]
        if kind == b"?":
            new.add(os.fsdecode(item[2:]))
        elif kind in (b"1", b"2", b"u"):
            # "1 XY sub mH mI mW hH hI path", "2 XY ... Xscore path" + NUL + the old path,
            # "u XY sub m1 m2 m3 mW h1 h2 h3 path"
            parts = item.split(b" ", {b"1": 8, b"2": 9, b"u": 10}[kind])
            path = os.fsdecode(parts[-1])
            xy = parts[1].decode("ascii")
            if kind == b"u":
                unstaged.add(path)
                staged.add(path)
                continue
            if xy[0] != ".":
                staged.add(path)
            if xy[1] != ".":
                unstaged.add(path)
            if kind == b"2":
                renamed[path] = os.fsdecode(items[i])
                i += 1
    return Status(
        unstaged=frozenset(unstaged),
        staged=frozenset(staged),
        untracked=frozenset(new),
        renamed_from=renamed,
    )


def untracked_files(repo: Repository, under: Sequence[Path] = ()) -> tuple[str, ...]:
    """Files git does not track and does not ignore (.gitignore and the excludes honoured),
    relative to the top; only those `under` these directories when any are given."""
    args = ["ls-files", "-z", "--others", "--exclude-standard", "--full-name"]
    if under:
        args += ["--", *(os.fspath(p) for p in under)]
    return tuple(_fields(run_git(args, repo.top)))


# --- History ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of `git diff --name-status`: a status letter and the path(s) it touches."""

    status: str  # A, C, D, M, R, T (type: file <-> symlink), U, X
    path: str
    old_path: str | None = None  # for renames and copies

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path,) if self.old_path is None else (self.old_path, self.path)


# How far a shallow clone's history is deepened by the command a hint prints.
DEEPEN = 200
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")


def fetch_command(ref: str, remotes: Sequence[str]) -> str:
    """A `git fetch` that brings what `--since ref` needs into a shallow clone, to be run as
    printed: HEAD's history deepened by DEEPEN commits, and the ref's own branch (a remote's
    `<remote>/<branch>`, a branch name) or commit with its history, so that their merge base
    is there."""
    name = re.split(r"[~^@:]", ref, maxsplit=1)[0]
    remote = "origin" if "origin" in remotes or not remotes else remotes[0]
    head, _, rest = name.partition("/")
    deepen = f"git fetch --deepen={DEEPEN}"
    if name in ("", "HEAD"):
        return deepen
    if rest and head in remotes:
        remote, branch = head, rest
    elif _HEX.fullmatch(name):
        return f"{deepen} {shlex.quote(remote)} {name}"
    else:
        branch = name
    spec = f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"
    return f"{deepen} {shlex.quote(remote)} {shlex.quote(spec)}"


def _fetch_hint(repo: Repository, ref: str) -> str:
    if repo.shallow:
        try:
            remotes = run_git(["remote"], repo.top).decode("utf-8", "replace").split()
        except GitError:
            remotes = []
        command = fetch_command(ref, remotes)
        name = re.split(r"[~^@:]", ref, maxsplit=1)[0]
        bare = name not in ("", "HEAD") and not _HEX.fullmatch(name) and "/" not in name
        after = f", then --since origin/{ref}" if bare else ""
        return (
            f"this is a shallow clone: fetch more history with `{command}`{after} (or "
            "`git fetch --unshallow`); in GitHub Actions set `fetch-depth: 0` on "
            "actions/checkout"
        )
    return f"fetch it, e.g. `git fetch origin {ref}`, or name a ref this clone has"


def has_commit(repo: Repository) -> bool:
    """False in a repository with no commit yet: HEAD names a branch that does not exist."""
    out = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo.top, ok=(0, 1))
    return bool(out.strip())


# `@{u}`, `@{upstream}`, `@{push}`, after a branch name or none (the current branch).
_UPSTREAM = re.compile(r"@\{(u|upstream|push)\}", re.IGNORECASE)
_NO_UPSTREAM = re.compile(r"no upstream configured for branch '([^']*)'")
_NO_BRANCH = re.compile(r"no such branch: '([^']*)'")


def resolve_commit(repo: Repository, ref: str) -> str:
    """The commit `ref` names; a HistoryError when this clone does not have it, when it names
    no single commit, or when it asks for an upstream there is none of."""
    try:
        out = run_git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"],
            repo.top,
            ok=(0, 1),
        )
    except GitError as exc:
        if exc.code != 128:
            raise
        raise _unresolved(repo, ref, exc.stderr) from None
    lines = out.decode("ascii", "replace").split()
    if len(lines) > 1 or (lines and lines[0].startswith("^")):
        raise HistoryError(
            f"{ref!r} names more than one commit",
            ref=ref,
            hint="name one commit: a branch, a tag or a commit id",
        )
    if lines:
        return lines[0]
    if not has_commit(repo):
        raise _no_commit(ref)
    if _UPSTREAM.search(ref):
        raise HistoryError(
            f"{ref!r}: the upstream branch is not in this clone",
            ref=ref,
            hint="fetch it with `git fetch`, or name a ref this clone has",
        )
    near = close_refs(repo, ref)
    if near and not repo.shallow:
        raise HistoryError(
            f"{ref!r} is not a commit in this clone; did you mean {near[0]!r}?",
            ref=ref,
            hint="the nearest branches and tags: " + ", ".join(near),
        )
    raise HistoryError(
        f"{ref!r} is not a commit in this clone", ref=ref, hint=_fetch_hint(repo, ref)
    )


def close_refs(repo: Repository, ref: str) -> list[str]:
    """The branches, remote branches and tags whose names are nearest `ref` (a typo's fix)."""
    import difflib

    name = re.split(r"[~^@:]", ref, maxsplit=1)[0]
    try:
        out = run_git(
            [
                "for-each-ref",
                "--format=%(refname:short)",
                "refs/heads",
                "refs/remotes",
                "refs/tags",
            ],
            repo.top,
        )
    except GitError:
        return []
    names = [n for n in out.decode("utf-8", "replace").split() if not n.endswith("/HEAD")]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.6)


def _no_commit(ref: str) -> HistoryError:
    return HistoryError(
        f"this repository has no commit yet, so {ref!r} names nothing to compare with",
        ref=ref,
        hint="commit first (`git commit`), or leave out --since",
    )


def _unresolved(repo: Repository, ref: str, stderr: str) -> HistoryError:
    """Why git could not even look `ref` up (exit 128), as a HistoryError with the fix."""
    said = stderr.strip().splitlines()[-1].removeprefix("fatal: ") if stderr.strip() else ""
    other = "or name a ref, e.g. `--since origin/main`"
    if not has_commit(repo):  # git's complaint is then about a branch not yet born
        return _no_commit(ref)
    found = _NO_UPSTREAM.search(stderr)
    if found:
        branch = found.group(1)
        return HistoryError(
            f"{ref!r}: the branch {branch!r} has no upstream",
            ref=ref,
            hint=f"set one with `git branch --set-upstream-to=origin/{branch} {branch}`, {other}",
        )
    if "HEAD does not point to a branch" in stderr:
        return HistoryError(
            f"{ref!r}: HEAD is detached, so there is no branch to take the upstream of",
            ref=ref,
            hint="write the branch, e.g. `--since main@{u}`, or name a ref, e.g. `--since main`",
        )
    found = _NO_BRANCH.search(stderr)
    if found:
        return HistoryError(
            f"{ref!r}: there is no branch {found.group(1)!r} in this clone",
            ref=ref,
            hint=f"check the branch name (`git branch --list`), {other}",
        )
    return HistoryError(
        f"{ref!r} is not a commit git can name" + (f": {said}" if said else ""),
        ref=ref,
        hint=f"name a branch, a tag or a commit id, {other}",
    )


def merge_base(repo: Repository, ref: str, to: str = "HEAD") -> str:
    """The commit where `to`'s history meets `ref`'s, as `git diff REF...TO` uses it."""
    commit = resolve_commit(repo, ref)
    tip = resolve_commit(repo, to)
    out = run_git(["merge-base", commit, tip], repo.top, ok=(0, 1))
    base = out.decode("ascii").strip()
    if base:
        return base
    if repo.shallow:
        raise HistoryError(
            f"the merge base of {ref!r} and {to} is not in this shallow clone",
            ref=ref,
            hint=_fetch_hint(repo, ref),
        )
    raise HistoryError(
        f"{ref!r} and {to} have no common history",
        ref=ref,
        hint=f"name a ref {to} was built on",
    )


def changes_since(repo: Repository, ref: str, to: str = "HEAD") -> tuple[Change, ...]:
    """What `git diff --name-status -M REF...TO` lists: commits on TO since it left REF."""
    base = merge_base(repo, ref, to)
    tip = resolve_commit(repo, to)
    out = run_git(
        ["diff", "--name-status", "-z", "-M", "--no-ext-diff", "--no-relative", base, tip, "--"],
        repo.top,
    )
    items = out.split(b"\0")
    changes: list[Change] = []
    i = 0
    while i < len(items) - 1:
        letter = items[i].decode("ascii")[:1]
        if letter in ("R", "C"):
            changes.append(
                Change(letter, os.fsdecode(items[i + 2]), old_path=os.fsdecode(items[i + 1]))
            )
            i += 3
        else:
            changes.append(Change(letter, os.fsdecode(items[i + 1])))
            i += 2
    return tuple(changes)


def changed_paths(repo: Repository, ref: str, to: str | None = None) -> frozenset[str]:
    """Every path changed since `ref`: committed since the merge base, staged, unstaged or
    untracked (ignored files excluded); both sides of a rename. Relative to the top.

    With `to`, only what the commits from the merge base of `ref` and `to` up to `to` change:
    the work tree is not looked at.
    """
    committed = {p for change in changes_since(repo, ref, to or "HEAD") for p in change.paths}
    if to is not None:
        return frozenset(committed)
    return frozenset(committed) | status(repo, untracked=True).paths


# --- Checkout conversions -----------------------------------------------------------------

_CONVERSION_ATTRIBUTES = ("filter", "ident", "working-tree-encoding", "eol", "text")


def core_config(repo: Repository) -> dict[str, str]:
    """The core settings that decide how the work tree relates to the index, in one call."""
    pattern = r"^core\.(autocrlf|eol|attributesfile|filemode)$"
    out = run_git(["config", "-z", "--get-regexp", pattern], repo.top, ok=(0, 1))
    return {key.lower(): value for key, _, value in (f.partition("\n") for f in _fields(out))}


def converted_paths(
    repo: Repository, tracked: Sequence[str], config: Mapping[str, str] | None = None
) -> frozenset[str]:
    """The `tracked` paths whose work tree bytes may differ from their blob: a filter (such
    as Git LFS), `ident`, an encoding, or line endings converted on checkout.

    For those, the blob's object id does not name what BuildKit is sent. Runs `git check-attr`
    only when attributes are in use (and `git config` unless `config` is given).
    """
    if not tracked:
        return frozenset()
    if config is None:
        config = core_config(repo)
    autocrlf = config.get("core.autocrlf", "").lower() == "true"
    if autocrlf:
        return frozenset(tracked)  # every text file may be converted, attributes or not
    crlf = config.get("core.eol", "").lower() == "crlf"
    attributes = (
        "core.attributesfile" in config
        or (repo.git_dir / "info" / "attributes").is_file()
        or any(p == ".gitattributes" or p.endswith("/.gitattributes") for p in tracked)
    )
    if not attributes:
        return frozenset()
    stdin = b"".join(os.fsencode(p) + b"\0" for p in tracked)
    argv = ["git", *_FIXED_CONFIG, "check-attr", "-z", "--stdin", *_CONVERSION_ATTRIBUTES]
    proc = processes.run_sync(argv, cwd=repo.top, input=stdin)
    if proc.returncode != 0:
        raise GitError(argv, proc.returncode, proc.stderr.decode("utf-8", "replace"), repo.top)
    items = proc.stdout.split(b"\0")
    result: set[str] = set()
    for i in range(0, len(items) - 2, 3):
        attribute, value = items[i + 1], items[i + 2]
        if value in (b"unspecified", b"unset"):
            continue
        if attribute == b"text" and not crlf:
            continue  # text or text=auto converts nothing on checkout with LF endings
        if attribute == b"eol" and value == b"lf":
            continue
        result.add(os.fsdecode(items[i]))
    return frozenset(result)
