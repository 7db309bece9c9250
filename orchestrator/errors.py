"""User-facing errors. The CLI turns each into a message and an exit code, in one place."""

from __future__ import annotations

import difflib
import os
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

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
        file = shown_path(self.file)
        if self.line and self.column:
            return f"{file}:{self.line}:{self.column}"
        if self.line:
            return f"{file}:{self.line}"
        return file


# Where the command line stands and the plan's directory it found (see `stand_in`): a file of the
# plan is named relative to where the user stands, `../api/Dockerfile:3` from services/worker.
_standing: tuple[Path, Path] | None = None


def stand_in(cwd: Path, plan_root: Path) -> None:
    """Name the plan's files relative to `cwd` from now on, when `cwd` is inside `plan_root`."""
    global _standing
    cwd, plan_root = cwd.resolve(), plan_root.resolve()
    _standing = (cwd, plan_root) if cwd.is_relative_to(plan_root) else None


def standing() -> bool:
    """Whether paths are named relative to where the user stands (see `stand_in`)."""
    return _standing is not None


def stand_out() -> None:
    """Name paths as they are again (the end of a command)."""
    global _standing
    _standing = None


def shown_path(path: Path) -> str:
    """`path` as a message names it: relative to where the user stands when it is a file of the
    plan (and the user stands inside the plan's directory), else as it is."""
    if _standing is None or not path.is_absolute():
        return str(path)
    cwd, root = _standing
    if not path.is_relative_to(root):
        return str(path)
    return os.path.relpath(path, cwd)


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


# A hint listing every target of a 2,000-target plan would bury the suggestion.
NAME_LIST_LIMIT = 12


def did_you_mean(
    word: str,
    choices: Iterable[str],
    *,
    spell: Callable[[str], str] = str,
    valid: Callable[[str], bool] = lambda _: True,
) -> str | None:
    """`did you mean 'x'?` for the choice nearest to `word`, if one is close enough to be a typo.

    `spell` writes the choice as the user would type it (a path with its directory, say). A
    suggestion is never `word` itself, nor a choice `valid` rejects. A choice that differs from
    `word` only in how Unicode writes the same letters (NFC against NFD) is named with its code
    points shown, since the two print alike.
    """
    offered = [c for c in dict.fromkeys(choices) if c != word and valid(c)]
    for choice in offered:
        if unicodedata.normalize("NFC", choice) == unicodedata.normalize("NFC", word):
            return (
                f"did you mean {spell(choice)!a}? it has the same letters as {word!a}, "
                "written with other Unicode code points"
            )
    found = difflib.get_close_matches(word, offered, n=1, cutoff=0.6)
    return f"did you mean {spell(found[0])!r}?" if found else None


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    two neighbours, each 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[-1]


def typo_of(word: str, choices: Iterable[str]) -> str | None:
    """The one choice `word` is a typo of (one edit, or two in a word of eight characters or
    more), else None: never a nearby word that means something else (`--no-cache` is not
    `--no-chain`), and never a guess between two."""
    allowed = 2 if len(word) >= 8 else 1
    near = sorted((edit_distance(word, c), c) for c in set(choices) if c != word)
    near = [(d, c) for d, c in near if d <= allowed]
    if not near or (len(near) > 1 and near[1][0] == near[0][0]):
        return None
    return near[0][1]


def name_list(names: Sequence[str]) -> str:
    """`a, b, c`: the first names of a list and, when it is cut short, how many there are."""
    shown = ", ".join(names[:NAME_LIST_LIMIT])
    if len(names) > NAME_LIST_LIMIT:
        shown += f", ... ({len(names)} in all)"
    return shown


def orch_error_in(group: BaseExceptionGroup[BaseException]) -> OrchError | None:
    """The first orch error a task group raised (an engine that stopped answering, say),
    nested groups searched, so that the CLI can report it as itself; None when there is none."""
    errors = group.subgroup(OrchError)
    first: BaseException | None = errors
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first if isinstance(first, OrchError) else None


def os_reason(exc: OSError) -> str:
    """An OSError as a person reads it: what went wrong, and with which file."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


async def unwrapped(call: Awaitable[T]) -> T:
    """`await call`, an orch error raised in one of its tasks (inside a task group's
    ExceptionGroup) raised as itself, so that the CLI reports it as any other."""
    try:
        return await call
    except BaseExceptionGroup as group:
        error = orch_error_in(group)
        if error is None:
            raise
        raise error from None
