"""Target arguments as users write them, with bake's and Turborepo's habits: names, globs and
the graph's neighbourhoods.

    api            the target api
    'svc-*'        every target whose name matches the glob (`*`, `?`, `[abc]`), as a shell
                   would match a file name; quote it, or the shell matches files first
    ...base        base and every target that builds on it, directly or not (Turborepo's
                   `...name`); the name may be a glob: `...lib-*`
    ...^base       only what builds on base, base itself left out (Turborepo's `...^name`)

Each argument must match at least one target: one that matches nothing is a UsageError (exit 2)
naming the closest targets. The result is in build order, each target once. What a command then
does with the names is its own: `orch build` builds them and what they need; under `--since`,
only those among them that the change affects (an intersection).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.errors import UsageError, did_you_mean, name_list
from orchestrator.plan.graph import BuildGraph

_GLOB = re.compile(r"[*?\[]")
DOWNSTREAM = "..."


@dataclass(frozen=True, slots=True)
class Selected:
    """What the arguments chose: target names in build order, and whether any argument was a
    pattern (a glob or `...`), which chooses what fits rather than names a target outright."""

    names: tuple[str, ...]
    patterned: bool = False


def is_pattern(argument: str) -> bool:
    return argument.startswith(DOWNSTREAM) or _GLOB.search(argument) is not None


def _matching(pattern: str, graph: BuildGraph, argument: str) -> list[str]:
    names = list(graph.order)
    if _GLOB.search(pattern):
        try:
            regex = re.compile(fnmatch.translate(pattern))
        except re.error as exc:
            raise UsageError(
                f"{argument!r} is not a glob orch can read: {exc}",
                hint="close each [ with ], or quote the name",
            ) from None
        found = [n for n in names if regex.fullmatch(n)]
        if not found:
            literal = re.sub(r"[*?\[\]]", "", pattern)
            close = did_you_mean(literal, names) if literal else None
            raise UsageError(
                f"{argument!r} matches no target",
                hint=(f"{close} " if close else "") + f"targets: {name_list(names)}",
            )
        return found
    graph.select([pattern])  # an unknown name fails here, with a suggestion
    return [pattern]


def expand(arguments: Sequence[str], graph: BuildGraph) -> Selected:
    """The targets `arguments` select (see the module), in build order."""
    chosen: set[str] = set()
    for argument in arguments:
        if not argument:
            raise UsageError(
                "an empty target name", hint="name a target, or a glob such as 'svc-*'"
            )
        if argument.startswith(DOWNSTREAM):
            rest = argument[len(DOWNSTREAM) :]
            without = rest.startswith("^")
            rest = rest.removeprefix("^")
            if not rest:
                raise UsageError(
                    f"{argument!r} names no target",
                    hint="write ...NAME (NAME and what builds on it) or ...^NAME (only what "
                    "builds on it)",
                )
            roots = _matching(rest, graph, argument)
            below = graph.downstream_closure(roots)
            if without:
                below -= set(roots)
                if not below:
                    raise UsageError(
                        f"{argument!r} selects nothing: no target builds on " + ", ".join(roots),
                        hint=f"write ...{rest} to select {rest} itself as well",
                    )
            chosen |= below
            continue
        chosen.update(_matching(argument, graph, argument))
    return Selected(
        names=tuple(n for n in graph.order if n in chosen),
        patterned=any(is_pattern(a) for a in arguments),
    )
