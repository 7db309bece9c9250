"""The scheduler's driver: runs the pure `Schedule` with anyio over a pool of `Builder`s (one,
unless the run spreads over several BuildKit builders), each with its slots.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from orchestrator.run.failures import backoff_s
from orchestrator.run.schedule import (
    ONE_BUILDER,
    Builder,
    BuilderLost,
    Member,
    OnEvent,
    OnPlace,
    Report,
    RunResult,
    Schedule,
    TargetOutcome,
)

if TYPE_CHECKING:
    from orchestrator.run.interrupts import Interrupts

INTERRUPTED = "the run was interrupted"


class _Interrupt(Exception):
    """What the interrupt watcher reports in place of a batch."""


async def run_schedule(
    deps: Mapping[str, Sequence[str]],
    order: Sequence[str],
    builder: Builder | None = None,
    *,
    slots: int = 4,
    pool: Sequence[Member] = (),
    weights: Mapping[str, float] | None = None,
    speeds: Mapping[str, Mapping[str, float]] | None = None,
    fail_fast: bool = False,
    max_batch: int | None = None,
    retries: int = 0,
    chain: bool = False,
    backoff: Callable[[int], float] = backoff_s,
    on_event: OnEvent | None = None,
    on_place: OnPlace | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult:
    """Build every target in dependency order over a pool of builders (or one `builder` with
    `slots` slots), with at most each member's slots of its invocations at once.

    A builder that raises `BuilderLost` leaves the pool, and its batch goes to the others; when
    none is left, what is unfinished is cancelled and the result says the engine went away.
    At an interrupt, the builds are cancelled and what did not finish is cancelled in the
    result, which is returned all the same. Any other builder exception stops the run and is
    re-raised; cancelling the caller cancels the builds.
    """
    members = _members(builder, slots, pool)
    schedule = Schedule(
        deps,
        order,
        weights,
        max_batch=max_batch,
        fail_fast=fail_fast,
        retries=retries,
        chain=chain,
        speeds=speeds,
    )
    by_name = {m.name: m for m in members}
    capacity = {m.name: m.slots for m in members}
    busy: Counter[str] = Counter()
    lost: list[str] = []
    cut: dict[str, float] = {}  # target -> how long it ran on a builder that went away

    def publish() -> None:
        for event in schedule.drain_events():
            if on_event is not None:
                on_event(event.name, event.status, event.elapsed_s)

    # Unbounded, yet never holds more reports than the pool has slots.
    send, receive = anyio.create_memory_object_stream[Report](math.inf)
    started: dict[tuple[str, ...], tuple[str, float]] = {}  # running batch -> builder, start
    error: Exception | None = None
    with send, receive:
        async with anyio.create_task_group() as tg:

            def launch() -> None:
                free = {b: capacity[b] - busy[b] for b in capacity if b not in lost}
                for name, batch in schedule.place(free, capacity):
                    busy[name] += 1
                    started[batch] = (name, anyio.current_time())
                    wait = max(backoff(schedule.attempt(t)) for t in batch)
                    if on_place is not None:
                        for target in batch:
                            on_place(target, name)
                    _spawn(tg, by_name[name], batch, send, wait)
                publish()

            def record(name: str, batch: tuple[str, ...], report: object) -> Exception | None:
                _, t0 = started.pop(batch)
                busy[name] -= 1
                if isinstance(report, BuilderLost):
                    cut.update(dict.fromkeys(batch, anyio.current_time() - t0))
                    if name not in lost:
                        lost.append(name)
                    schedule.lose(batch, report.results)
                    return None
                if isinstance(report, Exception):
                    return report
                schedule.finish(batch, report)  # type: ignore[arg-type]
                return None

            interrupted = False
            if interrupts is not None:
                tg.start_soon(_watch, interrupts, send)
            publish()
            launch()
            while started:
                name, batch, report = await receive.receive()
                if isinstance(report, _Interrupt):
                    interrupted = True
                    break
                error = record(name, batch, report)
                publish()
                if error is not None or schedule.stopped or len(lost) == len(members):
                    break
                launch()
            gone = len(lost) == len(members)
            if interrupts is not None:
                tg.cancel_scope.cancel()  # the watcher, and whatever still builds
            if started or schedule.stopped or error is not None or gone or interrupted:
                tg.cancel_scope.cancel()
                # Batches that reported before the stop did finish: record them as they ended.
                while error is None:
                    try:
                        name, batch, report = receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    if isinstance(report, _Interrupt):
                        interrupted = True
                        continue
                    error = record(name, batch, report)
                gone = len(lost) == len(members)
                if error is None:
                    now = anyio.current_time()
                    running = {n: now - t0 for batch, (_, t0) in started.items() for n in batch}
                    detail = None
                    if interrupted:
                        detail = INTERRUPTED
                    elif gone:
                        which = ", ".join(b or "default" for b in lost)
                        builders = "builder" if len(lost) == 1 else "builders"
                        detail = f"cut off: the engine went away ({builders} {which})"
                    schedule.cancel_unfinished(cut | running if gone else running, detail)
                    publish()
    if error is not None:
        raise error
    return schedule.result(lost, engine_gone=len(lost) == len(members))


async def _watch(interrupts: Interrupts, send: MemoryObjectSendStream[Report]) -> None:
    await interrupts.wait()
    send.send_nowait(("", (), _Interrupt()))


def _members(builder: Builder | None, slots: int, pool: Sequence[Member]) -> tuple[Member, ...]:
    if builder is not None and pool:
        raise ValueError("give one builder or a pool, not both")
    if builder is not None:
        pool = (Member(ONE_BUILDER, slots, builder),)
    if not pool:
        raise ValueError("a run needs a builder")
    names = [m.name for m in pool]
    if len(set(names)) != len(names):
        raise ValueError(f"a builder is in the pool twice: {', '.join(names)}")
    for m in pool:
        if m.slots < 1:
            raise ValueError(f"slots must be at least 1, not {m.slots}")
    return tuple(pool)


def _spawn(
    tg: TaskGroup,
    member: Member,
    batch: tuple[str, ...],
    send: MemoryObjectSendStream[Report],
    wait_s: float = 0.0,
) -> None:
    async def build() -> None:
        try:
            if wait_s > 0:
                await anyio.sleep(wait_s)
            report: Mapping[str, TargetOutcome] | Exception = dict(
                await member.builder.build(batch)
            )
        except Exception as exc:  # the loop re-raises it outside the task group, unwrapped
            report = exc
        send.send_nowait((member.name, batch, report))

    where = f" on {member.name}" if member.name else ""
    tg.start_soon(build, name=f"build {' '.join(batch)}{where}")
