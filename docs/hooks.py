"""mkdocs hook: the reference sections of the site, generated from orch's own declarations.

A page holds a marker where a generated section goes:

    <!-- orch:plan-schema -->   the build plan's keys, from the JSON Schema (plan/schema.py)
    <!-- orch:commands -->      every command of the click group, its usage, help and options
    <!-- orch:lint-rules -->    the rules of `orch lint` (lint/ids.py)

so that the pages cannot drift from what orch accepts. An unknown marker fails the build.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import click.core
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MARKER = re.compile(r"<!--\s*orch:([a-z-]+)\s*-->")


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace each `<!-- orch:NAME -->` marker with the section NAME generates."""

    def generated(match: re.Match[str]) -> str:
        name = match.group(1)
        make = GENERATORS.get(name)
        if make is None:
            raise PluginError(
                f"{page.file.src_uri}: unknown marker <!-- orch:{name} -->; "
                f"known: {', '.join(GENERATORS)}"
            )
        return make()

    return MARKER.sub(generated, markdown)


# --- text --------------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_SPECIAL = re.compile(r"([\\*_<>\[\]|])")


def _outside_code(text: str, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to what lies outside its code spans."""
    out: list[str] = []
    at = 0
    for span in _CODE_SPAN.finditer(text):
        out += [change(text[at : span.start()]), span.group(0)]
        at = span.end()
    out.append(change(text[at:]))
    return "".join(out)


def escape(text: str) -> str:
    """Text for Markdown: characters Markdown would read as markup escaped, outside `code`."""
    return _outside_code(text, lambda part: _SPECIAL.sub(r"\\\1", part))


def code(text: str) -> str:
    """`text` as a code span; one that holds a backtick is fenced with two."""
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """Markdown for a table cell: one line, a pipe outside a code span escaped (one inside a
    code span is no column separator)."""
    return _outside_code(text.replace("\n", " "), lambda part: re.sub(r"(?<!\\)\|", r"\\|", part))


def sentence(text: str) -> str:
    """`a mapping of ...` as a sentence: `A mapping of ....`"""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


# --- the build plan, from its JSON Schema ------------------------------------------------------

# The schema says what a value may be; these say what a key does, and what orch does when it is
# left out, where no JSON value could say it. A schema's own `description` and `default` win
# over them. Each path must be one the schema has, or the build fails; a key without an entry
# here is described by the schema's `x-expected`.
MEANING: dict[str, str] = {
    "version": "The plan format's version; anything else is an error.",
    "defaults": "Settings every stage and service inherits; a target's own value wins "
    "(`args` and `labels` are merged key by key).",
    "stages": "Shared stages: images other targets build on. `orch build` with no target "
    "builds those the services need.",
    "services": "What the monorepo ships: `orch build` with no target builds every service "
    "and what it needs.",
    "builders": "A pool of buildx builders (`docker buildx ls`) one run spreads over; "
    "`--builder` wins. A pool needs `registry:`.",
    "builders[].name": "A buildx builder's name.",
    "builders[].jobs": "Bake invocations at once on this builder.",
    "context": "The build context, relative to the plan's directory; it must stay inside it.",
    "dockerfile": "The Dockerfile, relative to the context.",
    "target": "The Dockerfile stage to ship.",
    "depends_on": "Dependencies on other targets, on top of those read from the Dockerfile "
    "(`FROM`, `COPY --from`, `RUN --mount=from=`).",
    "contexts": "Extra named contexts: a directory relative to the plan, or a reference such "
    "as `docker-image://busybox:latest`. A directory is part of the target's version.",
    "watch": "More inputs, as gitignore-style patterns relative to the plan's directory: "
    "part of the version, of what `--since` matches and of what `orch dev` watches.",
    "secrets": "BuildKit secrets for `RUN --mount=type=secret,id=ID`: never a build arg, "
    "never written into a bake file, masked in what orch prints.",
    "secrets[].id": "The id the Dockerfile mounts.",
    "secrets[].env": "Read the value from this environment variable.",
    "secrets[].src": "Read the value from this file, relative to the plan's directory.",
    "secrets[].optional": "Build without the secret when its variable or file is missing.",
    "lint": "`orch lint` rules for this target.",
    "lint.ignore": "Rule ids left out here: orch's (`OL101`) or hadolint's (`DL3008`).",
    "lint.enable": "Rule ids turned on where they are off by default (on a stage).",
    "platforms": "Platforms to build for, such as `linux/amd64`.",
    "args": 'Build args. Values are strings: quote a number (`N: "3"`).',
    "image": "The image repository; `{name}` is the target's name. With `registry:`, "
    "prefixed by it.",
    "tags": "Tags of the image: tag names, or full references (holding `:` or `/`). "
    "They move to a new image only once its target succeeded.",
    "labels": "Image labels. Values are strings.",
    "registry": "A registry the images are pushed to and pulled from, such as "
    "`localhost:5000`. A pool of builders and `--push` need one.",
    "cache": "BuildKit cache sources and exports, as buildx writes them; `{name}` is the "
    "target's name.",
    "cache.from": "Cache sources, as `--cache-from`, such as `type=local,src=.orch-cache/{name}`.",
    "cache.to": "Cache exports, as `--cache-to`, such as "
    "`type=local,dest=.orch-cache/{name},mode=max`.",
    "max_size": "The image's budget: `25MB`, `1.5GB`, or a number of bytes. A larger image "
    "fails its target, naming its largest layers.",
    "attest": "Attestations of a pushed image: `provenance` (BuildKit's, `mode=max`) and "
    "`sbom` (made by `sbom.generator`). They enter the version; local builds stay without them.",
    "sbom": "How an SBOM is made for `attest: [sbom]`.",
    "sbom.generator": "The image BuildKit runs to write the SBOM, such as "
    "`docker/buildkit-syft-scanner`.",
    "test": "Dockerfile stages `orch test` builds with `--target`.",
    "dev": "How `orch dev SERVICE --run` runs the service's container.",
    "dev.ports": "Published ports, as `docker run -p`: `[IP:][HOST:]CONTAINER[/PROTO]`, "
    "ranges too.",
    "dev.env": "Environment variables of the container. Values are strings.",
    "dev.command": "Replaces the image's `CMD`: a list of words, or a string split as a shell "
    "would.",
}

BEHAVIOUR: dict[str, str] = {
    "dockerfile": "`Dockerfile` in the context",
    "target": "the Dockerfile's last stage",
    "depends_on": "`[]`: the dependencies read from the Dockerfile",
    "platforms": "the builder's own platform",
    "registry": "none: images stay in the builder's image store",
    "cache": "none: BuildKit's own cache only",
    "max_size": "no budget",
    "attest": "none",
    "secrets[].optional": "`false`: a missing variable or file stops the run before it builds",
    "test": "no test stage",
    "dev.command": "the image's own `CMD`",
    "builders": "the current buildx builder, or `--builder`",
    "builders[].jobs": "`-j`/`--parallel`",
    "lint": "every rule on; OL101, OL102 and OL109 off on stages",
}

_TYPE_WORDS = {
    "string": ("string", "strings"),
    "integer": ("integer", "integers"),
    "number": ("number", "numbers"),
    "boolean": ("boolean", "booleans"),
    "object": ("mapping", "mappings"),
    "array": ("list", "lists"),
    "null": ("empty", "empty"),
}


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type", [])
    return list(kind) if isinstance(kind, list) else [kind]


def type_words(schema: Mapping[str, Any], *, plural: bool = False) -> str:
    """What a value of `schema` is, in words: `string or list of strings`."""
    words = []
    for kind in _types(schema):
        if kind == "null":
            continue
        word = _TYPE_WORDS.get(kind, (kind, kind))[plural]
        if kind == "array" and isinstance(schema.get("items"), Mapping):
            word += " of " + type_words(schema["items"], plural=True)
        elif kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
            word += " of names to " + type_words(schema["additionalProperties"], plural=True)
        words.append(word)
    text = " or ".join(words) or "any value"
    if "const" in schema:
        text += f", exactly {code(json.dumps(schema['const']))}"
    if "null" in _types(schema):
        text += " (may be left empty)"
    return text


def constraints(schema: Mapping[str, Any]) -> list[str]:
    """The schema's limits on a value, in words."""
    said = []
    if "enum" in schema:
        said.append("one of " + ", ".join(code(json.dumps(v)) for v in schema["enum"]))
    if "minimum" in schema and "maximum" in schema:
        said.append(f"{schema['minimum']} to {schema['maximum']}")
    elif "minimum" in schema:
        said.append(f"at least {schema['minimum']}")
    if schema.get("minItems"):
        said.append(f"at least {schema['minItems']} item{'s' if schema['minItems'] > 1 else ''}")
    if schema.get("uniqueItems"):
        said.append("no item twice")
    if schema.get("minLength") and "string" in _types(schema) and len(_types(schema)) == 1:
        said.append("not empty")
    one_of = schema.get("oneOf")
    if isinstance(one_of, list) and all("required" in b for b in one_of):
        keys = [b["required"][0] for b in one_of]
        said.append("exactly one of " + " or ".join(code(f"{k}:") for k in keys))
    return said


def description(path: str, schema: Mapping[str, Any], docs: Docs) -> str:
    """The schema's `description`, else the docs' meaning, else its `x-expected`."""
    if schema.get("description"):
        return sentence(escape(str(schema["description"])))
    if path in docs.meaning:
        return docs.meaning[path]
    return sentence(escape(str(schema.get("x-expected") or "")))


def default_of(path: str, schema: Mapping[str, Any], docs: Docs) -> str:
    if "default" in schema:
        return code(json.dumps(schema["default"]))
    return docs.default.get(path, "")


def _walk(schema: Mapping[str, Any], path: str) -> Iterator[str]:
    """Every key path below `schema`, as the reference writes them: `cache.from`, `secrets[].id`."""
    for key, sub in schema.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        yield here
        yield from _walk(sub, here)
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _walk(items, f"{path}[]")


def _nested(schema: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The mapping of keys a value holds: its own, or its list items'; with the path suffix."""
    if schema.get("properties"):
        return ".", schema
    items = schema.get("items")
    if isinstance(items, Mapping) and items.get("properties"):
        return "[].", items
    return None


def key_section(
    path: str,
    schema: Mapping[str, Any],
    *,
    level: int,
    anchor: str,
    notes: Sequence[str],
    docs: Docs,
    keys: bool = True,
) -> list[str]:
    """A heading for one key, its type, default and description, and a table of its keys."""
    lines = [f"{'#' * level} {code(path)} {{#{anchor}}}", ""]
    facts = [f"**Type:** {type_words(schema)}"]
    limits = constraints(schema)
    if limits:
        facts.append("**Values:** " + "; ".join(limits))
    default = default_of(path, schema, docs)
    if default:
        facts.append(f"**Default:** {default}")
    facts += notes
    lines += ["  \n".join(facts), ""]  # a line each: two spaces end a line in Markdown
    said = description(path, schema, docs)
    if said:
        lines += [said, ""]
    inner = _nested(schema) if keys else None
    if inner is not None:
        sep, holder = inner
        required = set(holder.get("required", []))
        rows = []
        for key, sub in holder["properties"].items():
            sub_path = f"{path}{sep}{key}"
            rows.append(
                [
                    code(f"{key}:") + (" (required)" if key in required else ""),
                    type_words(sub) + "".join(f"; {c}" for c in constraints(sub)),
                    default_of(sub_path, sub, docs),
                    description(sub_path, sub, docs),
                ]
            )
        lines += table(["key", "type", "default", "description"], rows)
    return lines


@dataclass(frozen=True, slots=True)
class Docs:
    """What the reference says beside the schema: each key path's meaning and default."""

    meaning: Mapping[str, str]
    default: Mapping[str, str]


def plan_schema() -> str:
    from orchestrator.plan.load import DEFAULT_IMAGE, DEFAULT_TAGS
    from orchestrator.plan.schema import PLAN_SCHEMA

    defaults = {
        **BEHAVIOUR,
        "image": code(DEFAULT_IMAGE),
        "tags": code(json.dumps(list(DEFAULT_TAGS)).replace('"', "")),
    }
    return plan_reference(PLAN_SCHEMA, Docs(meaning=MEANING, default=defaults))


def key_paths(schema: Mapping[str, Any]) -> set[str]:
    """Every key path of the plan: top-level ones (`builders[].name`), a target's (`cache.to`)."""
    top = schema["properties"]
    known = set(_walk(schema, ""))
    for section in ("stages", "services"):
        target = top[section]["additionalProperties"]
        known |= set(_walk(target, ""))
    return known


def plan_reference(schema: Mapping[str, Any], docs: Docs) -> str:
    """The plan's reference: each top-level key, then each key of a stage or a service."""
    top = schema["properties"]
    stage = top["stages"]["additionalProperties"]
    service = top["services"]["additionalProperties"]
    inherited = set(top["defaults"].get("properties", {}))
    target_keys = {**stage["properties"], **service["properties"]}
    known = key_paths(schema)
    unknown = sorted((set(docs.meaning) | set(docs.default)) - known)
    if unknown:
        raise PluginError(f"docs/hooks.py describes keys the plan schema has not: {unknown}")

    lines = ["## Top-level keys", ""]
    required = set(schema.get("required", []))
    for key, sub in top.items():
        notes = ["**Required**"] if key in required else []
        keys = True
        if key in ("stages", "services"):
            names = sub.get("propertyNames", {})
            if "maxLength" in names:
                notes.append(f"**Names:** at most {names['maxLength']} characters")
            must = ", ".join(code(f"{k}:") for k in sub["additionalProperties"].get("required", []))
            notes.append(
                f"**Each entry:** the [target settings](#target-settings); {must} required"
            )
        if key == "defaults":
            listed = ", ".join(f"[{code(k)}](#{_anchor(k)})" for k in sub.get("properties", {}))
            notes.append(f"**Keys:** {listed}")
            refused = sorted(sub.get("x-not-here", {}))
            if refused:
                notes.append(f"**Per target only:** {', '.join(code(k) for k in refused)}")
            keys = False
        lines += key_section(key, sub, level=3, anchor=key, notes=notes, docs=docs, keys=keys)

    lines += [
        "## Target settings {#target-settings}",
        "",
        "The keys of each entry under `stages:` and `services:`. An *inherited* key may also "
        "be set under `defaults:`; a target's own value wins.",
        "",
    ]
    for key, sub in target_keys.items():
        notes = ["**Required**"] if key in stage.get("required", []) else []
        where = "stages and services" if key in stage["properties"] else "services only"
        if key in inherited:
            where += "; inherited"
        notes.append(f"**On:** {where}")
        lines += key_section(key, sub, level=3, anchor=_anchor(key), notes=notes, docs=docs)
    return "\n".join(lines)


def _anchor(key: str) -> str:
    return "key-" + key.replace("_", "-")


# --- the commands, from the click group ------------------------------------------------------


def commands() -> str:
    import orchestrator.commands.main  # noqa: F401 (registers every command on the group)
    from orchestrator.commands.group import cli

    return command_reference(cli, click.Context(cli, info_name="orch", **cli.context_settings))


def _help_text(text: str | None) -> list[str]:
    """A command's docstring as Markdown paragraphs (click's `\\b` and `\\f` markers honoured)."""
    if not text:
        return []
    text = inspect.cleandoc(text).split("\f", 1)[0]
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        if block.startswith("\b\n"):
            paragraphs.append("\n".join(escape(line) + "  " for line in block[2:].splitlines()))
        else:
            paragraphs.append(escape(" ".join(block.split())))
    return [p for p in paragraphs if p]


def _default(param: click.Option, ctx: click.Context) -> str:
    """An option's default as the command line would take it; "" when there is none to show."""
    if isinstance(param.show_default, str):
        return escape(param.show_default)
    value = param.get_default(ctx, call=False)
    unset = getattr(click.core, "UNSET", None)  # click 8.2's "no default", where 8.1 has None
    if value is None or value is unset or callable(value) or value in ((), []):
        return ""
    if param.is_flag:
        if param.secondary_opts and isinstance(value, bool):
            names = param.opts if value else param.secondary_opts
            return code(max(names, key=len))
        return ""
    return code(str(value))


def options_table(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param.hidden:
            continue
        if ctx.parent is not None and param is command.get_help_option(ctx):
            continue  # said once, among the global options
        record = param.get_help_record(ctx)
        if record is None:
            continue
        rows.append([code(record[0]), escape(param.help or ""), _default(param, ctx)])
    return table(["option", "what it does", "default"], rows) if rows else []


def global_usage(group: click.Group, root: click.Context) -> str:
    """The group's options that take a value, as usage writes them: `[-f FILE]`."""
    shown = []
    for param in group.get_params(root):
        if isinstance(param, click.Option) and not param.is_flag and not param.hidden:
            record = param.get_help_record(root)
            metavar = record[0].rsplit(" ", 1)[-1] if record else param.human_readable_name
            shown.append(f"[{param.opts[0]} {metavar}]")
    return " ".join(shown)


def command_reference(group: click.Group, root: click.Context) -> str:
    before = global_usage(group, root)
    lines = [
        "## Global options {#global-options}",
        "",
        *_help_text(group.help),
        "",
        "```",
        " ".join([root.command_path, *group.collect_usage_pieces(root)]),
        "```",
        "",
        *options_table(group, root),
    ]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = click.Context(command, info_name=name, parent=root)
        pieces = command.collect_usage_pieces(ctx)
        usage = " ".join(w for w in [root.command_path, before, name, *pieces] if w)
        lines += [f"## `orch {name}` {{#orch-{name}}}", "", "```", usage, "```", ""]
        for paragraph in _help_text(command.help):
            lines += [paragraph, ""]
        lines += options_table(command, ctx)
    return "\n".join(lines)


# --- the lint rules ---------------------------------------------------------------------------


def lint_rules() -> str:
    from orchestrator.lint.ids import RULES

    rows = [
        [
            f"[{rule.id}](#{rule.id.lower()})",
            code(rule.name),
            rule.severity,
            "on" if rule.on_stages else "off",
            escape(rule.title),
        ]
        for rule in RULES.values()
    ]
    return "\n".join(table(["rule", "name", "severity", "on shared stages", "finds"], rows))


GENERATORS: dict[str, Callable[[], str]] = {
    "plan-schema": plan_schema,
    "commands": commands,
    "lint-rules": lint_rules,
}
