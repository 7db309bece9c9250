"""A loaded plan: frozen targets, their secrets and contexts, and where each value is written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from orchestrator.errors import Location
from orchestrator.plan.ports import PortMapping
from orchestrator.plan.specs import CacheEntry

Kind = Literal["stage", "service"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    """A BuildKit secret: its value comes from an environment variable or a file, never the plan."""

    id: str
    env: str | None = None
    src: Path | None = None  # absolute
    optional: bool = False  # the build goes on without it when its variable or file is missing
    location: Location  # the secret's item in the plan


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedContext:
    """An extra named build context: a directory (absolute) or an image reference."""

    name: str
    path: Path | None = None
    ref: str | None = None  # e.g. docker-image://busybox:latest


@dataclass(frozen=True, slots=True, kw_only=True)
class DevSettings:
    """How `orch dev --run` runs a service's container; no part of its build or version."""

    ports: tuple[PortMapping, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None  # None: the image's own CMD
    location: Location  # the `dev:` key in the plan


@dataclass(frozen=True, slots=True, kw_only=True)
class LintSettings:
    """`lint:` of a target: the `orch lint` rules it leaves out, and those it turns on where
    they are off by default; each id with where it is written."""

    ignore: tuple[str, ...] = ()
    enable: tuple[str, ...] = ()
    at: Mapping[str, Location] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One buildable unit of the plan: a shared stage or a service."""

    name: str
    kind: Kind
    context: Path  # absolute, inside the plan's directory
    dockerfile: Path  # absolute
    target: str | None = None  # Dockerfile stage to ship; None: the last stage
    tests: tuple[str, ...] = ()  # Dockerfile stages built by `orch test` (services only)
    # A test stage's own platforms (`test: [{stage: S, platforms: [...]}]`); else the target's.
    test_platforms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A test stage's reports directory (`test: [{stage: S, reports: /reports}]`): JUnit XML
    # and its exit status, exported after the build (orchestrator.ci.testcases).
    test_reports: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()  # declared dependencies, in plan order
    contexts: tuple[NamedContext, ...] = ()
    watch: tuple[str, ...] = ()  # gitignore-style globs relative to the plan directory
    args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    image: str = ""  # repository, `{name}` expanded, registry prefix applied
    # Full references (repository:tag), valid Docker references, never empty in a loaded plan.
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    cache_from: tuple[CacheEntry, ...] = ()  # `{name}` expanded
    cache_to: tuple[CacheEntry, ...] = ()
    secrets: tuple[Secret, ...] = ()
    registry: str | None = None  # e.g. localhost:5000; images are pushed there and pulled from it
    max_size: int | None = None  # bytes: a build whose image is larger fails
    max_size_at: Location | None = None
    lint: LintSettings = field(default_factory=LintSettings)
    dev: DevSettings | None = None  # services only: `orch dev --run`'s container
    attest: tuple[str, ...] = ()  # provenance, sbom: attestations of a pushed image
    sbom_generator: str | None = None  # `sbom: {generator: IMAGE}`
    # What one command changed (orchestrator.plan.overrides): its `--set` entries as
    # `key=value`, sorted (an input of the version), and --no-cache, --no-cache-filter.
    overrides: tuple[str, ...] = ()
    no_cache: bool = False
    no_cache_filter: tuple[str, ...] = ()
    location: Location  # where the target is defined in the plan
    # Where values are written, for error messages: each declared dependency by name, the
    # `target:` value, and each `test` stage, `cache.from` and `cache.to` entry, in order.
    depends_on_at: Mapping[str, Location] = field(default_factory=dict)
    target_at: Location | None = None
    tests_at: tuple[Location, ...] = ()
    cache_from_at: tuple[Location, ...] = ()
    cache_to_at: tuple[Location, ...] = ()

    @property
    def first_tag(self) -> str:
        """The plan's first tag of the target's image (what `image` in a result names); the
        image a build makes is the versioned reference, run.bake.hand_off_ref."""
        return self.tags[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class BuilderSpec:
    """A buildx builder of the plan's pool: its name and, if set, its bake invocations at once
    and the platforms it builds natively (`platforms:`; empty: any, emulated or not)."""

    name: str
    jobs: int | None = None
    platforms: tuple[str, ...] = ()
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A whole plan: every target by name, in the order the file declares them."""

    path: Path  # the plan file, absolute
    root: Path  # the plan file's directory: every path in the plan is inside it
    version: int
    targets: Mapping[str, Target]
    builders: tuple[BuilderSpec, ...] = ()  # `builders:`: the pool a run spreads over
    builders_at: Location | None = None

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(n for n, t in self.targets.items() if t.kind == "service")
