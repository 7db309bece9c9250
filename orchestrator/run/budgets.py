"""The run's gate: every image the run ends with, built now or found, within its `max_size`.

A budget is a property of the image a target has at the end of the run, so an image that was
already there (up to date) is checked as one just built: adding `max_size` to a target whose
image is too big fails the next run, and a run that fails a budget moves none of that target's
tags (with `--push`, none at all). A local image's size is the engine's; an image in a registry
is measured there, as the sum of its compressed layers and config, without pulling it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence

from orchestrator.dockerfile.lexer import instruction_lines
from orchestrator.engine import images
from orchestrator.errors import OrchError
from orchestrator.plan import Target, sizes
from orchestrator.run.jobs import JobSet
from orchestrator.run.results import JobResult

GATED = frozenset({"built", "up-to-date"})


def over_budget(target: Target, size: int, layers: list[sizes.Layer]) -> str | None:
    """Why an image of `size` bytes breaks `target`'s `max_size`, with its largest layers; or
    None when it is within it (or there is no budget)."""
    if target.max_size is None or size <= target.max_size:
        return None
    message = sizes.over_budget(size, target.max_size, layers)
    where = f" (max_size at {target.max_size_at})" if target.max_size_at else ""
    return message.replace("\n", f"{where}\n", 1) if "\n" in message else message + where


def gated(results: Sequence[JobResult], jobset: JobSet) -> list[JobResult]:
    """The results whose image has a budget to meet: built or up to date, not a test stage."""
    return [
        r
        for r in results
        if r.status in GATED
        and not jobset.jobs[r.key].test
        and jobset.jobs[r.key].target.max_size is not None
        and r.versioned_image is not None
    ]


def platform_verdict(target: Target, sizes_by_platform: Mapping[str, int]) -> str | None:
    """Why a multi-platform image breaks `max_size` on one of its platforms (the first in the
    plan's order that does, naming it), or None."""
    if target.max_size is None:
        return None
    for platform in target.platforms:
        size = sizes_by_platform.get(platform)
        if size is not None and size > target.max_size:
            reason = over_budget(target, size, []) or ""
            return f"{platform}: {reason}"
    return None


async def measure_platforms(
    results: Sequence[JobResult], jobset: JobSet, store: images.ImageStore
) -> tuple[tuple[JobResult, ...], tuple[str, ...]]:
    """Each multi-platform image the run ends with, with its size per platform (the report's,
    the summary's and the budget's); a warning for each whose sizes the engine cannot tell."""
    out: list[JobResult] = []
    unknown: list[str] = []
    for r in results:
        job = jobset.jobs[r.key]
        platforms = job.target.platforms
        if r.status not in GATED or job.test or len(platforms) < 2 or not r.versioned_image:
            out.append(r)
            continue
        try:
            measured = await store.platform_sizes(
                r.versioned_image, platforms, remote=bool(job.target.registry)
            )
        except OrchError:
            measured = {}
        if len(measured) < len(platforms):
            unknown.append(r.key)
        out.append(dataclasses.replace(r, platform_sizes=dict(measured)) if measured else r)
    warnings: tuple[str, ...] = ()
    if unknown:
        warnings = (
            f"{', '.join(unknown)}: the size of each platform could not be read (a local image "
            "needs Docker Engine 28.1 or later for it); sizes and max_size are the engine's "
            "platform's",
        )
    return tuple(out), warnings


Inherited = Callable[[str], Sequence[tuple[str, list[tuple[int, str, str]]]]]


async def gate(
    results: Sequence[JobResult],
    jobset: JobSet,
    store: images.ImageStore,
    *,
    inherited_of: Inherited = lambda name: (),
) -> tuple[tuple[JobResult, ...], tuple[str, ...]]:
    """Every result, those over budget turned `failed` with the reason (a multi-platform
    image's on each platform, naming the one over); and warnings for the images whose size
    could not be read, so whose budget was not checked. `inherited_of` gives the Dockerfiles a
    target builds on, for the largest layers' lines."""
    results, platform_warnings = await measure_platforms(results, jobset, store)
    checked = gated(results, jobset)
    unknown = [
        r.versioned_image
        for r in checked
        if r.size_bytes is None and jobset.jobs[r.key].target.registry and r.versioned_image
    ]
    measured: Mapping[str, int] = {}
    warnings: list[str] = []
    if unknown:
        try:
            measured = await store.remote_sizes(unknown)
        except OrchError as exc:
            warnings.append(f"image sizes could not be read from the registry: {exc.message}")
    warnings += platform_warnings
    verdicts: dict[str, JobResult] = {}
    for r in checked:
        target = jobset.jobs[r.key].target
        ref = r.versioned_image or ""
        by_platform = platform_verdict(target, r.platform_sizes)
        if by_platform is not None:
            if r.status == "up-to-date":
                by_platform += (
                    f"\n(its image {ref} was built before; the budget holds for it all the same)"
                )
            verdicts[r.key] = dataclasses.replace(r, status="failed", error=by_platform, image=None)
            continue
        size = r.size_bytes if r.size_bytes is not None else measured.get(ref)
        if size is None:
            warnings.append(f"{r.key}: the size of {ref} could not be read: max_size not checked")
            continue
        if over_budget(target, size, []) is None:
            if r.size_bytes is None:
                verdicts[r.key] = dataclasses.replace(r, size_bytes=size)
            continue
        layers: list[sizes.Layer] = []
        if not target.registry:
            with contextlib.suppress(OrchError, OSError):
                history = await store.history(ref)
                layers = sizes.join_layers(
                    history, instruction_lines(target.dockerfile), inherited_of(target.name)
                )
        reason = over_budget(target, size, layers) or ""
        if r.status == "up-to-date":
            reason += f"\n(its image {ref} was built before; the budget holds for it all the same)"
        verdicts[r.key] = dataclasses.replace(
            r, status="failed", error=reason, size_bytes=size, image=None
        )
    return tuple(verdicts.get(r.key, r) for r in results), tuple(warnings)
