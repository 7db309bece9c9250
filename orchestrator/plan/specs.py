"""buildx's comma-separated `key=value` specs (cache entries, secrets): parsed once, written quoted.

buildx reads each spec with Go's `encoding/csv`, so a value holding a comma or a quote must be
written as a quoted CSV field (`"src=/x/a,b"`); written bare, `src=/x/a,env=HOME` would be read
as two fields and send another value than the plan names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, replace

Attrs = tuple[tuple[str, str], ...]


class SpecError(ValueError):
    """A spec that buildx would not read, or would read differently from what it says."""


def parse_attrs(text: str) -> Attrs:
    """`type=local,dest=x` as buildx reads it: CSV fields, each `key=value`."""
    if "\n" in text or "\r" in text:
        raise SpecError("a spec is one line")
    try:
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise SpecError(f"it is not valid CSV ({exc})") from None
    fields = rows[0] if rows else []
    pairs = []
    for field in fields:
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if not eq or not key:
            raise SpecError(f"{field!r} is not key=value")
        pairs.append((key, value))
    return tuple(pairs)


def format_attrs(pairs: Iterable[tuple[str, str]]) -> str:
    """The spec buildx reads back as exactly `pairs`: fields quoted only where they must be."""
    out = io.StringIO()
    csv.writer(out, lineterminator="", quoting=csv.QUOTE_MINIMAL).writerow(
        f"{k}={v}" for k, v in pairs
    )
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One `cache-from` or `cache-to` entry of the plan, `{name}` already expanded."""

    attrs: Attrs  # in the order written; `type` first

    @property
    def type(self) -> str:
        return self.get("type") or ""

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.attrs if k == key), None)

    def with_attr(self, key: str, value: str) -> CacheEntry:
        """The same entry with `key` set to `value` (replaced in place, else appended)."""
        if self.get(key) is None:
            return replace(self, attrs=(*self.attrs, (key, value)))
        return replace(self, attrs=tuple((k, value if k == key else v) for k, v in self.attrs))

    def render(self) -> str:
        return format_attrs(self.attrs)

    def __str__(self) -> str:
        return self.render()


def parse_cache_entry(text: str) -> CacheEntry:
    """A cache entry as buildx reads it; a bare value (no `=`) is a registry reference."""
    stripped = text.strip()
    if stripped and "=" not in stripped and "," not in stripped and '"' not in stripped:
        return CacheEntry((("type", "registry"), ("ref", stripped)))
    attrs = parse_attrs(text)
    if not attrs:
        raise SpecError("the entry is empty")
    keys = [k for k, _ in attrs]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate is not None:
        raise SpecError(f"{duplicate!r} is given twice")
    if "type" not in keys:
        raise SpecError("it has no type=")
    ordered = (("type", dict(attrs)["type"]), *((k, v) for k, v in attrs if k != "type"))
    return CacheEntry(ordered)
