"""The build plan: typed, frozen targets loaded from `buildplan.yaml`."""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pathspec

from orchestrator.errors import Location, PlanError
from orchestrator.schema import closest, describe_value, validate
from orchestrator.yamlsrc import Document, YamlPath, paused_gc, read_document

Kind = Literal["stage", "service"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """A BuildKit secret: its value comes from an environment variable or a file, never the plan."""

    id: str
    env: str | None = None
    src: Path | None = None  # absolute


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedContext:
    """An extra named build context: a directory (absolute) or an image reference."""

    name: str
    path: Path | None = None
    ref: str | None = None  # e.g. docker-image://busybox:latest


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One buildable unit of the plan: a shared stage or a service."""

    name: str
    kind: Kind
    context: Path  # absolute, inside the plan's directory
    dockerfile: Path  # absolute
    target: str | None = None  # Dockerfile stage to ship; None: the last stage
    tests: tuple[str, ...] = ()  # Dockerfile stages built by `orch test` (services only)
    depends_on: tuple[str, ...] = ()  # declared dependencies, in plan order
    contexts: tuple[NamedContext, ...] = ()
    watch: tuple[str, ...] = ()  # gitignore-style globs relative to the plan directory
    args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    image: str = ""  # repository, `{name}` expanded, registry prefix applied
    tags: tuple[str, ...] = ()  # full references (repository:tag)
    labels: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[str, ...] = ()  # `{name}` expanded
    cache_to: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    registry: str | None = None  # e.g. localhost:5000; images are pushed there and pulled from it
    location: Location  # where the target is defined in the plan
    # Where each declared dependency is written, for error messages (dependency name -> place).
    depends_on_at: Mapping[str, Location] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A whole plan: every target by name, in the order the file declares them."""

    path: Path  # the plan file, absolute
    root: Path  # the plan file's directory: every path in the plan is inside it
    version: int
    targets: Mapping[str, Target]

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(n for n, t in self.targets.items() if t.kind == "service")


# --- Loading ---------------------------------------------------------------------------------

PLAN_FILE = "buildplan.yaml"
PLAN_VERSION = 1
DEFAULT_IMAGE = "orch/{name}"
DEFAULT_TAGS = ("latest",)
_SECTIONS: tuple[tuple[str, Kind], ...] = (("stages", "stage"), ("services", "service"))


def load_plan(path: Path) -> Plan:
    """Read, check and resolve the plan at `path`; every user mistake is a PlanError."""
    with paused_gc():
        doc = read_document(path)
        _check_version(doc)
        validate(doc)
        return _Resolver(doc).plan()


def _check_version(doc: Document) -> None:
    """Check the top level and the version before anything else: they decide the format."""
    data = doc.data
    if data is None:
        raise PlanError(
            "the plan is empty",
            location=Location(doc.file, 1, 1),
            hint="start with `version: 1`, then declare services: (and shared stages:)",
        )
    if not isinstance(data, dict):
        raise PlanError(
            f"the plan must be a mapping of version:, stages: and services:, "
            f"got {describe_value(data)}",
            location=doc.value_at(()),
            hint="start with `version: 1`, then declare services: (and shared stages:)",
        )
    if "version" not in data:
        raise PlanError(
            "the plan has no version",
            location=doc.value_at(()),
            hint=f"add `version: {PLAN_VERSION}` as the first line",
        )
    version = data["version"]
    if type(version) is not int:
        raise PlanError(
            f"version must be the number {PLAN_VERSION}, got {describe_value(version)}",
            location=doc.value_at(("version",)),
            hint=f"write `version: {PLAN_VERSION}` without quotes",
        )
    if version != PLAN_VERSION:
        raise PlanError(
            f"unsupported version {version}; orch reads version {PLAN_VERSION}",
            location=doc.value_at(("version",)),
            hint=f"write the plan for version {PLAN_VERSION}, "
            "or use the orch release that reads this version",
        )


class _Resolver:
    """Turns a schema-valid document into targets: defaults applied, paths checked."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.file = doc.file
        # Paths in the plan are relative to the plan file's directory; symlinks resolved, so
        # that "inside the plan directory" is a plain prefix test on real paths.
        self.root = Path.resolve(doc.file.absolute().parent)
        self.root_str = str(self.root)
        self.root_prefix = self.root_str.rstrip("/") + "/"
        root_mode = _mode(self.root_str)
        self.real_paths: dict[str, tuple[str, int | None]] = {
            self.root_str: (self.root_str, root_mode)
        }
        data: dict[str, Any] = doc.data
        self.defaults: dict[str, Any] = data.get("defaults") or {}
        self.sections = [(key, kind, data.get(key) or {}) for key, kind in _SECTIONS]
        self.names: dict[str, YamlPath] = {}
        # (kind of cache, destination) -> the first target that exports its cache there
        self.cache_dests: dict[tuple[str, str], str] = {}

    def plan(self) -> Plan:
        """Every target, stages first, each section in file order."""
        self._collect_names()
        targets: dict[str, Target] = {}
        for key, kind, section in self.sections:
            for name, spec in section.items():
                targets[name] = self._target(kind, name, spec, (key, name))
        if not targets:
            raise PlanError(
                "the plan declares no stages and no services",
                location=self.doc.value_at(()),
                hint="add services: with at least one service and its context:",
            )
        return Plan(
            path=self.root / self.file.name,
            root=self.root,
            version=self.doc.data["version"],
            targets=targets,
        )

    def _collect_names(self) -> None:
        for key, kind, section in self.sections:
            for name in section:
                first = self.names.get(name)
                if first is not None:
                    first_kind = "stage" if first[0] == "stages" else "service"
                    line = self.doc.key_at(first).line
                    raise PlanError(
                        f"the name {name!r} is used twice: by a {first_kind} at line {line} "
                        f"and by this {kind}",
                        location=self.doc.key_at((key, name)),
                        hint="rename one of them: stages and services share one set of names",
                    )
                self.names[name] = (key, name)

    def _target(self, kind: Kind, name: str, spec: dict[str, Any], at: YamlPath) -> Target:
        context = self._directory(spec["context"], (*at, "context"), "context")
        dockerfile = self._dockerfile(spec, context, at)
        depends_on, depends_on_at = self._depends_on(name, spec.get("depends_on", []), at)
        tests = spec.get("test", ())
        image = self._setting(spec, "image", DEFAULT_IMAGE).replace("{name}", name)
        registry: str | None = self._setting(spec, "registry", None)
        if registry:
            image = f"{registry.rstrip('/')}/{image}"
        return Target(
            name=name,
            kind=kind,
            context=Path(context),
            dockerfile=dockerfile,
            target=spec.get("target"),
            tests=(tests,) if isinstance(tests, str) else tuple(tests),
            depends_on=depends_on,
            contexts=self._contexts(spec.get("contexts", {}), at),
            watch=self._watch(spec.get("watch", []), at),
            args=self._merged(spec, "args"),
            platforms=tuple(self._setting(spec, "platforms", ())),
            image=image,
            tags=tuple(
                _full_tag(tag.replace("{name}", name), image)
                for tag in self._setting(spec, "tags", DEFAULT_TAGS)
            ),
            labels=self._merged(spec, "labels"),
            cache_from=tuple(e.replace("{name}", name) for e, _ in self._cache(spec, at, "from")),
            cache_to=self._cache_to(name, spec, at),
            secrets=self._secrets(spec.get("secrets", []), at),
            registry=registry,
            location=self.doc.key_at(at),
            depends_on_at=depends_on_at,
        )

    def _setting(self, spec: dict[str, Any], key: str, default: Any) -> Any:
        """A target's own setting, else the plan's default, else orch's."""
        if key in spec:
            return spec[key]
        return self.defaults.get(key, default)

    def _merged(self, spec: dict[str, Any], key: str) -> dict[str, str]:
        """Defaults and the target's own entries, the target's winning key by key."""
        return {**self.defaults.get(key, {}), **spec.get(key, {})}

    def _directory(self, value: str, at: YamlPath, what: str) -> str:
        """An existing directory inside the plan directory, given relative to it."""
        path, mode = self._inside(value, self.root_str, at, what)
        if mode is None or not stat.S_ISDIR(mode):
            if mode is not None:
                raise PlanError(
                    f"{_subject(what, value)} is a file, not a directory",
                    location=self.doc.value_at(at),
                    hint="point it at the directory that holds the files to build",
                )
            raise PlanError(
                f"{_subject(what, value)} does not exist",
                location=self.doc.value_at(at),
                hint=self._missing_hint(value, path, directory=True),
            )
        return path

    def _dockerfile(self, spec: dict[str, Any], context: str, at: YamlPath) -> Path:
        """The Dockerfile, relative to the context, which may be anywhere in the plan directory."""
        given = "dockerfile" in spec
        value: str = spec.get("dockerfile", "Dockerfile")
        where = (*at, "dockerfile") if given else (*at, "context")
        path, mode = self._inside(value, context, where, "dockerfile")
        if mode is not None and stat.S_ISREG(mode):
            return Path(path)
        if given:
            message = f"dockerfile {value!r} does not exist in the context {spec['context']!r}"
            if mode is not None:
                message = f"dockerfile {value!r} is not a file"
            hint = self._missing_hint(value, path, directory=False)
            hint += " (the path is relative to the context directory)"
        else:
            message = f"there is no Dockerfile in the context {spec['context']!r}"
            hint = "add one, or set dockerfile: to its path relative to the context"
        raise PlanError(message, location=self.doc.value_at(where), hint=hint)

    def _inside(self, value: str, base: str, at: YamlPath, what: str) -> tuple[str, int | None]:
        """`base/value` with symlinks resolved, and its file mode (None: missing).

        An error if the path is absolute or leads outside the plan directory, by `..` or
        through a symlink: a build must not see files the plan directory does not hold.
        """
        if value.startswith("/"):  # orch reads POSIX paths: buildx runs on Linux and macOS
            raise PlanError(
                f"{what} must be a relative path, got the absolute path {value!r}",
                location=self.doc.value_at(at),
                hint="write it relative to "
                + ("the context directory" if base != self.root_str else str(self.root)),
            )
        # Plain string paths: pathlib's parsing would double the cost of this hot loop.
        joined = f"{base.rstrip('/')}/{value}"
        real, mode = self._real(joined)
        if real == self.root_str or real.startswith(self.root_prefix):
            return real, mode
        if os.path.normpath(joined).startswith(self.root_prefix):
            raise PlanError(
                f"{_subject(what, value)} leads outside the plan directory through a symlink "
                f"(to {real})",
                location=self.doc.value_at(at),
                hint="orch builds only what is inside the plan directory: replace the symlink "
                f"with the files, or move {self.file.name} up to a directory holding both",
            )
        raise PlanError(
            f"{_subject(what, value)} is outside the plan directory {self.root}",
            location=self.doc.value_at(at),
            hint="orch builds only what is inside the plan directory: move it under "
            f"{self.root}, or move {self.file.name} up to a directory holding both",
        )

    def _real(self, path: str) -> tuple[str, int | None]:
        """`path` with symlinks resolved, and its mode; parents are looked up once, then cached.

        `Path.resolve` stats every component of every path, the slowest part of loading a
        large plan; here a target costs one `lstat` for its own directory.
        """
        cached = self.real_paths.get(path)
        if cached is not None:
            return cached
        if ".." in path.split("/"):
            # `a/link/..` depends on where `link` points: leave it to the full resolution.
            real = os.path.realpath(path)
            result = (real, _mode(real))
        else:
            parent, _, name = os.path.normpath(path).rpartition("/")
            real_parent, parent_mode = self._real(parent or "/") if name else ("/", None)
            candidate = f"{real_parent.rstrip('/')}/{name}"
            mode = _lmode(candidate) if parent_mode is not None or not name else None
            if mode is not None and stat.S_ISLNK(mode):
                candidate = os.path.realpath(candidate)
                mode = _mode(candidate)
            result = (candidate, mode)
        self.real_paths[path] = result
        return result

    def _missing_hint(self, value: str, path: str, *, directory: bool) -> str:
        """Suggest a sibling with a similar name, else say how to fix the path."""
        try:
            siblings = [
                entry.name
                for entry in os.scandir(Path(path).parent)
                if entry.is_dir() == directory and not entry.name.startswith(".")
            ]
        except OSError:
            siblings = []
        close = closest(Path(path).name, siblings)
        if close:
            fixed = str(Path(value).parent / close) if Path(value).parent != Path() else close
            return f"did you mean {fixed!r}?"
        if directory and ":" in value:
            return "an image needs a scheme, such as docker-image://NAME:TAG"
        kind = "directory" if directory else "file"
        return f"create the {kind}, or fix the path"

    def _depends_on(
        self, name: str, items: list[str], at: YamlPath
    ) -> tuple[tuple[str, ...], dict[str, Location]]:
        where: dict[str, Location] = {}
        for index, dep in enumerate(items):
            item_at = (*at, "depends_on", index)
            if dep not in self.names:
                close = closest(dep, (n for n in self.names if n != name))
                hint = f"did you mean {close!r}?" if close else self._known_names()
                raise PlanError(
                    f"{name!r} depends on {dep!r}, which is not a stage or service in this plan",
                    location=self.doc.value_at(item_at),
                    hint=hint,
                )
            where[dep] = self.doc.value_at(item_at)
        return tuple(items), where

    def _known_names(self) -> str:
        names = list(self.names)
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return f"name one of the plan's targets: {shown}"

    def _contexts(self, contexts: dict[str, str], at: YamlPath) -> tuple[NamedContext, ...]:
        result = []
        for key, value in contexts.items():
            if "://" in value:
                result.append(NamedContext(name=key, ref=value))
            else:
                path = self._directory(value, (*at, "contexts", key), f"named context {key!r}")
                result.append(NamedContext(name=key, path=Path(path)))
        return tuple(result)

    def _watch(self, patterns: list[str], at: YamlPath) -> tuple[str, ...]:
        for index, pattern in enumerate(patterns):
            problem = _pattern_problem(pattern)
            if problem:
                message, hint = problem
                raise PlanError(
                    message, location=self.doc.value_at((*at, "watch", index)), hint=hint
                )
        return tuple(patterns)

    def _cache(
        self, spec: dict[str, Any], at: YamlPath, direction: str
    ) -> list[tuple[str, YamlPath]]:
        """Cache entries for one direction, each with the path where it is written."""
        own = spec.get("cache", {})
        source = (*at, "cache", direction) if direction in own else ("defaults", "cache", direction)
        entries = (
            own[direction]
            if direction in own
            else self.defaults.get("cache", {}).get(direction, [])
        )
        return [(entry, (*source, index)) for index, entry in enumerate(entries)]

    def _cache_to(self, name: str, spec: dict[str, Any], at: YamlPath) -> tuple[str, ...]:
        """Cache exports, checked so that no two targets write to the same place."""
        result = []
        for raw, where in self._cache(spec, at, "to"):
            entry = raw.replace("{name}", name)
            found = self._cache_dest(entry)
            if found is not None:
                dest, shown, hint = found
                other = self.cache_dests.get(dest)
                if other is not None:
                    raise PlanError(
                        f"{other!r} (line {self.doc.key_at(self.names[other]).line}) and "
                        f"{name!r} both export their build cache to {shown}; "
                        "each would overwrite the other's",
                        location=self.doc.value_at(where),
                        hint=hint,
                    )
                self.cache_dests[dest] = name
            result.append(entry)
        return tuple(result)

    def _cache_dest(self, entry: str) -> tuple[tuple[str, str], str, str] | None:
        """Where a cache export writes, as a comparable key and as written; None: nowhere shared.

        Only local directories and registry references are checked: BuildKit keeps one
        cache per destination, so two targets sharing one keep evicting each other's layers.
        """
        if "=" not in entry:
            return ("registry", entry), entry, _REF_HINT  # buildx reads a bare value as a ref
        fields = dict(part.split("=", 1) for part in entry.split(",") if "=" in part)
        kind, dest, ref = fields.get("type"), fields.get("dest"), fields.get("ref")
        if kind == "local" and dest:
            key = ("local", os.path.normpath(f"{self.root_str}/{dest}"))
            return key, f"dest={dest}", _DEST_HINT
        if kind == "registry" and ref:
            return ("registry", ref), f"ref={ref}", _REF_HINT
        return None

    def _secrets(self, items: list[dict[str, str]], at: YamlPath) -> tuple[Secret, ...]:
        result = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            secret_id = item["id"]
            if secret_id in seen:
                line = self.doc.value_at((*at, "secrets", seen[secret_id], "id")).line
                raise PlanError(
                    f"the secret id {secret_id!r} is declared twice (first at line {line})",
                    location=self.doc.value_at((*at, "secrets", index, "id")),
                    hint="give each secret of a target its own id",
                )
            seen[secret_id] = index
            src = item.get("src")
            path = None
            if src is not None:
                # A secret file is usually kept outside the repository, so it may be anywhere.
                try:
                    path = (self.root / Path(src).expanduser()).resolve()
                except RuntimeError:  # `~user` for a user this machine does not know
                    raise PlanError(
                        f"cannot find the home directory in the secret src {src!r}",
                        location=self.doc.value_at((*at, "secrets", index, "src")),
                        hint="write the path without ~, relative to the plan or absolute",
                    ) from None
            result.append(Secret(id=secret_id, env=item.get("env"), src=path))
        return tuple(result)


_DEST_HINT = (
    "put {name} in dest, so that each target has its own: "
    "type=local,dest=.orch-cache/{name},mode=max"
)
_REF_HINT = (
    "put {name} in ref, so that each target has its own: type=registry,ref=REGISTRY/cache:{name}"
)


def _subject(what: str, value: str) -> str:
    """How a path setting is named in a message: `context 'app'`, `named context 'x' (dir)`."""
    if what.startswith("named"):
        return f"{what} ({value})"
    return f"{what} {value!r}"


def _mode(path: str) -> int | None:
    """The mode of what `path` leads to, or None if nothing is there."""
    try:
        return Path(path).stat().st_mode
    except OSError:
        return None


def _lmode(path: str) -> int | None:
    """The mode of `path` itself (a symlink is not followed), or None if nothing is there."""
    try:
        return os.lstat(path).st_mode
    except OSError:
        return None


def _full_tag(tag: str, image: str) -> str:
    """A short tag such as `latest` names a tag of the target's image; others are references."""
    return tag if ":" in tag or "/" in tag else f"{image}:{tag}"


@functools.lru_cache(maxsize=4096)
def _pattern_problem(pattern: str) -> tuple[str, str] | None:
    """Why a `watch` pattern cannot work, or None; cached since plans repeat patterns."""
    try:
        spec = pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError:  # pathspec's own error says only that the pattern is invalid
        return (
            f"watch pattern {pattern!r} is not a valid gitignore pattern",
            "write a gitignore-style pattern such as src/** or !*.md; "
            "escape special characters with a backslash",
        )
    except re.error as exc:  # a bracket expression that does not compile, such as [z-a]
        return (
            f"watch pattern {pattern!r} is not a valid gitignore pattern ({exc})",
            "write a gitignore-style pattern such as src/** or !*.md; "
            "escape special characters with a backslash",
        )
    if not any(p.include is not None for p in spec.patterns):
        return (
            f"watch pattern {pattern!r} matches nothing",
            "in gitignore syntax a leading '#' starts a comment: write \\# for a literal '#'",
        )
    return None
