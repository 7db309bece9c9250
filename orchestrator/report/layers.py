"""`orch size TARGET`: what a target's image is made of, layer by layer and stage by stage.

Each layer of the built image, largest first, with the Dockerfile instruction and line that
made it; then every named stage of its Dockerfile built with `--target` (one bake, from cache
when warm), so a user sees the builder stage against the runtime one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dockerfile.lexer import instruction_lines
from orchestrator.errors import UsageError
from orchestrator.plan import sizes
from orchestrator.project import Project
from orchestrator.run.bake import RunInputs, bake_definitions, bake_file, bake_name, hand_off_ref
from orchestrator.run.builder import BakeEngine
from orchestrator.run.jobs import Job


@dataclass(frozen=True, slots=True)
class SizeReport:
    target: str
    ref: str
    size_bytes: int
    layers: tuple[sizes.Layer, ...]  # largest first
    stages: Mapping[str, int | None]  # named stage -> its image's size (None: did not build)
    # A platform other than the engine's: a layer it has not unpacked reads 0 bytes there.
    foreign: str | None = None

    def render(self) -> str:
        lines = [
            f"{self.target}: {self.ref}, {sizes.size_text(self.size_bytes)}",
            "layers, largest first:",
        ]

        def where(layer: sizes.Layer) -> str:
            if layer.line is not None and layer.file is None:
                return f"line {layer.line:>3}"  # its own Dockerfile's: lined up
            return layer.where or "-"

        width = max((len(where(layer)) for layer in self.layers), default=1)
        unread = 0
        for layer in self.layers:
            made = layer.created_by.split(" ", 1)[0] in ("RUN", "COPY", "ADD")
            if self.foreign and not layer.size_bytes and made and layer.where:
                unread += 1
                lines.append(f"  {'?':>9}  {where(layer):<{width}}  {layer.created_by[:100]}")
                continue
            if layer.size_bytes:
                lines.append(
                    f"  {sizes.size_text(layer.size_bytes):>9}  {where(layer):<{width}}  "
                    f"{layer.created_by[:100]}"
                )
        if unread:
            lines.append(
                f"  ? the engine has not unpacked these layers for {self.foreign}, so it reads "
                "no size for them"
            )
        if self.stages:
            lines.append("each named stage, built with --target:")
            for stage, size in self.stages.items():
                shown = sizes.size_text(size) if size is not None else "(did not build)"
                lines.append(f"  {shown:>9}  {stage}")
        return "\n".join(lines) + "\n"


def inherited(project: Project, name: str) -> list[tuple[str, list[tuple[int, str, str]]]]:
    """The Dockerfiles `name` builds on (the plan targets upstream of it, nearest first), each
    as messages name it, with its instructions."""
    plan = project.plan
    chain = [n for n in reversed(project.graph.select([name])) if n != name]
    found = []
    for up in chain:
        path = plan.targets[up].dockerfile
        shown = (
            path.relative_to(plan.root).as_posix() if path.is_relative_to(plan.root) else str(path)
        )
        try:
            found.append((shown, instruction_lines(path)))
        except OSError:
            continue
    return found


async def size_report(
    project: Project,
    name: str,
    engine: BakeEngine,
    versions: Mapping[str, str],
    platform: str | None = None,
) -> SizeReport:
    """The layers of `name`'s built image (of `platform`, for a multi-platform one) and the
    size of each named stage of its Dockerfile."""
    target = project.plan.targets[name]
    ref = hand_off_ref(target, versions)
    found = await engine.inspect([ref])
    if ref not in found:
        raise UsageError(
            f"{name} has no image for its current version ({ref})",
            hint=f"build it first: orch build {name}",
        )
    if platform is not None and target.platforms and platform not in target.platforms:
        raise UsageError(
            f"{name} is built for {', '.join(target.platforms)}, not {platform}",
            hint=f"name one of them: --platform {target.platforms[0]}",
        )
    history = await engine.history(ref, platform=platform)
    layers = sizes.join_layers(
        history, instruction_lines(target.dockerfile), inherited(project, name)
    )
    stages = await _stage_sizes(project, name, engine, versions)
    from orchestrator.plan.overrides import host_platform

    return SizeReport(
        target=name,
        ref=ref,
        size_bytes=found[ref].size_bytes,
        layers=tuple(sorted(layers, key=lambda layer: layer.size_bytes, reverse=True)),
        stages=stages,
        foreign=platform if platform and platform != host_platform() else None,
    )


async def _stage_sizes(
    project: Project, name: str, engine: BakeEngine, versions: Mapping[str, str]
) -> dict[str, int | None]:
    target = project.plan.targets[name]
    stage_names = project.dockerfiles[name].stage_names
    if not stage_names:
        return {}
    jobs = [Job(key=f"{name}:{stage}", target=target, stage=stage) for stage in stage_names]
    definitions = bake_definitions(project, jobs, inputs=RunInputs(versions=versions))
    probe = f"{target.image}:orch-size-probe"
    for job in jobs:  # each stage as a throwaway image: no cache export, no plan tags
        definition = definitions[job.key]
        definition["tags"] = [f"{probe}-{bake_name(job.stage or '')}".lower()]
        definition["cache-to"] = []
        definition["output"] = ["type=docker"]
    sized: dict[str, int | None] = dict.fromkeys(stage_names)
    with tempfile.TemporaryDirectory(prefix="orch-size-") as tmp:
        path = Path(tmp) / "stages.json"
        path.write_text(json.dumps(bake_file(definitions)))
        results = await engine.bake(path, [bake_name(j.key) for j in jobs], cwd=project.plan.root)
    built = {
        job.stage: str(definitions[job.key]["tags"][0])  # type: ignore[index]
        for job in jobs
        if job.stage and (r := results.get(bake_name(job.key))) and r.status == "built"
    }
    infos = await engine.inspect(list(built.values()))
    for stage, ref in built.items():
        sized[stage] = infos[ref].size_bytes if ref in infos else None
    await engine.remove(list(built.values()))
    return sized
