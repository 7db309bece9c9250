"""Bake definitions: the JSON orch hands to `docker buildx bake`, computed purely from the plan."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.plan import Target

# Provenance attestations turn every image into an index with an extra manifest: more daemon work
# per target and nothing orch's users asked for. A plan can still add them through `attest` later.
NO_PROVENANCE = "type=provenance,disabled=true"

_BAKE_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One unit of scheduling: a target built to ship, or one of a service's test stages."""

    key: str  # "api" for a build, "api:test" for a test stage
    target: Target
    stage: str | None  # the Dockerfile stage to build; None: the last one
    test: bool = False


def build_job(target: Target) -> Job:
    return Job(key=target.name, target=target, stage=target.target)


def stage_jobs(target: Target) -> tuple[Job, ...]:
    return tuple(
        Job(key=f"{target.name}:{stage}", target=target, stage=stage, test=True)
        for stage in target.tests
    )


def bake_name(key: str) -> str:
    """Bake target names allow only [A-Za-z0-9_-]; orch keys also hold '.' and ':'."""
    return _BAKE_NAME_UNSAFE.sub("_", key)


def image_ref(target: Target) -> str:
    """The reference other targets and `docker image inspect` use for a target's image."""
    return target.tags[0] if target.tags else f"{target.image}:latest"


def _rel(path: Path, root: Path) -> str:
    rel = path.relative_to(root).as_posix()
    return rel or "."


def _secret_spec(target: Target, root: Path) -> list[str]:
    specs = []
    for s in target.secrets:
        if s.env is not None:
            specs.append(f"id={s.id},env={s.env}")
        elif s.src is not None:
            specs.append(f"id={s.id},src={s.src}")
    return specs


def bake_target(
    job: Job,
    *,
    root: Path,
    upstream: Mapping[str, Target],
    cache_from: Sequence[str] | None = None,
    cache_to: Sequence[str] | None = None,
    link_targets: bool = False,
) -> dict[str, Any]:
    """The bake target definition for one job.

    Paths are relative to the plan's directory, where orch runs bake, so a person can re-run
    the written file by hand from there. `upstream` are the direct dependencies: each reaches
    the Dockerfile as a named context of the same name, so `FROM go-toolchain` works as written:
    as the image orch built (`docker-image://`), or with `link_targets` as the bake target of the
    same file (`target:`), which makes one self-contained file for a single hand-run bake.
    """
    t = job.target
    contexts: dict[str, str] = {}
    for name, dep in upstream.items():
        contexts[name] = (
            f"target:{bake_name(name)}" if link_targets else (f"docker-image://{image_ref(dep)}")
        )
    for c in t.contexts:
        contexts[c.name] = _rel(c.path, root) if c.path is not None else (c.ref or "")
    definition: dict[str, Any] = {
        "context": _rel(t.context, root),
        "dockerfile": Path(os.path.relpath(t.dockerfile, t.context)).as_posix(),
    }
    if job.stage:
        definition["target"] = job.stage
    if contexts:
        definition["contexts"] = contexts
    if t.args:
        definition["args"] = dict(t.args)
    if t.labels:
        definition["labels"] = dict(t.labels)
    if t.platforms:
        definition["platforms"] = list(t.platforms)
    secrets = _secret_spec(t, root)
    if secrets:
        definition["secret"] = secrets
    definition["cache-from"] = list(t.cache_from if cache_from is None else cache_from)
    if job.test:
        # A test stage proves something and ships nothing: no tags, no image, and it must not
        # overwrite the service's own cache with a cache of the test stage.
        definition["cache-to"] = []
        definition["output"] = ["type=cacheonly"]
    else:
        definition["tags"] = list(t.tags) or [image_ref(t)]
        definition["cache-to"] = list(t.cache_to if cache_to is None else cache_to)
        definition["output"] = ["type=image,push=true"] if t.registry else ["type=docker"]
    definition["attest"] = [NO_PROVENANCE]
    return definition


def bake_file(definitions: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A whole bake file: its targets and a default group of all of them."""
    names = list(definitions)
    return {
        "group": {"default": {"targets": names}},
        "target": {name: dict(d) for name, d in definitions.items()},
    }
