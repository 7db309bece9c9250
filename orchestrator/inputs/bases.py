"""External images a build reads, and the digests they resolve to: inputs of its version.

An image a Dockerfile builds on (`FROM debian:bookworm-slim`, `COPY --from=golang:1.22`,
`RUN --mount=from=...`) or a `docker-image://` named context changes without a commit when it is
refreshed. Its digest is an input of the version, so a refreshed base rebuilds what uses it:
the local image's id (what the docker driver builds from), else the registry's manifest digest.
A reference pinned by digest (`name@sha256:...`) is its own digest, looked up nowhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from orchestrator.dockerfile import Dockerfile
from orchestrator.engine.images import ImageStore
from orchestrator.plan import Target

IMAGE_SCHEME = "docker-image://"
UNRESOLVED = ""  # a reference found neither locally nor in its registry


def external_refs(
    target: Target, dockerfile: Dockerfile, targets: Collection[str]
) -> tuple[str, ...]:
    """The outside images `target`'s build reads, in file order, each once: the Dockerfile's
    references that are neither plan targets nor named contexts, and its image contexts."""
    named = {c.name for c in target.contexts}
    refs = [r.name for r in dockerfile.refs if r.name not in targets and r.name not in named]
    refs += [
        c.ref.removeprefix(IMAGE_SCHEME)
        for c in target.contexts
        if c.ref is not None and c.ref.startswith(IMAGE_SCHEME)
    ]
    return tuple(dict.fromkeys(refs))


def pinned(ref: str) -> str | None:
    """The digest a reference is pinned to (`name@sha256:...`), or None."""
    _, at, digest = ref.partition("@")
    return digest if at and digest.startswith("sha256:") else None


async def resolve(store: ImageStore, refs: Sequence[str], *, pull: bool) -> dict[str, str]:
    """Each reference's digest: one local listing of all of them, then registry
    look-ups in parallel for those not here (for all of them with `pull`)."""
    digests = {ref: d for ref in refs if (d := pinned(ref)) is not None}
    todo = [ref for ref in dict.fromkeys(refs) if ref not in digests]
    if not pull and todo:
        digests |= await store.ids(todo)
        todo = [ref for ref in todo if ref not in digests]
    if todo:
        digests |= await store.remote_digests(todo)
    return {ref: digests.get(ref, UNRESOLVED) for ref in refs}


def by_target(
    refs: Mapping[str, Sequence[str]], digests: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each target's external references with their digests."""
    return {name: {ref: digests.get(ref, UNRESOLVED) for ref in rs} for name, rs in refs.items()}
