"""What `--since REF` selects: the targets a change since REF touches, and why.

A changed path hits a target when BuildKit would send it or read it for that target: a
file of its context not excluded by the ignore file in use, its Dockerfile, that ignore
file, a file of a directory named context not excluded by that directory's own
`.dockerignore`, or a file one of its `watch` patterns selects. A target is also hit when
its own entry in the plan, `defaults` applied, differs from the plan at the merge base of
REF and HEAD, and every target downstream of a hit one is affected too.

`--since A..B` takes the commits from the merge base of A and B up to B instead, as
`git diff A...B` does, and leaves the work tree out: the plan's entries are compared between
the merge base and B, while which files are inputs of which target is read from the plan and
ignore files on disk. `A...B` is refused rather than given a second meaning.

The decisions (`hits`, `plan_changes`, `decide`) are pure; `affected` asks git and reads
the plan file, and nothing else here does.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from orchestrator.errors import PlanError, UsageError
from orchestrator.inputs import dockerignore, git
from orchestrator.inputs.contexts import watch_bases
from orchestrator.inputs.dockerignore import IGNORE_FILE, DockerIgnore
from orchestrator.plan import Target
from orchestrator.plan.load import DEFAULT_IMAGE, DEFAULT_TAGS
from orchestrator.plan.state import held, orch_paths
from orchestrator.plan.yaml_reader import read_text
from orchestrator.project import Project

RuleKind = Literal["context", "dockerfile", "dockerignore", "named context", "watch"]


# --- Reasons ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """A changed path is an input of `target` through a rule."""

    target: str
    path: str  # relative to the repository top, `/`-separated
    kind: RuleKind
    detail: str | None = None  # the named context's name, or the watch pattern

    @property
    def rule(self) -> str:
        """`context`, `dockerfile`, `dockerignore`, `named context NAME` or `watch PATTERN`."""
        return self.kind if self.detail is None else f"{self.kind} {self.detail}"

    def describe(self) -> str:
        return f"{self.path} changed ({self.rule})"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanChange:
    """The target's entry in the plan, defaults applied, differs from the one at the base."""

    target: str
    keys: tuple[str, ...] = ()  # the settings that differ; empty for a new target
    new: bool = False  # the plan at the base has no target of this name

    def describe(self) -> str:
        if self.new:
            return "new in the plan"
        return f"its plan entry changed: {', '.join(self.keys)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanUnknown:
    """The plan at the base cannot be compared (missing or unreadable): every target is hit."""

    target: str
    cause: str

    def describe(self) -> str:
        return self.cause


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """A target this one builds on directly is affected."""

    target: str
    upstream: str

    def describe(self) -> str:
        return f"it builds on {self.upstream}, which is affected"


Reason: TypeAlias = Hit | PlanChange | PlanUnknown | Upstream


@dataclass(frozen=True, slots=True, kw_only=True)
class Affected:
    """What a change since `ref` touches: the affected targets and every reason for each."""

    ref: str  # as given: REF, or A..B
    base: str  # the merge base of ref and HEAD (of A and B), where changes and the plan start
    changed: tuple[str, ...]  # every changed path, sorted, relative to the repository top
    targets: frozenset[str]
    reasons: Mapping[str, tuple[Reason, ...]]  # for the affected targets only
    warning: str | None = None  # said when the ref could not narrow anything down


# --- Changed paths -> hits ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Directory:
    """A directory whose files one target's build receives, after an ignore file."""

    target: str
    kind: RuleKind  # "context" or "named context"
    detail: str | None
    ignore: DockerIgnore


def _relative(path: Path, top: str) -> str | None:
    """`path` relative to the top, `/`-separated ("" for the top); None when outside it."""
    text = os.fspath(path)
    if text == top:
        return ""
    prefix = top.rstrip("/") + "/"
    return text[len(prefix) :] if text.startswith(prefix) else None


class _Inputs:
    """Every target's inputs, indexed by directory and by exact path, read once."""

    def __init__(self, targets: Iterable[Target], top: str) -> None:
        self.exact: dict[str, list[tuple[str, RuleKind]]] = defaultdict(list)
        self.dirs: dict[str, list[_Directory]] = defaultdict(list)
        self.watch: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for t in targets:
            self._add(t, top)

    def _add(self, t: Target, top: str) -> None:
        dockerfile = _relative(t.dockerfile, top)
        if dockerfile is not None:
            self.exact[dockerfile].append((t.name, "dockerfile"))
        # BuildKit filters the main context with `<Dockerfile>.dockerignore` when it exists,
        # else `<context>/.dockerignore`. Any change to the first switches or edits the rules
        # in use (adding or removing it switches files); the second matters as rules only
        # while the first is absent, and otherwise is just a context file like any other.
        specific = t.dockerfile.with_name(t.dockerfile.name + IGNORE_FILE)
        in_use = dockerignore.ignore_file_for(t.context, t.dockerfile)
        watched = [specific] if in_use == specific else [specific, t.context / IGNORE_FILE]
        for path in watched:
            rel = _relative(path, top)
            if rel is not None:
                self.exact[rel].append((t.name, "dockerignore"))
        context = _relative(t.context, top)
        if context is not None:
            ignore = dockerignore.load(t.context, t.dockerfile)  # a bad pattern: a PlanError
            self.dirs[context].append(_Directory(t.name, "context", None, ignore))
        for named in t.contexts:
            if named.path is None:
                continue  # an image reference: no files of this repository
            rel = _relative(named.path, top)
            if rel is not None:
                ignore = dockerignore.load(named.path)
                self.dirs[rel].append(_Directory(t.name, "named context", named.name, ignore))
        if t.watch:
            self.watch[t.watch].append(t.name)


def hits(changed: Iterable[str], top: Path, project: Project) -> dict[str, tuple[Hit, ...]]:
    """The targets that `changed` paths (relative to the repository `top`) are inputs of.

    Paths are matched by name, so a deleted file hits as it did when it was there. Reads
    the ignore files in use now; runs no git.
    """
    top_text = os.fspath(top)
    root = _relative(project.plan.root, top_text)
    if root is None:
        return {}
    inputs = _Inputs(project.plan.targets.values(), top_text)
    found: dict[str, list[Hit]] = defaultdict(list)
    inside = sorted(p for p in set(changed) if not root or p.startswith(root + "/"))
    own = orch_paths(project.plan).within(top_text)  # what orch writes is no input
    if own is not None:
        inside = [p for p in inside if not held(p, own)]
    for path in inside:
        for name, kind in inputs.exact.get(path, ()):
            found[name].append(Hit(target=name, path=path, kind=kind))
        parts = path.split("/")
        for depth in range(len(parts)):
            directory = "/".join(parts[:depth])
            within = "/".join(parts[depth:])
            for d in inputs.dirs.get(directory, ()):
                # A named context's own ignore file changes what it sends even when it
                # excludes itself.
                own_ignore = d.kind == "named context" and within == IGNORE_FILE
                if own_ignore or not d.ignore.excludes(within):
                    found[d.target].append(
                        Hit(target=d.target, path=path, kind=d.kind, detail=d.detail)
                    )
    cut = len(root) + 1 if root else 0
    from_root = [p[cut:] for p in inside]  # watch patterns are relative to the plan
    for patterns, names in inputs.watch.items():
        for index, pattern in _watched(patterns, from_root):
            for name in names:
                found[name].append(
                    Hit(target=name, path=inside[index], kind="watch", detail=pattern)
                )
    order = {name: i for i, name in enumerate(project.plan.targets)}
    return {
        name: tuple(sorted(found[name], key=lambda h: (h.path, h.rule)))
        for name in sorted(found, key=order.__getitem__)
    }


def _watched(patterns: Sequence[str], paths: Sequence[str]) -> list[tuple[int, str]]:
    """(index into `paths`, the deciding pattern) for each of the plan-relative `paths` the
    gitignore-style `patterns` select; only paths under the patterns' literal bases are tried."""
    import pathspec  # only a plan with `watch` patterns needs it

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    bases = tuple(b + "/" for b in watch_bases(patterns) if b)
    result = []
    for index, path in enumerate(paths):
        if bases and not path.startswith(bases):
            continue
        check = spec.check_file(path)
        if check.include and check.index is not None:
            written = spec.patterns[check.index].pattern
            result.append((index, written if isinstance(written, str) else str(written)))
    return result


# --- The plan then and now ----------------------------------------------------------------

_SECTIONS = (("stages", "stage"), ("services", "service"))
# The order keys are reported in: the plan's own order of a target's settings.
_KEY_ORDER = (
    "kind",
    "context",
    "dockerfile",
    "target",
    "test",
    "depends_on",
    "contexts",
    "watch",
    "secrets",
    "args",
    "labels",
    "platforms",
    "image",
    "tags",
    "registry",
    "cache",
)
_INHERITED = ("platforms", "image", "tags", "registry")  # from defaults unless set: whole
_MERGED = ("args", "labels")  # defaults and the target's own, the target's winning key by key
# How `orch dev` runs a service and what `orch lint` checks: no build reads them.
_NOT_BUILT = ("dev", "lint")


def read_plan_data(text: str) -> Any:
    """The plain data of a plan's YAML text; a ValueError when it is not YAML."""
    # The plan's own reader: libyaml's speed, and its limits on nesting and aliases, which a
    # plan in history deserves as much as the one on disk.
    try:
        return read_text(text, Path("buildplan.yaml")).data
    except PlanError as exc:
        raise ValueError(exc.message) from None


def effective_entries(data: Any) -> dict[str, dict[str, Any]]:
    """Each target's settings with `defaults` applied as the loader applies them, and
    spellings that mean the same written one way; a ValueError when `data` is no plan."""
    if not isinstance(data, dict):
        raise ValueError("it is not a mapping of version:, stages: and services:")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ValueError("its defaults: is not a mapping")
    entries: dict[str, dict[str, Any]] = {}
    for section, kind in _SECTIONS:
        targets = data.get(section) or {}
        if not isinstance(targets, dict):
            raise ValueError(f"its {section}: is not a mapping")
        for name, spec in targets.items():
            if not isinstance(spec, dict):
                entries[str(name)] = {"kind": kind, "entry": spec}
                continue
            entries[str(name)] = _effective(kind, spec, defaults)
    return entries


def _effective(kind: str, spec: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, **{k: v for k, v in spec.items() if k not in _NOT_BUILT}}
    for key in _INHERITED:
        if key not in spec and key in defaults:
            entry[key] = defaults[key]
    for key in _MERGED:
        merged = {**_mapping(defaults.get(key)), **_mapping(spec.get(key))}
        entry[key] = merged
    # Each direction of `cache` as a whole: the target's own list, else the default one.
    own, shared = _mapping(spec.get("cache")), _mapping(defaults.get("cache"))
    entry["cache"] = {
        direction: own[direction] if direction in own else shared[direction]
        for direction in ("from", "to")
        if direction in own or direction in shared
    }
    # Spelled differently, built the same: orch's own defaults, a lone test stage, `./dir`.
    entry.setdefault("image", DEFAULT_IMAGE)
    entry.setdefault("tags", list(DEFAULT_TAGS))
    entry.setdefault("dockerfile", "Dockerfile")
    if isinstance(entry.get("test"), str):
        entry["test"] = [entry["test"]]
    for key in ("context", "dockerfile"):
        if isinstance(entry.get(key), str):
            entry[key] = posixpath.normpath(entry[key])
    if isinstance(entry.get("contexts"), dict):
        entry["contexts"] = {
            k: posixpath.normpath(v) if isinstance(v, str) and "://" not in v else v
            for k, v in entry["contexts"].items()
        }
    entry["cache"] = {d: v for d, v in entry["cache"].items() if v != []}
    # An empty list or mapping, or null, is the same as leaving the key out.
    return {k: v for k, v in entry.items() if v not in (None, [], {})}


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def plan_changes(
    then: Mapping[str, Mapping[str, Any]], now: Mapping[str, Mapping[str, Any]]
) -> dict[str, PlanChange]:
    """The targets of `now` whose effective entry is not the same in `then`, and which keys
    differ; a target `then` lacks is new."""
    result: dict[str, PlanChange] = {}
    for name, entry in now.items():
        before = then.get(name)
        if before is None:
            result[name] = PlanChange(target=name, new=True)
            continue
        keys = {k for k in entry.keys() | before.keys() if entry.get(k) != before.get(k)}
        if keys:
            result[name] = PlanChange(target=name, keys=_ordered(keys))
    return result


def _ordered(keys: set[str]) -> tuple[str, ...]:
    rank = {k: i for i, k in enumerate(_KEY_ORDER)}
    return tuple(sorted(keys, key=lambda k: (rank.get(k, len(rank)), k)))


# --- Putting it together ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanThen:
    """The plan's text at the base, or None when it did not exist there."""

    text: str | None
    path: str  # the plan file relative to the repository top
    base: str  # the commit it was read from


def decide(
    project: Project,
    *,
    top: Path,
    changed: Iterable[str],
    then: PlanThen,
    now_text: str | None,
    ref: str,
    now_at: str | None = None,
) -> Affected:
    """Which targets a change touches and why: the paths, the plan entries, then downstream.

    `now_text` is the plan on disk, or with `now_at` its text at that commit (None: it had
    none there)."""
    paths = tuple(sorted(set(changed)))
    direct: dict[str, list[Reason]] = defaultdict(list)
    for name, found in hits(paths, top, project).items():
        direct[name].extend(found)
    for name, reason in _plan_reasons(project, then, now_text, now_at).items():
        direct[name].append(reason)
    graph = project.graph
    affected = graph.downstream_closure(direct) if direct else frozenset()
    reasons: dict[str, tuple[Reason, ...]] = {}
    for name in graph.order:
        if name in affected:
            ups = [Upstream(target=name, upstream=d) for d in graph.deps(name) if d in affected]
            reasons[name] = (*direct.get(name, ()), *ups)
    return Affected(
        ref=ref,
        base=then.base,
        changed=paths,
        targets=affected,
        reasons=MappingProxyType(reasons),
    )


def _plan_reasons(
    project: Project, then: PlanThen, now_text: str | None, now_at: str | None
) -> dict[str, PlanChange | PlanUnknown]:
    names = list(project.plan.targets)
    short = then.base[:12]
    if then.text is None:
        cause = f"the plan {then.path} did not exist at {short}"
        return {n: PlanUnknown(target=n, cause=cause) for n in names}
    if now_text is None:
        cause = f"the plan {then.path} does not exist at {(now_at or '')[:12]}"
        return {n: PlanUnknown(target=n, cause=cause) for n in names}
    try:
        before = effective_entries(read_plan_data(then.text))
    except ValueError as exc:
        cause = f"the plan {then.path} at {short} cannot be read ({exc}), so it is not compared"
        return {n: PlanUnknown(target=n, cause=cause) for n in names}
    try:
        # On disk, load_plan has read it: it is valid. At a commit it may not be.
        now = effective_entries(read_plan_data(now_text))
    except ValueError as exc:
        cause = f"the plan {then.path} at {(now_at or '')[:12]} cannot be read ({exc})"
        return {n: PlanUnknown(target=n, cause=f"{cause}, so it is not compared") for n in names}
    return {n: c for n, c in plan_changes(before, now).items() if n in project.plan.targets}


# What GitHub hands a workflow as `github.event.before` on a branch's first push (and on a
# push that created a tag): no commit, 40 zeros (64 in a SHA-256 repository).
_NO_COMMIT = re.compile(r"0{40}|0{64}")
_NO_BASE = (
    "--since {ref} names no commit (GitHub's `event.before` on a branch's first push): "
    "there is nothing to compare with, so every target is affected"
)


AUTO = "auto"


def auto_ref(environ: Mapping[str, str]) -> str:
    """`--since auto` in GitHub Actions: a pull request's base branch (`GITHUB_BASE_REF`, as
    `origin/<branch>`), else the commit a push started from (the event's `before`); a
    UsageError elsewhere, or when the event says neither."""
    base = environ.get("GITHUB_BASE_REF")
    if base:
        return f"origin/{base}"
    event = environ.get("GITHUB_EVENT_PATH")
    if environ.get("GITHUB_ACTIONS") == "true" and event:
        import json

        try:
            before = json.loads(Path(event).read_text(encoding="utf-8")).get("before")
        except (OSError, ValueError, AttributeError):
            before = None
        if isinstance(before, str) and before:
            return before
        raise UsageError(
            f"--since auto: the event in {event} names no base: it is neither a pull request "
            "nor a push",
            hint="name a ref for this event, such as --since origin/main",
        )
    raise UsageError(
        "--since auto reads GitHub Actions' event (GITHUB_BASE_REF, GITHUB_EVENT_PATH), "
        "and this is not GitHub Actions",
        hint="name a ref instead, such as --since origin/main or --since HEAD~1",
    )


def everything(project: Project, ref: str, why: str) -> Affected:
    """Every target affected, each for `why`, which is also the run's warning."""
    said = why.format(ref=ref[:12] + "…" if len(ref) > 12 else ref)
    names = tuple(project.plan.targets)
    return Affected(
        ref=ref,
        base="",
        changed=(),
        targets=frozenset(names),
        reasons={n: (PlanUnknown(target=n, cause="no commit to compare with"),) for n in names},
        warning=said,
    )


def since_range(ref: str) -> tuple[str, str | None]:
    """`--since REF` as (REF, None), `--since A..B` as (A, B), either side HEAD when left
    out as git leaves it out; a UsageError for `A...B` or more than two ends."""
    if "..." in ref:
        start, _, end = ref.partition("...")
        raise _range_error(ref, f"{start or 'HEAD'}..{end or 'HEAD'}")
    start, dots, end = ref.partition("..")
    if not dots:
        return ref, None
    if ".." in end:
        raise _range_error(ref, f"{start or 'HEAD'}..{end.rpartition('..')[2] or 'HEAD'}")
    return start or "HEAD", end or "HEAD"


def _range_error(ref: str, instead: str) -> UsageError:
    return UsageError(
        f"--since {ref}: orch takes one commit (REF) or one range (A..B), not this form",
        hint=f"write `--since {instead}`: orch compares B with the merge base of A and B, "
        "as `git diff A...B` does; or `--since A` to include the work tree",
    )


def affected(project: Project, ref: str) -> Affected:
    """What changed since `ref` (committed since its merge base with HEAD, staged, unstaged
    or untracked) touches, or for `A..B` what the commits from the merge base of A and B up
    to B change; a UsageError outside a git work tree or when history is missing."""
    plan = project.plan
    if ref == AUTO:
        ref = auto_ref(os.environ)
    start, end = since_range(ref)
    if _NO_COMMIT.fullmatch(start):
        return everything(project, ref, _NO_BASE)
    try:
        repo = git.repository(plan.root)
    except git.GitError as exc:
        raise UsageError(f"--since cannot read the git repository: {exc}") from None
    if repo is None:
        raise UsageError(
            f"--since needs a git work tree, and {plan.root} is not in one",
            hint="run orch in a git clone, or leave out --since to select targets by name",
        )
    top = os.fspath(repo.top)
    rel = _relative(plan.path, top)
    if rel is None:  # the plan is inside the work tree git found from its directory
        raise UsageError(f"the plan {plan.path} is not inside the git work tree {top}")
    try:
        base = git.merge_base(repo, start, end or "HEAD")
        changed = git.changed_paths(repo, start, end)
        now_at = None if end is None else git.resolve_commit(repo, end)
        then = PlanThen(text=_text_at(repo, base, rel), path=rel, base=base)
        now_text = (
            plan.path.read_text(encoding="utf-8-sig")
            if now_at is None
            else _text_at(repo, now_at, rel)
        )
    except git.HistoryError as exc:
        raise UsageError(str(exc), hint=exc.hint) from None
    except git.GitError as exc:
        raise UsageError(f"--since {ref}: git failed: {exc}") from None
    return decide(
        project,
        top=repo.top,
        changed=changed,
        then=then,
        now_text=now_text,
        ref=ref,
        now_at=now_at,
    )


def _text_at(repo: git.Repository, commit: str, path: str) -> str | None:
    """The text of the file at `path` (relative to the top) in `commit`; None if it had none."""
    out = git.run_git(["rev-parse", "--verify", "--quiet", f"{commit}:{path}"], repo.top, ok=(0, 1))
    oid = out.decode("ascii", "replace").strip()
    if not oid or git.run_git(["cat-file", "-t", oid], repo.top).strip() != b"blob":
        return None
    return git.run_git(["cat-file", "blob", oid], repo.top).decode("utf-8-sig", "replace")
