"""`.dockerignore` as BuildKit applies it: which files of a build context are sent.

This is not gitignore. BuildKit reads the file with moby/patternmatcher's `ignorefile`
rules and filters the context with tonistiigi/fsutil's walk, and both differ from git:

- A pattern is `filepath.Clean`ed and matched against the whole slash path from the context
  root (`*.go` matches only top-level files; write `**/*.go` for every level). A leading `/`
  is dropped, a trailing `/` too: `dir/` also matches a file named `dir`.
- `*` and `?` stop at `/`; `**` spans any number of path elements; `[...]` is a regular
  expression class; `\\x` escapes x.
- A comment is a line whose first character is `#`; `  # x` is a pattern.
- Later patterns win; `!pattern` re-includes. A directory that matches excludes everything
  under it, unless an exception could re-include something inside it, in which case the
  walk goes on and the directory is still sent as the parent of what is re-included.
- The Dockerfile and the ignore file get no special treatment: when excluded, they are not
  in the context (the frontend reads the Dockerfile from its own directory).
- `<Dockerfile>.dockerignore` beside the Dockerfile (`Dockerfile.dockerignore`,
  `app.Dockerfile.dockerignore`) replaces `<context>/.dockerignore` for the main context; a
  named directory context uses only its own `.dockerignore`.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from orchestrator.errors import Location, PlanError

IGNORE_FILE = ".dockerignore"

# Go's unicode.IsSpace, which strings.TrimSpace uses (Python's strip also drops \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
# Characters patternmatcher escapes because they mean something in a regexp, not in a glob.
_ESCAPED = frozenset(".+()|{}$")
# A pattern free of these is a plain path prefix (fsutil's test for pruning a directory).
_PATTERN_CHARS = frozenset("*[]?^\\")


class DockerIgnoreError(ValueError):
    """A pattern BuildKit rejects: the build fails with it, so orch reports it."""


def go_clean(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent path, lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append(part)
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def read_patterns(text: str | bytes) -> list[str]:
    """The patterns of an ignore file, as moby/patternmatcher's `ignorefile.ReadAll` reads them."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    text = text.removeprefix("\ufeff")
    patterns = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        line = raw.removesuffix("\r")  # bufio.ScanLines drops one \r before the \n
        if line.startswith("#"):  # before trimming: "  # x" is a pattern
            continue
        pattern = line.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


class _Kind(Enum):
    EXACT = 1
    PREFIX = 2
    SUFFIX = 3
    REGEXP = 4


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled pattern, matched as patternmatcher matches it."""

    text: str  # cleaned, without the `!`
    exclusion: bool  # a `!` pattern: re-includes what earlier patterns excluded
    kind: _Kind
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            # `**/foo` also matches `foo` itself
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None

    @property
    def literal_prefix(self) -> bool:
        """No glob character once a trailing `/**` or `/*` is dropped (fsutil's pruning test)."""
        return not _PATTERN_CHARS.intersection(self.without_trailing_glob)

    @property
    def without_trailing_glob(self) -> str:
        return self.text.removesuffix("/**").removesuffix("/*")


def compile_pattern(line: str) -> Pattern | None:
    """A pattern as patternmatcher.New compiles it; None for a blank line."""
    pattern = line.strip(_GO_SPACE)
    if not pattern:
        return None
    pattern = go_clean(pattern)
    exclusion = pattern.startswith("!")
    if exclusion:
        if len(pattern) == 1:
            raise DockerIgnoreError('illegal exclusion pattern: "!"')
        pattern = pattern[1:]
    _check_glob(pattern)
    kind, regexp = _translate(pattern)
    return Pattern(text=pattern, exclusion=exclusion, kind=kind, regexp=regexp)


def _translate(pattern: str) -> tuple[_Kind, re.Pattern[str] | None]:
    """patternmatcher's `compile`: a literal, a prefix, a suffix, or a regular expression."""
    out = ["^"]
    kind = _Kind.EXACT
    i, n = 0, len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # `**/` is `**`
                    i += 1
                if i == n:  # a trailing `**` matches everything below, as in gitignore
                    if kind is _Kind.EXACT:
                        kind = _Kind.PREFIX
                    else:
                        out.append(".*")
                        kind = _Kind.REGEXP
                else:
                    out.append("(.*/)?")
                    kind = _Kind.REGEXP
                if first:
                    kind = _Kind.SUFFIX
            else:
                out.append("[^/]*")
                kind = _Kind.REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _Kind.REGEXP
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = _Kind.REGEXP
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = _Kind.REGEXP
        else:
            out.append(ch)
        first = False
    if kind is not _Kind.REGEXP:
        return kind, None
    # Go's `$` is the end of the text; Python's also matches before a final newline.
    source = "".join(out) + r"\Z"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nested-set FutureWarnings: Go has no such sets
            # Go's \d, \w, \s and \b are ASCII-only.
            return kind, re.compile(source, re.ASCII)
    except re.error as exc:
        raise DockerIgnoreError(f"invalid pattern {pattern!r}: {exc}") from None


def _check_glob(pattern: str) -> None:
    """The syntax errors Go's filepath.Match reports: a dangling `\\`, a malformed `[...]`."""
    i, n = 0, len(pattern)

    def escaped_char(j: int) -> int:
        if j >= n or pattern[j] in "-]":
            raise DockerIgnoreError(f"syntax error in pattern {pattern!r}")
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                raise DockerIgnoreError(f"syntax error in pattern {pattern!r}")
        return j + 1

    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise DockerIgnoreError(f"syntax error in pattern {pattern!r}")
            i += 2
        elif ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = escaped_char(i)
                if i < n and pattern[i] == "-":
                    i = escaped_char(i + 1)
                ranges += 1
        else:
            i += 1


MatchInfo = tuple[bool, ...]
"""Per pattern, whether it matched a directory: fsutil hands this down to the entries inside."""


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    """The exclude patterns of one build context."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def from_text(cls, text: str | bytes) -> DockerIgnore:
        """The rules of an ignore file's text."""
        return cls.from_patterns(read_patterns(text))

    @classmethod
    def from_patterns(cls, lines: Iterable[str]) -> DockerIgnore:
        """The rules of patterns already read from an ignore file."""
        compiled = (compile_pattern(line) for line in lines)
        return cls(tuple(p for p in compiled if p is not None))

    @property
    def exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def match(self, path: str, parent: MatchInfo | None) -> tuple[bool, MatchInfo]:
        """Whether `path` is excluded, and what its entries inherit if it is a directory.

        patternmatcher's MatchesUsingParentResults: a pattern a directory matched counts
        as matched for everything inside it; a pattern is evaluated only when it could
        change the answer so far, and then only against the path itself.
        """
        matched = False
        info: list[bool] = []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    info.append(False)
                    continue
                hit = pattern.match(path)
                if not hit and not parent and "/" in path:
                    # No parent results: try every parent directory, as MatchesOrParentMatches.
                    parts = path.split("/")
                    hit = any(pattern.match("/".join(parts[:k])) for k in range(1, len(parts)))
            info.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(info)

    def excluded_file(self, path: str, parent: MatchInfo | None) -> bool:
        """`match(path, parent)[0]` for an entry that is not a directory, a little faster:
        nothing inherits from it."""
        matched = False
        for index, pattern in enumerate(self.patterns):
            inherited = parent[index] if parent else False
            if inherited or (
                pattern.exclusion == matched
                and (
                    pattern.match(path)
                    or (not parent and "/" in path and self._parent_hit(pattern, path))
                )
            ):
                matched = not pattern.exclusion
        return matched

    @staticmethod
    def _parent_hit(pattern: Pattern, path: str) -> bool:
        parts = path.split("/")
        return any(pattern.match("/".join(parts[:k])) for k in range(1, len(parts)))

    def prunes(self, directory: str) -> bool:
        """Whether an excluded directory is skipped whole: no exception can reach inside it.

        fsutil walks on into an excluded directory when an exception has glob characters,
        or is a literal path below it; otherwise it skips it.
        """
        exceptions = [p for p in self.patterns if p.exclusion]
        if any(not p.literal_prefix for p in exceptions):
            return False
        prefix = directory + "/"
        return not any((p.without_trailing_glob + "/").startswith(prefix) for p in exceptions)

    def excludes(self, path: str) -> bool:
        """Whether BuildKit leaves `path` (relative, `/`-separated) out of the context.

        An excluded directory may still be sent as the parent of something re-included.
        """
        parts = go_clean(path).split("/")
        info: MatchInfo | None = None
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            excluded, info = self.match(directory, info)
            if excluded and self.prunes(directory):
                return True
        return self.match("/".join(parts), info)[0]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry BuildKit sends: its path relative to the context and the directory entry."""

    path: str
    entry: os.DirEntry[str]


def walk(
    root: Path | str, ignore: DockerIgnore, skip: Callable[[str], bool] | None = None
) -> Iterator[Entry]:
    """Every entry of the context at `root` that BuildKit sends, in fsutil's order.

    Symlinks are sent as links, never followed. A directory is yielded when it is sent: when
    it is not excluded, or just before the first entry inside it that is. An entry `skip`
    says true of (its relative path) is left out with everything under it, unread: what orch
    writes itself, which no version counts.
    """
    yield from _walk(os.fspath(root), "", ignore, None, [], skip)


def _walk(
    base: str,
    prefix: str,
    ignore: DockerIgnore,
    parent: MatchInfo | None,
    unsent: list[Entry],
    skip: Callable[[str], bool] | None,
) -> Iterator[Entry]:
    """`unsent`: the excluded directories above, each sent once something inside them is."""
    try:
        with os.scandir(base) as listing:
            entries = sorted(listing, key=_name)
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        path = prefix + entry.name
        if skip is not None and skip(path):
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        if not ignore.patterns:
            excluded, info = False, parent
        elif is_dir:
            excluded, info = ignore.match(path, parent)
        else:
            excluded, info = ignore.excluded_file(path, parent), parent
        if excluded:
            if is_dir and not ignore.prunes(path):
                here = Entry(path, entry)
                unsent.append(here)
                yield from _walk(entry.path, path + "/", ignore, info, unsent, skip)
                if unsent and unsent[-1] is here:
                    unsent.pop()
            continue
        if unsent:
            yield from unsent
            unsent.clear()
        yield Entry(path, entry)
        if is_dir:
            yield from _walk(entry.path, path + "/", ignore, info, unsent, skip)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def ignore_file_for(context: Path, dockerfile: Path | None) -> Path | None:
    """The ignore file BuildKit uses for a context: `<Dockerfile>.dockerignore` beside the
    Dockerfile if there is one, else `<context>/.dockerignore`; None when neither exists."""
    if dockerfile is not None:
        specific = dockerfile.with_name(dockerfile.name + IGNORE_FILE)
        if specific.is_file():
            return specific
    general = context / IGNORE_FILE
    return general if general.is_file() else None


def load(context: Path, dockerfile: Path | None = None) -> DockerIgnore:
    """The rules BuildKit applies to `context`; pass the Dockerfile for the main context.

    A pattern BuildKit rejects, or a file that cannot be read, is a PlanError at its line.
    """
    path = ignore_file_for(context, dockerfile)
    if path is None:
        return DockerIgnore()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(
            f"cannot read {path}: {exc.strerror or exc}",
            location=Location(path),
            hint="make the ignore file readable, or remove it",
        ) from None
    try:
        return _parsed(data)
    except DockerIgnoreError as exc:
        raise PlanError(
            str(exc),
            location=Location(path, _bad_line(data)),
            hint="BuildKit rejects this pattern too: fix or remove it",
        ) from None


def _bad_line(data: bytes) -> int:
    """The 1-based line of the first pattern BuildKit rejects; 0 if none is found alone."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            DockerIgnore.from_text(raw if number > 1 else raw.removeprefix(b"\xef\xbb\xbf"))
        except DockerIgnoreError:
            return number
    return 0


@functools.lru_cache(maxsize=256)
def _parsed(text: bytes) -> DockerIgnore:
    """Monorepos repeat the same ignore file in many services: compile each text once."""
    return DockerIgnore.from_text(text)
