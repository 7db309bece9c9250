"""Read BuildKit's plain progress output: which lines, steps and errors belong to which target."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

_VERTEX = re.compile(r"^#(\d+) (.*)$")
# A step whose result comes from an imported registry cache prints no CACHED, only the transfer
# of its layer: `sha256:<digest> 135B / 135B done`, `extracting sha256:<digest> done`.
_BLOB = re.compile(r"^(?:extracting )?sha256:[0-9a-f]{64}\b")
_STEP = re.compile(r"^\[[^\]]*\d+/\d+\] ")
_NAMED = re.compile(r"^\[(?P<head>[^\]]*)\] (?P<rest>.*)$")
# BuildKit goes on without a cache it cannot import: its error there is a warning, not the cause.
_CACHE_IMPORT = re.compile(r"^(?:\[[^\]]*\] )?importing cache manifest from (?P<ref>.*)$")
TAIL_LINES = 30


@dataclass(slots=True)
class TargetProgress:
    """What one bake target's build printed, as it is read."""

    lines: list[str] = field(default_factory=list)
    cached: int = 0
    steps: int = 0
    failed_step: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # cache imports that failed, for example
    last_seen: float = 0.0  # when the target last printed, on the clock `feed` was given
    # Output of each step, kept short: on failure, the failing step's last lines are shown.
    step_tail: dict[int, deque[str]] = field(default_factory=dict)


class BuildOutputReader:
    """Feeds on `--progress plain` lines of one bake and splits them by bake target.

    With one target, bake prints step names bare (`[2/3] RUN ...`); with several, each is
    prefixed by its target (`[api 2/3] RUN ...`), which is how lines are attributed.
    """

    def __init__(self, targets: list[str]) -> None:
        self.targets = {t: TargetProgress() for t in targets}
        self._single = targets[0] if len(targets) == 1 else None
        self._vertex_owner: dict[int, str | None] = {}
        self._vertex_name: dict[int, str] = {}
        self._ran: set[int] = set()  # steps that printed output of their own: they executed
        self._pulled: set[int] = set()  # steps that transferred a cached layer
        self.other: list[str] = []  # lines of no target: bake's own errors, the summary

    def _owner_of(self, name: str) -> str | None:
        if self._single is not None:
            return self._single
        m = _NAMED.match(name)
        if not m:
            return None
        head = m.group("head").split(" ", 1)[0]
        return head if head in self.targets else None

    def feed(self, line: str, now: float = 0.0) -> None:
        line = line.rstrip("\n")
        m = _VERTEX.match(line)
        if not m:
            if self._single is not None:
                self.targets[self._single].lines.append(line)
                self.targets[self._single].last_seen = now
            else:
                self.other.append(line)
            return
        num, text = int(m.group(1)), m.group(2)
        if num not in self._vertex_owner:
            self._vertex_owner[num] = self._owner_of(text)
            self._vertex_name[num] = text
            owner = self._vertex_owner[num]
            if owner is not None and _NAMED.match(text):
                self.targets[owner].steps += 1
        owner = self._vertex_owner[num]
        if owner is None:
            self.other.append(line)
            return
        progress = self.targets[owner]
        progress.lines.append(line)
        progress.last_seen = now
        if text == "...":  # the step goes on after another step's lines: not its own output
            return
        if text == "CACHED":
            progress.cached += 1
        elif text.startswith("DONE"):
            if num in self._pulled and num not in self._ran and _STEP.match(self._vertex_name[num]):
                progress.cached += 1
        elif text == "CANCELED":
            return
        elif text.startswith("ERROR: "):
            importing = _CACHE_IMPORT.match(self._vertex_name[num])
            if importing:
                progress.warnings.append(
                    f"cache not imported from {importing.group('ref')}: "
                    + text.removeprefix("ERROR: ")
                )
            elif "context canceled" in text:
                return  # stopped because a sibling failed: not this target's error
            elif progress.error is None:
                progress.error = text.removeprefix("ERROR: ")
                progress.failed_step = self._vertex_name[num]
        elif text != self._vertex_name[num]:
            if _BLOB.match(text):
                self._pulled.add(num)
            else:
                self._ran.add(num)
            progress.step_tail.setdefault(num, deque(maxlen=TAIL_LINES)).append(text)

    def failed_tail(self, target: str) -> list[str]:
        """The last lines the failing step of `target` printed."""
        progress = self.targets[target]
        for num, name in self._vertex_name.items():
            if name == progress.failed_step and self._vertex_owner.get(num) == target:
                return list(progress.step_tail.get(num, ()))
        return []


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeResult:
    """What one bake target of a bake invocation came to."""

    status: Literal["built", "failed", "cancelled"]
    duration_s: float = 0.0  # from the start of the bake to the target's last output
    digest: str | None = None
    cached_steps: int = 0
    failed_step: str | None = None
    error: str | None = None
    tail: tuple[str, ...] = ()
    log_lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # what went wrong without failing it: a cache not imported


def _digest(meta: Mapping[str, object], name: str) -> str | None:
    entry = meta.get(name)
    digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) else None


def bake_results(
    names: Sequence[str],
    reader: BuildOutputReader,
    code: int,
    meta: Mapping[str, object],
    wall: float,
) -> dict[str, BakeResult]:
    """What each bake target of one invocation came to, from its output and exit code."""
    results: dict[str, BakeResult] = {}
    any_failed = any(p.error for p in reader.targets.values())
    for name in names:
        p = reader.targets[name]
        duration = wall if len(names) == 1 else (p.last_seen or wall)
        lines, warnings = tuple(p.lines), tuple(p.warnings)
        if code == 0:
            results[name] = BakeResult(
                status="built",
                digest=_digest(meta, name),
                duration_s=duration,
                cached_steps=p.cached,
                log_lines=lines,
                warnings=warnings,
            )
        elif p.error:
            results[name] = BakeResult(
                status="failed",
                failed_step=p.failed_step,
                error=p.error,
                tail=tuple(reader.failed_tail(name)),
                duration_s=duration,
                cached_steps=p.cached,
                log_lines=lines,
                warnings=warnings,
            )
        elif any_failed and len(names) > 1:
            # bake stops every target of an invocation when one fails: not this target's fault.
            results[name] = BakeResult(
                status="cancelled", duration_s=duration, cached_steps=p.cached, log_lines=lines
            )
        else:
            lines += tuple(reader.other)
            error = next((ln for ln in reversed(lines) if ln.startswith("ERROR")), None)
            results[name] = BakeResult(
                status="failed",
                error=(error or f"docker buildx bake exited with {code}").removeprefix("ERROR: "),
                tail=lines[-TAIL_LINES:],
                duration_s=duration,
                cached_steps=p.cached,
                log_lines=lines,
                warnings=warnings,
            )
    return results
