"""Versioned images: which are there already, and the plan's tags pointed at them.

A target's image is built as `{image}:{version}` and only then do the plan's tags move to it,
so a failed build never moves a tag. A target without `registry:` keeps its images in the local
image store; one with a registry has them there, looked up and re-tagged without pulling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.engine import ImageInfo
from orchestrator.plan import Target


class ImageStore(Protocol):
    """What orch asks of the engine about images (`engine.Engine` is one)."""

    async def inspect(self, refs: Sequence[str]) -> Mapping[str, ImageInfo]: ...

    async def tag(self, source: str, tags: Sequence[str]) -> None: ...

    async def history(self, ref: str) -> list[tuple[int, str]]: ...

    async def remove(self, refs: Sequence[str]) -> None: ...

    async def remote_digests(self, refs: Sequence[str]) -> Mapping[str, str]: ...

    async def remote_sizes(self, refs: Sequence[str]) -> Mapping[str, int]: ...

    def wrapped(self, digest: str) -> tuple[str, ...]: ...

    async def remote_tag(self, source: str, tags: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Found:
    """A versioned image that is there, and where each of the plan's tags points now."""

    ref: str
    digest: str  # the local image id, or the registry's manifest digest
    size_bytes: int | None  # known for local images only
    tags: Mapping[str, str | None]  # plan tag -> its digest now (None: no such tag)

    @property
    def stale_tags(self) -> tuple[str, ...]:
        return tuple(tag for tag, digest in self.tags.items() if digest != self.digest)


async def find(store: ImageStore, wanted: Mapping[str, tuple[Target, str]]) -> dict[str, Found]:
    """Which of `wanted` (key -> (target, versioned ref)) exist: local ones in one call,
    registry ones by parallel look-ups."""
    local = {k: v for k, v in wanted.items() if not v[0].registry}
    remote = {k: v for k, v in wanted.items() if v[0].registry}
    local_refs = [r for t, ref in local.values() for r in (ref, *t.tags)]
    remote_refs = [r for t, ref in remote.values() for r in (ref, *t.tags)]
    infos = await store.inspect(local_refs) if local_refs else {}
    digests = await store.remote_digests(remote_refs) if remote_refs else {}
    found: dict[str, Found] = {}
    for key, (t, ref) in local.items():
        info = infos.get(ref)
        if info is not None:
            tags = {tag: (i.digest if (i := infos.get(tag)) else None) for tag in t.tags}
            found[key] = Found(ref, info.digest, info.size_bytes, tags)
    for key, (t, ref) in remote.items():
        digest = digests.get(ref)
        if digest is not None:
            # A registry tag moved by orch is an index of one wrapping the versioned manifest.
            tags = {
                tag: digest if (d := digests.get(tag)) and digest in store.wrapped(d) else d
                for tag in t.tags
            }
            found[key] = Found(ref, digest, None, tags)
    return found


async def point_tags(store: ImageStore, target: Target, ref: str, tags: Sequence[str]) -> None:
    """Point `tags` of the plan at the versioned image `ref`."""
    if not tags:
        return
    if target.registry:
        await store.remote_tag(ref, tags)
    else:
        await store.tag(ref, tags)
