"""A YAML document as orch keeps it: plain values, and where each key and value is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from orchestrator.errors import Location

YamlPath: TypeAlias = tuple[str | int, ...]
Position: TypeAlias = tuple[int, int]  # 1-based line and column


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed YAML file: its data as plain values and the place of every key and value."""

    file: Path
    data: Any
    _values: dict[YamlPath, Position] = field(repr=False)
    _keys: dict[YamlPath, Position] = field(repr=False)
    # An alias's path -> the path of the node it repeats; lookups below it are redirected.
    _aliases: dict[YamlPath, YamlPath] = field(repr=False)
    # The text of scalars that YAML typed (3, yes, ~), as written, for hints that quote it.
    _texts: dict[YamlPath, str] = field(repr=False)

    def value_at(self, path: YamlPath) -> Location:
        """Where the value at `path` is written (its nearest written ancestor if it is not)."""
        return self._location(self._find(self._values, path))

    def key_at(self, path: YamlPath) -> Location:
        """Where the mapping key that ends `path` is written; the root maps to its value."""
        found = self._find(self._keys, path) if path else None
        return self._location(found if found is not None else self._find(self._values, path))

    def text_at(self, path: YamlPath) -> str | None:
        """The scalar at `path` as written, if YAML read it as a number, boolean or null."""
        return self._texts.get(path)

    def _find(self, table: dict[YamlPath, Position], path: YamlPath) -> Position | None:
        found = table.get(path)
        if found is not None:
            return found
        for cut in range(len(path) - 1, -1, -1):
            target = self._aliases.get(path[:cut])
            if target is not None:
                return self._find(table, target + path[cut:])
        # Not written anywhere (a key the schema says is missing): use the closest ancestor.
        for cut in range(len(path) - 1, -1, -1):
            found = self._values.get(path[:cut])
            if found is not None:
                return found
        return None

    def _location(self, position: Position | None) -> Location:
        return Location(self.file, *(position or (1, 1)))
