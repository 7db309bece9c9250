"""What orch reads from a Dockerfile: its stages and the outside names it references."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FROM = "FROM"
COPY_FROM = "COPY --from"
RUN_MOUNT = "RUN --mount"


@dataclass(frozen=True, slots=True)
class Stage:
    """One `FROM` of the file; `name` is its `AS` alias, lower-cased as BuildKit does."""

    index: int  # 0-based
    name: str | None
    base: str  # the FROM argument after ARG substitution
    line: int  # 1-based line of the FROM instruction


@dataclass(frozen=True, slots=True)
class Ref:
    """A name the file takes from outside itself: an image or a named build context."""

    name: str
    instruction: str  # FROM, COPY_FROM or RUN_MOUNT
    line: int  # 1-based
    column: int  # 1-based column of the name in that line


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """The stages of a Dockerfile and, in file order, the outside names it references."""

    path: Path
    stages: tuple[Stage, ...]
    refs: tuple[Ref, ...]

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The `AS` aliases, in file order."""
        return tuple(s.name for s in self.stages if s.name is not None)
