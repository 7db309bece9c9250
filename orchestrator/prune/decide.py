"""What `orch prune` removes, decided purely from what the engine and the state directory list.

A versioned tag (`repository:<20 hex digits>`, what every build makes) of a plan target's
repository is removed when it is past the bound: beyond the newest `keep` versions of its
target (default 3), or with `older_than` built longer ago than that (the newest one is always
kept). Never removed, whatever the bound:

- an image a tag of the plan points at (`orch/api:latest`), or any other tag outside the
  versioned ones (a tag the user made);
- an image a container uses, running or stopped;
- anything outside the plan's repositories (only a versioned tag is ever removed, so an image
  that another repository also names stays, under that name), nor an image another plan built
  in a repository both use (the `dev.orch.plan` label of each image orch builds says which);
- the images of a target a run is building now (the command holds its job lock, or leaves
  it).

Removing a tag removes the image only when no other tag names it; the space freed counts only
those, each at its whole size: an upper bound, since the layers it shares with an image that
stays (its base, above all) stay too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

VERSION_TAG = re.compile(r"^[0-9a-f]{20}$")
# A part of a target built in parts over a pool's builders (orchestrator.run.split): its
# version's tag and the part's platforms, `<version>-linux-arm64`. It goes with its version.
PART_TAG = re.compile(r"^([0-9a-f]{20})-[a-z0-9][a-z0-9.+_-]*$")


def parts_of(version_tag: str, tags: Iterable[str]) -> list[str]:
    """The part tags among `tags` of the versioned tag `version_tag`, in their order."""
    return [t for t in tags if (m := PART_TAG.match(t)) is not None and m.group(1) == version_tag]


@dataclass(frozen=True, slots=True)
class LocalTag:
    """One tag of the local image store: `repository:tag` naming the image `image_id`."""

    repository: str
    tag: str
    image_id: str

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True, slots=True)
class ImageFacts:
    created: float  # seconds since the epoch
    size: int  # bytes on disk
    plan: str | None = None  # its `dev.orch.plan` label: the plan that built it, when it says


@dataclass(frozen=True, slots=True)
class Kept:
    ref: str
    why: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Which versioned tags go, which stay and why, and the bytes their removal frees."""

    remove: tuple[LocalTag, ...] = ()
    kept: tuple[Kept, ...] = ()
    freed: int = 0
    by_target: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # target -> refs


def decide(
    repositories: Mapping[str, str],
    tags: Sequence[LocalTag],
    facts: Mapping[str, ImageFacts],
    *,
    in_use: Iterable[str] = (),
    busy: Iterable[str] = (),
    keep: int = 3,
    older_than: float | None = None,
    now: float = 0.0,
    plan: str | None = None,
) -> Decision:
    """`repositories`: each target's image repository (target -> repository); `tags`: every
    tag of the local store (all repositories: an image another names is not freed); `facts`:
    each image's creation time and size; `in_use`: image ids a container uses; `busy`: targets
    a run is building now; `plan`: this plan's key (`plan_key`), so that an image another
    plan built (its `dev.orch.plan` label says so) stays and counts for nothing here, even in
    a repository both use. `older_than` (seconds) replaces `keep` as the bound."""
    used, skipped = set(in_use), set(busy)
    by_image: dict[str, list[LocalTag]] = {}
    for t in tags:
        by_image.setdefault(t.image_id, []).append(t)
    remove: list[LocalTag] = []
    kept: list[Kept] = []
    by_target: dict[str, tuple[str, ...]] = {}
    for target, repository in repositories.items():
        theirs = [
            t
            for t in tags
            if t.repository == repository
            and plan is not None
            and (f := facts.get(t.image_id)) is not None
            and f.plan not in (None, plan)
        ]
        kept += [Kept(t.ref, "another plan built it (its dev.orch.plan label)") for t in theirs]
        mine = [t for t in tags if t.repository == repository and t not in theirs]
        versioned = [t for t in mine if VERSION_TAG.match(t.tag)]
        named = {t.image_id for t in mine if not VERSION_TAG.match(t.tag)}
        newest = sorted(
            versioned,
            key=lambda t: (facts[t.image_id].created if t.image_id in facts else 0.0, t.tag),
            reverse=True,
        )
        going: list[LocalTag] = []
        for rank, t in enumerate(newest):
            if target in skipped:
                kept.append(Kept(t.ref, "a run is building this target now"))
            elif t.image_id in named:
                kept.append(Kept(t.ref, "a tag of the plan (or yours) points at it"))
            elif t.image_id in used:
                kept.append(Kept(t.ref, "a container uses it"))
            elif rank == 0:
                kept.append(Kept(t.ref, "the newest version"))
            elif older_than is None and rank < keep:
                kept.append(Kept(t.ref, f"one of the newest {keep}"))
            elif (
                older_than is not None
                and t.image_id in facts
                and (now - facts[t.image_id].created < older_than)
            ):
                kept.append(Kept(t.ref, "built within the bound"))
            else:
                going.append(t)
        remove += going
        by_target[target] = tuple(t.ref for t in going)
    gone = {t.ref for t in remove}
    freed = sum(
        facts[image].size
        for image, named_by in by_image.items()
        if image in facts and all(t.ref in gone for t in named_by)
    )
    return Decision(tuple(remove), tuple(kept), freed, by_target)


def duration(text: str) -> float:
    """`7d`, `12h`, `30m`, `90s`, `2w` as seconds; ValueError for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise ValueError(text)
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return float(match.group(1)) * unit


def older(
    entries: Mapping[str, float], *, keep: int, older_than: float | None, now: float
) -> list[str]:
    """Of `entries` (name -> mtime), those past the bound: beyond the newest `keep`, or with
    `older_than` older than that; oldest first."""
    ordered = sorted(entries, key=lambda n: (entries[n], n), reverse=True)
    if older_than is None:
        return list(reversed(ordered[keep:]))
    return [n for n in reversed(ordered[1:]) if now - entries[n] >= older_than]
