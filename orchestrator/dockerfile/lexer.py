"""Dockerfile text into instructions, as BuildKit's parser splits it.

Parser directives, line continuations (comment and blank lines inside dropped), heredoc bodies
skipped, builder flags (`--from=x`) with their spans, and where each character came from.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from orchestrator.dockerfile.shellwords import Shell, SubstitutionError, raw_words
from orchestrator.errors import Location, PlanError, did_you_mean

INSTRUCTIONS = frozenset(
    (
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    )
)
_HEREDOC_INSTRUCTIONS = frozenset(("add", "copy", "run"))
_DIRECTIVES = frozenset(("syntax", "escape", "check"))

_RE2_SPACE = "\t\n\f\r "  # `\s` in Go's regexp: ASCII only, no \v
# The directive pattern of BuildKit, with its lazy value group done by str.strip (no backtracking).
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=(.*)")
# The instruction word and the blanks after it; it matches anywhere, if only the empty word.
_KEYWORD = re.compile(r"([^\t\v\f\r ]*)[\t\v\f\r ]*")
_NON_SPACE = re.compile(r"\S+")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)")
_JSON = json.JSONDecoder()

# BuildKit reads a Dockerfile with Go's bufio.Scanner and its 64 KiB buffer: a physical line
# of more bytes than this, its LF left out (a CR or a byte order mark counted), is refused
# with "dockerfile line greater than max allowed size of 65535".
MAX_LINE_BYTES = 64 * 1024 - 1
# No line of fewer characters can be over the limit in UTF-8 (4 bytes at most a character).
_SHORT_ENOUGH = MAX_LINE_BYTES // 4


class Segment(NamedTuple):
    """Where one physical line starts in an instruction joined from continuation lines."""

    offset: int  # in the joined text
    line: int  # 1-based
    indent: int  # the column of its first character, 0-based


class Flag(NamedTuple):
    """A builder flag such as `--from=x`: the word with quotes removed, and its span as written."""

    word: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction, continuation lines joined."""

    text: str  # trailing blanks removed
    segments: tuple[Segment, ...]
    keyword: str  # as written
    kind: str  # lower-cased
    keyword_end: int  # past the keyword and the blanks after it

    @property
    def line(self) -> int:
        return self.segments[0].line

    def place(self, offset: int) -> tuple[int, int]:
        """The (line, column) of `offset` in the joined text, both 1-based."""
        return _place(self.segments, offset)

    def flags(self) -> tuple[tuple[Flag, ...], int]:
        """The builder flags, and where the arguments after them start."""
        return _flags(self.text, self.keyword_end)

    def sub(self) -> tuple[str, tuple[Flag, ...], int]:
        """The instruction an ONBUILD wraps: its word, its flags and where its arguments start."""
        match = _KEYWORD.match(self.text, self.flags()[1])
        assert match is not None
        flags, args_at = _flags(self.text, match.end())
        return match.group(1), flags, args_at


class Lexer:
    """Iterates over the instructions of a Dockerfile; `escape` is set by its directive."""

    def __init__(self, text: str, path: Path) -> None:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = lines
        self.path = path
        self.escape = "\\"
        self._pos = 0
        # The heredoc bodies of each instruction (by its first line), in order, and the lines
        # they cover: a `#` line in a body is text, not a comment.
        self.heredocs: dict[int, list[tuple[str, ...]]] = {}
        self.body_lines: set[int] = set()

    def fail(self, message: str, place: tuple[int, int], hint: str) -> PlanError:
        return PlanError(message, location=Location(self.path, *place), hint=hint)

    def __iter__(self) -> Iterator[Instruction]:
        lines = self.lines
        directives = True
        seen: set[str] = set()
        while self._pos < len(lines):
            raw = lines[self._pos]
            self._pos += 1
            stripped = raw.lstrip()
            if directives:
                directives = self._directive(stripped, seen, self._pos, len(raw) - len(stripped))
            if not stripped or stripped[0] == "#":
                continue
            segments = [Segment(0, self._pos, len(raw) - len(stripped))]
            text, more = stripped, stripped[-1] in (self.escape, " ", "\t")
            if more:
                text, more = _trim_continuation(stripped, self.escape)
            while more and self._pos < len(lines):
                raw = lines[self._pos]
                self._pos += 1
                # BuildKit drops comment and blank lines inside a continuation.
                stripped = raw.lstrip()
                if not stripped or stripped[0] == "#":
                    continue
                part, more = _trim_continuation(raw, self.escape)
                segments.append(Segment(len(text), self._pos, 0))
                text += part
            instruction = self._instruction(text.rstrip(), tuple(segments))
            yield instruction
            if "<<" in instruction.text:
                self._skip_heredocs(instruction)

    def _directive(self, stripped: str, seen: set[str], line: int, indent: int) -> bool:
        """Apply a parser directive on `stripped`; False once directives are over."""
        match = _DIRECTIVE.match(stripped) if stripped[:1] == "#" else None
        if match is None:
            return False
        rest = match.group(2)
        value = rest.strip(_RE2_SPACE)
        if not value:
            if not rest:
                return False
            value = rest[-1]  # Go's `\s*(.+?)\s*$` keeps one blank when that is all there is
        key = match.group(1).lower()
        if key not in _DIRECTIVES:
            return False
        if key in seen:
            raise self.fail(
                f"only one {key} parser directive can be used",
                (line, indent + 1),
                f"remove the repeated `# {key}=` line",
            )
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise self.fail(
                    f"invalid escape token '{value}' does not match ` or \\",
                    (line, indent + 1),
                    "write `# escape=\\` or `# escape=`` `",
                )
            self.escape = value
        return True

    def _instruction(self, body: str, segments: tuple[Segment, ...]) -> Instruction:
        kind_at = len(body) - len(body.lstrip()) if body[:1].isspace() else 0
        match = _KEYWORD.match(body, kind_at)
        assert match is not None
        keyword = match.group(1)
        if keyword.lower() not in INSTRUCTIONS:
            raise self.fail(
                f"unknown instruction: {keyword}",
                _place(segments, kind_at),
                did_you_mean(keyword.upper(), [i.upper() for i in INSTRUCTIONS])
                or "check the spelling of the instruction",
            )
        return Instruction(body, segments, keyword, keyword.lower(), match.end())

    def _skip_heredocs(self, instruction: Instruction) -> None:
        """Skip the bodies of the heredocs `instruction` opens: they hold no instructions."""
        kind, args_at = instruction.kind, instruction.flags()[1]
        if kind == "onbuild":
            sub, _, args_at = instruction.sub()
            kind = sub.lower()
        if kind not in _HEREDOC_INSTRUCTIONS or _is_json_array(instruction.text[args_at:]):
            return
        for name, chomp, at in _heredoc_markers(instruction.text):
            body: list[str] = []
            while True:
                if self._pos >= len(self.lines):
                    raise self.fail(
                        f"unterminated heredoc <<{name}",
                        instruction.place(at),
                        f"end the heredoc with a line that is exactly `{name}`",
                    )
                candidate = self.lines[self._pos]
                self._pos += 1
                self.body_lines.add(self._pos)
                if (candidate.lstrip("\t") if chomp else candidate) == name:
                    break
                body.append(candidate.lstrip("\t") if chomp else candidate)
            self.heredocs.setdefault(instruction.line, []).append(tuple(body))


def long_line(text: str) -> tuple[int, int] | None:
    """(line, size in bytes) of the first physical line BuildKit refuses as too long; None
    when every line fits."""
    if len(text) <= _SHORT_ENOUGH:
        return None
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > _SHORT_ENOUGH:
            size = len(line.encode("utf-8", "surrogatepass"))
            if size > MAX_LINE_BYTES:
                return number, size
    return None


def check_line_sizes(text: str, path: Path) -> None:
    """A PlanError at the first line of `text` longer than BuildKit reads (65,535 bytes)."""
    found = long_line(text)
    if found is None:
        return
    number, size = found
    raise PlanError(
        f"line {number} is {size:,} bytes long, and BuildKit refuses a Dockerfile line "
        f"over {MAX_LINE_BYTES:,} bytes",
        location=Location(path, number, 1),
        hint="split it over several lines, each ending in a `\\` continuation, or move the "
        "data into a file in the context and COPY it",
    )


def _place(segments: tuple[Segment, ...], offset: int) -> tuple[int, int]:
    for segment in reversed(segments):
        if offset >= segment.offset:
            return segment.line, segment.indent + offset - segment.offset + 1
    return segments[0].line, segments[0].indent + 1


def mount_from(spec: str) -> str | None:
    """The from= of a --mount value, a CSV list of key=value fields."""
    try:
        fields = next(csv.reader([spec]), []) if '"' in spec else spec.split(",")
    except csv.Error:
        return None
    found = None
    for field in fields:
        key, eq, value = field.partition("=")
        if eq and key.lower() == "from":
            found = value
    return found


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Drop a line-continuation escape; True when the instruction goes on to the next line."""
    end = line.rstrip(" \t")
    # As BuildKit's pattern: an escape at the end, not itself escaped, then blanks or tabs.
    if end.endswith(escape) and (len(end) == 1 or end[-2] != escape):
        return end[:-1], True
    return line, False


def _flags(line: str, pos: int) -> tuple[tuple[Flag, ...], int]:
    """BuildKit's builder-flag scan: `--x=y` words, quotes and backslashes removed, with spans."""
    flags: list[Flag] = []
    if not line.startswith("--", pos):
        return (), pos
    size = len(line)
    while True:
        while pos < size and line[pos].isspace():
            pos += 1
        if not line.startswith("--", pos):
            return tuple(flags), pos
        start = pos
        match = _NON_SPACE.match(line, pos)
        word = match.group() if match else ""
        if '"' in word or "'" in word or "\\" in word:
            word, pos = _flag_word(line, pos)
        else:
            pos = start + len(word)
        if word == "--":
            return tuple(flags), pos  # `--` ends the flags, as in BuildKit
        flags.append(Flag(word, start, pos))


def _flag_word(line: str, pos: int) -> tuple[str, int]:
    """One flag word with quotes; the flag scanner always escapes with a backslash."""
    out: list[str] = []
    size = len(line)
    quote = ""
    while pos < size:
        ch = line[pos]
        if not quote and ch.isspace():
            break
        pos += 1
        if quote and ch == quote:
            quote = ""
            continue
        if not quote and ch in "'\"":
            quote = ch
            continue
        if ch == "\\":
            if pos >= size:
                break
            ch = line[pos]
            pos += 1
        out.append(ch)
    return "".join(out), pos


def _is_json_array(args: str) -> bool:
    """True for the exec form `["a", "b"]`, in which `<<` opens no heredoc."""
    args = args.lstrip()
    if not args.startswith("["):
        return False
    try:
        value, _ = _JSON.raw_decode(args)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _heredoc_markers(line: str) -> list[tuple[str, bool, int]]:
    """(terminator, strip leading tabs, offset) of each `<<WORD` BuildKit finds in `line`."""
    markers = []
    for word, at in raw_words(line):
        match = _HEREDOC.fullmatch(word)
        if match is None or not match.group(3):
            continue
        try:
            name = Shell(match.group(3), {}, "\\", keep_unset=True).word("")
        except SubstitutionError:
            continue
        if name:
            markers.append((name, match.group(2) == "-", at))
    return markers


def instruction_lines(path: Path) -> list[tuple[int, str, str]]:
    """Each instruction of the Dockerfile at `path`: its line, its keyword (lower-cased) and its
    arguments after its flags, for joining what `docker history` says to the Dockerfile."""
    found = []
    for ins in Lexer(path.read_text(encoding="utf-8", errors="replace"), path):
        _, args_at = ins.flags()
        found.append((ins.line, ins.kind, ins.text[args_at:]))
    return found
