"""The files of a build's inputs, each named by its content: what a version is computed over.

A file's content is named by its git blob id (`sha1("blob <size>\\0" + bytes)`), computed
the same way whether git already knows it or orch reads the file, so a version does not
depend on whether the tree is a clone, a dirty checkout or an exported tarball. In a git
work tree, a tracked file whose work tree matches the index is named by the index's object
id without being read; everything else is read once per run.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pathspec

from orchestrator import dockerignore, git
from orchestrator.dockerignore import DockerIgnore

Kind = Literal["file", "exec", "symlink", "dir", "other"]


@dataclass(frozen=True, slots=True)
class FileInput:
    """One entry of an input: its path, what kind of entry it is, and its content's id."""

    path: str  # relative, `/`-separated
    kind: Kind
    digest: str = ""  # blob id of the content (of the link text for a symlink); "" for a dir
    link: str | None = None  # a symlink's target


@dataclass(frozen=True, slots=True)
class Tree:
    """A set of entries, sorted by path, and one digest over all of them."""

    path: str  # where the tree is, relative to the plan root ("." for the root)
    entries: tuple[FileInput, ...]
    digest: str

    @classmethod
    def of(cls, path: str, entries: Iterable[FileInput]) -> Tree:
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        return cls(path=path, entries=ordered, digest=tree_digest(ordered))


# --- Pure decisions -----------------------------------------------------------------------


def kind_of(mode: int) -> Kind:
    """The mode class a version distinguishes: git's (only the owner's exec bit counts)."""
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "exec" if mode & stat.S_IXUSR else "file"
    return "other"


def blob_id(data: bytes, object_format: str = "sha1") -> str:
    """git's object id for a blob with these bytes."""
    digest = hashlib.new(object_format)
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def index_names_content(
    entry: git.IndexEntry | None, *, dirty: bool, converted: bool, mode: int
) -> bool:
    """Whether the index's object id names a work tree file's bytes, so it need not be read.

    Not when git does not look at the file (assume-unchanged), the work tree differs from
    the index, checkout converts the bytes, or either side is not a regular file.
    """
    return (
        entry is not None
        and not entry.assume_unchanged
        and not dirty
        and not converted
        and entry.mode in (git.MODE_FILE, git.MODE_EXEC)
        and stat.S_ISREG(mode)
    )


def tree_digest(entries: Sequence[FileInput]) -> str:
    """sha256 over the entries: NUL-separated fields, which no path or link can contain."""
    digest = hashlib.sha256()
    for e in entries:
        digest.update(
            b"%s\0%s\0%s\0%s\0"
            % (
                e.kind.encode(),
                e.digest.encode(),
                os.fsencode(e.path),
                b"" if e.link is None else b"=" + os.fsencode(e.link),
            )
        )
    return digest.hexdigest()


# --- Reading the disk and git -------------------------------------------------------------


class ContentReader:
    """Reads the inputs of one computation: every file once, git once, trees once.

    Create one per run (an `orch plan`, an `orch build`); it caches by absolute path and
    does not notice later changes on disk.
    """

    def __init__(self, root: Path, *, use_git: bool = True) -> None:
        self.root = Path(os.path.realpath(root))
        self.repo = git.repository(self.root) if use_git else None
        self.object_format = self.repo.object_format if self.repo else "sha1"
        self._index: dict[str, git.IndexEntry] | None = None  # absolute path -> entry
        self._dirty: frozenset[str] = frozenset()  # absolute paths
        self._converted: frozenset[str] = frozenset()
        self._digests: dict[str, str] = {}  # absolute path -> blob id
        self._trees: dict[tuple[str, DockerIgnore], Tree] = {}
        self._repo_files: tuple[str, ...] | None = None
        self._watched: dict[tuple[str, ...], Tree] = {}
        self.files_read = 0  # how many files were read to be hashed, for tests and benches

    def _load_index(self) -> dict[str, git.IndexEntry]:
        if self._index is None:
            self._index = {}
            if self.repo is not None:
                top = str(self.repo.top)
                tracked = git.index_entries(self.repo)
                self._index = {f"{top}/{rel}": entry for rel, entry in tracked.items()}
                self._dirty = frozenset(
                    f"{top}/{rel}" for rel in git.status(self.repo, untracked=False).unstaged
                )
                self._converted = frozenset(
                    f"{top}/{rel}" for rel in git.converted_paths(self.repo, list(tracked))
                )
        return self._index

    def digest(self, path: str, mode: int) -> str:
        """The blob id of the regular file at absolute `path` (its lstat mode given)."""
        cached = self._digests.get(path)
        if cached is not None:
            return cached
        index = self._load_index()
        entry = index.get(path)
        if index_names_content(
            entry, dirty=path in self._dirty, converted=path in self._converted, mode=mode
        ):
            assert entry is not None
            result = entry.oid
        else:
            with open(path, "rb") as handle:  # noqa: PTH123 - the hot path: no Path objects
                result = blob_id(handle.read(), self.object_format)
            self.files_read += 1
        self._digests[path] = result
        return result

    def entry(self, path: str, rel: str, mode: int) -> FileInput:
        """One input entry for the absolute `path`, shown as `rel`."""
        kind = kind_of(mode)
        if kind in ("file", "exec"):
            return FileInput(rel, kind, self.digest(path, mode))
        if kind == "symlink":
            target = os.readlink(path)  # noqa: PTH115 - the hot path: no Path objects
            return FileInput(rel, kind, blob_id(os.fsencode(target), self.object_format), target)
        return FileInput(rel, kind)

    def file(self, path: Path) -> FileInput:
        """A single file (a Dockerfile), shown relative to the plan root."""
        absolute = os.path.realpath(path)
        return self.entry(absolute, self.relative(path), os.lstat(absolute).st_mode)

    def relative(self, path: Path | str) -> str:
        rel = os.path.relpath(os.path.realpath(path), self.root)
        return rel.replace(os.sep, "/")

    def context(self, directory: Path, dockerfile: Path | None = None) -> Tree:
        """What BuildKit receives for a context directory: after its ignore file, which for
        the main context is `<Dockerfile>.dockerignore` if there is one."""
        ignore = dockerignore.load(directory, dockerfile)
        real = os.path.realpath(directory)
        key = (real, ignore)
        tree = self._trees.get(key)
        if tree is None:
            prefix = real.rstrip("/") + "/"
            entries = [
                self.entry(prefix + e.path, e.path, e.entry.stat(follow_symlinks=False).st_mode)
                for e in dockerignore.walk(real, ignore)
            ]
            tree = Tree.of(self.relative(real), entries)
            self._trees[key] = tree
        return tree

    def repo_files(self) -> tuple[str, ...]:
        """Every file of the repository under the plan root, relative to it: tracked and
        present, or untracked and not ignored; outside git, every file but `.git`."""
        if self._repo_files is None:
            if self.repo is None:
                found = []
                for base, dirs, names in os.walk(self.root):
                    dirs[:] = [d for d in dirs if d != ".git"]
                    rel = os.path.relpath(base, self.root)
                    for name in names:
                        found.append(name if rel == "." else f"{rel}/{name}")
                self._repo_files = tuple(found)
            else:
                top = str(self.repo.top)
                prefix = str(self.root).rstrip("/") + "/"
                candidates = list(self._load_index())
                candidates += [f"{top}/{p}" for p in git.untracked_files(self.repo)]
                self._repo_files = tuple(
                    p[len(prefix) :]
                    for p in candidates
                    if p.startswith(prefix) and os.path.lexists(p)
                )
        return self._repo_files

    def watched(self, patterns: Sequence[str]) -> Tree:
        """The files `watch` patterns (gitignore-style, relative to the plan root) select."""
        key = tuple(patterns)
        tree = self._watched.get(key)
        if tree is None:
            spec = pathspec.GitIgnoreSpec.from_lines(patterns)
            root = str(self.root)
            entries = []
            for rel in sorted(spec.match_files(self.repo_files())):
                path = f"{root}/{rel}"
                entries.append(self.entry(path, rel, os.lstat(path).st_mode))
            tree = Tree.of(".", entries)
            self._watched[key] = tree
        return tree
