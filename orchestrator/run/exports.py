"""How each image is exported: gzip where another machine reads it, fast zstd where none does.

Exporting an image into the local store compresses its new layers; with gzip that is the
longest part of a large stage's build (22 s of a toolchain's 36). A stage that is only built
upon and stays in the local image store is read by BuildKit on this machine alone, so its
layers are written with zstd at level 1, in a fraction of the time (the example's toolchain:
4.1 s against 22.3 s on a quiet machine, 10.2 s against 17.4 s on a busy one); uncompressed
would be quicker still but three times the size on disk. Everything another machine
may read keeps gzip: services (what users push and run), targets with a registry, and every
stage whose layers end up in one of those, since BuildKit reuses a layer's stored blob as it
is when it exports an image built on it, zstd included.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.dockerfile import Dockerfile
from orchestrator.plan import Target

# The layers a stage adds are written with zstd; those it inherits keep the blobs they have
# (gzip, from a base image or a shipped stage), so nothing is compressed twice. OCI media
# types: Docker's own manifest format has no zstd layer type.
FAST_LOCAL = "type=docker,compression=zstd,compression-level=1,oci-mediatypes=true"
LOCAL = "type=docker"
PUSH = "type=image,push=true"


def image_output(target: Target, *, local_only: bool) -> str:
    """The bake `output` of a target's image (see `local_only_targets`)."""
    if target.registry:
        return PUSH
    return FAST_LOCAL if local_only else LOCAL


def made_on(dockerfile: Dockerfile, stage: str | None, targets: Mapping[str, Target]) -> str | None:
    """The target whose image the built stage is made on (`FROM <target>`, directly or through
    other stages of the file), or None when it starts from an outside image or scratch."""
    stages = dockerfile.stages
    if not stages:
        return None
    index = len(stages) - 1  # no `target`: the last stage
    if stage is not None:
        wanted = stage.casefold()
        index = next((s.index for s in stages if (s.name or "").casefold() == wanted), index)
    while True:
        base = stages[index].base
        # As BuildKit does: the base as written, against the aliases of earlier stages.
        earlier = [s.index for s in stages[:index] if s.name == base]
        if not earlier:
            return base if base in targets else None
        index = earlier[-1]


def local_only_targets(
    targets: Mapping[str, Target], dockerfiles: Mapping[str, Dockerfile]
) -> frozenset[str]:
    """The stages of the plan that no other machine reads: not pushed, and none of their layers
    in a service's image or a pushed one. Decided over the whole plan, so a stage is exported
    the same way whichever targets a run selects."""
    base_of = {name: made_on(dockerfiles[name], t.target, targets) for name, t in targets.items()}
    shipped: set[str] = set()
    for name, t in targets.items():
        if t.kind == "service" or t.registry:
            below = base_of[name]
            while below is not None and below not in shipped:
                shipped.add(below)
                below = base_of[below]
    return frozenset(
        name
        for name, t in targets.items()
        if t.kind == "stage" and not t.registry and name not in shipped
    )
