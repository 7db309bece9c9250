"""How a run ended: one frozen result per job, made once, from the builder to the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from orchestrator.engine.events import StepRecord

if TYPE_CHECKING:
    from orchestrator.ci.testcases import Reports

Status = Literal["up-to-date", "built", "passed", "failed", "blocked", "cancelled"]
DONE: frozenset[Status] = frozenset({"up-to-date", "built", "passed"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One builder invocation a job was part of: where, and how it ended."""

    builder: str  # "" for the builder the docker CLI picks
    outcome: str  # built, failed, retried (a transient failure), cut off, stopped by a sibling
    duration_s: float
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    """What one job came to, as the summary and the report show it."""

    key: str
    status: Status  # `passed`: a test stage that built; `up-to-date`: its version was there
    duration_s: float | None = None  # None: it never started
    version: str | None = None  # the version of its inputs
    image: str | None = None  # the plan's first tag, once it points at the build (builds only)
    versioned_image: str | None = None  # `{image}:{version}`, what downstream builds use
    digest: str | None = None
    size_bytes: int | None = None  # compressed, as a registry stores it
    # A multi-platform image's size per platform (the engine's word; {} when it cannot tell).
    platform_sizes: Mapping[str, int] = field(default_factory=dict)
    uncompressed_bytes: int | None = None  # its layers unpacked (known for images just built)
    previous_size_bytes: int | None = None  # at the last build of this target recorded here
    cached_steps: int = 0
    log: str | None = None  # relative to the plan's directory
    failed_step: str | None = None
    error: str | None = None  # failed: the cause; blocked or cancelled: why it did not run
    tail: tuple[str, ...] = ()  # the failing step's last lines, raw
    failed_line: int | None = None  # the failing instruction's line in its Dockerfile
    excerpt: tuple[str, ...] = ()  # BuildKit's numbered lines of the Dockerfile around it
    warnings: tuple[str, ...] = ()  # what went wrong without failing it
    builder: str | None = None  # the builder of its last attempt, in a run over a pool
    # A target split among a pool's builders: the builder of each platform (orchestrator.run.split).
    platform_builders: Mapping[str, str] = field(default_factory=dict)
    part_durations: Mapping[str, float] = field(default_factory=dict)  # by builder, each part's
    attempts: tuple[Attempt, ...] = ()  # every invocation it was part of, in order
    # When its last attempt's bake started and when its own image was exported (or its test
    # stage finished), in seconds from the run's start; None when it never ran.
    started_s: float | None = None
    ended_s: float | None = None
    steps: tuple[StepRecord, ...] = ()  # its own steps, in the order they started
    # A test stage with `reports:`: its test cases, where its reports are kept (relative to the
    # plan's directory), and whether they are an earlier run's (the stage was not run again).
    reports: Reports | None = None
    reports_dir: str | None = None
    reports_cached: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """One `docker buildx bake`: its jobs and when it ran, in seconds from the run's start."""

    jobs: tuple[str, ...]
    started_s: float
    ended_s: float
    bake_file: str  # relative to the plan's directory
    builder: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """Every job's result in build order, and how the run as a whole went."""

    results: tuple[JobResult, ...]
    test: bool  # an `orch test` run
    interrupted: bool = False
    invocations: tuple[Invocation, ...] = ()
    warnings: tuple[str, ...] = ()  # about the run itself, such as state it could not save
    engine_gone: bool = False  # every builder stopped answering: the rest was cut off
    lost_builders: tuple[str, ...] = ()  # builders that went away during the run
    # `--push`: whether the plan's tags moved (all of them, after every job succeeded); None
    # when the run did not hold them back.
    published: bool | None = None

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.status in DONE for r in self.results)

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts
