"""Bake definitions: the JSON orch hands to `docker buildx bake`, computed purely from the plan.

One function, `bake_definitions`, makes them for `orch plan --json`, `orch plan --bake-file` and
every bake a run sends, so the three always agree on images, tags, contexts and cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.inputs.versions import (
    LABEL_INPUTS,
    LABEL_PLAN,
    LABEL_TARGET,
    LABEL_VERSION,
    plan_key,
    versioned_ref,
)
from orchestrator.plan import Secret, Target
from orchestrator.plan.specs import format_attrs
from orchestrator.project import Project
from orchestrator.run.exports import PUSH, image_output, local_only_targets
from orchestrator.run.jobs import Job, build_job

# Provenance attestations turn every image into an index with an extra manifest: more daemon work
# per target and nothing orch's users asked for.
NO_PROVENANCE = "type=provenance,disabled=true"

# A bake target definition, as JSON: string keys, values of JSON types.
BakeTarget = dict[str, object]

# Bake target names allow only [A-Za-z0-9_-]. Job keys also hold '.' (in names) and ':' (test
# stages); each becomes a two-character escape starting with '_', and '_' itself is doubled,
# so that two keys never share a bake name (`a.b` and `a_b` are `a_db` and `a__b`).
_ESCAPES = {"_": "__", ".": "_d", ":": "_c"}
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def bake_name(key: str) -> str:
    """The bake target name of a job key: readable, and different for every key."""
    return "".join(c if c in _PLAIN else _ESCAPES.get(c) or f"_x{ord(c):x}_" for c in key)


@dataclass(frozen=True, slots=True)
class CacheSpecs:
    """The cache specs one build reads and writes, as buildx reads them."""

    cache_from: tuple[str, ...]
    cache_to: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunInputs:
    """What is settled before a bake: versions, and what only a run knows (leases, secrets)."""

    versions: Mapping[str, str] = field(default_factory=dict)  # by target name
    inputs: Mapping[str, str] = field(default_factory=dict)  # by target name: canonical inputs
    cache: Mapping[str, CacheSpecs] = field(default_factory=dict)  # by job key: leased specs
    absent_secrets: frozenset[tuple[str, str]] = frozenset()  # (target, id): optional, not set
    reports: Mapping[str, str] = field(default_factory=dict)  # test job key -> export directory


def reports_key(key: str) -> str:
    """The definition key of a test job's reports export: no job key holds a NUL, so its bake
    name (`api_ctest_x0_reports`) is never another's."""
    return f"{key}\0reports"


def reports_target(job: Job, *, root: Path, dest: str) -> BakeTarget:
    """The bake target that exports a test stage's reports directory to `dest` on this
    machine, and nothing else of the stage: an inline Dockerfile copies the directory out of
    the stage (linked as the context `tested`) onto scratch, exported `type=local`. In the
    test's own bake, the stage is built once for both."""
    t = job.target
    directory = t.test_reports[job.stage or ""]
    definition: BakeTarget = {
        "context": _rel(t.context, root),
        "dockerfile-inline": f"FROM scratch\nCOPY --from=tested {directory}/ /\n",
        "contexts": {"tested": f"target:{bake_name(job.key)}"},
        "cache-from": [],
        "cache-to": [],
        "output": [format_attrs([("type", "local"), ("dest", dest)])],
        "attest": [NO_PROVENANCE],
    }
    platforms = t.test_platforms.get(job.stage or "", t.platforms)
    if platforms:
        definition["platforms"] = list(platforms)
    return definition


def hand_off_ref(target: Target, versions: Mapping[str, str]) -> str:
    """The reference a target's image is built as and handed on by: its versioned tag, which
    no other build can move; the plan's first tag when the version is not known."""
    version = versions.get(target.name)
    return versioned_ref(target.image, version) if version else target.first_tag


def plan_cache(job: Job) -> CacheSpecs:
    """The job's cache as the plan writes it (a run rewrites local ones: see cache.lease)."""
    return CacheSpecs(
        cache_from=tuple(e.render() for e in job.target.cache_from),
        cache_to=tuple(e.render() for e in job.cache_to),
    )


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


def _secret_spec(secret: Secret) -> str:
    source = ("env", secret.env) if secret.env is not None else ("src", str(secret.src))
    return format_attrs([("id", secret.id), source])


def bake_target(
    job: Job,
    *,
    root: Path,
    upstream: Mapping[str, Target],
    versions: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    cache: CacheSpecs | None = None,
    absent_secrets: frozenset[str] = frozenset(),
    link_targets: bool = False,
    linked: frozenset[str] = frozenset(),
    local_only: bool = False,
) -> BakeTarget:
    """The bake target definition for one job.

    Paths are relative to the plan's directory, where orch runs bake, so a person can re-run
    the written file by hand from there. `upstream` are the direct dependencies: each reaches
    the Dockerfile as a named context of the same name, so `FROM go-toolchain` works as written:
    as the image orch built (`docker-image://`), or with `link_targets` as the bake target of the
    same file (`target:`), which makes one self-contained file for a single hand-run bake.
    A run links the upstream targets in `linked` (built in the same bake) the same way.

    With `versions`, a build is tagged with its versioned tag only (orch moves the plan's tags
    once it succeeded) and says its version in a label; a hand-run file (`link_targets`) has
    the plan's tags as well, since nobody moves them afterwards. A `local_only` image (a stage
    no other machine reads: see orchestrator.run.exports) is exported with the fast compression.
    """
    t = job.target
    versions = versions or {}
    cache = cache or plan_cache(job)
    contexts: dict[str, str] = {
        name: f"target:{bake_name(name)}"
        if link_targets or name in linked
        else f"docker-image://{hand_off_ref(dep, versions)}"
        for name, dep in upstream.items()
    }
    for c in t.contexts:
        contexts[c.name] = _rel(c.path, root) if c.path is not None else (c.ref or "")
    definition: BakeTarget = {
        "context": _rel(t.context, root),
        "dockerfile": Path(os.path.relpath(t.dockerfile, t.context)).as_posix(),
    }
    if job.stage:
        definition["target"] = job.stage
    if t.no_cache:
        definition["no-cache"] = True
    if t.no_cache_filter:
        definition["no-cache-filter"] = list(t.no_cache_filter)
    if contexts:
        definition["contexts"] = contexts
    if t.args:
        definition["args"] = dict(t.args)
    labels = dict(t.labels)
    version = versions.get(t.name)
    if version and not job.test:
        labels |= {
            LABEL_TARGET: t.name,
            LABEL_VERSION: version,
            LABEL_PLAN: plan_key(t.location.file),
        }
        if inputs and t.name in inputs:
            labels[LABEL_INPUTS] = inputs[t.name]
    if labels:
        definition["labels"] = labels
    platforms = t.test_platforms.get(job.stage or "", t.platforms) if job.test else t.platforms
    if platforms:
        definition["platforms"] = list(platforms)
    secrets = [_secret_spec(s) for s in t.secrets if s.id not in absent_secrets]
    if secrets:
        definition["secret"] = secrets
    definition["cache-from"] = list(cache.cache_from)
    definition["cache-to"] = list(cache.cache_to)
    if job.test:
        definition["output"] = ["type=cacheonly"]
    else:
        own = hand_off_ref(t, versions)
        plan_tags = link_targets or not version  # else orch moves them once the build succeeded
        definition["tags"] = [own] + ([x for x in t.tags if x != own] if plan_tags else [])
        definition["output"] = [image_output(t, local_only=local_only)]
    definition["attest"] = attestations(t, pushed=definition["output"] == [PUSH])
    return definition


def attestations(target: Target, *, pushed: bool) -> list[str]:
    """The bake `attest` of a target: its `attest:` for a pushed image (provenance with
    mode=max; an SBOM by its generator), else none, so that a local image stays one manifest."""
    if not pushed or not target.attest:
        return [NO_PROVENANCE]
    said = []
    if "provenance" in target.attest:
        said.append("type=provenance,mode=max")
    else:
        said.append(NO_PROVENANCE)
    if "sbom" in target.attest and target.sbom_generator:
        said.append(f"type=sbom,generator={target.sbom_generator}")
    return said


def carried_upstream(project: Project, jobs: Iterable[Job], built: frozenset[str]) -> list[str]:
    """For a builder that cannot read the daemon's images (a driver other than `docker`): the
    upstream targets of `jobs`, not built in their bake (`built`), that reach it through no
    registry. A `docker-image://` of theirs would name an image that builder never sees, so the
    bake carries each as a target of its own, linked (`target:`) and exported nowhere: BuildKit
    builds it from its cache. One with a registry is read from there, as the pool's are; so is
    what it builds on. In build order."""
    carried: set[str] = set()
    todo = [name for job in jobs for name in project.graph.deps(job.target.name)]
    while todo:
        name = todo.pop()
        if name in built or name in carried or project.plan.targets[name].registry:
            continue
        carried.add(name)
        todo.extend(project.graph.deps(name))
    return [n for n in project.graph.order if n in carried]


def _carried(definition: BakeTarget) -> BakeTarget:
    """A carried upstream's definition: built in the bake as a context, tagged, exported and
    cached nowhere (its own builds do that)."""
    dropped = ("tags", "cache-to", "output", "no-cache", "no-cache-filter")
    kept = {k: v for k, v in definition.items() if k not in dropped}
    return kept | {"cache-to": [], "output": ["type=cacheonly"]}


def bake_definitions(
    project: Project,
    jobs: Iterable[Job],
    *,
    link_targets: bool = False,
    chained: bool = False,
    inputs: RunInputs | None = None,
    isolated: bool = False,
) -> dict[str, BakeTarget]:
    """Each job's bake target definition, by job key, with what the run resolved. `chained`:
    the jobs are one bake, and an upstream target that is one of them is linked (`target:`).
    `isolated`: the builder cannot read the daemon's images, so an upstream the bake does not
    build, and no registry hands on, is carried in it (`carried_upstream`), keyed by its name."""
    jobs = list(jobs)
    root, inputs = project.plan.root, inputs or RunInputs()
    linked = frozenset(job.target.name for job in jobs if not job.test) if chained else frozenset()
    carried: list[str] = []
    if isolated and not link_targets:
        linked |= frozenset(job.target.name for job in jobs if not job.test)  # always linked
        carried = carried_upstream(project, jobs, linked)
        linked |= frozenset(carried)
    local_only = local_only_targets(project.plan.targets, project.dockerfiles)
    carriers = {
        name: _carried(
            bake_target(
                build_job(project.plan.targets[name]),
                root=root,
                upstream=project.upstream(name),
                versions=inputs.versions,
                linked=linked,
                local_only=name in local_only,
            )
        )
        for name in carried
    }
    exports = {
        reports_key(job.key): reports_target(job, root=root, dest=inputs.reports[job.key])
        for job in jobs
        if job.test and job.key in inputs.reports
    }
    return (
        carriers
        | exports
        | {
            job.key: bake_target(
                job,
                root=root,
                upstream=project.upstream(job.target.name),
                versions=inputs.versions,
                inputs=inputs.inputs,
                cache=inputs.cache.get(job.key),
                absent_secrets=frozenset(
                    i for name, i in inputs.absent_secrets if name == job.target.name
                ),
                link_targets=link_targets,
                linked=linked,
                local_only=job.target.name in local_only,
            )
            for job in jobs
        }
    )


def bake_file(definitions: Mapping[str, BakeTarget]) -> dict[str, object]:
    """A whole bake file of definitions by job key: its targets and a default group of all."""
    names = {key: bake_name(key) for key in definitions}
    return {
        "group": {"default": {"targets": list(names.values())}},
        "target": {names[key]: dict(d) for key, d in definitions.items()},
    }
