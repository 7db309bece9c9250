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
from collections.abc import Mapping, Sequence

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


async def gate(
    results: Sequence[JobResult], jobset: JobSet, store: images.ImageStore
) -> tuple[tuple[JobResult, ...], tuple[str, ...]]:
    """Every result, those over budget turned `failed` with the reason; and warnings for the
    images whose size could not be read, so whose budget was not checked."""
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
    verdicts: dict[str, JobResult] = {}
    for r in checked:
        target = jobset.jobs[r.key].target
        ref = r.versioned_image or ""
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
                layers = sizes.join_layers(history, instruction_lines(target.dockerfile))
        reason = over_budget(target, size, layers) or ""
        if r.status == "up-to-date":
            reason += f"\n(its image {ref} was built before; the budget holds for it all the same)"
        verdicts[r.key] = dataclasses.replace(
            r, status="failed", error=reason, size_bytes=size, image=None
        )
    return tuple(verdicts.get(r.key, r) for r in results), tuple(warnings)
