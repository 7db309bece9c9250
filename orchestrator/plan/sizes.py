"""Image sizes as people write and read them (`25MB`, `1.5 GB`), and size budgets.

Decimal units, as `docker image ls` and registries show them: 1 MB is 1,000,000 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes in `25MB`, `1.5 GB`, `800kB`, `300MiB` or a plain number; ValueError otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    m = _SIZE.match(str(text))
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size")
    return int(float(m.group(1)) * _UNITS[unit])


def size_text(n: int | None) -> str:
    """Bytes in decimal units, as `docker image ls` shows them."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def change_text(now: int | None, before: int | None) -> str:
    """`+1.2 MB`, `-300 kB`, `same`, or "" when either is unknown."""
    if now is None or before is None:
        return ""
    if now == before:
        return "same"
    sign = "+" if now > before else "-"
    return sign + size_text(abs(now - before))


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of an image, with the Dockerfile line that made it when it is known."""

    size_bytes: int
    created_by: str  # as `docker history` says it
    line: int | None = None  # in the target's Dockerfile, or in `file`
    file: str | None = None  # an upstream target's Dockerfile the layer comes from; None: its own

    @property
    def where(self) -> str:
        """`line 4`, `stages/base/Dockerfile:3`, or "" when no line made it."""
        if self.line is None:
            return ""
        return f"{self.file}:{self.line}" if self.file else f"line {self.line}"


def over_budget(size: int, budget: int, layers: list[Layer]) -> str:
    """The message of an image over its `max_size`: the size, the budget, the largest layers."""
    largest = sorted(layers, key=lambda layer: layer.size_bytes, reverse=True)[:3]
    lines = [f"its image is {size_text(size)}, over its max_size of {size_text(budget)}"]
    for layer in largest:
        where = f"{layer.where}: " if layer.where else ""
        lines.append(f"  {size_text(layer.size_bytes):>9}  {where}{layer.created_by[:120]}")
    if largest:
        lines.append(
            "  ship a smaller stage (a `FROM scratch` or slim runtime stage with only what runs), "
            "or raise max_size"
        )
    return "\n".join(lines)


def _words(text: str) -> str:
    return " ".join(text.split())


def join_layers(
    history: list[tuple[int, str]],
    instructions: list[tuple[int, str, str]],
    inherited: Sequence[tuple[str, list[tuple[int, str, str]]]] = (),
) -> list[Layer]:
    """`docker history`'s layers, each with the Dockerfile line that made it where one matches:
    in the target's own Dockerfile, else in one it builds on (`inherited`: (file as shown, its
    instructions), nearest first), which the layer then names.

    `instructions` are (line, keyword, arguments with flags left out); BuildKit writes a RUN
    as `RUN /bin/sh -c <command> # buildkit` and a COPY without its flags.
    """
    layers = []
    for size, created_by in history:
        said = _words(created_by.removesuffix("# buildkit"))
        kind, _, rest = said.partition(" ")
        # `RUN |2 A=1 B=2 /bin/sh -c cmd`: the build args a step saw come first.
        rest = re.sub(r"^\|\d+\s+(?:\S+=\S*\s+)*", "", rest)
        rest = rest.removeprefix("/bin/sh -c ")
        shown = f"{kind} {rest}".strip()
        line = _matching_line(kind, rest, instructions)
        if line is not None:
            layers.append(Layer(size, shown, line))
            continue
        for file, theirs in inherited:
            line = _matching_line(kind, rest, theirs)
            if line is not None:
                layers.append(Layer(size, shown, line, file))
                break
        else:
            layers.append(Layer(size, shown))
    return layers


def _matching_line(kind: str, rest: str, instructions: list[tuple[int, str, str]]) -> int | None:
    return next(
        (
            n
            for n, keyword, args in reversed(instructions)
            if keyword == kind.lower() and args and _words(args).endswith(_words(rest)[-200:])
        ),
        None,
    )
