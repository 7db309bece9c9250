"""Read bake's `--progress=rawjson`: BuildKit's own account of each vertex, per bake target.

bake writes one JSON object per status update (indented or on one line, by buildx version),
and after them, as text, its error summary with BuildKit's excerpt of the failing Dockerfile
(`Dockerfile:2`, then the numbered lines). `RawJsonLines` tells the two apart line by line;
`BakeProgress` turns the objects into orchestrator.run.events, each for the job whose own step
it is.

Each target of a multi-target bake reports its vertices under its name (`[svc 2/3] RUN ...`),
and a vertex several targets share (an upstream's step, in a chained bake) is reported once per
target that reads it. It belongs to the targets that reported it none of whose upstream targets
in the bake did: base's steps are base's, not each service's.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.run.events import (
    BuildEvent,
    Failed,
    ImageExported,
    LogLine,
    StepDone,
    StepStarted,
)
from orchestrator.run.results import StepRecord

_PREFIXED = re.compile(r"^\[(?P<target>[A-Za-z0-9_-]+)(?: (?P<rest>[^\]]*))?\] (?P<step>.*)$", re.S)
_BARE = re.compile(r"^\[(?P<rest>[^\]]*)\] (?P<step>.*)$", re.S)
_STEP = re.compile(r"^\[[^\]]*\d+/\d+\] ")  # as engine/buildlog.py reads plain output
_EXPORT = re.compile(r"^exporting to (?:image|docker image format|oci image format)$")
_CANCELED = "context canceled"
_EXCERPT_HEAD = re.compile(r"^(?P<file>\S*Dockerfile[^\s:]*):(?P<line>\d+)$")
_EXCERPT_LINE = re.compile(r"^\s*(?:>>>\s*)?(?P<num>\d+) \|")


def parse_time(text: object) -> float | None:
    """Seconds since the epoch of BuildKit's RFC 3339 time (nanoseconds, `Z`); None if unset."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        whole = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    digits = "".join(c for c in frac if c.isdigit())
    return whole + (int(digits) / 10 ** len(digits) if digits else 0.0)


class RawJsonLines:
    """Splits bake's stderr, fed line by line, into status objects and lines of text."""

    def __init__(self) -> None:
        self._held: list[str] = []
        self.text: list[str] = []  # what was not a status object: bake's own messages

    def feed(self, line: str) -> list[dict[str, object]]:
        line = line.rstrip("\n")
        if not self._held:
            if not line.startswith("{"):
                self.text.append(line)
                return []
            self._held.append(line)
            if not line.rstrip().endswith("}"):
                return []
        else:
            self._held.append(line)
            if line.rstrip() != "}":  # an indented object ends with a brace of its own
                return []
        held, self._held = "\n".join(self._held), []
        try:
            got = json.loads(held)
        except ValueError:
            self.text.extend(held.splitlines())
            return []
        return [got] if isinstance(got, dict) else []

    def close(self) -> None:
        """Whatever was held when the output ended is text."""
        self.text.extend(self._held)
        self._held = []


@dataclass(slots=True)
class _Vertex:
    name: str = ""  # without the target's prefix
    reporters: set[str] = field(default_factory=set)  # bake targets that reported it
    started: float | None = None
    completed: float | None = None
    cached: bool = False
    error: str | None = None
    logs: list[tuple[str, str]] = field(default_factory=list)  # (bake target, line)
    partial: dict[str, str] = field(default_factory=dict)  # bake target -> unfinished line


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetAccount:
    """What one bake target came to, by the vertices it owns."""

    steps: tuple[StepRecord, ...]
    cached_steps: int
    exported_s: float | None  # when its image was exported, on the run's clock
    failed_step: str | None
    error: str | None  # its own step's error; a step stopped by another's failure is not one
    stopped: bool  # a step of its own was cancelled, by a failure elsewhere in the bake
    log_lines: tuple[str, ...]


class BakeProgress:
    """Turns one bake's status objects into events for the jobs they belong to.

    `jobs`: bake target name -> job key. `upstream`: bake target -> the bake targets of the same
    bake it builds on, directly or not. `clock0`: the run's start, in seconds since the epoch."""

    def __init__(
        self,
        jobs: Mapping[str, str],
        upstream: Mapping[str, Iterable[str]],
        clock0: float,
    ) -> None:
        self.jobs = dict(jobs)
        self.upstream = {name: frozenset(upstream.get(name, ())) for name in jobs}
        self.clock0 = clock0
        self._vertices: dict[str, _Vertex] = {}
        self._order: list[str] = []  # digests, in the order they were first reported
        self._exported: dict[str, float] = {}  # bake target -> when
        self._said_started: set[tuple[str, str]] = set()
        self._said_done: set[tuple[str, str]] = set()
        self._pending: list[str] = []  # vertices with events not yet given

    def _at(self, wall: float | None) -> float:
        return max(0.0, (wall or self.clock0) - self.clock0)

    def owners(self, digest: str) -> frozenset[str]:
        """The bake targets a vertex belongs to, by what has been reported so far."""
        v = self._vertices[digest]
        return frozenset(t for t in v.reporters if not (self.upstream[t] & v.reporters))

    def feed(self, status: Mapping[str, object]) -> list[BuildEvent]:
        """The events one status object brings, in the order BuildKit reported them."""
        events: list[BuildEvent] = []
        for raw in _dicts(status.get("vertexes")):
            events += self._vertex(raw)
        for raw in _dicts(status.get("logs")):
            events += self._log(raw)
        return events

    def _named(self, name: str) -> tuple[str, str | None, str] | None:
        """(bake target, what the brackets say after it, the step) of a vertex's name. With one
        target, bake names steps bare (`[2/3] RUN ...`, `[internal] load ...`): all are its."""
        if len(self.jobs) == 1:
            (only,) = self.jobs
            bare = _BARE.match(name)
            if bare is None:
                return only, None, name
            return only, bare.group("rest"), bare.group("step")
        m = _PREFIXED.match(name)
        if m is None or m.group("target") not in self.jobs:
            return None
        return m.group("target"), m.group("rest"), m.group("step")

    def _vertex(self, raw: Mapping[str, object]) -> list[BuildEvent]:
        digest, name = raw.get("digest"), raw.get("name")
        if not isinstance(digest, str) or not isinstance(name, str):
            return []
        named = self._named(name)
        if named is None:
            return []  # bake's own vertices (reading the bake file), or no target's
        target, rest, step = named
        if rest is not None and rest.split(" ", 1)[0] == "internal":
            return []  # loading the Dockerfile and its context: no step of the build
        whole = step if rest is None else f"[{rest}] {step}"
        v = self._vertices.get(digest)
        if v is None:
            v = self._vertices[digest] = _Vertex(name=whole)
            self._order.append(digest)
        v.reporters.add(target)
        started, completed = parse_time(raw.get("started")), parse_time(raw.get("completed"))
        if started is not None:
            v.started = started if v.started is None else min(v.started, started)
        if completed is not None:
            v.completed = completed if v.completed is None else max(v.completed, completed)
        v.cached = v.cached or raw.get("cached") is True
        error = raw.get("error")
        if isinstance(error, str) and error and (v.error is None or _CANCELED in v.error):
            v.error = error
        events: list[BuildEvent] = []
        if rest is None and _EXPORT.match(step):
            if completed is not None and not error and target not in self._exported:
                self._exported[target] = completed
                events.append(ImageExported(self.jobs[target], self._at(completed)))
            return events + self._release()
        self._pending.append(digest)
        return events + self._release()

    def _releasable(self, digest: str) -> bool:
        """Whether a vertex's owners are settled: none of them waits on an upstream of the bake
        that has not exported yet, which may still report the vertex as its own."""
        return all(self.upstream[o] <= self._exported.keys() for o in self.owners(digest))

    def _release(self) -> list[BuildEvent]:
        """The events of every vertex whose owners are settled, and that has news for them."""
        events: list[BuildEvent] = []
        held: list[str] = []
        for digest in dict.fromkeys(self._pending):
            if not self._releasable(digest):
                held.append(digest)
                continue
            v = self._vertices[digest]
            for owner in sorted(self.owners(digest)):
                key = self.jobs[owner]
                if v.started is not None and (owner, digest) not in self._said_started:
                    self._said_started.add((owner, digest))
                    events.append(StepStarted(key, v.name, self._at(v.started)))
                if v.completed is not None and (owner, digest) not in self._said_done:
                    self._said_done.add((owner, digest))
                    took = max(0.0, v.completed - (v.started or v.completed))
                    events.append(StepDone(key, v.name, self._at(v.completed), took, v.cached))
                    if v.error and _CANCELED not in v.error:
                        events.append(Failed(key, v.name, v.error, self._at(v.completed)))
            if v.completed is None:
                held.append(digest)  # it has more to say
        self._pending = held
        return events

    def _log(self, raw: Mapping[str, object]) -> list[BuildEvent]:
        digest, data = raw.get("vertex"), raw.get("data")
        if not isinstance(digest, str):
            return []
        v = self._vertices.get(digest)
        if v is None or not isinstance(data, str) or not self._releasable(digest):
            return []  # output of a vertex whose owner is not settled: kept in the account
        try:
            text = base64.b64decode(data).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return []
        at = self._at(parse_time(raw.get("timestamp")))
        events: list[BuildEvent] = []
        for owner in sorted(self.owners(digest)):
            pieces = (v.partial.pop(owner, "") + text).split("\n")
            if pieces[-1]:
                v.partial[owner] = pieces[-1]
            for line in pieces[:-1]:
                line = line.rstrip("\r")
                if (owner, line) in v.logs:
                    continue  # the same output, reported again through another target
                v.logs.append((owner, line))
                events.append(LogLine(self.jobs[owner], v.name, line, at))
        return events

    def account(self, target: str) -> TargetAccount:
        """What `target` came to, once the bake ended: by the vertices it owns at the end."""
        steps: list[StepRecord] = []
        failed_step = error = None
        stopped = False
        lines: list[str] = []
        for digest in self._order:
            v = self._vertices[digest]
            if target not in self.owners(digest):
                continue
            if v.error and _CANCELED in v.error:
                stopped = True
            elif v.error and error is None:
                failed_step, error = v.name, v.error
            if v.started is not None:
                steps.append(
                    StepRecord(
                        name=v.name,
                        started_s=self._at(v.started),
                        ended_s=self._at(v.completed or v.started),
                        cached=v.cached,
                        error=v.error,
                    )
                )
            lines += [f"{v.name}: {text}" for owner, text in v.logs if owner == target]
        steps.sort(key=lambda s: s.started_s)
        own_steps = [s for s in steps if _is_step(s.name)]
        exported = self._exported.get(target)
        return TargetAccount(
            steps=tuple(steps),
            cached_steps=sum(1 for s in own_steps if s.cached),
            exported_s=None if exported is None else self._at(exported),
            failed_step=failed_step,
            error=error,
            stopped=stopped and error is None,
            log_lines=tuple(lines),
        )


def _is_step(name: str) -> bool:
    """A step of a Dockerfile (`[2/3] RUN ...`, `[builder 4/7] COPY ...`), not an export."""
    return _STEP.match(name) is not None


def _dicts(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class Excerpt:
    """BuildKit's excerpt of a failing Dockerfile, from bake's error summary."""

    file: str
    line: int
    lines: tuple[str, ...]


def excerpts(text: Iterable[str]) -> list[Excerpt]:
    """Each `Dockerfile:N` excerpt bake printed after its progress, with its numbered lines."""
    found: list[Excerpt] = []
    lines = list(text)
    for i, line in enumerate(lines):
        head = _EXCERPT_HEAD.match(line.strip())
        if not head:
            continue
        body: list[str] = []
        for follow in lines[i + 1 :]:
            if follow.startswith("-" * 5) and body:
                break
            if follow.startswith("-" * 5):
                continue
            if not _EXCERPT_LINE.match(follow):
                break
            body.append(follow)
        found.append(Excerpt(head.group("file"), int(head.group("line")), tuple(body)))
    return found
