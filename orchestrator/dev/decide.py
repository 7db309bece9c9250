"""What `orch dev` decides, purely: which directories to watch (and, while one is gone, what
instead), which changed paths are inputs of a service, when a burst of them is over, and how
its container runs (the plan's `dev:` entry and the command line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.engine.containers import RunSpec
from orchestrator.errors import UsageError
from orchestrator.inputs.changes import Hit, hits
from orchestrator.inputs.contexts import watch_bases
from orchestrator.plan import Target
from orchestrator.plan.ports import EXAMPLE as PORT_EXAMPLE
from orchestrator.plan.ports import PortMapping, parse_port
from orchestrator.plan.state import orch_paths
from orchestrator.project import Project
from orchestrator.run.results import RunOutcome

# A burst of edits (a save that writes a temporary file and renames it, a `git checkout`)
# is over once nothing happened for QUIET_S, or at the latest MOST_S after it began.
QUIET_S = 0.15
MOST_S = 2.0


@dataclass
class Burst:
    """Events gathered into one rebuild, on times the caller passes in."""

    quiet_s: float = QUIET_S
    most_s: float = MOST_S
    paths: set[Path] = field(default_factory=set)
    first: float | None = None
    last: float | None = None

    def add(self, paths: Iterable[Path], now: float) -> None:
        self.paths.update(paths)
        self.first = now if self.first is None else self.first
        self.last = now

    def due(self) -> float | None:
        """When the burst is over; None while it is empty."""
        if self.first is None or self.last is None:
            return None
        return min(self.last + self.quiet_s, self.first + self.most_s)

    def take(self) -> frozenset[Path]:
        """The burst's paths; it starts empty again."""
        taken = frozenset(self.paths)
        self.paths, self.first, self.last = set(), None, None
        return taken


@dataclass(frozen=True, slots=True)
class WatchRoots:
    """Directories watched with everything under them, and directories watched alone (the
    plan's own, which holds the whole repository in the example)."""

    recursive: tuple[Path, ...] = ()
    flat: tuple[Path, ...] = ()


def watch_roots(project: Project, names: Sequence[str]) -> WatchRoots:
    """The directories to watch for every input of `names`: each context and named context
    directory and each `watch` base, with everything under them; the directory of each
    Dockerfile (and its `<Dockerfile>.dockerignore`) and of the plan, alone."""
    root, targets = project.plan.root, project.plan.targets
    deep: set[Path] = set()
    flat: set[Path] = {project.plan.path.parent}
    for name in names:
        t = targets[name]
        deep.add(t.context)
        deep.update(c.path for c in t.contexts if c.path is not None)
        for base in watch_bases(t.watch) if t.watch else ():
            deep.add(_existing(root / base, root))
        flat.add(t.dockerfile.parent)
    deep_roots = sorted(p for p in deep if not any(_under(p, o) for o in deep if o != p))
    flat_dirs = sorted(p for p in flat if not any(_under(p, o) or p == o for o in deep_roots))
    return WatchRoots(recursive=tuple(deep_roots), flat=tuple(flat_dirs))


def _existing(path: Path, root: Path) -> Path:
    """`path`, or its nearest existing directory up to `root`: a watch base made later."""
    while path != root and not path.is_dir():
        path = path.parent
    return path


def _under(path: Path, top: Path) -> bool:
    return path != top and path.is_relative_to(top)


# A directory as the file system knows it: (device, inode). inotify watches an inode, so a
# directory removed and made again at the same path is another one, watched by nothing.
Identity = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Armed:
    """What is watched for some `WatchRoots`, as the disk is now: each root that is a
    directory; for one that is not, the nearest directory above it, alone, to see it come
    back; and the identity of each directory watched, to see it replaced."""

    recursive: tuple[Path, ...] = ()
    flat: tuple[Path, ...] = ()
    identities: tuple[tuple[Path, Identity], ...] = ()


def arm(roots: WatchRoots, identity: Callable[[Path], Identity | None]) -> Armed:
    """What to watch for `roots`, given each directory's `identity` (None: not a directory).

    The watcher arms this again whenever the answer changes: a root removed is then watched
    through its parent, and a root made again (or replaced, as `git stash` or a branch switch
    does) is watched again."""
    seen: dict[Path, Identity | None] = {}

    def known(path: Path) -> Identity | None:
        if path not in seen:
            seen[path] = identity(path)
        return seen[path]

    def nearest(path: Path) -> Path:
        while known(path) is None and path.parent != path:
            path = path.parent
        return path

    deep = [r for r in roots.recursive if known(r) is not None]
    alone = [nearest(r) for r in (*roots.recursive, *roots.flat) if r not in deep]
    flat = [p for p in dict.fromkeys(sorted(alone)) if p not in deep]
    watched = sorted({*deep, *flat})
    return Armed(
        recursive=tuple(deep),
        flat=tuple(flat),
        identities=tuple((p, i) for p in watched if (i := known(p)) is not None),
    )


def came_back(roots: WatchRoots, before: Armed, after: Armed) -> frozenset[Path]:
    """The roots watched in `after` that `before` did not watch as the same directory: made
    again, or replaced. Their content may differ in any way, and no event said how."""
    was, now = dict(before.identities), dict(after.identities)
    return frozenset(
        r for r in (*roots.recursive, *roots.flat) if r in now and was.get(r) != now[r]
    )


@dataclass(frozen=True, slots=True)
class Relevant:
    """What a batch of changed paths means for the service: the targets it hits, and why."""

    hits: Mapping[str, tuple[Hit, ...]]
    plan: bool = False  # the plan file itself changed
    note: str = ""  # why the batch counts when its paths cannot be told apart
    # Directories that hold inputs and changed themselves: made, removed or replaced whole.
    directories: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.plan or bool(self.hits) or bool(self.note) or bool(self.directories)

    def describe(self, limit: int = 5) -> str:
        """`worker/app.py (context of worker), ...`: the first few reasons."""
        shown = ["the plan"] if self.plan else []
        shown += [self.note] if self.note else []
        shown += [f"{d}/ (a directory of inputs)" for d in self.directories]
        shown += [
            f"{h.path} ({h.rule} of {h.target})" for found in self.hits.values() for h in found
        ]
        more = f", and {len(shown) - limit} more" if len(shown) > limit else ""
        return ", ".join(shown[:limit]) + more


def relevant(project: Project, service: str, paths: Iterable[Path]) -> Relevant:
    """The changed `paths` (absolute) that are inputs of `service` or of what it builds on,
    or directories that hold some (one removed or made again says nothing of its files);
    what orch writes (its state, its local caches) never is."""
    root = project.plan.root
    own = orch_paths(project.plan)
    paths = {p for p in paths if p.is_relative_to(root) and not own.holds(p)}
    inside = {p.relative_to(root).as_posix() for p in paths if p != root}
    closure = project.graph.select([service])
    found = {n: h for n, h in hits(inside, root, project).items() if n in closure}
    plan_file = project.plan.path.relative_to(root).as_posix()
    holders = _holding_inputs(project, closure)
    directories = sorted(p.relative_to(root).as_posix() or "." for p in paths & holders)
    return Relevant(hits=found, plan=plan_file in inside, directories=tuple(directories))


def _holding_inputs(project: Project, names: Iterable[str]) -> set[Path]:
    """Every directory of the plan's tree that is, or holds, an input directory of `names`
    (a context, a named context, a `watch` base, a Dockerfile's directory)."""
    root, targets = project.plan.root, project.plan.targets
    found: set[Path] = set()
    for name in names:
        t = targets[name]
        dirs = [t.context, t.dockerfile.parent, *(c.path for c in t.contexts if c.path)]
        dirs += [root / base for base in watch_bases(t.watch)] if t.watch else []
        for d in dirs:
            found.update(p for p in (d, *d.parents) if p.is_relative_to(root))
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Overrides:
    """What the command line says about the container, over the plan's `dev:` entry."""

    ports: tuple[PortMapping, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None


def overrides(
    ports: Sequence[str], env: Sequence[str], args: Sequence[str], environ: Mapping[str, str]
) -> Overrides:
    """The command line's `--port`, `--env` and ARGS, checked; a UsageError names the one
    that is wrong. `--env NAME` alone passes NAME's value from `environ`, as docker does."""
    mappings = []
    for written in ports:
        try:
            mappings.append(parse_port(written))
        except ValueError as exc:
            raise UsageError(
                f"--port {written!r}: {exc}", hint=f"write it as docker run -p does: {PORT_EXAMPLE}"
            ) from None
    variables: dict[str, str] = {}
    for written in env:
        name, eq, value = written.partition("=")
        if not name or "\0" in written:
            raise UsageError(f"--env {written!r}: no variable name", hint="write --env NAME=VALUE")
        if not eq:
            if name not in environ:
                raise UsageError(
                    f"--env {name}: {name} is not set here to pass on",
                    hint=f"write --env {name}=VALUE, or export {name} first",
                )
            value = environ[name]
        variables[name] = value
    if args and _whole_command(args[0]):
        raise UsageError(
            f"ARGS: the first word {args[0]!r} is a program name holding spaces or quotes; "
            "docker would look for a program of that whole name",
            hint="let the shell split the command: orch dev SERVICE --run -- python3 -m app "
            '(or -- sh -c "a command line")',
        )
    return Overrides(ports=tuple(mappings), env=variables, command=tuple(args) or None)


def _whole_command(word: str) -> bool:
    """Whether the first word of ARGS is a command line passed as one word (`"sh -c 'x'"`),
    which no program is named; an option to an image's ENTRYPOINT (`--name=a b`) is not."""
    if word.startswith("-"):
        return False
    return not word or word[0] in "'\"" or any(c.isspace() for c in word)


def run_spec(target: Target, image: str, given: Overrides) -> RunSpec:
    """The container of `target` at `image`: its `dev:` entry, the command line over it (its
    ports added, its variables winning, its command replacing)."""
    dev = target.dev
    ports = (*(dev.ports if dev else ()), *given.ports)
    env = {**(dev.env if dev else {}), **given.env}
    command = given.command if given.command is not None else dev.command if dev else None
    return RunSpec(image=image, ports=ports, env=env, command=command)


def service_target(project: Project, name: str) -> Target:
    """The service `name`; a UsageError (with a suggestion) for an unknown name or a stage."""
    project.graph.select([name])  # an unknown name fails here, with a suggestion
    target = project.plan.targets[name]
    if target.kind != "service":
        raise UsageError(
            f"{name!r} is a stage, and orch dev runs services",
            hint="name a service that builds on it: "
            + ", ".join(n for n in project.plan.services if name in project.graph.select([n])),
        )
    return target


def outcome_words(outcome: RunOutcome) -> str:
    """`worker built; base, python-runtime up-to-date`."""
    by: dict[str, list[str]] = {}
    for r in outcome.results:
        by.setdefault(r.status, []).append(r.key)
    return "; ".join(f"{', '.join(keys)} {status}" for status, keys in by.items())
