"""The Docker adapter's tag move, where another run of the same plan moved the tag first."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import anyio
import pytest

from orchestrator.engine.docker import Engine
from orchestrator.errors import EngineError


class Refused(Engine):
    """`docker image tag` refused; `docker image ls` lists what `listed` says."""

    def __init__(self, listed: str) -> None:
        super().__init__()
        self.listed = listed
        self.calls: list[list[str]] = []

    async def _run(
        self, args: Sequence[str], *, check: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(list(args))
        if args[:2] == ["image", "tag"]:
            raise EngineError("docker image tag failed: failed to create an image")
        return subprocess.CompletedProcess(list(args), 0, self.listed.encode(), b"")


def test_a_tag_another_run_moved_to_the_same_image_is_the_tag_asked_for():
    engine = Refused("app v1 sha256:aaa\napp latest sha256:aaa\n")
    anyio.run(engine.tag, "app:v1", ["app:latest"])
    assert engine.calls[0][:2] == ["image", "tag"] and engine.calls[1][:2] == ["image", "ls"]


@pytest.mark.parametrize(
    "listed", ["app v1 sha256:aaa\napp latest sha256:bbb\n", "app v1 sha256:aaa\n", ""]
)
def test_a_refused_tag_that_names_another_image_or_none_is_an_error(listed):
    with pytest.raises(EngineError, match="failed to create an image"):
        anyio.run(Refused(listed).tag, "app:v1", ["app:latest"])
