"""Where orch keeps what it writes for a plan, and the paths of its own that no build reads.

orch's state (bake files, logs, history, manifests, locks) is `.orch/` beside the plan, unless
a context of the plan holds that directory (`context: .`, common in a single-service
repository): BuildKit would then receive orch's logs and bake files, `COPY . /src` would put
them in the image, and the version, made of the files the context sends, would move on every
run. Such a plan keeps its state in the user's cache directory instead,
`$XDG_CACHE_HOME/orch/state/<key>/` (else `~/.cache/orch/...`), where `key` is 16 hex digits
of the sha256 of the plan file's path (its directory with every symlink resolved); the
directory names the plan it belongs to in a `plan` file. The decision reads only the loaded
plan's paths, never the disk, so it costs a run nothing and is the same in every run while the
contexts are.

The paths orch writes (`OrchPaths`: that state directory, the user cache directory of orch, the
local directories the plan's `cache.to` entries export to, and the `.gitignore` files that keep
those out of `git status`) are never an input of a version,
a `--since` change or an `orch dev` rebuild, even where a context holds them; `orch lint`
(OL110) says when a context would still send one to BuildKit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.plan.model import Plan

STATE_DIR = ".orch"
# A local cache export goes to `<dest>.versions/<id>`; `dest` becomes a symlink to the current
# one through a temporary `.<dest name>.<8 hex>.link` beside it (orchestrator.run.cache).
VERSIONS_SUFFIX = ".versions"
SWAP_LINK_SUFFIX = ".link"


def user_cache_dir() -> Path:
    """The user's cache directory for orch (`$XDG_CACHE_HOME/orch`, else ~/.cache/orch): not
    inside a repository as a rule, where a new file would count as a change under --since."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).absolute() / "orch"


def state_dir(plan: Plan) -> Path:
    """The directory of orch's state for `plan`: `.orch/` beside it, unless a context holds
    that directory; then the user's cache directory, keyed by the plan's path."""
    beside = plan.root / STATE_DIR
    text = os.fspath(beside)
    holding = {text}  # the directory and every one above it
    while (up := _parent(text)) != text:
        holding.add(up)
        text = up
    inside = os.fspath(beside) + "/"

    def sends(directory: Path) -> bool:
        text = os.fspath(directory)
        return text in holding or text.startswith(inside)

    if not any(
        sends(t.context) or any(n.path is not None and sends(n.path) for n in t.contexts)
        for t in plan.targets.values()
    ):
        return beside
    key = hashlib.sha256(os.fsencode(plan.path)).hexdigest()[:16]
    return user_cache_dir() / "state" / key


def written_caches(plan: Plan) -> dict[Path, str]:
    """The local directories the plan's `cache.to` entries export to (absolute, `..` resolved
    as written), each with its target, in plan order: no two targets share one."""
    return {Path(dest): name for dest, name in _cache_dests(plan).items()}


def versions_of(cache: Path) -> Path:
    """The directory of a local cache's exports, `<dest>.versions`."""
    return cache.with_name(cache.name + VERSIONS_SUFFIX)


def _cache_dests(plan: Plan) -> dict[str, str]:
    root = os.fspath(plan.root)
    found: dict[str, str] = {}
    for t in plan.targets.values():
        for entry in t.cache_to:
            attrs = dict(entry.attrs)
            dest = attrs.get("dest")
            if dest and attrs.get("type") == "local":
                path = dest if dest.startswith("/") else f"{root}/{dest}"
                found.setdefault(os.path.normpath(path), t.name)
    return found


@dataclass(frozen=True, slots=True)
class OrchPaths:
    """What orch writes for a plan, none of it an input of any build (absolute paths)."""

    state: Path  # orch's state directory (see `state_dir`)
    user_cache: Path  # orch's part of the user's cache directory
    caches: tuple[str, ...] = ()  # local `cache.to` directories, as text
    root: str | None = None  # the plan's directory, as text: see `ignore_files`
    # Every directory orch owns whole, as text: the state, the user cache, each local cache and
    # its versions; the names of the local caches in each directory; and every directory above
    # one of them, so that a context holding none of them is told in one look-up.
    _dirs: frozenset[str] = field(init=False, default=frozenset())
    _caches_in: Mapping[str, tuple[str, ...]] = field(init=False, default_factory=dict)
    _above: frozenset[str] = field(init=False, default=frozenset())

    def __post_init__(self) -> None:
        dirs = {
            os.fspath(self.state),
            os.fspath(self.user_cache),
            *self.caches,
            *(c + VERSIONS_SUFFIX for c in self.caches),
            *self.ignore_files(),
        }
        caches_in: dict[str, tuple[str, ...]] = {}
        for c in self.caches:
            head, _, name = c.rpartition("/")
            caches_in[head or "/"] = (*caches_in.get(head or "/", ()), name)
        above: set[str] = set()
        for d in dirs:
            head = _parent(d)
            while head not in above:
                above.add(head)
                head, last = _parent(head), head
                if head == last:
                    break
        object.__setattr__(self, "_dirs", frozenset(dirs))
        object.__setattr__(self, "_caches_in", caches_in)
        object.__setattr__(self, "_above", frozenset(above))

    def ignore_files(self) -> list[str]:
        """The `.gitignore` files orch may write for a local cache: one in each directory
        between the plan's directory and the cache (orch writes it in the topmost one it
        makes: orchestrator.run.cache.made_dirs). None is an input, whoever wrote it."""
        if self.root is None:
            return []
        inside = self.root.rstrip("/") + "/"
        found: set[str] = set()
        for cache in self.caches:
            head = _parent(cache)
            while head.startswith(inside):
                found.add(head + "/.gitignore")
                head = _parent(head)
        return sorted(found)

    def holds(self, path: Path) -> bool:
        """Whether the absolute `path` is orch's own: in one of its directories, or a local
        cache's temporary swap link."""
        probe = os.fspath(path)
        parent, _, name = probe.rpartition("/")
        while True:
            if probe in self._dirs:
                return True
            up = _parent(probe)
            if up == probe:
                break
            probe = up
        return name.endswith(SWAP_LINK_SUFFIX) and any(
            _is_swap_link(name, n) for n in self._caches_in.get(parent, ())
        )

    def within(self, directory: str) -> Skip | None:
        """For the absolute `directory` (a context): a test of `/`-separated paths relative to
        it, true for orch's own; None when nothing of orch's is inside it, the common case,
        told in one look-up, which costs a walk nothing."""
        if directory not in self._above:
            return None
        prefix = directory.rstrip("/") + "/"
        exact = frozenset(d[len(prefix) :] for d in self._dirs if d.startswith(prefix))
        # (the directory holding a cache, relative: "" for `directory` itself; its name)
        caches = frozenset(
            (head[len(prefix) :] if head != directory else "", name)
            for head, names in self._caches_in.items()
            if head == directory or head.startswith(prefix)
            for name in names
        )
        return Skip(exact, caches)


@dataclass(frozen=True, slots=True)
class Skip:
    """orch's own paths in one directory, relative to it: a test of a path (see
    `OrchPaths.within`), and the directories above them, which orch may have made for them."""

    exact: frozenset[str]
    caches: frozenset[tuple[str, str]]  # (the directory holding a local cache, its name)

    def __call__(self, path: str) -> bool:
        if path in self.exact:
            return True
        head, _, name = path.rpartition("/")
        return name.endswith(SWAP_LINK_SUFFIX) and any(
            h == head and _is_swap_link(name, n) for h, n in self.caches
        )

    @property
    def above(self) -> frozenset[str]:
        """Every directory that holds one of orch's paths here (`""`, the directory itself,
        left out): one that holds nothing else is orch's too, made by `mkdir -p`."""
        found: set[str] = set()
        for path in self.exact:  # a local cache's own directory is among them
            parts = path.split("/")
            found.update("/".join(parts[:n]) for n in range(1, len(parts)))
        return frozenset(found)


def held(path: str, test: Callable[[str], bool]) -> bool:
    """Whether the relative `path`, or a directory above it, is one `test` (from
    `OrchPaths.within`) says is orch's."""
    parts = path.split("/")
    return any(test("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def _parent(path: str) -> str:
    """The directory above an absolute path, as text (`/` for `/`): no Path objects, as a
    context's every entry may be asked about."""
    return path.rpartition("/")[0] or "/"


def _is_swap_link(name: str, cache_name: str) -> bool:
    return name.startswith(f".{cache_name}.") and name.endswith(SWAP_LINK_SUFFIX)


def orch_paths(plan: Plan) -> OrchPaths:
    """What orch writes for `plan` (see `OrchPaths`)."""
    return OrchPaths(
        state_dir(plan), user_cache_dir(), tuple(_cache_dests(plan)), os.fspath(plan.root)
    )
