"""Content versions: one sha256 per target over everything its build reads.

A target's manifest lists its inputs: the Dockerfile, the context files BuildKit receives
(after `.dockerignore`), its directory named contexts (each after its own `.dockerignore`),
its `watch` files, args, platforms, target stage, labels, secret ids (never values), the
versions of the targets it builds on, and orch's hashing scheme. The version is a digest
of that manifest, so it is the same in every clone and checkout path and at any mtime, and
moves with any input, an exec bit or a symlink target included. `diff_manifests` says which
inputs differ between two manifests, file by file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orchestrator.inputs.contexts import ContentReader, FileInput, Tree
from orchestrator.plan.state import OrchPaths

# Raise it whenever what goes into a version, or how, changes: an image made by an older
# scheme then never passes for one made by this one.
SCHEME = 2  # 2: external base images by digest


# --- What a target must tell (the plan's Target has all of it) ----------------------------


class _NamedContext(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def ref(self) -> str | None: ...


class _Secret(Protocol):
    @property
    def id(self) -> str: ...


class Buildable(Protocol):
    """The parts of a plan target that decide what its build reads."""

    @property
    def name(self) -> str: ...
    @property
    def context(self) -> Path: ...
    @property
    def dockerfile(self) -> Path: ...
    @property
    def contexts(self) -> Sequence[_NamedContext]: ...
    @property
    def watch(self) -> Sequence[str]: ...
    @property
    def args(self) -> Mapping[str, str]: ...
    @property
    def platforms(self) -> Sequence[str]: ...
    @property
    def target(self) -> str | None: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def secrets(self) -> Sequence[_Secret]: ...
    @property
    def overrides(self) -> Sequence[str]: ...
    @property
    def attest(self) -> Sequence[str]: ...
    @property
    def sbom_generator(self) -> str | None: ...


# --- The manifest -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamedInput:
    """A named context: a directory's tree, or an image reference as written."""

    name: str
    tree: Tree | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """Every input of one target's build, and the version computed over them."""

    target: str
    scheme: int = SCHEME
    dockerfile: FileInput
    context: Tree
    contexts: tuple[NamedInput, ...] = ()  # sorted by name
    watch: Tree | None = None
    args: tuple[tuple[str, str], ...] = ()  # sorted by key
    platforms: tuple[str, ...] = ()  # as given: the order is the order of the image index
    stage: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()  # ids only, sorted
    upstream: tuple[tuple[str, str], ...] = ()  # (target, version), sorted
    # (external image as the Dockerfile or plan names it, the digest it resolved to), sorted;
    # a reference pinned by digest is its own digest, one that resolved to nothing has "".
    bases: tuple[tuple[str, str], ...] = ()
    overrides: tuple[str, ...] = ()  # `--set` entries (`key=value`) for this target, sorted
    attest: tuple[str, ...] = ()  # attestations of its pushed image (an sbom with its generator)
    # The canonical inputs, each tree standing in by its digest (a few hundred bytes, kept as
    # an image label), and their sha256, the version; both made once.
    inputs: str = field(init=False, default="")
    version: str = field(init=False, default="")

    def __post_init__(self) -> None:
        text = _canonical(self)
        object.__setattr__(self, "inputs", text)
        object.__setattr__(self, "version", hashlib.sha256(text.encode("ascii")).hexdigest())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form that `from_json` reads back, to keep next to a built image."""
        return {
            "target": self.target,
            "scheme": self.scheme,
            "version": self.version,
            "dockerfile": _entry_json(self.dockerfile),
            "context": _tree_json(self.context),
            "contexts": [
                {"name": c.name, "ref": c.ref, "tree": _tree_json(c.tree) if c.tree else None}
                for c in self.contexts
            ],
            "watch": _tree_json(self.watch) if self.watch else None,
            "args": dict(self.args),
            "platforms": list(self.platforms),
            "stage": self.stage,
            "labels": dict(self.labels),
            "secrets": list(self.secrets),
            "upstream": dict(self.upstream),
            "bases": dict(self.bases),
            "set": list(self.overrides),
            "attest": list(self.attest),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            target=data["target"],
            scheme=data["scheme"],
            dockerfile=_entry_from(data["dockerfile"]),
            context=_tree_from(data["context"]),
            contexts=tuple(
                NamedInput(
                    c["name"], tree=_tree_from(c["tree"]) if c["tree"] else None, ref=c["ref"]
                )
                for c in data["contexts"]
            ),
            watch=_tree_from(data["watch"]) if data["watch"] else None,
            args=tuple(sorted(data["args"].items())),
            platforms=tuple(data["platforms"]),
            stage=data["stage"],
            labels=tuple(sorted(data["labels"].items())),
            secrets=tuple(data["secrets"]),
            upstream=tuple(sorted(data["upstream"].items())),
            bases=tuple(sorted(data.get("bases", {}).items())),
            overrides=tuple(data.get("set", ())),
            attest=tuple(data.get("attest", ())),
        )


def _canonical(m: Manifest) -> str:
    canonical = {
        "scheme": m.scheme,
        "dockerfile": m.dockerfile.digest,  # its name and place change nothing built
        "context": m.context.digest,
        "contexts": [[c.name, c.tree.digest if c.tree else None, c.ref] for c in m.contexts],
        "watch": m.watch.digest if m.watch else None,
        "args": m.args,
        "platforms": m.platforms,
        "stage": m.stage,
        "labels": m.labels,
        "secrets": m.secrets,
        "upstream": m.upstream,
        "bases": m.bases,
    }
    if m.overrides:  # only then: a plan's versions stay what they were without overrides
        canonical["set"] = m.overrides
    if m.attest:  # what is published changes with them, so does the version
        canonical["attest"] = m.attest
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _entry_json(e: FileInput) -> list[Any]:
    return [e.path, e.kind, e.digest] if e.link is None else [e.path, e.kind, e.digest, e.link]


def _entry_from(item: Sequence[Any]) -> FileInput:
    return FileInput(item[0], item[1], item[2], item[3] if len(item) > 3 else None)


def _tree_json(t: Tree) -> dict[str, Any]:
    return {"path": t.path, "digest": t.digest, "entries": [_entry_json(e) for e in t.entries]}


def _tree_from(data: Mapping[str, Any]) -> Tree:
    return Tree(
        path=data["path"],
        entries=tuple(_entry_from(e) for e in data["entries"]),
        digest=data["digest"],
    )


# --- Computing ----------------------------------------------------------------------------


def manifest(
    target: Buildable,
    upstream: Mapping[str, str],
    reader: ContentReader,
    bases: Mapping[str, str] | None = None,
) -> Manifest:
    """The manifest of one target; `upstream` maps each target it builds on to its version,
    `bases` each external image its build reads to the digest it resolved to."""
    named = []
    for ctx in sorted(target.contexts, key=lambda c: c.name):
        if ctx.path is not None:
            named.append(NamedInput(ctx.name, tree=reader.context(ctx.path)))
        else:
            named.append(NamedInput(ctx.name, ref=ctx.ref))
    return Manifest(
        target=target.name,
        dockerfile=reader.file(target.dockerfile),
        context=reader.context(target.context, target.dockerfile),
        contexts=tuple(named),
        watch=reader.watched(target.watch) if target.watch else None,
        args=tuple(sorted(target.args.items())),
        platforms=tuple(target.platforms),
        stage=target.target,
        labels=tuple(sorted(target.labels.items())),
        secrets=tuple(sorted({s.id for s in target.secrets})),
        upstream=tuple(sorted(upstream.items())),
        bases=tuple(sorted((bases or {}).items())),
        overrides=tuple(target.overrides),
        attest=attested(target),
    )


def attested(target: Buildable) -> tuple[str, ...]:
    """The attestations a target's pushed image carries, as they enter its version."""
    return tuple(
        f"sbom={target.sbom_generator}" if a == "sbom" else a for a in sorted(target.attest)
    )


def compute_manifests(
    root: Path,
    targets: Mapping[str, Buildable],
    upstream: Mapping[str, Sequence[str]],
    *,
    reader: ContentReader | None = None,
    bases: Mapping[str, Mapping[str, str]] | None = None,
    orch: OrchPaths | None = None,
) -> dict[str, Manifest]:
    """Every target's manifest; `upstream[name]` lists the targets `name` builds on
    (declared and inferred), `bases[name]` the digests of the external images it reads;
    what `orch` names (orch's state and caches) is no input wherever it is.
    Each file is read at most once across all targets."""
    reader = reader or ContentReader(root, orch=orch)
    # Walk every context while git's view of the index is still being read.
    reader.prefetch(
        [(t.context, t.dockerfile) for t in targets.values()]
        + [(c.path, None) for t in targets.values() for c in t.contexts if c.path is not None]
    )
    done: dict[str, Manifest] = {}
    visiting: set[str] = set()

    def visit(name: str) -> str:
        found = done.get(name)
        if found is not None:
            return found.version
        if name in visiting:
            raise ValueError(f"dependency cycle through {name!r}")
        visiting.add(name)
        versions = {dep: visit(dep) for dep in upstream.get(name, ())}
        done[name] = manifest(targets[name], versions, reader, (bases or {}).get(name))
        visiting.discard(name)
        return done[name].version

    for name in targets:
        visit(name)
    return {name: done[name] for name in targets}


def compute_versions(
    root: Path, targets: Mapping[str, Buildable], upstream: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Every target's version (see `compute_manifests`)."""
    return {n: m.version for n, m in compute_manifests(root, targets, upstream).items()}


# --- Explaining ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputChange:
    """One input that differs between two manifests."""

    input: str  # dockerfile, context, context:<name>, watch, arg, platforms, ...
    name: str  # the file, arg, label, secret or upstream target; "" when the input is one value
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.input} {self.name}: {self.reason}"
            if self.name
            else f"{self.input}: {self.reason}"
        )


def diff_manifests(old: Manifest, new: Manifest) -> list[InputChange]:
    """What changed from `old` to `new`, input by input and file by file; [] when nothing did."""
    changes: list[InputChange] = []
    if old.scheme != new.scheme:
        changes.append(
            InputChange("scheme", "", f"orch's version scheme {old.scheme} -> {new.scheme}")
        )
    if old.dockerfile.path != new.dockerfile.path:
        changes.append(
            InputChange("dockerfile", new.dockerfile.path, f"moved from {old.dockerfile.path}")
        )
    if old.dockerfile.digest != new.dockerfile.digest:
        changes.append(InputChange("dockerfile", new.dockerfile.path, "content changed"))
    changes += _tree_changes("context", old.context, new.context)
    old_named = {c.name: c for c in old.contexts}
    new_named = {c.name: c for c in new.contexts}
    for name in sorted(old_named.keys() | new_named.keys()):
        label = f"context:{name}"
        before, after = old_named.get(name), new_named.get(name)
        if before is None or after is None:
            changes.append(InputChange(label, "", "added" if before is None else "removed"))
        elif before.ref != after.ref or (before.tree is None) != (after.tree is None):
            changes.append(
                InputChange(label, "", f"{_named_source(before)} -> {_named_source(after)}")
            )
        elif before.tree is not None and after.tree is not None:
            changes += _tree_changes(label, before.tree, after.tree)
    empty = Tree.of(".", ())
    changes += _tree_changes("watch", old.watch or empty, new.watch or empty)
    changes += _mapping_changes("arg", dict(old.args), dict(new.args))
    changes += _mapping_changes("label", dict(old.labels), dict(new.labels))
    if old.platforms != new.platforms:
        changes.append(
            InputChange("platforms", "", f"{list(old.platforms)} -> {list(new.platforms)}")
        )
    if old.stage != new.stage:
        changes.append(
            InputChange("target", "", f"stage {old.stage or '(last)'} -> {new.stage or '(last)'}")
        )
    if old.attest != new.attest:
        changes.append(InputChange("attest", "", f"{list(old.attest)} -> {list(new.attest)}"))
    for entry in sorted(set(old.overrides) ^ set(new.overrides)):
        changes.append(
            InputChange("--set", entry, "given" if entry in new.overrides else "not given")
        )
    for secret in sorted(set(old.secrets) ^ set(new.secrets)):
        changes.append(
            InputChange("secret", secret, "added" if secret in new.secrets else "removed")
        )
    before_up, after_up = dict(old.upstream), dict(new.upstream)
    for name in sorted(before_up.keys() | after_up.keys()):
        b, a = before_up.get(name), after_up.get(name)
        if b == a:
            continue
        if b is None or a is None:
            changes.append(InputChange("upstream", name, "added" if b is None else "removed"))
        else:
            changes.append(InputChange("upstream", name, f"version {b[:12]} -> {a[:12]}"))
    before_base, after_base = dict(old.bases), dict(new.bases)
    for ref in sorted(before_base.keys() | after_base.keys()):
        b, a = before_base.get(ref), after_base.get(ref)
        if b == a:
            continue
        if b is None or a is None:
            changes.append(InputChange("base image", ref, "added" if b is None else "removed"))
        else:
            changes.append(
                InputChange("base image", ref, f"moved from {b or '(none)'} to {a or '(none)'}")
            )
    return changes


def _named_source(c: NamedInput) -> str:
    return c.ref if c.ref is not None else f"directory {c.tree.path if c.tree else '?'}"


def _tree_changes(label: str, old: Tree, new: Tree) -> list[InputChange]:
    changes = []
    if old.path != new.path:
        changes.append(InputChange(label, "", f"directory {old.path} -> {new.path}"))
    if old.digest == new.digest:
        return changes
    return changes + _entry_changes(
        label, {e.path: e for e in old.entries}, {e.path: e for e in new.entries}
    )


def _entry_changes(
    label: str, old: Mapping[str, FileInput], new: Mapping[str, FileInput]
) -> list[InputChange]:
    changes = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        if before is None:
            changes.append(InputChange(label, path, f"added ({_describe(after)})"))
        elif after is None:
            changes.append(InputChange(label, path, f"removed (was {_describe(before)})"))
        else:
            changes.append(InputChange(label, path, _entry_reason(before, after)))
    return changes


def _describe(e: FileInput | None) -> str:
    if e is None:
        return "nothing"
    if e.kind == "symlink":
        return f"symlink to {e.link}"
    return {"file": "file", "exec": "executable file", "dir": "directory"}.get(e.kind, e.kind)


def _entry_reason(before: FileInput, after: FileInput) -> str:
    if before.kind == "symlink" and after.kind == "symlink":
        return f"symlink target {before.link} -> {after.link}"
    if {before.kind, after.kind} == {"file", "exec"}:
        bit = "exec bit set" if after.kind == "exec" else "exec bit cleared"
        return bit if before.digest == after.digest else f"{bit}, content changed"
    if before.kind != after.kind:
        return f"{_describe(before)} -> {_describe(after)}"
    return "content changed"


def _mapping_changes(
    label: str, old: Mapping[str, str], new: Mapping[str, str]
) -> list[InputChange]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        b, a = old.get(key), new.get(key)
        if b == a:
            continue
        if b is None:
            changes.append(InputChange(label, key, f"added ({a!r})"))
        elif a is None:
            changes.append(InputChange(label, key, f"removed (was {b!r})"))
        else:
            changes.append(InputChange(label, key, f"{b!r} -> {a!r}"))
    return changes


# --- Versions of a project's targets, and the tags they give -------------------------------

# A version in a tag: 20 hex digits (80 bits) tell apart every build a monorepo will ever
# make, and keep `orch/api:<version>` readable. Labels carry the whole digest.
TAG_DIGITS = 20
LABEL_VERSION = "dev.orch.version"
LABEL_TARGET = "dev.orch.target"
LABEL_INPUTS = "dev.orch.inputs"
# Which plan built the image (`plan_key`): `orch prune` leaves another plan's images alone, even
# in a repository two plans share (the default `orch/{name}`). Not an input of the version.
LABEL_PLAN = "dev.orch.plan"


def plan_key(plan_file: Path) -> str:
    """16 hex digits naming a plan file by its resolved path."""
    import os

    return hashlib.sha256(os.fsencode(plan_file.resolve())).hexdigest()[:16]


def short(version: str) -> str:
    """The version as tags, messages and the report show it."""
    return version[:TAG_DIGITS]


def versioned_ref(image: str, version: str) -> str:
    """`{image}:{version}`: the tag no other build of other inputs can move."""
    return f"{image}:{short(version)}"


def stage_version(version: str, stage: str) -> str:
    """The version of one test stage of a target whose own version is `version`."""
    return hashlib.sha256(f"{version}\0stage\0{stage}".encode()).hexdigest()
