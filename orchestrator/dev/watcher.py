"""File system events for `orch dev`, from watchfiles (inotify on Linux): the only module that
watches files. Which paths matter is decided elsewhere (orchestrator.dev.session); this only reports
every path under the roots that something happened to, a batch at a time.

inotify watches inodes, not paths: a root removed and made again (`rm -rf`, `git stash`, a
branch switch) is a new directory that nothing watches. So after every batch, and every
CHECK_S, the roots are looked at again (`decide.arm`); when what should be watched differs
from what is, the watch set is armed again: a root that is gone is watched through the nearest
directory above it, and a root that came back is watched again and sent as changed.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Sequence
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectSendStream

from orchestrator.dev.decide import Armed, Identity, WatchRoots, arm, came_back

# watchfiles groups events for this long itself; orch's own debounce (dev.Burst) decides
# when a burst is over, so this stays short.
GROUP_MS = 30
STEP_MS = 10
# How often the watching thread looks at its stop event: the longest a stop can wait.
TIMEOUT_MS = 500
# How often the roots are looked at without an event: a root made again while its parent's
# watch was being armed sends none. A stat of each watched directory.
CHECK_S = 1.0
# After the watches are armed again, the old ones stay this long (a new watch is armed in a
# thread, a moment after it is asked for), and the roots are looked at again this soon.
SETTLE_S = 0.25

# A batch of paths, or None: a watched directory was gone before its watch was armed.
_Batch = frozenset[Path] | None


def identity(path: Path) -> Identity | None:
    """The directory at `path` as the file system knows it; None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


async def watch(roots: WatchRoots, send: MemoryObjectSendStream[frozenset[Path]]) -> None:
    """Send each batch of changed paths under `roots` until cancelled; a root that comes back
    after it was removed is watched again, and sent as a batch of its own."""
    batches, events = anyio.create_memory_object_stream[_Batch](math.inf)
    async with anyio.create_task_group() as tg:
        armed = arm(roots, identity)
        stop = await tg.start(_arming, armed, batches)
        wait = SETTLE_S
        while True:
            lost = False
            with anyio.move_on_after(wait):
                batch = await events.receive()
                lost = batch is None
                if batch:
                    await send.send(batch)
            if lost:  # not at once: a watch that cannot be armed is not tried in a tight loop
                await anyio.sleep(SETTLE_S)
            now = arm(roots, identity)
            if now == armed and not lost:
                wait = CHECK_S
                continue
            new_stop = await tg.start(_arming, now, batches)
            tg.start_soon(_stop_later, stop)
            wait = SETTLE_S
            back = came_back(roots, armed, now)
            armed, stop = now, new_stop
            if back:
                await send.send(back)


async def _stop_later(stop: anyio.Event) -> None:
    """Stop watches once the ones armed after them watch: for a moment, both report."""
    await anyio.sleep(SETTLE_S)
    stop.set()


async def _arming(
    armed: Armed,
    batches: MemoryObjectSendStream[_Batch],
    *,
    task_status: anyio.abc.TaskStatus[anyio.Event],
) -> None:
    """Watch what `armed` says until its stop event is set (or cancelled)."""
    stop = anyio.Event()
    task_status.started(stop)
    async with anyio.create_task_group() as tg:
        for paths, recursive in ((armed.recursive, True), (armed.flat, False)):
            if paths:
                tg.start_soon(_watch_one, paths, recursive, stop, batches)
        try:
            await stop.wait()
        finally:
            # The watching thread cannot be cancelled; it returns once it sees the event.
            stop.set()


async def _watch_one(
    paths: Sequence[Path],
    recursive: bool,
    stop: anyio.Event,
    batches: MemoryObjectSendStream[_Batch],
) -> None:
    from watchfiles import awatch

    try:
        async for changes in awatch(
            *paths,
            watch_filter=None,  # every path: which ones are inputs is orch's decision
            debounce=GROUP_MS,
            step=STEP_MS,
            rust_timeout=TIMEOUT_MS,
            stop_event=stop,
            recursive=recursive,
            ignore_permission_denied=True,
        ):
            await batches.send(frozenset(Path(path) for _, path in changes))
    except FileNotFoundError:  # removed between the look and the watch: look again
        stop.set()
        await batches.send(None)
