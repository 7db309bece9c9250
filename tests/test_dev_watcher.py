"""`orch dev`'s file watcher on real directories, without the engine: watchfiles (inotify)
reports edits, and a watched directory removed and made again (`rm -rf`, `git stash`, a
branch switch: a new inode) is watched again."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream

from orchestrator.dev.decide import WatchRoots
from orchestrator.dev.watcher import watch

WAIT_S = 10.0  # for one event to arrive; it takes a few tens of milliseconds


async def seen(
    receive: MemoryObjectReceiveStream[frozenset[Path]],
    path: Path,
    act: Callable[[], object] | None = None,
) -> None:
    """Wait until a batch holds `path`, doing `act` again every half second until then (a
    watch is armed in a thread, a little after it is asked for)."""
    with anyio.fail_after(WAIT_S):
        while True:
            if act is not None:
                act()
            with anyio.move_on_after(0.5):
                while path not in await receive.receive():
                    pass
                return


def test_a_watched_directory_removed_and_made_again_is_watched_again(tmp_path):
    svc, deep = tmp_path / "svc", tmp_path / "deep/a/b"
    svc.mkdir()
    deep.mkdir(parents=True)
    (svc / "f.txt").write_text("1\n")
    later = tmp_path / "later"  # a root that is not there yet
    roots = WatchRoots(recursive=(svc, deep, later), flat=(tmp_path,))

    async def scenario() -> None:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](100)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, roots, send)
            await seen(receive, svc / "f.txt", lambda: (svc / "f.txt").write_text("2\n"))

            # `rm -rf svc`, then the directory is back with other content.
            shutil.rmtree(svc)
            await seen(receive, svc)
            svc.mkdir()
            (svc / "f.txt").write_text("restored\n")
            await seen(receive, svc)  # it came back: sent, since no event said what is in it
            await seen(receive, svc / "f.txt", lambda: (svc / "f.txt").write_text("3\n"))

            # A root two levels down, its whole tree removed and made again step by step.
            shutil.rmtree(tmp_path / "deep")
            await seen(receive, tmp_path / "deep")
            (tmp_path / "deep").mkdir()
            await anyio.sleep(0.2)
            (tmp_path / "deep/a").mkdir()
            await anyio.sleep(0.2)
            deep.mkdir()
            await seen(receive, deep)
            await seen(receive, deep / "x.txt", lambda: (deep / "x.txt").write_text("x\n"))

            # A root made after the watch began.
            later.mkdir()
            await seen(receive, later)
            await seen(receive, later / "y", lambda: (later / "y").write_text("y\n"))
            tg.cancel_scope.cancel()

    anyio.run(scenario)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_watcher_stops_promptly_when_cancelled(tmp_path, backend):
    roots = WatchRoots(recursive=(tmp_path,), flat=())

    async def scenario() -> float:
        send, _receive = anyio.create_memory_object_stream[frozenset[Path]](100)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch, roots, send)
            await anyio.sleep(0.3)
            started = anyio.current_time()
            tg.cancel_scope.cancel()
        return anyio.current_time() - started

    assert anyio.run(scenario, backend=backend) < 0.3
