"""`orch why TARGET`: why a target would be built, or why not, in words a person can check.

Pure: it is handed the target's manifest now, the manifest of its last build here, whether its
versioned image is there, and what a change since a ref touched; it returns the lines to print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from orchestrator.engine.images import Found
from orchestrator.inputs.changes import Affected
from orchestrator.inputs.versions import Manifest, diff_manifests, short

Verdict = Literal["unaffected", "up-to-date", "pending"]


@dataclass(frozen=True, slots=True)
class Explanation:
    target: str
    verdict: Verdict
    lines: tuple[str, ...]

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def explain(
    name: str,
    *,
    manifest: Manifest,
    ref: str,
    found: Found | None,
    known: bool,
    last: Manifest | None,
    affected: Affected | None = None,
    upstream_versions: Mapping[str, str] | None = None,
) -> Explanation:
    """Why `name` (whose versioned image is `ref`) would be built or not.

    `known` is False when the engine could not be asked whether the image is there.
    """
    version = short(manifest.version)
    lines: list[str] = []
    if affected is not None and name not in affected.targets:
        verdict: Verdict = "unaffected"
        lines.append(
            f"{name}: unaffected: no change since {affected.ref} "
            f"(merge base {affected.base[:12]}) is an input of it"
        )
    elif found is not None:
        verdict = "up-to-date"
        lines.append(f"{name}: up-to-date: its image for version {version} exists")
        lines.append(f"  {ref} ({found.digest})")
        if found.stale_tags:
            lines.append(f"  a build would point {', '.join(found.stale_tags)} at it again")
    else:
        verdict = "pending"
        there = "is not there" if known else "could not be looked up (the engine did not answer)"
        lines.append(f"{name}: would be built: its image for version {version} {there}")
        lines.append(f"  {ref}")
    if affected is not None and name in affected.targets:
        lines.append(f"  affected since {affected.ref} (merge base {affected.base[:12]}):")
        lines += [f"    {reason.describe()}" for reason in affected.reasons.get(name, ())]
    if verdict != "unaffected":
        lines += _since_last(manifest, last, upstream_versions or {})
    return Explanation(name, verdict, tuple(lines))


def _since_last(
    manifest: Manifest, last: Manifest | None, upstream_versions: Mapping[str, str]
) -> Sequence[str]:
    if last is None:
        return ["  it has not been built in this checkout: no inputs to compare with"]
    if last.version == manifest.version:
        return [f"  its inputs are those of its last build here (version {short(last.version)})"]
    changes = diff_manifests(last, manifest)
    lines = [f"  since its last build here (version {short(last.version)}):"]
    for change in changes:
        lines.append(f"    {change}")
        if change.input == "upstream" and change.name in upstream_versions:
            lines.append(f"      (`orch why {change.name}` says why that one moved)")
    return lines
