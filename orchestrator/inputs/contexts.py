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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from orchestrator.inputs import dockerignore, git
from orchestrator.inputs.dockerignore import DockerIgnore
from orchestrator.plan.state import OrchPaths, held

Kind = Literal["file", "exec", "symlink", "dir", "other"]


class FileInput(NamedTuple):
    """One entry of an input: its path, what kind of entry it is, and its content's id.

    A named tuple rather than a frozen dataclass: a large monorepo makes one per file per run.
    """

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
        ordered = tuple(sorted(entries))  # by path: the first field, unique in a tree
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


def index_names_content(entry: git.IndexEntry | None, *, dirty: bool, converted: bool) -> bool:
    """Whether the index's object id names a regular work tree file's bytes, so that the
    file need not be read.

    Not when git does not look at the file (assume-unchanged), the work tree differs from
    the index, checkout converts the bytes, or the index holds no regular file there.
    """
    return (
        entry is not None
        and not entry.assume_unchanged
        and not dirty
        and not converted
        and entry.mode in (git.MODE_FILE, git.MODE_EXEC)
    )


def index_names_mode(entry: git.IndexEntry | None, *, dirty: bool, exec_bits: bool) -> bool:
    """Whether the index's mode gives a regular work tree file's exec bit, so that the file
    need not be stat'ed: when it is clean and git watches exec bits (core.filemode)."""
    return (
        exec_bits
        and entry is not None
        and not entry.assume_unchanged
        and not dirty
        and entry.mode in (git.MODE_FILE, git.MODE_EXEC)
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
    does not notice later changes on disk. In a git work tree, git's view of the index is
    read in the background from the start, while the contexts are walked.
    """

    def __init__(self, root: Path, *, use_git: bool = True, orch: OrchPaths | None = None) -> None:
        self.root = Path(os.path.realpath(root))
        self._root = str(self.root)
        # What orch writes (its state, local caches): never an input, though a context holds it.
        self.orch = orch
        self.repo = git.repository(self.root) if use_git else None
        self.object_format = self.repo.object_format if self.repo else "sha1"
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[git.WorkTree] | None = None
        if self.repo is not None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orch-git")
            self._pending = self._pool.submit(git.work_tree, self.repo)
        self._index: dict[str, git.IndexEntry] | None = None  # absolute path -> entry
        self._dirty: frozenset[str] = frozenset()  # absolute paths
        self._converted: frozenset[str] = frozenset()
        self._exec_bits = True
        self._digests: dict[str, str] = {}  # absolute path -> blob id
        self._ignores: dict[tuple[str, str | None], DockerIgnore] = {}
        self._walks: dict[tuple[str, DockerIgnore], list[tuple[str, str, str]]] = {}
        self._trees: dict[tuple[str, DockerIgnore], Tree] = {}
        self._reals: dict[str, str] = {}
        self._watched: dict[tuple[str, ...], Tree] = {}
        self.files_read = 0  # how many files were read to be hashed, for tests and benches

    def _load_index(self) -> dict[str, git.IndexEntry]:
        if self._index is None:
            self._index = {}
            if self._pending is not None and self._pool is not None and self.repo is not None:
                state = self._pending.result()
                self._pool.shutdown()
                top = str(self.repo.top)
                self._index = {f"{top}/{rel}": entry for rel, entry in state.index.items()}
                self._dirty = frozenset(f"{top}/{rel}" for rel in state.unstaged)
                self._converted = frozenset(f"{top}/{rel}" for rel in state.converted)
                self._exec_bits = state.exec_bits
        return self._index

    def digest(self, path: str) -> str:
        """The blob id of the regular file at absolute `path`."""
        cached = self._digests.get(path)
        if cached is not None:
            return cached
        entry = self._load_index().get(path)
        if index_names_content(entry, dirty=path in self._dirty, converted=path in self._converted):
            assert entry is not None
            result = entry.oid
        else:
            with open(path, "rb") as handle:  # noqa: PTH123 - the hot path: no Path objects
                result = blob_id(handle.read(), self.object_format)
            self.files_read += 1
        self._digests[path] = result
        return result

    def regular(self, path: str, rel: str) -> FileInput:
        """The entry of a regular file; its exec bit from the index when git vouches for it."""
        entry = self._load_index().get(path)
        if entry is not None and index_names_mode(
            entry, dirty=path in self._dirty, exec_bits=self._exec_bits
        ):
            kind: Kind = "exec" if entry.mode == git.MODE_EXEC else "file"
        else:
            kind = kind_of(os.lstat(path).st_mode)
        return FileInput(rel, kind, self.digest(path))

    def entry(self, path: str, rel: str, mode: int) -> FileInput:
        """One input entry for the absolute `path`, shown as `rel`."""
        kind = kind_of(mode)
        if kind in ("file", "exec"):
            return FileInput(rel, kind, self.digest(path))
        if kind == "symlink":
            target = os.readlink(path)  # noqa: PTH115 - the hot path: no Path objects
            return FileInput(rel, kind, blob_id(os.fsencode(target), self.object_format), target)
        return FileInput(rel, kind)

    def real(self, path: Path | str) -> str:
        """`path` with symlinks resolved; each directory is resolved once per run."""
        text = os.fspath(path)
        found = self._reals.get(text)
        if found is None:
            parent, _, name = text.rpartition("/")
            if (
                not text.startswith("/")
                or name in ("", ".", "..")
                or "/./" in text
                or "/../" in text
            ):
                found = os.path.realpath(text)
            else:
                base = self.real(parent) if parent else "/"
                found = f"{base.rstrip('/')}/{name}"
                if Path(found).is_symlink():
                    found = os.path.realpath(found)
            self._reals[text] = found
        return found

    def file(self, path: Path) -> FileInput:
        """A single file (a Dockerfile), shown relative to the plan root."""
        absolute = self.real(path)
        return self.entry(absolute, self.relative(absolute), os.lstat(absolute).st_mode)

    def relative(self, path: Path | str) -> str:
        rel = os.path.relpath(self.real(path), self._root)
        return rel.replace(os.sep, "/")

    def _walk(self, directory: Path, dockerfile: Path | None) -> tuple[str, DockerIgnore]:
        """Walk a context once, keeping (absolute path, relative path, type) per entry; the
        type comes from the directory listing, so nothing is stat'ed yet."""
        real = self.real(directory)
        ignore_key = (real, None if dockerfile is None else self.real(dockerfile))
        ignore = self._ignores.get(ignore_key)
        if ignore is None:
            ignore = self._ignores[ignore_key] = dockerignore.load(Path(real), dockerfile)
        key = (real, ignore)
        if key not in self._walks:
            prefix = real.rstrip("/") + "/"
            skip = self.orch.within(real) if self.orch is not None else None
            walked = [
                (prefix + e.path, e.path, _entry_type(e.entry))
                for e in dockerignore.walk(real, ignore, skip)
            ]
            self._walks[key] = walked if skip is None else _emptied_out(walked, skip.above)
        return key

    def prefetch(self, contexts: Iterable[tuple[Path, Path | None]]) -> None:
        """Walk these (context, Dockerfile or None) pairs now, while git is still being read."""
        for directory, dockerfile in contexts:
            self._walk(directory, dockerfile)

    def context(self, directory: Path, dockerfile: Path | None = None) -> Tree:
        """What BuildKit receives for a context directory: after its ignore file, which for
        the main context is `<Dockerfile>.dockerignore` if there is one."""
        key = self._walk(directory, dockerfile)
        tree = self._trees.get(key)
        if tree is None:
            regular, entry = self.regular, self.entry
            entries = [
                regular(path, rel)
                if code == "f"
                else FileInput(rel, "dir")
                if code == "d"
                else entry(path, rel, os.lstat(path).st_mode)
                for path, rel, code in self._walks[key]
            ]
            tree = Tree.of(self.relative(key[0]), entries)
            self._trees[key] = tree
        return tree

    def _candidates(self, bases: Sequence[str]) -> list[str]:
        """Files of the repository under `bases` (relative to the root): tracked and present,
        or untracked and not ignored; outside git, every file but what is in `.git`."""
        dirs = [f"{self._root}/{b}".rstrip("/") for b in bases]
        if self.repo is None:
            found = []
            for top in dirs:
                for base, subdirs, names in os.walk(top):
                    subdirs[:] = [d for d in subdirs if d != ".git"]
                    found += [f"{base}/{name}" for name in names]
                    # git tracks a symlink to a directory as a file
                    found += [f"{base}/{d}" for d in subdirs if Path(base, d).is_symlink()]
            return found
        index = self._load_index()
        prefixes = tuple(d + "/" for d in dirs)
        tracked = [p for p in index if p.startswith(prefixes) and p not in self._dirty]
        tracked += [p for p in self._dirty if p.startswith(prefixes) and os.path.lexists(p)]
        top = str(self.repo.top)
        return tracked + [
            f"{top}/{p}"
            for p in git.untracked_files(self.repo, [Path(d) for d in dirs if Path(d).is_dir()])
        ]

    def watched(self, patterns: Sequence[str]) -> Tree:
        """The files `watch` patterns (gitignore-style, relative to the plan root) select."""
        key = tuple(patterns)
        tree = self._watched.get(key)
        if tree is None:
            import pathspec  # only a plan with `watch` patterns needs it

            spec = pathspec.GitIgnoreSpec.from_lines(patterns)
            cut = len(self._root) + 1
            files = sorted({p[cut:] for p in self._candidates(watch_bases(patterns))})
            skip = self.orch.within(self._root) if self.orch is not None else None
            if skip is not None:
                files = [f for f in files if not held(f, skip)]
            entries = []
            for rel in spec.match_files(files):
                path = f"{self._root}/{rel}"
                entries.append(self.entry(path, rel, os.lstat(path).st_mode))
            tree = Tree.of(".", entries)
            self._watched[key] = tree
        return tree


def _emptied_out(
    walked: list[tuple[str, str, str]], above: frozenset[str]
) -> list[tuple[str, str, str]]:
    """`walked` without the directories above orch's own paths that hold nothing else: orch
    made them for its caches, and they come and go with them."""
    others = [rel for _, rel, _ in walked if rel not in above]
    holding = {a for a in above if any(rel.startswith(a + "/") for rel in others)}
    return [w for w in walked if w[1] not in above or w[1] in holding]


def _entry_type(entry: os.DirEntry[str]) -> str:
    """What the directory listing (d_type) says an entry is, without a stat: f a regular
    file, d a directory, o anything else."""
    if entry.is_file(follow_symlinks=False):
        return "f"
    return "d" if entry.is_dir(follow_symlinks=False) else "o"


_GLOB = frozenset("*?[\\")


def watch_bases(patterns: Sequence[str]) -> list[str]:
    """The directories (relative to the plan root) that hold everything `patterns` can select:
    the literal leading directories of each anchored pattern; the root for any other."""
    bases: set[str] = set()
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith(("#", "!")):
            continue  # a comment, or a negation, which only takes away
        body = pattern.rstrip("/")
        anchored = "/" in body
        parts = body.lstrip("/").split("/")
        literal = []
        for part in parts[:-1]:
            if _GLOB.intersection(part):
                break
            literal.append(part)
        if not anchored or not literal:
            return [""]
        bases.add("/".join(literal))
    # a base inside another base adds nothing
    ordered = sorted(bases)
    return [b for b in ordered if not any(b.startswith(o + "/") for o in ordered if o != b)]
