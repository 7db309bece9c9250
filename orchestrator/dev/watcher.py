"""File system events for `orch dev`, from watchfiles (inotify on Linux): the only module that
watches files. Which paths matter is decided elsewhere (orchestrator.dev.session); this only reports
every path under the roots that something happened to, a batch at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectSendStream

# watchfiles groups events for this long itself; orch's own debounce (dev.Burst) decides
# when a burst is over, so this stays short.
GROUP_MS = 30
STEP_MS = 10
# How often the watching thread looks at its stop event: the longest a stop can wait.
TIMEOUT_MS = 500


@dataclass(frozen=True, slots=True)
class WatchRoots:
    """Directories watched with everything under them, and directories watched alone (the
    plan's own, which holds the whole repository in the example)."""

    recursive: tuple[Path, ...] = ()
    flat: tuple[Path, ...] = ()


async def watch(roots: WatchRoots, send: MemoryObjectSendStream[frozenset[Path]]) -> None:
    """Send each batch of changed paths under `roots` until cancelled."""
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        for paths, recursive in ((roots.recursive, True), (roots.flat, False)):
            if paths:
                tg.start_soon(_watch_one, paths, recursive, stop, send)
        try:
            await anyio.sleep_forever()
        finally:
            # The watching thread cannot be cancelled; it returns once it sees the event.
            stop.set()


async def _watch_one(
    paths: Sequence[Path],
    recursive: bool,
    stop: anyio.Event,
    send: MemoryObjectSendStream[frozenset[Path]],
) -> None:
    from watchfiles import awatch

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
        await send.send(frozenset(Path(path) for _, path in changes))
