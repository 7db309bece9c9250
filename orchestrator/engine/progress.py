"""Read bake's `--progress=rawjson`: BuildKit's own account of each vertex, per bake target.

bake writes one JSON object per status update (indented or on one line, by buildx version),
and after them, as text, its error summary with BuildKit's excerpt of the failing Dockerfile
(`Dockerfile:2`, then the numbered lines). `RawJsonLines` tells the two apart line by line;
`BakeProgress` turns the objects into orchestrator.engine.events, each for the job whose own step
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from orchestrator.engine.events import (
    BuildEvent,
    Failed,
    ImageExported,
    LogLine,
    StepDone,
    StepRecord,
    StepStarted,
)

_PREFIXED = re.compile(r"^\[(?P<target>[A-Za-z0-9_-]+)(?: (?P<rest>[^\]]*))?\] (?P<step>.*)$", re.S)
_BARE = re.compile(r"^\[(?P<rest>[^\]]*)\] (?P<step>.*)$", re.S)
_STEP = re.compile(r"^\[[^\]]*\d+/\d+\] ")  # as engine/buildlog.py reads plain output
_EXPORT = re.compile(r"^exporting to (?:image|docker image format|oci image format)$")
_CANCELED = "context canceled"
# A step whose result comes from an imported registry cache is not marked cached: it only
# transfers its layer (`sha256:<digest>`, `extracting sha256:<digest>`).
_BLOB = re.compile(r"^(?:extracting )?sha256:[0-9a-f]{64}\b")
_EXCERPT_HEAD = re.compile(r"^(?P<file>\S*Dockerfile[^\s:]*):(?P<line>\d+)$")
_EXCERPT_LINE = re.compile(r"^\s*(?:>>>\s*)?(?P<num>\d+) \|")
# BuildKit goes on without a cache it cannot import: its error there is a warning, not the cause.
_CACHE_IMPORT = re.compile(r"^importing cache manifest from (?P<ref>.*)$")
TAIL_LINES = 30  # of a failing step's output, kept with its result


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
    # Its output: each record once (a shared vertex's is reported through every target that
    # reads it), split into lines when its owners are settled.
    records: list[tuple[float, str]] = field(default_factory=list)  # (when, text)
    seen: set[tuple[str, str, str]] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)
    said_at: list[float] = field(default_factory=list)  # each line's time, from the bake's start
    split: int = 0  # records already split into `lines`
    partial: str = ""  # the end of the last record, when it ended mid-line
    pulled: list[str] = field(default_factory=list)  # layers it transferred from a cache

    @property
    def hit(self) -> bool:
        """Its result came from a cache: BuildKit says so, or it only transferred layers."""
        return self.cached or (bool(self.pulled) and not self.records and self.error is None)

    def output(self) -> list[str]:
        return [*self.lines, self.partial] if self.partial else self.lines


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
    tail: tuple[str, ...] = ()  # the failing step's last lines of output
    last_s: float | None = None  # when the last vertex of its own ended, its exports included
    warnings: tuple[str, ...] = ()  # a cache it could not import, for example


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
        self._warnings: dict[str, list[str]] = {}  # bake target -> what did not fail it
        self._ended = False

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
        for raw in _dicts(status.get("statuses")):
            self._status(raw)
        for raw in _dicts(status.get("logs")):
            events += self._log(raw)
        return events

    def _status(self, raw: Mapping[str, object]) -> None:
        digest, name = raw.get("vertex"), raw.get("id")
        v = self._vertices.get(digest) if isinstance(digest, str) else None
        blob = isinstance(name, str) and _BLOB.match(name) is not None
        if v is not None and blob and name not in v.pulled:
            v.pulled.append(str(name))

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
        importing = _CACHE_IMPORT.match(step)
        error = raw.get("error")
        if importing:  # BuildKit's bookkeeping, not a step: only its failure is news
            said = f"cache not imported from {importing.group('ref')}: {error}"
            if isinstance(error, str) and error and said not in self._warnings.get(target, []):
                self._warnings.setdefault(target, []).append(said)
            return []
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
        if isinstance(error, str) and error and (v.error is None or _CANCELED in v.error):
            v.error = error
        self._pending.append(digest)  # exporting is a step too, as the view shows it
        first = not error and target not in self._exported
        if rest is None and _EXPORT.match(step) and completed is not None and first:
            self._exported[target] = completed
            # Its steps first (the export's end among them), then the news it brings.
            return [*self._release(), ImageExported(self.jobs[target], self._at(completed))]
        return self._release()

    def _releasable(self, digest: str) -> bool:
        """Whether a vertex's owners are settled: none of them waits on an upstream of the bake
        that has not exported yet, which may still report the vertex as its own."""
        if self._ended:
            return True
        return all(self.upstream[o] <= self._exported.keys() for o in self.owners(digest))

    def finish(self) -> list[BuildEvent]:
        """The bake ended: the events still held, of vertices whose upstream never exported."""
        self._ended = True
        return self._release()

    def _release(self) -> list[BuildEvent]:
        """The events of every vertex whose owners are settled, and that has news for them."""
        events: list[BuildEvent] = []
        held: list[str] = []
        for digest in dict.fromkeys(self._pending):
            if not self._releasable(digest):
                held.append(digest)
                continue
            v = self._vertices[digest]
            events += self._lines(digest)
            for owner in sorted(self.owners(digest)):
                key = self.jobs[owner]
                if v.started is not None and (owner, digest) not in self._said_started:
                    self._said_started.add((owner, digest))
                    events.append(StepStarted(key, v.name, self._at(v.started)))
                if v.completed is not None and (owner, digest) not in self._said_done:
                    self._said_done.add((owner, digest))
                    took = max(0.0, v.completed - (v.started or v.completed))
                    events.append(StepDone(key, v.name, self._at(v.completed), took, v.hit))
                    if v.error and _CANCELED not in v.error:
                        events.append(Failed(key, v.name, v.error, self._at(v.completed)))
            if v.completed is None:
                held.append(digest)  # it has more to say
        self._pending = held
        return events

    def _log(self, raw: Mapping[str, object]) -> list[BuildEvent]:
        digest, data = raw.get("vertex"), raw.get("data")
        if not isinstance(digest, str) or not isinstance(data, str):
            return []
        v = self._vertices.get(digest)
        if v is None:
            return []
        said = (str(raw.get("timestamp")), str(raw.get("stream")), data)
        if said in v.seen:
            return []  # the same output, reported again through another target
        v.seen.add(said)
        try:
            text = base64.b64decode(data).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return []
        v.records.append((self._at(parse_time(raw.get("timestamp"))), text))
        if not self._releasable(digest):
            return []  # its owners are not settled: split and given when they are
        return self._lines(digest)

    def _lines(self, digest: str) -> list[BuildEvent]:
        """The vertex's output not given yet, as lines for each of its owners."""
        v = self._vertices[digest]
        events: list[BuildEvent] = []
        keys = [self.jobs[owner] for owner in sorted(self.owners(digest))]
        for at, text in v.records[v.split :]:
            pieces = (v.partial + text).split("\n")
            v.partial = pieces[-1]
            for line in pieces[:-1]:
                line = line.rstrip("\r")
                v.lines.append(line)
                v.said_at.append(at)
                events += [LogLine(key, v.name, line, at) for key in keys]
        v.split = len(v.records)
        return events

    def account(self, target: str) -> TargetAccount:
        """What `target` came to, once the bake ended: by the vertices it owns at the end. Its
        log reads as bake's plain progress does: each step, its output, how it ended."""
        steps: list[StepRecord] = []
        failed_step = error = None
        stopped = False
        lines: list[str] = []
        tail: tuple[str, ...] = ()
        owned = [d for d in self._order if target in self.owners(d)]
        owned.sort(key=lambda d: self._vertices[d].started or float("inf"))
        for number, digest in enumerate(owned, start=1):
            v = self._vertices[digest]
            if v.error and _CANCELED in v.error:
                stopped = True
            elif v.error and error is None:
                failed_step, error = v.name, v.error
                tail = tuple(v.output()[-TAIL_LINES:])
            if v.started is not None:
                steps.append(
                    StepRecord(
                        name=v.name,
                        started_s=self._at(v.started),
                        ended_s=self._at(v.completed or v.started),
                        cached=v.hit,
                        error=v.error,
                    )
                )
            lines += _plain(f"#{number}", v, self._at(v.started))
        own_steps = [s for s in steps if _is_step(s.name)]
        exported = self._exported.get(target)
        ends = [s.ended_s for s in steps]
        return TargetAccount(
            steps=tuple(steps),
            cached_steps=sum(1 for s in own_steps if s.cached),
            exported_s=None if exported is None else self._at(exported),
            failed_step=failed_step,
            error=error,
            stopped=stopped and error is None,
            log_lines=tuple(lines),
            tail=tail,
            last_s=max(ends) if ends else None,
            warnings=tuple(self._warnings.get(target, ())),
        )


def _plain(number: str, v: _Vertex, began: float) -> list[str]:
    """One vertex as bake's plain progress shows it: `#3 [2/3] RUN make`, its output, `#3 DONE`."""
    lines = [f"{number} {v.name}"]
    if v.cached:
        return [*lines, f"{number} CACHED"]
    lines += [f"{number} {layer} done" for layer in v.pulled]
    # As plain progress prints output: with its time since the step started.
    ats = [*v.said_at, *(v.records[-1][:1] if v.partial else ())]
    lines += [
        f"{number} {max(0.0, at - began):.3f} {text}"
        for at, text in zip(ats, v.output(), strict=True)
    ]
    if v.error and _CANCELED in v.error:
        lines.append(f"{number} CANCELED")
    elif v.error:
        lines.append(f"{number} ERROR: {v.error}")
    elif v.completed is not None:
        took = max(0.0, v.completed - (v.started or v.completed))
        lines.append(f"{number} DONE {took:.1f}s")
    return lines


def bake_upstream(definition: Mapping[str, object], names: Sequence[str]) -> dict[str, set[str]]:
    """Each of `names` -> the targets of the same bake file it builds on (its `target:`
    contexts), directly or not."""
    targets = definition.get("target")
    targets = targets if isinstance(targets, dict) else {}
    direct: dict[str, set[str]] = {}
    for name in names:
        spec = targets.get(name)
        contexts = spec.get("contexts") if isinstance(spec, dict) else None
        direct[name] = {
            value.removeprefix("target:")
            for value in (contexts.values() if isinstance(contexts, dict) else ())
            if isinstance(value, str) and value.startswith("target:")
        }
    closed: dict[str, set[str]] = {}

    def reach(name: str, seen: frozenset[str]) -> set[str]:
        if name not in closed:
            found: set[str] = set()
            for up in direct.get(name, ()):
                if up not in seen:
                    found |= {up, *reach(up, seen | {name})}
            closed[name] = found
        return closed[name]

    return {name: reach(name, frozenset()) - {name} for name in names}


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
