"""What a RUN step runs: its shell commands, word by word, and the mounts it has.

Not a shell: enough of one to see `apt-get install`, `pip install` and `rm -rf ...` in the
`&&` chains Dockerfiles are written in, in the shell form, the exec form, `sh -c` and heredocs.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass

from orchestrator.dockerfile.shellwords import raw_words
from orchestrator.dockerfile.steps import Step

_OPERATORS = frozenset(("&&", "||", ";", "|", "&", "(", ")", "{", "}", "!", "then", "do"))
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_PREFIXES = frozenset(("sudo", "env", "exec", "time", "nice", "command", "xargs"))
_SHELLS = frozenset(("sh", "bash", "/bin/sh", "/bin/bash", "ash", "/bin/ash", "dash"))


@dataclass(frozen=True, slots=True)
class Command:
    """One simple command: its words with quotes removed; `offset` is where its first word is
    in the step's arguments, -1 when it comes from a heredoc body or a `sh -c` string."""

    words: tuple[str, ...]
    offset: int

    @property
    def name(self) -> str:
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    def has(self, *flags: str) -> bool:
        return any(w in flags or any(w.startswith(f + "=") for f in flags) for w in self.words)


@functools.lru_cache(maxsize=4096)
def commands(step: Step) -> tuple[Command, ...]:
    """The commands of a RUN step, in order (several rules ask about each step)."""
    return tuple(_commands(step))


def _commands(step: Step) -> list[Command]:
    if step.heredocs:
        return [c for body in step.heredocs for c in _script("\n".join(body), -1)]
    argv = step.exec_form()
    if argv is not None:
        if len(argv) >= 3 and argv[0] in _SHELLS and argv[1] == "-c":
            return _script(argv[2], -1)
        return _split([(w, 0) for w in argv])
    return _script(step.args, 0)


def _script(text: str, base: int) -> list[Command]:
    found: list[Command] = []
    # Lines of a heredoc or `sh -c` string, joined where they end in a backslash.
    for line in text.replace("\\\n", " ").split("\n"):
        words = raw_words(line)
        if not words and line.strip():
            words = [(m.group(), m.start()) for m in re.finditer(r"\S+", line)]
        pieces: list[tuple[str, int]] = []
        for word, at in words:
            if word.endswith(";") and len(word) > 1 and not word.endswith("\\;"):
                pieces += [(word[:-1], at), (";", at + len(word) - 1)]
            else:
                pieces.append((word, at))
        found.extend(
            Command(c.words, c.offset if base == 0 else -1) for c in _split(_unquoted(pieces))
        )
    return found


def _unquoted(words: list[tuple[str, int]]) -> list[tuple[str, int]]:
    out = []
    for word, at in words:
        if "'" in word or '"' in word:
            word = word.replace('"', "").replace("'", "")
        out.append((word, at))
    return out


def _split(words: list[tuple[str, int]]) -> list[Command]:
    found: list[Command] = []
    current: list[tuple[str, int]] = []
    for word, at in words:
        if word in _OPERATORS:
            found.extend(_command(current))
            current = []
            continue
        current.append((word, at))
    found.extend(_command(current))
    return found


def _command(words: list[tuple[str, int]]) -> list[Command]:
    while words and (_ASSIGNMENT.match(words[0][0]) or words[0][0] in _PREFIXES):
        words = words[1:]
    if not words:
        return []
    return [Command(tuple(w for w, _ in words), words[0][1])]


@dataclass(frozen=True, slots=True)
class Mount:
    type: str
    target: str
    fields: dict[str, str]


def mounts(step: Step) -> list[Mount]:
    """The `--mount=` flags of a RUN step."""
    found = []
    for spec in step.flag("mount"):
        try:
            parts = next(csv.reader([spec]), [])
        except csv.Error:
            continue
        fields = {}
        for part in parts:
            key, _, value = part.partition("=")
            fields[key.strip().lower()] = value
        target = fields.get("target") or fields.get("dst") or fields.get("destination") or ""
        found.append(Mount(fields.get("type", "bind"), target.rstrip("/"), fields))
    return found


def cached(step: Step, *paths: str) -> bool:
    """Whether a cache or tmpfs mount of the step covers one of `paths` (or a directory in it)."""
    for mount in mounts(step):
        if mount.type not in ("cache", "tmpfs") or not mount.target:
            continue
        for path in paths:
            if path == mount.target or path.startswith(mount.target + "/"):
                return True
            if mount.target.startswith(path + "/"):
                return True
    return False
