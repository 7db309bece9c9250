"""Read a YAML file into plain Python values, remembering where each key and value is written.

The document is built from the parser's event stream (libyaml when present) by a small
iterative composer, so that orch, not PyYAML, decides what a plan may contain: only the
standard scalar types, no tags, no duplicate keys, bounded nesting and bounded alias expansion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from orchestrator.errors import Location, PlanError
from orchestrator.plan.document import Document, Position, YamlPath

# libyaml's parser is about three times faster than the pure-Python one; both yield events.
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# A plan nests about six levels; the limit stops runaway input long before libyaml's
# recursive composer would exhaust the C stack or its quadratic deep-flow parsing gets slow.
MAX_DEPTH = 64
# Aliases may add at most this many nodes on top of what the file literally contains:
# enough for any real reuse, far below what a "billion laughs" document expands to.
MAX_ALIAS_NODES = 100_000

_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_YAML + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = _YAML + "map", _YAML + "seq", _YAML + "merge"
# Implicitly resolved, but orch has no use for dates or the `=` value key: keep the text.
_AS_TEXT = frozenset({_STR, _YAML + "timestamp", _YAML + "value"})
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})

_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()


def read_document(path: Path) -> Document:
    """Read and compose the YAML file at `path`; every problem is a PlanError."""
    return _Composer(path, _read_text(path)).compose()


def read_text(text: str, shown: Path) -> Document:
    """Compose YAML `text` (a plan from git history, say) with the same limits as a file;
    `shown` names it in errors."""
    return _Composer(shown, text).compose()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PlanError(
            f"no plan file at {path}",
            hint="pass the plan with -f PATH, or write one with `orch init` (without -f, orch "
            "reads buildplan.yaml here or in the nearest directory above)",
        ) from None
    except IsADirectoryError:
        raise PlanError(
            f"{path} is a directory, not a plan file",
            hint=f"pass the file itself: -f {path / 'buildplan.yaml'}",
        ) from None
    except OSError as exc:
        raise PlanError(
            f"cannot read the plan file {path}: {exc.strerror}",
            hint="check that the file exists and is readable",
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise PlanError(
            "the plan is not valid UTF-8 text",
            location=Location(path, line, column),
            hint="save the file as UTF-8",
        ) from None


@dataclass(slots=True)
class _Frame:
    """A mapping or sequence being filled in while its events arrive."""

    data: Any  # dict[str, Any] for a mapping, list[Any] for a sequence
    is_map: bool
    path: YamlPath
    anchor: str | None
    size: int = 1  # nodes so far, counting aliased subtrees at their full size
    key: str | None = None  # a mapping's key whose value has not arrived yet


class _Composer:
    """Turns the event stream of one YAML document into plain values and locations."""

    def __init__(self, file: Path, text: str) -> None:
        self.file = file
        self.text = text
        self.values: dict[YamlPath, Position] = {}
        self.keys: dict[YamlPath, Position] = {}
        self.texts: dict[YamlPath, str] = {}
        self.aliases: dict[YamlPath, YamlPath] = {}
        self.anchors: dict[str, tuple[Any, int, YamlPath]] = {}  # name -> value, size, path
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.alias_nodes = 0
        self.documents = 0

    def compose(self) -> Document:
        """Consume the events; stop at the first problem."""
        loader = _LOADER(self.text)
        try:
            self._consume(loader)
        except yaml.MarkedYAMLError as exc:
            raise self._syntax_error(exc) from None
        except yaml.reader.ReaderError as exc:
            # Raised for characters YAML forbids; it carries an offset, not a mark.
            before = self.text.encode()[: exc.position].decode(errors="replace")
            line = before.count("\n") + 1
            column = len(before) - (before.rfind("\n") + 1) + 1
            raise PlanError(
                f"invalid YAML: {exc.reason}",
                location=Location(self.file, line, column),
                hint="remove the control character, or write it as an escape in a quoted string",
            ) from None
        except yaml.YAMLError as exc:
            raise PlanError(f"invalid YAML: {exc}", location=Location(self.file, 1, 1)) from None
        finally:
            loader.dispose()
        return Document(self.file, self.root, self.values, self.keys, self.aliases, self.texts)

    def _consume(self, loader: Any) -> None:
        """One pass over the events, pulled one at a time so that it can stop at a problem."""
        for event in iter(loader.get_event, None):
            if isinstance(event, ScalarEvent):
                self._scalar(event)
            elif isinstance(event, MappingStartEvent | SequenceStartEvent):
                self._start(event, isinstance(event, MappingStartEvent))
            elif isinstance(event, MappingEndEvent | SequenceEndEvent):
                done = self.stack.pop()
                if done.anchor is not None:
                    self.open_anchors.discard(done.anchor)
                    self.anchors[done.anchor] = (done.data, done.size, done.path)
                self._attach(done.data, done.size)
            elif isinstance(event, AliasEvent):
                self._alias(event)
            elif isinstance(event, DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise self._error(
                        event,
                        "the plan file holds more than one YAML document",
                        hint="remove the '---' separator: a plan is a single document",
                    )
            elif isinstance(event, StreamEndEvent):
                return

    def _scalar(self, event: ScalarEvent) -> None:
        value = self._typed(event)
        if self.stack and self.stack[-1].is_map and self.stack[-1].key is None:
            self._place_key(self.stack[-1], event, value)
            return
        path = self._place_value(event)
        if not isinstance(value, str):
            self.texts[path] = event.value
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, 1, path)
        self._attach(value, 1)

    def _start(self, event: MappingStartEvent | SequenceStartEvent, is_map: bool) -> None:
        tag = event.tag
        if tag not in (None, "!", _MAP if is_map else _SEQ):
            raise self._tag_error(event, tag)
        if len(self.stack) >= MAX_DEPTH:
            raise self._error(
                event,
                f"the plan nests more than {MAX_DEPTH} levels deep",
                hint="a plan needs only a few levels: check the brackets and indentation",
            )
        path = self._place_value(event)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Frame({} if is_map else [], is_map, path, event.anchor))

    def _alias(self, event: AliasEvent) -> None:
        name = event.anchor
        if name in self.open_anchors:
            raise self._error(
                event,
                f"alias *{name} refers to the node that contains it",
                hint="a recursive structure cannot be a plan value; write the values out",
            )
        if name not in self.anchors:
            raise self._error(
                event,
                f"alias *{name} has no anchor &{name} before it",
                hint=f"define &{name} earlier in the file, or fix the spelling",
            )
        value, size, anchor_path = self.anchors[name]
        # The value object is shared, not copied: memory stays bounded whatever the
        # expansion, and the running count stops an alias bomb long before anything walks it.
        self.alias_nodes += size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise self._error(
                event,
                f"aliases expand the plan by more than {MAX_ALIAS_NODES:,} nodes",
                hint="this looks like an alias bomb; write the values out, "
                "or share settings through defaults:",
            )
        if self.stack and self.stack[-1].is_map and self.stack[-1].key is None:
            self._place_key(self.stack[-1], event, value)
            return
        path = self._place_value(event)
        self.aliases[path] = anchor_path
        self._attach(value, size)

    def _place_value(self, event: NodeEvent) -> YamlPath:
        """Record where a value node starts; returns its path."""
        if not self.stack:
            path: YamlPath = ()
        else:
            parent = self.stack[-1]
            key: str | int | None = parent.key if parent.is_map else len(parent.data)
            if key is None:
                raise self._error(
                    event,
                    "a mapping key must be a plain string, not a list or mapping",
                    hint="write the key as text followed by ':'",
                )
            path = (*parent.path, key)
        self.values[path] = _position(event)
        return path

    def _place_key(self, frame: _Frame, event: ScalarEvent | AliasEvent, value: Any) -> None:
        """Check and record a mapping key; its value comes next."""
        is_plain = isinstance(event, ScalarEvent) and event.tag is None and event.implicit[0]
        if is_plain and value == "<<":
            raise self._error(
                event,
                "YAML merge keys (<<) are not supported in a plan",
                hint="put settings that targets share under defaults:",
            )
        if isinstance(value, list | dict):  # an alias to a collection, used as a key
            raise self._error(
                event,
                "a mapping key must be a plain string, not a list or mapping",
                hint="write the key as text followed by ':'",
            )
        if not isinstance(value, str):
            written = event.value if isinstance(event, ScalarEvent) else f"*{event.anchor}"
            raise self._error(
                event,
                f"the key {written!r} is read by YAML as {_kind_of(value)}; keys must be strings",
                hint=f'quote it: "{written}":',
            )
        path = (*frame.path, value)
        if value in frame.data:
            first = self.keys[path][0]
            raise self._error(
                event,
                f"duplicate key {value!r} (first written at line {first})",
                hint="remove one of them: YAML would silently keep only the last",
            )
        self.keys[path] = _position(event)
        frame.key = value
        frame.size += 1
        if isinstance(event, ScalarEvent) and event.anchor is not None:
            self.anchors[event.anchor] = (value, 1, path)

    def _attach(self, value: Any, size: int) -> None:
        """Put a finished value into its parent (or make it the document's root)."""
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        if parent.is_map:
            parent.data[parent.key] = value
            parent.key = None
        else:
            parent.data.append(value)

    def _typed(self, event: ScalarEvent) -> Any:
        """The Python value of a scalar, from the standard YAML 1.1 tags only."""
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolve(event)
        elif tag not in _SCALAR_TAGS:
            raise self._tag_error(event, tag)
        if tag in _AS_TEXT or tag == _MERGE:
            return event.value
        if tag == _NULL:
            return None
        node = ScalarNode(tag, event.value)
        try:
            if tag == _BOOL:
                return _CONSTRUCTOR.construct_yaml_bool(node)
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(node)
            return _CONSTRUCTOR.construct_yaml_float(node)
        except (ValueError, KeyError, ConstructorError):
            raise self._error(
                event,
                f"{event.value!r} is not a valid {_short_tag(tag)}",
                hint="remove the tag to keep the value as text",
            ) from None

    def _tag_error(self, event: NodeEvent, tag: str) -> PlanError:
        return self._error(
            event,
            f"the YAML tag {_short_tag(tag)} is not allowed in a plan",
            hint="remove the tag: a plan holds only plain strings, numbers, lists and mappings",
        )

    def _error(self, event: Event, message: str, *, hint: str | None = None) -> PlanError:
        return PlanError(message, location=Location(self.file, *_position(event)), hint=hint)

    def _syntax_error(self, exc: yaml.MarkedYAMLError) -> PlanError:
        mark = exc.problem_mark or exc.context_mark
        location = Location(self.file, mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or "the file is not valid YAML"
        message = f"invalid YAML: {problem}"
        if exc.context:
            message += f" ({exc.context})"
        return PlanError(message, location=location, hint=self._syntax_hint(problem, mark))

    def _syntax_hint(self, problem: str, mark: Any) -> str:
        at = ""
        if mark is not None:
            lines = self.text.splitlines()
            if mark.line < len(lines):
                at = lines[mark.line][mark.column : mark.column + 1]
        if at == "\t":
            return "indent with spaces: YAML does not allow tabs for indentation"
        if "nesting depth" in problem:
            return "a plan needs only a few levels: check the brackets and indentation"
        if "mapping values are not allowed" in problem:
            return "quote a value that contains ': ', or check the indentation of this line"
        if "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
            return "close the bracket, or separate the items with ','"
        return "check the indentation, quotes and brackets at this point"


def _position(event: Event) -> Position:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _resolve(event: ScalarEvent) -> str:
    """The tag YAML 1.1 gives an untagged scalar: str, int, float, bool, null, ..."""
    tag: str = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    return tag


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_YAML) if tag.startswith(_YAML) else tag


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string"
