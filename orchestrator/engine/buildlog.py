"""What each target of one bake came to, from BuildKit's account of its vertices.

orchestrator.engine.progress reads bake's `--progress=rawjson` as it streams; once bake has
exited, `bake_results` judges each target by what it owns: built when its image was exported
and nothing of its own failed or was cut short, failed when a step of its own failed (once,
with that step's output and BuildKit's excerpt of the Dockerfile), cancelled when a failure
elsewhere stopped it before it finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from orchestrator.engine.events import StepRecord
from orchestrator.engine.progress import TAIL_LINES, BakeProgress, Excerpt, excerpts


@dataclass(frozen=True, slots=True, kw_only=True)
class BakeResult:
    """What one bake target of a bake invocation came to. Times are seconds from the bake's
    start."""

    status: Literal["built", "failed", "cancelled"]
    duration_s: float = 0.0  # from the start of the bake to the target's own end
    digest: str | None = None
    cached_steps: int = 0
    failed_step: str | None = None
    error: str | None = None
    tail: tuple[str, ...] = ()
    log_lines: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # what went wrong without failing it: a cache not imported
    steps: tuple[StepRecord, ...] = ()  # its own, in the order they started
    line: int | None = None  # the failing instruction's line in its Dockerfile, BuildKit's word
    excerpt: tuple[str, ...] = ()  # BuildKit's numbered lines of the Dockerfile around `line`


def _digest(meta: Mapping[str, object], name: str) -> str | None:
    entry = meta.get(name)
    digest = entry.get("containerimage.digest") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) else None


def _errors(text: Sequence[str]) -> list[str]:
    return [line.removeprefix("ERROR: ") for line in text if line.startswith("ERROR")]


def _excerpt_of(
    name: str, errors: Mapping[str, str], found: Sequence[Excerpt], said: Sequence[str]
) -> Excerpt | None:
    """BuildKit's excerpt for failed target `name`: the one excerpt when one target failed, or
    the one whose error line quotes this target's error."""
    if not found:
        return None
    if len(errors) == 1:
        return found[0]
    quoting = [i for i, line in enumerate(said) if errors[name] in line]
    if len(quoting) == 1 and len(found) == len(said):
        return found[quoting[0]]
    return None


def bake_results(
    names: Sequence[str],
    progress: BakeProgress,
    text: Sequence[str],
    code: int,
    meta: Mapping[str, object],
    wall: float,
) -> dict[str, BakeResult]:
    """What each of `names` came to, by the vertices it owns, and bake's exit code."""
    accounts = {name: progress.account(name) for name in names}
    errors = {name: a.error for name, a in accounts.items() if a.error}
    said = _errors(text)
    found = excerpts(text)
    results: dict[str, BakeResult] = {}
    for name, a in accounts.items():
        end = max((t for t in (a.exported_s, a.last_s) if t is not None), default=wall)
        stopped = BakeResult(
            status="cancelled",
            duration_s=min(end, wall),  # a daemon's clock a little ahead is no later end
            cached_steps=a.cached_steps,
            log_lines=a.log_lines,
            warnings=a.warnings,
            steps=a.steps,
        )
        if a.error:
            excerpt = _excerpt_of(name, errors, found, said)
            results[name] = replace(
                stopped,
                status="failed",
                failed_step=a.failed_step,
                error=a.error,
                tail=a.tail,
                log_lines=(*a.log_lines, *text),  # bake's summary, BuildKit's excerpt in it
                line=excerpt.line if excerpt else None,
                excerpt=excerpt.lines if excerpt else (),
            )
        elif code == 0 or (a.exported_s is not None and not a.stopped):
            results[name] = replace(stopped, status="built", digest=_digest(meta, name))
        elif a.stopped or errors:
            # bake stops every target of an invocation when one fails: not this target's fault.
            results[name] = stopped
        else:  # bake failed outside any step: its own words are the error
            lines = (*a.log_lines, *text)
            results[name] = replace(
                stopped,
                status="failed",
                error=said[-1] if said else f"docker buildx bake exited with {code}",
                tail=lines[-TAIL_LINES:],
            )
    return results
