"""Signals during a run are noted, never raised; after an interrupt they stay ignored."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import anyio
import pytest

from orchestrator.run.interrupts import SIGNALS, catch_interrupts


@pytest.fixture(autouse=True)
def _restore_signals() -> Iterator[None]:
    before = {sig: signal.getsignal(sig) for sig in SIGNALS}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_a_signal_is_noted_and_wakes_a_waiting_task():
    with catch_interrupts() as interrupts:

        async def main() -> bool:
            with anyio.fail_after(5):
                os.kill(os.getpid(), signal.SIGINT)
                await interrupts.wait()
            return interrupts.interrupted

        assert anyio.run(main)
        assert interrupts.received == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_repeated_signals_are_each_noted_and_raise_nothing():
    with catch_interrupts() as interrupts:
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
    assert interrupts.received == [signal.SIGINT] * 3 + [signal.SIGTERM]


def test_without_a_signal_the_handlers_are_given_back():
    before = signal.getsignal(signal.SIGINT)
    with catch_interrupts() as interrupts:
        assert signal.getsignal(signal.SIGINT) != before
    assert not interrupts.interrupted
    assert signal.getsignal(signal.SIGINT) is before
