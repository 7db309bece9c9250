"""A Dockerfile read as BuildKit's dockerfile frontend reads it: its stages and outside names.

orch turns an outside name that is also a plan target into a dependency edge and a named context.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import Location, PlanError
from orchestrator.shellwords import Shell, SubstitutionError, expand, raw_words, split_words

__all__ = ["Dockerfile", "Ref", "Stage", "parse_dockerfile", "read_dockerfile"]


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
    instruction: str  # "FROM", "COPY --from" or "RUN --mount"
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


def read_dockerfile(path: Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Read and parse the Dockerfile at `path`; an unreadable file is a PlanError naming it."""
    try:
        # Bytes, not read_text: universal newlines would turn a lone CR into a line break,
        # and BuildKit breaks lines at LF only.
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PlanError(
            f"cannot read Dockerfile {path}: {exc.strerror or exc}",
            location=Location(path),
            hint="check the target's `dockerfile:` path in the plan",
        ) from exc
    except UnicodeError as exc:
        raise PlanError(
            f"Dockerfile {path} is not UTF-8 text: {exc.reason} at byte {exc.start}",
            location=Location(path),
            hint="save the Dockerfile as UTF-8",
        ) from exc
    return parse_dockerfile(text, path, build_args)


def parse_dockerfile(
    text: str, path: Path, build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    """Parse Dockerfile `text`; `build_args` override ARG defaults before the first FROM."""
    return _Reader(text, path, build_args or {}).read()


FROM = "FROM"
COPY_FROM = "COPY --from"
RUN_MOUNT = "RUN --mount"

_INSTRUCTIONS = frozenset(
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
_READ = frozenset(("arg", "copy", "from", "onbuild", "run"))  # the rest name no stage or image
_SKIP = (_INSTRUCTIONS - _READ) | {"arg"}  # an ARG after the first FROM touches no FROM line
_DIRECTIVES = frozenset(("syntax", "escape", "check"))
# BuildKit defines these before the first FROM without an ARG; orch knows them only if given.
_PLATFORM_ARGS = frozenset(
    (
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
    )
)

_RE2_SPACE = "\t\n\f\r "  # `\s` in Go's regexp: ASCII only, no \v
# The directive pattern of BuildKit, with its lazy value group done by str.strip (no backtracking).
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=(.*)")
# The instruction word and the blanks after it.
_KEYWORD = re.compile(r"([^\t\v\f\r ]*)[\t\v\f\r ]*")
_TOKEN = re.compile(r"[^\t\v\f\r ]+")  # one whitespace-delimited FROM argument
_NON_SPACE = re.compile(r"\S+")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)([^<]*)")
_INDEX = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts
_JSON = json.JSONDecoder()


class _Reader:
    """One pass over the lines; holds what earlier instructions declared."""

    __slots__ = (
        "build_args",
        "by_name",
        "env",
        "escape",
        "lines",
        "path",
        "pos",
        "refs",
        "reordered",
        "stages",
        "triggers",
    )

    def __init__(self, text: str, path: Path, build_args: Mapping[str, str]) -> None:
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = lines
        self.path = path
        self.build_args = build_args
        self.pos = 0
        self.escape = "\\"
        self.stages: list[Stage] = []
        self.by_name: dict[str, int] = {}
        self.env = {k: v for k, v in build_args.items() if k in _PLATFORM_ARGS}
        # In file order, FROM refs and the COPY --from and RUN --mount names still to settle:
        # those may name a later stage, so they wait until every stage is known. The flag is
        # False for ONBUILD triggers, which BuildKit reads only when they fire and so never
        # rejects up front.
        self.refs: list[Ref | _Pending] = []
        self.triggers: dict[int, list[_Pending]] = {}
        self.reordered = False  # ONBUILD triggers came in out of file order

    def fail(self, message: str, line: int, column: int, hint: str) -> PlanError:
        return PlanError(message, location=Location(self.path, line, column), hint=hint)

    def read(self) -> Dockerfile:
        lines = self.lines
        count = len(lines)
        directives = True
        seen: set[str] = set()
        stages = self.stages
        pos = 0
        while pos < count:
            raw = lines[pos]
            pos += 1
            stripped = raw.lstrip()
            if directives:
                directives = self.directive(stripped, seen, pos, len(raw) - len(stripped))
            if not stripped or stripped[0] == "#":
                continue
            escape = self.escape
            last = stripped[-1]
            if stages and last != escape and last != " " and last != "\t" and "<<" not in stripped:
                # The common case, a one-line instruction naming no stage or image, is seen
                # no further than its instruction word.
                kind = _KEYWORD.match(stripped).group(1).lower()
                if (
                    kind in _SKIP
                    or (kind == "run" and "--mount" not in stripped)
                    or (kind == "copy" and "--from" not in stripped)
                ):
                    continue
            # Where each physical line starts in the joined text: (offset, line, column - 1).
            segments = [(0, pos, len(raw) - len(stripped))]
            if last == escape or last == " " or last == "\t":
                text, more = _trim_continuation(stripped, escape)
                while more and pos < count:
                    raw = lines[pos]
                    pos += 1
                    # BuildKit drops comment and blank lines inside a continuation.
                    stripped = raw.lstrip()
                    if not stripped or stripped[0] == "#":
                        continue
                    part, more = _trim_continuation(raw, escape)
                    segments.append((len(text), pos, 0))
                    text += part
            else:
                text = stripped
            self.pos = pos
            self.instruction(text, segments)
            pos = self.pos  # past any heredoc bodies
        if not self.stages:
            raise self.fail(
                "the Dockerfile has no FROM instruction",
                max(count, 1),
                1,
                "a Dockerfile starts its first build stage with `FROM <image>`",
            )
        return Dockerfile(self.path, tuple(self.stages), self.settle())

    def directive(self, stripped: str, seen: set[str], line: int, indent: int) -> bool:
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
                line,
                indent + 1,
                f"remove the repeated `# {key}=` line",
            )
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise self.fail(
                    f"invalid escape token '{value}' does not match ` or \\",
                    line,
                    indent + 1,
                    "write `# escape=\\` or `# escape=`` `",
                )
            self.escape = value
        return True

    def instruction(self, text: str, segments: list[tuple[int, int, int]]) -> None:
        body = text.rstrip()
        kind_at = len(body) - len(body.lstrip()) if body[:1].isspace() else 0
        match = _KEYWORD.match(body, kind_at)
        kind = match.group(1)
        lower = kind.lower()
        if lower not in _INSTRUCTIONS:
            close = difflib.get_close_matches(kind.upper(), [i.upper() for i in _INSTRUCTIONS], 1)
            raise self.fail(
                f"unknown instruction: {kind}",
                *_place(segments, kind_at),
                f"did you mean {close[0]}?" if close else "check the spelling of the instruction",
            )
        if not self.stages and lower != "arg" and lower != "from":
            raise self.fail(
                f"{kind} before the first FROM",
                *_place(segments, kind_at),
                "only ARG may come before the first FROM; start a stage with `FROM <image>`",
            )
        heredoc = "<<" in body
        if lower not in _READ and not heredoc:
            return  # nothing else in it names a stage or an image
        flags, args_at = _flags(body, match.end())
        if heredoc:
            self.heredocs(body, lower, args_at, segments)
        if lower == "from":
            self.from_(body, args_at, segments)
        elif lower == "arg":
            if not self.stages:
                self.meta_arg(body, args_at, segments)
        elif lower == "copy":
            self.copy_from(body, flags, segments, self.refs, strict=True)
        elif lower == "run":
            self.run_mounts(body, flags, segments, self.refs, strict=True)
        elif lower == "onbuild":
            sub, sub_flags, _ = _split(body, args_at)
            triggers = self.triggers.setdefault(len(self.stages) - 1, [])
            if sub.lower() == "copy":
                self.copy_from(body, sub_flags, segments, triggers, strict=False)
            elif sub.lower() == "run":
                self.run_mounts(body, sub_flags, segments, triggers, strict=False)

    def heredocs(
        self, body: str, kind: str, args_at: int, segments: list[tuple[int, int, int]]
    ) -> None:
        """Skip the bodies of the heredocs `body` opens: their lines are not instructions."""
        if kind == "onbuild":
            sub, _, sub_args_at = _split(body, args_at)
            kind, args_at = sub.lower(), sub_args_at
        if kind not in _HEREDOC_INSTRUCTIONS or _is_json_array(body[args_at:]):
            return
        lines = self.lines
        for name, chomp, at in _heredoc_markers(body):
            while True:
                if self.pos >= len(lines):
                    raise self.fail(
                        f"unterminated heredoc <<{name}",
                        *_place(segments, at),
                        f"end the heredoc with a line that is exactly `{name}`",
                    )
                candidate = lines[self.pos]
                self.pos += 1
                if (candidate.lstrip("\t") if chomp else candidate) == name:
                    break

    def from_(self, body: str, args_at: int, segments: list[tuple[int, int, int]]) -> None:
        line = segments[0][1]
        tokens = _TOKEN.findall(body, args_at)  # the first one starts at args_at
        name: str | None = None
        if len(tokens) == 3 and tokens[1].casefold() == "as":  # Go's EqualFold
            name = tokens[2].lower()
            if _STAGE_NAME.fullmatch(name) is None:
                raise self.fail(
                    f"invalid name for build stage: '{tokens[2]}'",
                    *_place(segments, body.rindex(tokens[2])),
                    "a stage name starts with a letter and has only letters, digits, '-', '_', '.'",
                )
        elif len(tokens) != 1:
            at = body.index(tokens[1], args_at + len(tokens[0])) if len(tokens) > 1 else args_at
            raise self.fail(
                "FROM requires either one or three arguments",
                *_place(segments, at),
                "write `FROM <image>` or `FROM <image> AS <name>`",
            )
        written, at = tokens[0], args_at
        try:
            base = expand(written, self.env, self.escape)
        except SubstitutionError as exc:
            raise self.fail(
                f"cannot substitute FROM {written}: {exc}",
                *_place(segments, at),
                "declare the variable with ARG before the first FROM, or pass it as a build arg",
            ) from None
        if not base:
            raise self.fail(
                f"base name ({written}) should not be blank",
                *_place(segments, at),
                "give the ARG a default before the first FROM, or pass it as a build arg",
            )
        # BuildKit looks the base up as written against the lower-cased aliases of earlier
        # stages only: `FROM x AS x` with no earlier `x` is the outside image `x`.
        index = self.by_name.get(base)
        if index is not None:
            if index in self.triggers:
                self.refs.extend(self.triggers[index])
                self.reordered = True
        elif base != "scratch":
            self.refs.append(Ref(base, FROM, *_place(segments, at)))
        self.stages.append(Stage(len(self.stages), name, base, line))
        if name is not None:
            self.by_name[name] = len(self.stages) - 1

    def meta_arg(self, body: str, args_at: int, segments: list[tuple[int, int, int]]) -> None:
        """An ARG before the first FROM: a variable FROM lines can use."""
        words = split_words(body[args_at:], self.escape)
        if not words:
            raise self.fail(
                "ARG requires at least one argument",
                *_place(segments, args_at),
                "write `ARG NAME` or `ARG NAME=default`",
            )
        for word in words:
            key, eq, value = word.partition("=")
            if eq and not key:
                raise self.fail(
                    "ARG names can not be blank",
                    *_place(segments, args_at),
                    "write `ARG NAME=default`",
                )
            if key in self.build_args:
                self.env[key] = self.build_args[key]  # a build arg is used as given, unexpanded
            elif eq:
                try:
                    self.env[key] = expand(value, self.env, self.escape)
                except SubstitutionError as exc:
                    raise self.fail(
                        f"cannot substitute ARG {word}: {exc}",
                        *_place(segments, args_at),
                        "fix the ${...} expression in the default",
                    ) from None

    def copy_from(
        self,
        body: str,
        flags: list[tuple[str, int, int]],
        segments: list[tuple[int, int, int]],
        into: list[Ref | _Pending] | list[_Pending],
        *,
        strict: bool,
    ) -> None:
        for word, start, _ in flags:
            # BuildKit neither expands variables in --from nor reads --from on ADD.
            if word.startswith("--from="):
                value = word[7:]
                if value:
                    at = start + 7 + (body[start + 7 : start + 8] in ("'", '"'))
                    into.append((value, COPY_FROM, *_place(segments, at), strict))

    def run_mounts(
        self,
        body: str,
        flags: list[tuple[str, int, int]],
        segments: list[tuple[int, int, int]],
        into: list[Ref | _Pending] | list[_Pending],
        *,
        strict: bool,
    ) -> None:
        for word, start, end in flags:
            if not word.startswith("--mount="):
                continue
            value = _mount_from(word[8:])
            if not value:
                continue
            found = body.lower().rfind("from=", start, end)
            place = _place(segments, found + 5 if found >= 0 else start)
            # BuildKit rejects a variable in from= when it parses the file.
            if "$" in value[:-1]:
                if strict:
                    raise self.fail(
                        f"RUN --mount from={value}: from= does not support variable expansion",
                        *place,
                        "name a stage `FROM <image> AS <alias>` and mount from=<alias>",
                    )
                continue
            into.append((value, RUN_MOUNT, *place, strict))

    def settle(self) -> tuple[Ref, ...]:
        """Outside names, in file order: FROM refs plus COPY/RUN names that are not stages."""
        refs: list[Ref] = []
        stage_count = len(self.stages)
        for entry in self.refs:
            if type(entry) is Ref:
                refs.append(entry)
                continue
            name, instruction, line, column, strict = entry
            # Only COPY --from takes a stage index; RUN --mount from= looks names up only.
            if instruction == COPY_FROM and _INDEX.fullmatch(name):
                index = int(name) if len(name) < 20 else -1
                if not 0 <= index < stage_count and strict:
                    raise self.fail(
                        f"COPY --from={name}: invalid stage index {name}",
                        line,
                        column,
                        f"this Dockerfile has stages 0 to {stage_count - 1}; "
                        "name the stage with `AS` and copy --from=<name>",
                    )
                continue
            if name.lower() in self.by_name or name == "scratch":
                continue
            refs.append(Ref(name, instruction, line, column))
        if self.reordered:
            # ONBUILD triggers can fire in several stages: one ref per place in the file.
            refs = list(dict.fromkeys(sorted(refs, key=lambda r: (r.line, r.column))))
        return tuple(refs)


_Pending = tuple[str, str, int, int, bool]  # name, instruction, line, column, strict


def _place(segments: list[tuple[int, int, int]], offset: int) -> tuple[int, int]:
    """The (line, column) of `offset` in an instruction joined from continuation lines."""
    if len(segments) == 1:
        return segments[0][1], segments[0][2] + offset + 1
    for start, line, column in reversed(segments):
        if offset >= start:
            return line, column + offset - start + 1
    return segments[0][1], segments[0][2] + 1


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """Drop a line-continuation escape; True when the instruction goes on to the next line."""
    end = line.rstrip(" \t")
    # As BuildKit's pattern: an escape at the end, not itself escaped, then blanks or tabs.
    if end.endswith(escape) and (len(end) == 1 or end[-2] != escape):
        return end[:-1], True
    return line, False


def _split(body: str, at: int) -> tuple[str, list[tuple[str, int, int]], int]:
    """Split `body` from `at` into the instruction word, its `--flags` and where arguments start."""
    match = _KEYWORD.match(body, at)
    flags, args_at = _flags(body, match.end())
    return match.group(1), flags, args_at


def _flags(line: str, pos: int) -> tuple[list[tuple[str, int, int]], int]:
    """BuildKit's builder-flag scan: `--x=y` words, quotes and backslashes removed, with spans."""
    flags: list[tuple[str, int, int]] = []
    if not line.startswith("--", pos):
        return flags, pos
    size = len(line)
    while True:
        while pos < size and line[pos].isspace():
            pos += 1
        if not line.startswith("--", pos):
            return flags, pos
        start = pos
        match = _NON_SPACE.match(line, pos)
        word = match.group() if match else ""
        if '"' in word or "'" in word or "\\" in word:
            word, pos = _flag_word(line, pos)
        else:
            pos = start + len(word)
        if word == "--":
            return flags, pos  # `--` ends the flags, as in BuildKit
        flags.append((word, start, pos))


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


def _mount_from(spec: str) -> str | None:
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
