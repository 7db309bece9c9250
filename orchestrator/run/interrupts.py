"""SIGINT and SIGTERM during a run: noted, never raised, from the first one to the exit.

Python's own SIGINT handler raises KeyboardInterrupt wherever the program is, and the event
loop's handlers are removed before the loop shuts down, so a second Ctrl-C lands in the middle
of a shutdown and prints tracebacks. Instead, for as long as `catch_interrupts` is active, a
signal only wakes the run (through a socket the event loop waits on), which cancels its work
and goes on to write the summary and the report. Repeating the signal changes nothing.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from types import FrameType

import anyio

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """The signals received so far, and a way for async code to wait for the first."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        with contextlib.suppress(OSError):  # the socket is full: it is awake already
            self._wake_w.send(b"\0")

    @property
    def interrupted(self) -> bool:
        return bool(self.received)

    async def wait(self) -> None:
        """Return once a signal has been received (at once if one was before)."""
        while not self.received:
            await anyio.wait_readable(self._wake_r)
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(64)

    def close(self) -> None:
        self._wake_r.close()
        self._wake_w.close()


@contextlib.contextmanager
def catch_interrupts() -> Iterator[Interrupts]:
    """Note SIGINT and SIGTERM instead of acting on them, until the block ends.

    After an interrupt, the signals stay ignored: the program is on its way out with exit 130,
    and one more Ctrl-C must not turn that into a traceback or a death by signal.
    """
    interrupts = Interrupts()
    previous = {sig: signal.signal(sig, interrupts.handle) for sig in SIGNALS}
    try:
        yield interrupts
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if interrupts.interrupted else handler)
        interrupts.close()


async def cancel_on(interrupts: Interrupts, scope: anyio.CancelScope) -> None:
    """Cancel `scope` at the first interrupt (a task of the group that scope belongs to)."""
    await interrupts.wait()
    scope.cancel()
