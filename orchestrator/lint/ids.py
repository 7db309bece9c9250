"""The rule ids of `orch lint`: short, stable, and what the plan's `lint: {ignore: [...]}`
may name. Imported by the plan loader, so it imports nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    severity: Severity
    # Whether the rule checks shared stages (kind `stage`) unless the plan enables it there:
    # a stage is built upon, not shipped, so what only matters in a shipped image is off.
    on_stages: bool
    title: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("OL101", "runs-as-root", "error", False, "the shipped stage runs as root"),
        Rule("OL102", "ships-toolchain", "error", False, "the shipped stage is a toolchain"),
        Rule("OL103", "secret-in-arg-env", "error", True, "a secret in an ARG or ENV"),
        Rule(
            "OL104",
            "context-before-install",
            "warning",
            True,
            "the whole context is copied before the dependency install",
        ),
        Rule(
            "OL105",
            "apt-recommends",
            "warning",
            True,
            "apt-get install without --no-install-recommends",
        ),
        Rule(
            "OL106", "package-cache", "warning", True, "a package manager's cache left in a layer"
        ),
        Rule(
            "OL107", "copies-whole-stage", "error", True, "the shipped stage copies a whole stage"
        ),
        Rule("OL108", "no-dockerignore", "warning", True, "the context sends what no build reads"),
        Rule("OL109", "unpinned-base", "warning", False, "a base image not pinned by digest"),
        Rule(
            "OL110", "sends-orch-files", "warning", True, "the context sends orch's state or cache"
        ),
        Rule("OL111", "secret-in-context", "error", True, "a secret's file is in a build context"),
        Rule(
            "OL112",
            "emulated-compile",
            "warning",
            True,
            "a multi-platform build compiles under emulation",
        ),
    )
}

# hadolint's rules (DL3xxx) and the ShellCheck checks it runs (SCxxxx), merged when installed.
_HADOLINT = re.compile(r"(DL|SC)[0-9]{4}")


def is_known(rule_id: str) -> bool:
    return rule_id in RULES or _HADOLINT.fullmatch(rule_id) is not None


_LOOKALIKE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def closest(rule_id: str) -> str | None:
    """`did you mean 'X'?` for an id that is no rule: first the id with letters that look like
    digits read as digits (`OL1O1` is OL101), else the nearest known id."""
    from orchestrator.errors import did_you_mean

    word = rule_id.strip().upper()
    read = word[:2] + word[2:].translate(_LOOKALIKE)
    if read in RULES and read != rule_id:
        return f"did you mean {read!r}?"
    return did_you_mean(word, RULES)


def known_list() -> str:
    """The ids a plan or a comment can name, for an error's hint."""
    return ", ".join(RULES) + " (and hadolint's DLxxxx, SCxxxx)"
