"""The plan's shape, declared once as a JSON Schema, and errors worded for people who write plans.

Besides standard draft 2020-12 keywords, subschemas carry a few annotations that only orch
reads (JSON Schema ignores unknown keywords): `x-expected` says in words what a value must
be, `x-not-here` explains why a key that exists elsewhere is not allowed at this level, and
`x-required` says how to add a missing key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.errors import PlanError, did_you_mean
from orchestrator.plan.document import Document, YamlPath

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from orchestrator.plan.references import (
    NAME_MAX,
    NAME_PATTERN,
    fixed_name,
    name_problem,
)

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "x-expected": "a non-empty string"}
# The file system cannot take a NUL, which YAML's "\0" escape could put in a path.
_NO_NUL = r"^[^\x00]*$"
_PATH: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "pattern": _NO_NUL,
    "x-expected": "a relative path",
}


def _list(item: Mapping[str, Any], expected: str) -> dict[str, Any]:
    return {"type": "array", "items": item, "x-expected": expected}


def _string_map(expected: str, value: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": {"type": "string", "x-expected": value},
        "x-expected": expected,
    }


_CACHE: dict[str, Any] = {
    "type": "object",
    "x-expected": "a mapping with from: and to: lists",
    "properties": {
        "from": _list(_TEXT, "a list of cache sources such as type=local,src=DIR"),
        "to": _list(_TEXT, "a list of cache exports such as type=local,dest=DIR,mode=max"),
    },
    "additionalProperties": False,
}

# Settings a target may inherit from `defaults:`.
_SHARED: dict[str, Any] = {
    "platforms": _list(_TEXT, "a list of platforms such as linux/amd64"),
    "args": _string_map("a mapping of build args to string values", "a string"),
    "image": {**_TEXT, "x-expected": "an image repository such as orch/{name}"},
    "tags": {
        **_list(_TEXT, "a list of tags"),
        "minItems": 1,
        "x-empty": "omit tags: for the default [latest], or list at least one tag: tags: [latest]",
    },
    "labels": _string_map("a mapping of labels to string values", "a string"),
    "registry": {**_TEXT, "x-expected": "a registry address such as localhost:5000"},
    "cache": _CACHE,
    # Attestations of a pushed image: BuildKit's provenance (mode=max) and an SBOM made by
    # `sbom.generator`. Local builds stay without them.
    "attest": {
        "type": "array",
        "items": {"enum": ["provenance", "sbom"], "x-expected": "provenance or sbom"},
        "uniqueItems": True,
        "x-expected": "a list of attestations: [provenance, sbom]",
    },
    "sbom": {
        "type": "object",
        "properties": {
            "generator": {
                **_TEXT,
                "x-expected": "an SBOM generator image, such as docker/buildkit-syft-scanner",
            }
        },
        "required": ["generator"],
        "x-required": {"generator": "add `generator: IMAGE`, the image that writes the SBOM"},
        "additionalProperties": False,
        "x-expected": "a mapping with generator: IMAGE",
    },
    # The image's budget: a build whose image is larger fails. `25MB`, `1.5GB`, or bytes.
    "max_size": {
        "type": ["string", "integer"],
        "x-expected": "a size such as 25MB or 1.5GB",
    },
}

_SECRET: dict[str, Any] = {
    "type": "object",
    "x-expected": "a mapping with id: and env: or src:",
    "properties": {
        "id": {**_TEXT, "x-expected": "a secret id"},
        "env": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*\Z",
            "x-expected": "an environment variable name",
        },
        "src": {**_PATH, "x-expected": "a file path"},
        # `optional: true`: a build goes on without the secret when its variable is unset or
        # its file is missing; by default that is an error before anything builds.
        "optional": {"type": "boolean", "x-expected": "true or false"},
    },
    "required": ["id"],
    "x-required": {"id": "add `id: NAME`, the id the Dockerfile mounts with --mount=type=secret"},
    # Exactly one source, so that where a secret's value comes from is never ambiguous.
    "oneOf": [{"required": ["env"]}, {"required": ["src"]}],
    "additionalProperties": False,
}

# `orch lint`: rules to leave out for this target, or to turn on where they are off by default
# (on a shared stage). Each id is checked against the rules in load.py.
_RULE_IDS: dict[str, Any] = {
    "type": "array",
    "items": {**_TEXT, "x-expected": "a rule id such as OL101"},
    "uniqueItems": True,
    "x-expected": "a list of rule ids such as [OL101]",
}
_LINT: dict[str, Any] = {
    "type": "object",
    "x-expected": "a mapping with ignore: and enable: lists of rule ids",
    "properties": {"ignore": _RULE_IDS, "enable": _RULE_IDS},
    "additionalProperties": False,
}

_TARGET_KEYS: dict[str, Any] = {
    "context": {**_PATH, "x-expected": "a directory path relative to the plan file"},
    "dockerfile": {**_PATH, "x-expected": "a file path relative to the context"},
    "target": {**_TEXT, "x-expected": "a Dockerfile stage name"},
    "depends_on": {
        "type": "array",
        "items": {**_TEXT, "x-expected": "a target name"},
        "uniqueItems": True,
        "x-expected": "a list of target names",
    },
    "contexts": {
        "type": "object",
        "x-expected": "a mapping of context names to directories or references such as "
        "docker-image://busybox:latest",
        "additionalProperties": {
            **_PATH,
            "x-expected": "a directory or a reference such as docker-image://busybox:latest",
        },
    },
    "watch": _list(_TEXT, "a list of gitignore-style patterns"),
    "secrets": _list(_SECRET, "a list of secrets, each with id: and env: or src:"),
    "lint": _LINT,
    **_SHARED,
}

_CONTEXT_HINT = "add `context: DIR`, the build context directory relative to the plan file"

# `orch dev --run SERVICE`: how its container runs. Ports and the command are read further in
# load.py, which can say which item is wrong and why.
_DEV: dict[str, Any] = {
    "type": "object",
    "x-expected": "a mapping with ports:, env: and command:",
    "properties": {
        "ports": _list(
            {"type": ["string", "integer"], "x-expected": 'a port mapping such as "8080:80"'},
            'a list of port mappings such as ["8080:80"]',
        ),
        "env": _string_map("a mapping of environment variables to string values", "a string"),
        "command": {
            "type": ["string", "array"],
            "items": {"type": "string", "x-expected": "a string"},
            "x-expected": "a command: a list of words, or one string split as a shell would",
        },
    },
    "additionalProperties": False,
}

_STAGE: dict[str, Any] = {
    "type": "object",
    "x-expected": "a mapping of target settings such as context:",
    "properties": _TARGET_KEYS,
    "required": ["context"],
    "x-required": {"context": _CONTEXT_HINT},
    "additionalProperties": False,
    "x-not-here": {
        "test": [
            "test: is only for services, and {where} is a stage",
            "move the test to a service that builds FROM this stage",
        ],
        "dev": [
            "dev: is only for services, and {where} is a stage",
            "give dev: to the service whose container `orch dev --run` starts",
        ],
    },
}

_SERVICE: dict[str, Any] = {
    **_STAGE,
    "properties": {
        **_TARGET_KEYS,
        "test": {
            "type": ["string", "array"],
            "items": {
                "type": ["string", "object"],
                "minLength": 1,
                "x-expected": "a Dockerfile stage name, or {stage: NAME, platforms: [...], "
                "reports: DIR}",
                "properties": {
                    "stage": {**_TEXT, "x-expected": "a Dockerfile stage name"},
                    "platforms": _list(_TEXT, "a list of platforms such as linux/amd64"),
                    # Where the stage's test RUN writes JUnit XML and `exit-code`: orch exports
                    # that directory and reports each test case (orchestrator.ci.testcases).
                    "reports": {
                        **_TEXT,
                        "x-expected": "an absolute directory of the stage, such as /reports",
                    },
                },
                "required": ["stage"],
                "x-required": {"stage": "add `stage: NAME`, the Dockerfile stage to test"},
                "additionalProperties": False,
            },
            "x-expected": "a Dockerfile stage name or a list of them",
        },
        "dev": _DEV,
    },
    "x-not-here": {},
}


def _targets(target: Mapping[str, Any], expected: str) -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "x-expected": expected,
        "propertyNames": {"pattern": NAME_PATTERN, "maxLength": NAME_MAX},
        "additionalProperties": target,
    }


PLAN_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://orch.dev/schema/buildplan-1.json",
    "title": "orch build plan, version 1",
    "type": "object",
    "x-expected": "a mapping with version:, defaults:, stages: and services:",
    "properties": {
        "version": {"type": "integer", "const": 1, "x-expected": "the number 1"},
        # An empty section (every line commented out) reads as null: take it as empty.
        "defaults": {
            "type": ["object", "null"],
            "x-expected": "a mapping of settings every target inherits",
            "properties": _SHARED,
            "additionalProperties": False,
            "x-not-here": {
                key: [
                    f"{key}: cannot be a default; it belongs to each target",
                    f"set {key}: on the stages and services that need it",
                ]
                for key in sorted(_TARGET_KEYS.keys() - _SHARED.keys() | {"test", "dev"})
            },
        },
        "stages": _targets(_STAGE, "a mapping of stage names to their settings"),
        "services": _targets(_SERVICE, "a mapping of service names to their settings"),
        # A pool of buildx builders a run spreads over: names, or {name:, jobs:, platforms:}.
        "builders": {
            "type": "array",
            "minItems": 1,
            "x-expected": "a list of buildx builder names (or {name: NAME, jobs: N} items)",
            "items": {
                "type": ["string", "object"],
                "minLength": 1,
                "x-expected": "a buildx builder name, or {name: NAME, jobs: N, platforms: [...]}",
                "properties": {
                    "name": {**_TEXT, "x-expected": "a buildx builder name"},
                    "jobs": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 64,
                        "x-expected": "a whole number of bake invocations at once, 1 to 64",
                    },
                    # The platforms it builds natively: a multi-platform target is split among
                    # the builders that name its platforms, then merged into one index.
                    "platforms": _list(_TEXT, "a list of platforms such as linux/arm64"),
                },
                "required": ["name"],
                "x-required": {"name": "add `name: BUILDER` (see `docker buildx ls`)"},
                "additionalProperties": False,
            },
        },
    },
    "required": ["version"],
    "x-required": {"version": "add `version: 1` as the first line"},
    "additionalProperties": False,
}

# jsonschema ships no type information.
# Which schema a plan was checked against: a plan checked once need not be checked again.
SCHEMA_DIGEST = hashlib.sha256(json.dumps(PLAN_SCHEMA, sort_keys=True).encode()).hexdigest()


def editor_schema() -> dict[str, Any]:
    """The plan's schema for editors and other tools (`orch schema`, buildplan.schema.json): the
    same rules, each subschema's `x-expected` as its `description` (what an editor shows on
    hover), orch's own annotations left out."""

    def clean(node: Any) -> Any:
        if isinstance(node, list):
            return [clean(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: clean(v) for k, v in node.items() if not k.startswith("x-")}
        expected = node.get("x-expected")
        if isinstance(expected, str) and "description" not in out:
            out["description"] = expected[0].upper() + expected[1:] + "."
        return out

    body: dict[str, Any] = clean(PLAN_SCHEMA)
    head = {k: body.pop(k) for k in ("$schema", "$id") if k in body}
    return head | body


@functools.cache
def _validator() -> Any:
    # jsonschema costs 40 ms to import: only a plan not checked before pays it (see load.py).
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator(PLAN_SCHEMA)


def validate(doc: Document) -> None:
    """Check the document against the plan schema; raise the most useful error first."""
    errors = list(_validator().iter_errors(doc.data))
    if not errors:
        return
    # A key missing beside an unknown one is usually the same typo: report the typo.
    unknown = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    kept = [
        e
        for e in errors
        if not (e.validator in ("required", "oneOf") and tuple(e.absolute_path) in unknown)
    ]
    reported = [_explain(doc, e) for e in kept]

    def place(i: int) -> tuple[int, int, bool]:
        at = reported[i].location
        line, column = (at.line, at.column) if at else (0, 0)
        return line, column, kept[i].validator != "type"

    # The first problem in the file, as a compiler would; a type error first at one place.
    raise reported[min(range(len(kept)), key=place)]


def _explain(doc: Document, error: ValidationError) -> PlanError:
    """Turn a jsonschema error into an orch error at the right place, with a fix."""
    path: YamlPath = tuple(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance
    kind = error.validator
    if kind == "additionalProperties":
        return _unknown_key(doc, path, schema, instance)
    if kind == "required":
        return _missing_key(doc, path, schema, instance)
    if kind in ("pattern", "maxLength") and "propertyNames" in error.schema_path:
        return _bad_name(doc, path, instance)
    if kind == "type":
        return _wrong_type(doc, path, schema, instance)
    if kind == "oneOf":
        return _not_exactly_one(doc, path, schema, instance)
    if kind == "uniqueItems":
        return _repeated(doc, path, instance)
    at = doc.value_at(path)
    where = describe(path)
    expected = schema.get("x-expected", "something else")
    if kind == "minLength":
        return PlanError(f"{where} is empty", location=at, hint=f"give {expected}")
    if kind == "minItems":
        return PlanError(f"{where} is empty", location=at, hint=schema.get("x-empty"))
    if kind == "pattern":
        return PlanError(
            f"{where} must be {expected}, got {instance!r}",
            location=at,
            hint=f"use {expected}",
        )
    return PlanError(f"{where}: {error.message}", location=at, hint=f"write {expected}")


def _unknown_key(
    doc: Document, path: YamlPath, schema: Mapping[str, Any], instance: Mapping[str, Any]
) -> PlanError:
    valid = list(schema.get("properties", {}))
    key = next(k for k in instance if k not in valid)
    at = doc.key_at((*path, key))
    misplaced = schema.get("x-not-here", {}).get(key)
    if misplaced:
        message, hint = misplaced
        return PlanError(message.format(where=describe(path)), location=at, hint=hint)
    hint = f"valid keys here: {', '.join(valid)}"
    close = did_you_mean(key, valid)
    if close:
        hint = f"{close} {hint}"
    return PlanError(f"unknown key {key!r} in {describe(path)}", location=at, hint=hint)


def _missing_key(
    doc: Document, path: YamlPath, schema: Mapping[str, Any], instance: Mapping[str, Any]
) -> PlanError:
    key = next(k for k in schema["required"] if k not in instance)
    hint = schema.get("x-required", {}).get(key, f"add {key}:")
    return PlanError(
        f"{describe(path)} has no {key!r}, which is required",
        location=doc.key_at(path),
        hint=hint,
    )


def _bad_name(doc: Document, path: YamlPath, name: str) -> PlanError:
    shown = name if len(name) <= 40 else f"{name[:40]}..."
    return PlanError(
        f"bad target name {shown!r}: {name_problem(name)}",
        location=doc.key_at((*path, name)),
        # The nearest valid name shows what the rule allows.
        hint=f"rename it, such as {fixed_name(name)!r}",
    )


def _wrong_type(
    doc: Document, path: YamlPath, schema: Mapping[str, Any], instance: Any
) -> PlanError:
    expected = schema.get("x-expected", f"a {schema.get('type')}")
    at = doc.value_at(path)
    message = f"{describe(path)} must be {expected}, got {describe_value(instance)}"
    written = doc.text_at(path) or (instance if isinstance(instance, str) else "")
    wants = schema.get("type")
    wants = set(wants) if isinstance(wants, list) else {wants}
    if instance is None:
        hint = "give it a value, or remove the key"
    elif "string" in wants and isinstance(instance, bool | int | float):
        # YAML reads 3, 1.0, yes, on as typed values; quoting keeps the text.
        hint = f'quote it: "{written}"'
        if path and isinstance(path[-1], str):
            hint = f'quote it: {path[-1]}: "{written}"'
    elif "array" in wants and isinstance(instance, str):
        key = path[-1] if path and isinstance(path[-1], str) else None
        hint = f"write a list: {key}: [{written}]" if key else f"write a list: [{written}]"
    elif "object" in wants:
        hint = "write it as indented `key: value` lines"
    elif "integer" in wants:
        hint = f"write {expected} without quotes"
    else:
        hint = f"write {expected}"
    return PlanError(message, location=at, hint=hint)


def _not_exactly_one(
    doc: Document, path: YamlPath, schema: Mapping[str, Any], instance: Any
) -> PlanError:
    choices = [branch["required"][0] for branch in schema["oneOf"]]
    given = [k for k in choices if isinstance(instance, Mapping) and k in instance]
    either = " or ".join(f"{k}:" for k in choices)
    what = describe(path)
    if isinstance(instance, Mapping) and "id" in instance:
        what = f"secret {instance['id']!r}"
    if given:
        return PlanError(
            f"{what} sets both {' and '.join(f'{k}:' for k in given)}",
            location=doc.key_at((*path, given[-1])),
            hint=f"keep exactly one of {either}",
        )
    return PlanError(
        f"{what} has neither {' nor '.join(f'{k}:' for k in choices)} "
        "to say where its value comes from",
        location=doc.value_at(path),
        hint="add env: VAR to read an environment variable, or src: FILE to read a file",
    )


def _repeated(doc: Document, path: YamlPath, items: list[Any]) -> PlanError:
    seen: list[Any] = []
    for index, item in enumerate(items):
        if item in seen:
            first = doc.value_at((*path, seen.index(item))).line
            return PlanError(
                f"{item!r} is listed twice in {describe(path)} (first at line {first})",
                location=doc.value_at((*path, index)),
                hint="remove the repeated entry",
            )
        seen.append(item)
    return PlanError(f"{describe(path)} has repeated entries", location=doc.value_at(path))


def describe(path: YamlPath) -> str:
    """A path as people read it: `services.api.depends_on[0]`, or `the plan` for the root."""
    if not path:
        return "the plan"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def describe_value(value: Any) -> str:
    """What a YAML value is, in words."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"
