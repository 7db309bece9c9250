"""`orch matrix [--since REF]`: a fan-out over services for a CI matrix that never races.

Jobs of a matrix run at once on separate runners, and a matrix knows nothing of the graph: two
services that build on one stage would each build it, both pushing the same tag and cache. So
the output says which targets more than one entry would build (`shared`). The intended
workflow (examples/github-workflow.yml):

1. a job runs `orch matrix --since origin/<base>` and exposes `include` and `shared`;
2. one job builds the shared targets (`orch build <shared...>`), pushing them to the plan's
   registry, where every later job finds them up to date;
3. the matrix jobs, one per entry of `include`, run `orch build <service>` (which then builds
   only the entry's own `targets`) and `orch test <service>` when it has `tests`.

`include` is what `strategy.matrix.include` takes; pass it alone, not the whole document: a
matrix reads every other top-level key, `shared` too, as one more dimension to multiply by.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from orchestrator.inputs.changes import Affected
from orchestrator.jsontext import SCHEMA_VERSION
from orchestrator.project import Project


def matrix(
    project: Project, affected: Affected | None, *, among: Sequence[str] | None = None
) -> dict[str, Any]:
    """One entry per service (only the affected ones with `affected`; only those `among` the
    selected targets with it), in build order, each with the targets it needs built first
    (`needs`) and the ones only it builds (`targets`); plus the targets more than one entry
    would build (`shared`), for a job that runs before them all."""
    plan, graph = project.plan, project.graph
    services = set(plan.services) if among is None else set(plan.services) & set(among)
    chosen = [
        n for n in graph.order if n in services and (affected is None or n in affected.targets)
    ]
    needs = {s: [n for n in graph.select([s]) if n != s] for s in chosen}
    builders = Counter(n for s in chosen for n in (*needs[s], s))
    include = [
        {
            "service": s,
            "needs": needs[s],
            "targets": [n for n in (*needs[s], s) if builders[n] == 1],
            "tests": list(plan.targets[s].tests),
        }
        for s in chosen
    ]
    # A service another entry builds on is shared too: its own job and the other would race.
    shared = [n for n in graph.order if builders[n] > 1]
    return {"schema_version": SCHEMA_VERSION, "include": include, "shared": shared}


def step_outputs(document: dict[str, Any]) -> dict[str, str]:
    """The step outputs of a matrix `document`: `matrix` ({"include": [...]}, for
    `fromJSON` in `strategy.matrix`), `shared` (space-separated names, for `orch build`),
    `affected` (the services, a JSON list) and `any` (whether there is an entry at all)."""
    include = document["include"]
    return {
        "matrix": json.dumps({"include": include}, separators=(",", ":")),
        "shared": " ".join(document["shared"]),
        "affected": json.dumps([entry["service"] for entry in include]),
        "any": "true" if include else "false",
    }
