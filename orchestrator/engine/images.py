"""Versioned images: which are there already, and the plan's tags pointed at them.

A target's image is built as `{image}:{version}` and only then do the plan's tags move to it,
so a failed build never moves a tag. A target without `registry:` keeps its images in the local
image store; one with a registry has them there, looked up and re-tagged without pulling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from orchestrator.engine.docker import ImageInfo
from orchestrator.plan import Target


class ImageStore(Protocol):
    """What orch asks of the engine about images (`engine.Engine` is one)."""

    async def inspect(self, refs: Sequence[str]) -> Mapping[str, ImageInfo]: ...

    async def ids(self, refs: Sequence[str], *, fresh: bool = False) -> Mapping[str, str]: ...

    async def tag(self, source: str, tags: Sequence[str]) -> None: ...

    async def history(self, ref: str, *, platform: str | None = None) -> list[tuple[int, str]]: ...

    async def remove(self, refs: Sequence[str]) -> None: ...

    async def remote_digests(self, refs: Sequence[str]) -> Mapping[str, str]: ...

    async def remote_sizes(self, refs: Sequence[str]) -> Mapping[str, int]: ...

    def wrapped(self, digest: str) -> tuple[str, ...]: ...

    def platforms(self, digest: str) -> frozenset[str] | None: ...

    async def local_platforms(
        self, ref: str, platforms: Sequence[str]
    ) -> frozenset[str] | None: ...

    async def remote_tag(self, source: str, tags: Sequence[str]) -> None: ...

    async def platform_sizes(
        self, ref: str, platforms: Sequence[str], *, remote: bool = False
    ) -> Mapping[str, int]: ...


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


async def find(
    store: ImageStore,
    wanted: Mapping[str, tuple[Target, str]],
    *,
    sizes: Mapping[str, int] | None = None,
) -> dict[str, Found]:
    """Which of `wanted` (key -> (target, versioned ref)) exist: local ones from one listing
    of their repositories, registry ones by parallel look-ups. With `sizes` (image id ->
    bytes, as recorded when they were built), each local image found has its size, the
    engine asked only for those not recorded; without, local sizes are not looked up."""
    local = {k: v for k, v in wanted.items() if not v[0].registry}
    remote = {k: v for k, v in wanted.items() if v[0].registry}
    local_refs = [r for t, ref in local.values() for r in (ref, *t.tags)]
    remote_refs = [r for t, ref in remote.values() for r in (ref, *t.tags)]
    ids = await store.ids(local_refs) if local_refs else {}
    digests = await store.remote_digests(remote_refs) if remote_refs else {}
    measured: dict[str, int] = {}
    if sizes is not None:
        unknown = [ref for _, ref in local.values() if ref in ids and ids[ref] not in sizes]
        infos = await store.inspect(unknown) if unknown else {}
        measured = {ids[ref]: info.size_bytes for ref, info in infos.items()}
        measured |= {i: sizes[i] for i in ids.values() if i in sizes}
    found: dict[str, Found] = {}
    partial = await _partial_local(store, {k: v for k, v in local.items() if v[1] in ids})
    for key, (t, ref) in local.items():
        image_id = ids.get(ref)
        if image_id is not None and key not in partial:
            tags = {tag: ids.get(tag) for tag in t.tags}
            found[key] = Found(ref, image_id, measured.get(image_id), tags)
    for key, (t, ref) in remote.items():
        digest = digests.get(ref)
        if digest is not None and _every_platform(store, digest, t):
            # A registry tag moved by orch is an index of one wrapping the versioned manifest.
            tags = {
                tag: digest if (d := digests.get(tag)) and digest in store.wrapped(d) else d
                for tag in t.tags
            }
            found[key] = Found(ref, digest, None, tags)
    return found


async def _partial_local(store: ImageStore, there: Mapping[str, tuple[Target, str]]) -> set[str]:
    """The local multi-platform images of `there` that lack a platform of their target, where
    the engine can tell (Docker Engine 28.1 answers per platform; an older one tells nothing,
    and the image counts as whole)."""
    partial: set[str] = set()
    for key, (t, ref) in there.items():
        if len(t.platforms) < 2:
            continue
        present = await store.local_platforms(ref, t.platforms)
        if present is not None and not set(t.platforms) <= present:
            partial.add(key)
    return partial


def _every_platform(store: ImageStore, digest: str, target: Target) -> bool:
    """Whether a registry image has every platform of its target: an index that lacks one (a
    part lost, a copy by hand) is not the target's image, and is built again."""
    if len(target.platforms) < 2:
        return True
    listed = store.platforms(digest)
    return listed is None or set(target.platforms) <= listed


async def point_tags(store: ImageStore, target: Target, ref: str, tags: Sequence[str]) -> None:
    """Point `tags` of the plan at the versioned image `ref`."""
    if not tags:
        return
    if target.registry:
        await store.remote_tag(ref, tags)
    else:
        await store.tag(ref, tags)
