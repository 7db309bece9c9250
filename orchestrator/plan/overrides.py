"""`--set TARGET.KEY=VALUE`: bake's overrides of a plan's targets for one command, and
`--no-cache`, `--no-cache-filter`.

    --set api.args.VERSION=2       a build argument (also `args.X=` for an empty one)
    --set '*.platform=linux/arm64' the platforms, comma-separated
    --set api.target=debug         the Dockerfile stage to build
    --set api.labels.team=core     an image label
    --set api.cache-from=type=local,src=/tmp/c     one cache entry each, as in the plan
    --set api.cache-to=type=inline
    --set api.no-cache=true        every step of that target rebuilt

TARGET is a name or a glob (`*` for every target), as in bake. Every override of a target
enters its version (the `set` input of its manifest), so a build with one never reports up to
date against an image built without it, and two builds with the same overrides share their
images. `--no-cache` (every target) and `--no-cache-filter=STAGE` rebuild steps from scratch
and change nothing built: they keep the version, and make the run build what is up to date.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.errors import UsageError, did_you_mean
from orchestrator.plan.model import Plan, Target
from orchestrator.plan.specs import CacheEntry, SpecError, parse_cache_entry

KEYS = ("args.NAME", "labels.NAME", "platform", "target", "cache-from", "cache-to", "no-cache")
_PLAIN_KEYS = frozenset(k for k in KEYS if "." not in k)
# bake's keys that orch decides itself, with why: the fix to offer instead.
_ORCH_OWN = {
    "tags": "orch tags every image with its version and the plan's tags: set `tags:` in the plan",
    "output": "orch exports every image itself (--push publishes)",
    "context": "a target's context is part of the plan: set `context:` there",
    "contexts": "named contexts are part of the plan (`contexts:`), upstream ones orch's own",
    "dockerfile": "a target's Dockerfile is part of the plan: set `dockerfile:` there",
    "secrets": "secrets are part of the plan (`secrets:`), so that they stay out of versions",
    "secret": "secrets are part of the plan (`secrets:`), so that they stay out of versions",
    "pull": "use --pull",
    "attest": "orch does not attest images",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, slots=True)
class Override:
    """One `--set`: the targets it names (a name or a glob), the key, the value as typed."""

    pattern: str
    key: str
    value: str
    text: str  # as typed, for messages

    @property
    def written(self) -> str:
        """`key=value`: what enters the version of each target it applies to."""
        return f"{self.key}={self.value}"


def parse(text: str) -> Override:
    """`TARGET.KEY=VALUE`; a UsageError (exit 2) naming the fix for anything else."""
    head, eq, value = text.partition("=")
    pattern, dot, key = head.partition(".")
    if not eq or not dot or not pattern or not key:
        raise UsageError(
            f"--set {text!r} is not TARGET.KEY=VALUE",
            hint="such as --set api.args.VERSION=2 or --set '*.platform=linux/arm64'",
        )
    if key.startswith(("args.", "labels.")):
        name = key.split(".", 1)[1]
        if not _NAME.match(name):
            raise UsageError(
                f"--set {text!r}: {name!r} is not a name for {key.split('.')[0]}",
                hint="letters, digits, _, . and -, starting with a letter or _",
            )
    elif key not in _PLAIN_KEYS:
        if key in _ORCH_OWN:
            raise UsageError(
                f"--set {text!r}: orch does not take {key} from --set", hint=_ORCH_OWN[key]
            )
        close = did_you_mean(key, [k for k in KEYS if "." not in k] + ["args.", "labels."])
        raise UsageError(
            f"--set {text!r}: unknown key {key!r}",
            hint=(f"{close} " if close else "") + "keys: " + ", ".join(KEYS),
        )
    if key == "no-cache" and value.lower() not in ("true", "false", "1", "0"):
        raise UsageError(f"--set {text!r}: no-cache is true or false", hint="write no-cache=true")
    if key in ("platform", "target") and not value.strip():
        raise UsageError(
            f"--set {text!r}: {key} needs a value",
            hint=f"such as {key}=" + ("linux/amd64" if key == "platform" else "runtime"),
        )
    return Override(pattern, key, value, text)


def _cache(override: Override) -> CacheEntry:
    try:
        return parse_cache_entry(override.value)
    except SpecError as exc:
        raise UsageError(
            f"--set {override.text!r}: {exc}",
            hint="write the entry as in the plan's cache:, such as type=local,src=.orch-cache/api",
        ) from None


def _apply(target: Target, overrides: Sequence[Override]) -> Target:
    args, labels = dict(target.args), dict(target.labels)
    changes: dict[str, object] = {}
    cache_from: list[CacheEntry] | None = None
    cache_to: list[CacheEntry] | None = None
    for o in overrides:
        if o.key.startswith("args."):
            args[o.key[5:]] = o.value
        elif o.key.startswith("labels."):
            labels[o.key[7:]] = o.value
        elif o.key == "platform":
            changes["platforms"] = tuple(p.strip() for p in o.value.split(",") if p.strip())
        elif o.key == "target":
            changes["target"] = o.value
        elif o.key == "cache-from":
            cache_from = [*(cache_from or []), _cache(o)]
        elif o.key == "cache-to":
            cache_to = [*(cache_to or []), _cache(o)]
    if cache_from is not None:
        changes["cache_from"], changes["cache_from_at"] = tuple(cache_from), ()
    if cache_to is not None:
        changes["cache_to"], changes["cache_to_at"] = tuple(cache_to), ()
    return dataclasses.replace(
        target,
        args=args,
        labels=labels,
        overrides=tuple(sorted({*target.overrides, *(o.written for o in overrides)})),
        **changes,  # type: ignore[arg-type]
    )


def host_platform(machine: str | None = None) -> str:
    """This machine's platform as BuildKit names it: linux/amd64, linux/arm64, ..."""
    import platform

    arch = (machine or platform.machine()).lower()
    names = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    names |= {"armv7l": "arm/v7", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
    return f"linux/{names.get(arch, arch)}"


def narrowed(platforms: Sequence[str], wanted: Sequence[str]) -> tuple[str, ...]:
    """`--platform`: a target's platforms narrowed to those `wanted`; a target that names none
    (the builder's own) gets `wanted`; one with none of them keeps its own."""
    if not platforms:
        return tuple(wanted)
    kept = tuple(p for p in platforms if p in wanted)
    return kept or tuple(platforms)


def apply(
    plan: Plan,
    overrides: Sequence[Override] = (),
    *,
    no_cache: bool = False,
    no_cache_filter: Sequence[str] = (),
    platform: Sequence[str] = (),
) -> Plan:
    """The plan with `overrides` (in order: a later one wins), the no-cache flags and
    `--platform` (see `narrowed`; the platforms are part of every version, so a narrowed
    build is never up to date against the full set) applied; a UsageError for a TARGET that
    matches no target."""
    if not overrides and not no_cache and not no_cache_filter and not platform:
        return plan
    names = list(plan.targets)
    by_target: dict[str, list[Override]] = {n: [] for n in names}
    for o in overrides:
        regex = re.compile(fnmatch.translate(o.pattern))
        hit = [n for n in names if regex.fullmatch(n)]
        if not hit:
            close = did_you_mean(o.pattern, names)
            raise UsageError(
                f"--set {o.text!r}: {o.pattern!r} matches no target",
                hint=(f"{close} " if close else "") + "a target name, or a glob such as '*'",
            )
        for n in hit:
            by_target[n].append(o)
    targets: Mapping[str, Target] = {
        n: dataclasses.replace(
            _apply(t, by_target[n]) if by_target[n] else t,
            no_cache=no_cache
            or t.no_cache
            or any(o.key == "no-cache" and o.value.lower() in ("true", "1") for o in by_target[n]),
            no_cache_filter=tuple(dict.fromkeys([*t.no_cache_filter, *no_cache_filter])),
        )
        for n, t in plan.targets.items()
    }
    if platform:
        targets = {
            n: dataclasses.replace(
                t,
                platforms=narrowed(t.platforms, platform),
                test_platforms={s: narrowed(p, platform) for s, p in t.test_platforms.items()},
            )
            for n, t in targets.items()
        }
    return dataclasses.replace(plan, targets=targets)
