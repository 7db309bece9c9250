"""What happens inside a bake, per job, as BuildKit reports it: the run's one stream of events.

The engine's progress reader (orchestrator.engine.progress) turns bake's `--progress=rawjson`
into these, each for the job whose own step it is; the live view, the logs, the report and the
scheduler's judgement all read them. Times are seconds from the run's start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StepStarted:
    key: str  # the job
    step: str  # as BuildKit names it, without the bake target: `[builder 4/7] RUN go build`
    at_s: float


@dataclass(frozen=True, slots=True)
class StepDone:
    key: str
    step: str
    at_s: float
    duration_s: float
    cached: bool


@dataclass(frozen=True, slots=True)
class LogLine:
    key: str
    step: str
    text: str  # one line, masked of the run's secrets
    at_s: float


@dataclass(frozen=True, slots=True)
class ImageExported:
    """The job's image (or its test stage) is done: the job is built, whatever else runs on."""

    key: str
    at_s: float


@dataclass(frozen=True, slots=True)
class Failed:
    """A step of the job's own failed: where, as BuildKit said it."""

    key: str
    step: str
    error: str
    at_s: float
    file: str | None = None  # the Dockerfile, relative to the plan's directory
    line: int | None = None
    excerpt: tuple[str, ...] = ()  # BuildKit's lines of the Dockerfile around `line`


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """One build step of a job, as BuildKit reported it, in seconds from the run's start."""

    name: str  # as BuildKit names it, without the bake target: `[builder 4/7] RUN go build`
    started_s: float
    ended_s: float
    cached: bool = False
    error: str | None = None
    line: int | None = None  # its line in the job's Dockerfile, when known


BuildEvent = StepStarted | StepDone | LogLine | ImageExported | Failed
OnBuildEvent = Callable[[BuildEvent], None]
