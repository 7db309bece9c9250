"""`orch init`: a first plan for the Dockerfiles of a tree, written as a person would write it.

    discover   the Dockerfiles under a directory (`Dockerfile`, `Dockerfile.NAME`,
               `NAME.Dockerfile`), leaving out hidden directories, dependency directories
               (node_modules, vendor, venv), and what the top .gitignore ignores
    names      a target name for each, from its directory (`services/api` -> `api`), made
               unique with the directory above it (`api`, `web-api`) where two collide
    render     the plan's text: the targets that others build on (`FROM <name>`,
               `COPY --from=<name>`, as orch infers the graph) as `stages:`, the rest as
               `services:`, each service's `test` stage as its test, and a comment where
               the lint's OL108 says the context sends what no build reads

The command (orchestrator.commands.tools) loads the draft the way every plan is loaded, so
what it writes is a plan orch reads, and never replaces a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from orchestrator.plan.references import NAME_MAX

if TYPE_CHECKING:
    from orchestrator.project import Project

# Directories of other people's code, never a service of the tree (build outputs are left to
# the .gitignore: `build/` or `site/` may well hold a Dockerfile of the tree's own).
SKIPPED_DIRS = frozenset({"node_modules", "vendor", "__pycache__", "venv"})
TEST_STAGES = ("test", "tests", "unit", "check")
SCHEMA_LINE = "# yaml-language-server: $schema=buildplan.schema.json"


@dataclass(frozen=True, slots=True)
class Found:
    """One Dockerfile of the tree, as the plan will name it (paths relative, `/`-separated)."""

    name: str
    context: str  # its directory, "." for the top
    dockerfile: str  # its file name, relative to the context


def is_dockerfile(name: str) -> bool:
    lower = name.lower()
    return lower == "dockerfile" or lower.startswith("dockerfile.") or lower.endswith(".dockerfile")


def discover(root: Path, ignored: Iterable[str] = ()) -> list[PurePosixPath]:
    """The Dockerfiles under `root`, relative, sorted; `ignored` holds gitignore patterns of the
    top .gitignore."""
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(list(ignored))
    found: list[PurePosixPath] = []
    for here, dirs, files in os.walk(root):
        rel = PurePosixPath(Path(here).relative_to(root).as_posix())
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIPPED_DIRS
            and not spec.match_file(f"{(rel / d).as_posix()}/")
        )
        for f in sorted(files):
            path = rel / f if str(rel) != "." else PurePosixPath(f)
            if is_dockerfile(f) and not spec.match_file(path.as_posix()):
                found.append(path)
    return sorted(found)


def _clean(text: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    return (name or "app")[:NAME_MAX]


def _own_name(path: PurePosixPath, top: str) -> str:
    """`api` for services/api/Dockerfile, `worker` for Dockerfile.worker or worker.Dockerfile
    (in the top directory) or `api-worker` (in services/api)."""
    base = path.parent.name or top
    lower = path.name.lower()
    if lower == "dockerfile":
        return _clean(base)
    extra = path.name[len("dockerfile.") :] if lower.startswith("dockerfile.") else path.name[:-11]
    return _clean(extra if not path.parent.name else f"{base}-{extra}")


def names(paths: Sequence[PurePosixPath], top: str = "app") -> list[Found]:
    """A unique target name for each Dockerfile (see the module), in the order given."""
    chosen = [_own_name(p, top) for p in paths]
    for depth in range(1, 8):
        counts = {n: chosen.count(n) for n in chosen}
        if all(c == 1 for c in counts.values()):
            break
        for i, p in enumerate(paths):
            if counts[chosen[i]] > 1:
                ups = list(p.parent.parts[-1 - depth : -1])
                chosen[i] = _clean("-".join([*ups, _own_name(p, top)]))
    seen: dict[str, int] = {}
    out = []
    for p, n in zip(paths, chosen, strict=True):
        seen[n] = seen.get(n, 0) + 1
        name = n if seen[n] == 1 else f"{n}-{seen[n]}"
        out.append(Found(name, p.parent.as_posix(), p.name))
    return out


def _entry(f: Found) -> str:
    parts = [f"context: {_quoted(f.context)}"]
    if f.dockerfile != "Dockerfile":
        parts.append(f"dockerfile: {_quoted(f.dockerfile)}")
    return ", ".join(parts)


def _quoted(text: str) -> str:
    plain = re.fullmatch(r"[A-Za-z0-9_./-]+", text) and not text.startswith(("-", "."))
    return text if plain or text == "." else '"' + text.replace('"', '\\"') + '"'


def render(
    found: Sequence[Found],
    *,
    stages: Iterable[str],
    tests: Mapping[str, Sequence[str]],
    notes: Mapping[str, Sequence[str]],
    upstream: Mapping[str, Sequence[str]],
    prefix: str = "app",
) -> str:
    """The plan's text (see the module). `upstream` names, for the comments, what each target
    builds on; `prefix` is the images' repository prefix (the tree's directory name), so that
    no target's image takes the name of a public one (a service named `python`)."""
    shared = set(stages)
    lines = [
        SCHEMA_LINE,
        "# The build plan of this tree, written by `orch init`: edit it freely.",
        "#",
        "# Paths are relative to this file. orch builds every target with `docker buildx bake`,",
        "# each after what it builds on: `FROM <target>` or `COPY --from=<target>` in a",
        "# Dockerfile names a target of this plan. `orch plan` shows the graph and versions,",
        "# `orch build` builds every service, `orch lint` checks the Dockerfiles.",
        "version: 1",
        "",
        "defaults:",
        f'  image: "{_clean(prefix)}/{{name}}"  # each image is named after its target',
        "  # cache:  # BuildKit's layer cache per target, such as on local disk:",
        '  #   from: ["type=local,src=.orch-cache/{name}"]',
        '  #   to: ["type=local,dest=.orch-cache/{name},mode=max"]',
    ]

    def block(f: Found, service: bool) -> list[str]:
        out = [f"  # {note}" for note in notes.get(f.name, ())]
        ups = upstream.get(f.name, ())
        if ups:
            out.append(f"  # builds on {', '.join(ups)}")
        entry = _entry(f)
        stage_tests = tests.get(f.name, ()) if service else ()
        if stage_tests:
            entry += f", test: [{', '.join(stage_tests)}]"
        out.append(f"  {f.name}: {{{entry}}}")
        return out

    stage_list = [f for f in found if f.name in shared]
    service_list = [f for f in found if f.name not in shared]
    if stage_list:
        lines += ["", "# Shared stages: images other targets build on.", "stages:"]
        for f in stage_list:
            lines += block(f, service=False)
    if service_list:
        lines += ["", "# Services: what `orch build` builds when no target is named.", "services:"]
        for f in service_list:
            lines += block(f, service=True)
    return "\n".join(lines) + "\n"


def draft(found: Sequence[Found]) -> str:
    """Every Dockerfile as a service: the text whose graph decides the stages."""
    lines = ["version: 1", "defaults:", '  image: "{name}"', "services:"]
    lines += [f"  {f.name}: {{{_entry(f)}}}" for f in found]
    return "\n".join(lines) + "\n"


def test_stages(stage_names: Sequence[str | None]) -> list[str]:
    """The stages of a Dockerfile that `orch test` should build: those named like tests."""
    return [s for s in stage_names if s is not None and s.lower() in TEST_STAGES]


_BARE = re.compile(r"[a-z0-9][a-z0-9_.-]*")


def loose_refs(project: Project, name: str) -> list[str]:
    """Notes on `COPY --from=X` and `RUN --mount=from=X` of `name`'s Dockerfile where X is a
    bare name that is neither a target nor a stage of the file: a named context, most likely,
    which the plan must say."""
    dockerfile = project.dockerfiles[name]
    stages = {s.name for s in dockerfile.stages if s.name}
    lines: dict[str, list[int]] = {}
    for ref in dockerfile.refs:
        if ref.instruction == "FROM" or ref.name in project.plan.targets or ref.name in stages:
            continue
        if _BARE.fullmatch(ref.name) and "." not in ref.name:
            lines.setdefault(ref.name, []).append(ref.line)
    return [
        f"`{n}` (line{'s' * (len(at) > 1)} {', '.join(map(str, at))} of its Dockerfile) names "
        f"no target: if it is a directory, add contexts: {{{n}: DIR}}"
        for n, at in lines.items()
    ]
