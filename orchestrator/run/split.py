"""A multi-platform target split among the builders of a pool that build its platforms natively.

A pool's builder may name the platforms it serves (`builders: [{name, platforms}]`): an arm64
machine builds linux/arm64 5 to 20 times faster than an amd64 one under emulation. A target
built for several platforms is then built in parts, one bake per builder with the platforms it
serves, each pushed under a tag of its own (the versioned tag and the part's platforms:
BuildKit's `push-by-digest` is not there for the `docker` driver). Once every part is in the
registry, one `imagetools create` merges them into the index the versioned tag names. A part
that fails leaves the versioned tag unset: all or nothing, as a whole build. Downstream targets
read that index, so each of their parts takes its own platform.

Everything here is pure: which builder builds which platforms, and where each part goes.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.plan.references import TAG_MAX, split_tag
from orchestrator.plan.specs import CacheEntry


@dataclass(frozen=True, slots=True)
class Server:
    """A builder of the pool and the platforms it names (empty: it builds any, emulating)."""

    name: str
    platforms: tuple[str, ...] = ()


def parts(
    platforms: Sequence[str],
    on: str,
    servers: Sequence[Server],
    gone: Collection[str] = (),
    took: Mapping[str, float] | None = None,
) -> dict[str, tuple[str, ...]] | None:
    """Which builder builds which of `platforms` of a target the schedule placed on `on`: by
    builder, in pool order. None when the target is built whole on `on`: one platform, no
    builder of the pool names any platform, or every platform goes to `on` anyway.

    A platform goes to `on` when `on` names it (the schedule put the target where its upstream
    was built: affinity), else to the builder that names it and built the target's part
    fastest last time (`took`: seconds by builder, from the history), the first listed among
    those it knows nothing of; else to `on` when it names no platforms, else to the first
    builder that names none; failing all of those, to `on`. Builders in `gone` (they stopped
    answering) are passed over."""
    took = took or {}
    up = [s for s in servers if s.name not in gone]
    if len(platforms) < 2 or not any(s.platforms for s in up):
        return None
    here = next((s for s in up if s.name == on), Server(on))
    chosen: dict[str, list[str]] = {}
    for platform in platforms:
        naming = [s for s in up if platform in s.platforms]
        generic = [s for s in up if not s.platforms]
        if here in naming or (not naming and not here.platforms):
            builder = here.name
        elif naming:
            builder = min(naming, key=lambda s: took.get(s.name, math.inf)).name
        elif generic:
            builder = generic[0].name
        else:
            builder = here.name
        chosen.setdefault(builder, []).append(platform)
    if set(chosen) == {on}:
        return None
    order = {s.name: i for i, s in enumerate(servers)}
    return {b: tuple(chosen[b]) for b in sorted(chosen, key=lambda b: order.get(b, -1))}


def suffix(platforms: Sequence[str]) -> str:
    """The part's name in paths and tags, of the characters a tag may hold: `linux-arm64`,
    `linux-amd64_linux-arm-v7`."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]", "-", p.replace("/", "-")) for p in platforms)


def part_cache(entry: CacheEntry, platforms: Sequence[str]) -> CacheEntry:
    """A cache entry of the target for one part: a place of its own, so that two parts never
    replace each other's cache (each exports only its platforms). Local directories and registry
    references take the part's suffix, a GitHub Actions cache its scope; other kinds are kept."""
    tail = suffix(platforms)
    if entry.type == "local":
        for key in ("src", "dest"):
            path = entry.get(key)
            if path is not None:
                entry = entry.with_attr(key, f"{path}.{tail}")
        return entry
    if entry.type == "registry":
        ref = entry.get("ref")
        if ref is None or "@" in ref:
            return entry
        repository, tag = split_tag(ref)
        return entry.with_attr("ref", f"{repository}:{tag + '-' if tag else ''}{tail}")
    if entry.type == "gha":
        return entry.with_attr("scope", f"{entry.get('scope') or 'buildkit'}-{tail}")
    return entry


def part_tag(versioned: str, platforms: Sequence[str]) -> str:
    """The tag a part is pushed under: `{image}:{version}-linux-arm64`. Like the versioned tag,
    no build of other inputs moves it. A tag holds at most 128 characters: a part of so many
    platforms that its name would not fit is named by a digest of it instead."""
    tag = f"{split_tag(versioned)[1] or ''}-{suffix(platforms)}"
    if len(tag) > TAG_MAX:
        digest = hashlib.sha256(suffix(platforms).encode()).hexdigest()[:16]
        tag = f"{split_tag(versioned)[1] or ''}-platforms-{digest}"
    return f"{split_tag(versioned)[0]}:{tag}"
