"""User-facing errors. The CLI turns each into a message and an exit code, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ENGINE = 3
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a user's file; line and column are 1-based, 0 when unknown."""

    file: Path
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.file}:{self.line}:{self.column}"
        if self.line:
            return f"{self.file}:{self.line}"
        return str(self.file)


class OrchError(Exception):
    """Base of every error orch reports to the user without a traceback."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class PlanError(OrchError):
    """The plan, or a Dockerfile it names, is wrong: exit 2 with file:line:column and a fix."""

    def __init__(
        self, message: str, *, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.location = location

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class UsageError(OrchError):
    """Bad command-line input, such as an unknown target name: exit 2."""


class EngineError(OrchError):
    """Docker or buildx is missing or not answering: exit 3."""

    exit_code = EXIT_ENGINE
