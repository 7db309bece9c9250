"""Dockerfile words as BuildKit's shell lexer reads them: splitting, quotes, `$` substitution."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["Shell", "SubstitutionError", "expand", "raw_words", "split_words"]

_NON_SPACE = re.compile(r"\S+")
_PLAIN_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class SubstitutionError(Exception):
    """A `$` expression BuildKit rejects."""


def raw_words(line: str) -> list[tuple[str, int]]:
    """Whitespace-separated words keeping quotes and escapes; none if a quote is left open."""
    if "'" not in line and '"' not in line and "\\" not in line:
        return [(m.group(), m.start()) for m in _NON_SPACE.finditer(line)]
    words = []
    size = len(line)
    pos = 0
    while pos < size:
        if line[pos].isspace():
            pos += 1
            continue
        start = pos
        while pos < size and not line[pos].isspace():
            ch = line[pos]
            if ch == "\\":
                pos += 2
            elif ch == "'":
                end = line.find("'", pos + 1)
                if end < 0:
                    return []
                pos = end + 1
            elif ch == '"':
                pos += 1
                while pos < size and line[pos] != '"':
                    pos += 2 if line[pos] == "\\" else 1
                if pos >= size:
                    return []
                pos += 1
            else:
                pos += 1
        pos = min(pos, size)
        words.append((line[start:pos], start))
    return words


def split_words(text: str, escape: str) -> list[str]:
    """BuildKit's ARG word split: on blanks outside quotes, quotes and escapes kept."""
    if "'" not in text and '"' not in text and escape not in text:
        return text.split()
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    size = len(text)
    pos = 0
    while pos < size:
        ch = text[pos]
        pos += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos >= size:
                    quote = ""
                    continue
                word.append(ch)
                ch = text[pos]
                pos += 1
            word.append(ch)
            continue
        if ch.isspace():
            if word or blank_ok:
                words.append("".join(word))
            word, blank_ok = [], False
            continue
        if ch in "'\"":
            quote, blank_ok = ch, True
        elif ch == escape:
            if pos >= size:
                continue
            word.append(ch)
            ch = text[pos]
            pos += 1
        word.append(ch)
    if word or blank_ok:
        words.append("".join(word))
    return words


def expand(word: str, env: Mapping[str, str], escape: str) -> str:
    """Substitute `$VAR`, `${VAR}` and `${VAR<op>word}` and remove quotes, as BuildKit does."""
    if "'" not in word and '"' not in word and escape not in word and word.isascii():
        if "$" not in word:
            return word
        # Plain `$NAME` and `${NAME}` take one regex pass; anything else, the full lexer.
        plain = _PLAIN_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), word)
        if "$" not in _PLAIN_VAR.sub("", word):
            return plain
    return Shell(word, env, escape).word("")


class Shell:
    """BuildKit's shell-word lexer, for one word: no word splitting."""

    __slots__ = ("env", "escape", "keep_unset", "pos", "text")

    def __init__(
        self, text: str, env: Mapping[str, str], escape: str, *, keep_unset: bool = False
    ) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.keep_unset = keep_unset  # leave `$X` as written when X is unset (heredoc words)
        self.pos = 0

    def word(self, stops: str, *, raw_escapes: bool = False) -> str:
        """Read up to one of `stops` (left unread) or the end."""
        text = self.text
        size = len(text)
        out: list[str] = []
        while self.pos < size:
            ch = text[self.pos]
            if ch in stops:
                break
            if ch == "'":
                out.append(self.single_quoted())
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == "$":
                out.append(self.dollar())
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.pos >= size:
                        break
                    if raw_escapes:
                        out.append(ch)  # a pattern keeps its escapes for the matcher
                    ch = text[self.pos]
                    self.pos += 1
                out.append(ch)
        return "".join(out)

    def single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise SubstitutionError(
                "unexpected end of statement while looking for matching single-quote"
            )
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def double_quoted(self) -> str:
        text = self.text
        size = len(text)
        out: list[str] = []
        self.pos += 1
        while True:
            if self.pos >= size:
                raise SubstitutionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape:
                if self.pos >= size:
                    continue
                if text[self.pos] in ('"', "$", self.escape):
                    ch = text[self.pos]
                    self.pos += 1
            out.append(ch)

    def name(self) -> str:
        """A parameter name: letters, digits and `_`; or all digits; or one special character."""
        text = self.text
        size = len(text)
        start = self.pos
        if start < size and text[start].isdigit():
            while self.pos < size and text[self.pos].isdigit():
                self.pos += 1
            return text[start : self.pos]
        if start < size and text[start] in "@*#?-$!":
            self.pos += 1
            return text[start]
        while self.pos < size and (text[self.pos].isalnum() or text[self.pos] == "_"):
            self.pos += 1
        return text[start : self.pos]

    def dollar(self) -> str:
        text = self.text
        size = len(text)
        start = self.pos
        self.pos += 1
        if self.pos >= size or text[self.pos] != "{":
            name = self.name()
            if not name:
                return "$"
            return self.lookup(name, start)
        self.pos += 1
        if self.pos >= size:
            raise SubstitutionError("syntax error: missing '}'")
        if text[self.pos] in "{}:":
            raise SubstitutionError("syntax error: bad substitution")
        name = self.name()
        if self.pos >= size:
            raise SubstitutionError("syntax error: missing '}'")
        op = text[self.pos]
        self.pos += 1
        if op == "}":
            return self.lookup(name, start)
        colon = op == ":"
        if colon:
            if self.pos >= size:
                raise SubstitutionError("syntax error: missing '}'")
            op = text[self.pos]
            self.pos += 1
        if op == "/" and not colon:
            return self.replace(name, start)
        if op not in "-+?#%" or (colon and op in "#%"):
            raise SubstitutionError(f"unsupported modifier ({':' * colon}{op}) in substitution")
        word = self.word("}", raw_escapes=op in "#%")
        self.close_brace()
        value = self.env.get(name)
        if value is None and self.keep_unset:
            return text[start : self.pos]
        absent = value is None or (colon and not value)
        if op == "-":
            return word if absent else str(value)
        if op == "+":
            return "" if absent else word
        if op == "?":
            if value is None:
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset'}")
            if colon and not value:
                raise SubstitutionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(op)  # ## and %% remove the longest match
        return _trim(
            value or "", word[greedy:], prefix=op == "#", greedy=greedy, escape=self.escape
        )

    def lookup(self, name: str, start: int) -> str:
        value = self.env.get(name)
        if value is None:
            return self.text[start : self.pos] if self.keep_unset else ""
        return value

    def close_brace(self) -> None:
        if self.pos >= len(self.text):
            raise SubstitutionError("syntax error: missing '}'")
        self.pos += 1

    def replace(self, name: str, start: int) -> str:
        """`${VAR/pattern/word}` replaces the first match, `${VAR//pattern/word}` each one."""
        text = self.text
        every = self.pos < len(text) and text[self.pos] == "/"
        self.pos += every
        pattern = self.word("/}", raw_escapes=True)
        replacement = ""
        if self.pos < len(text) and text[self.pos] == "/":
            self.pos += 1
            replacement = self.word("}")
        self.close_brace()
        value = self.env.get(name)
        if value is None and self.keep_unset:
            return text[start : self.pos]
        if not value or not pattern:
            return value or ""
        regex = _glob(pattern, self.escape)
        return regex.sub(lambda _: replacement, value, count=0 if every else 1)


def _glob(pattern: str, escape: str) -> re.Pattern[str]:
    """A shell pattern (`*`, `?`, `[...]`, escapes) as a regular expression."""
    out: list[str] = []
    size = len(pattern)
    pos = 0
    while pos < size:
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            first = pos + (pos < size and pattern[pos] in "!^")
            end = pattern.find("]", first + 1)
            if end < 0:
                out.append(re.escape(ch))
                continue
            members = pattern[pos:end]
            if members[:1] in ("!", "^"):
                members = "^" + members[1:]
            out.append("[" + members.replace("\\", "\\\\").replace("[", "\\[") + "]")
            pos = end + 1
        elif ch == escape and pos < size:
            out.append(re.escape(pattern[pos]))
            pos += 1
        else:
            out.append(re.escape(ch))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:  # such as the range `[z-a]`: the shell matches it as written
        return re.compile(re.escape(pattern))


def _trim(value: str, pattern: str, *, prefix: bool, greedy: bool, escape: str) -> str:
    """Remove the shortest (or, greedy, longest) prefix or suffix of `value` matching `pattern`."""
    regex = _glob(pattern, escape)
    size = len(value)
    lengths = range(size, -1, -1) if greedy else range(size + 1)
    for length in lengths:
        if prefix and regex.fullmatch(value, 0, length):
            return value[length:]
        if not prefix and regex.fullmatch(value, size - length):
            return value[: size - length]
    return value
