"""The scheduler: which targets to build when, and how many to hand to each builder invocation.

`Schedule`, a pure state machine, decides; `run_schedule` drives it with anyio and a `Builder`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Literal, Protocol

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

OutcomeStatus = Literal["built", "failed", "cancelled"]
FinalStatus = Literal["built", "failed", "blocked", "cancelled"]
EventStatus = Literal["queued", "building", "built", "failed", "blocked", "cancelled"]
State = Literal["waiting", "queued", "building", "built", "failed", "blocked", "cancelled"]

NO_RESULT = "the builder reported no result for this target"
LONE_CANCEL = "the builder cancelled it although no other target of its invocation failed"


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """What a builder reports for one target of a batch."""

    status: OutcomeStatus
    duration_s: float = 0.0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TargetResult:
    """How one target ended; `duration_s` is None when it never started."""

    status: FinalStatus
    duration_s: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    """Every target's result, in build order."""

    targets: Mapping[str, TargetResult]

    @property
    def ok(self) -> bool:
        return all(r.status == "built" for r in self.targets.values())

    def names(self, status: FinalStatus) -> tuple[str, ...]:
        """The targets that ended with `status`, in build order."""
        return tuple(n for n, r in self.targets.items() if r.status == status)


@dataclass(frozen=True, slots=True)
class Event:
    """A status change for the UI: queued means every upstream target is built.

    A target a failing sibling's bake cancelled is queued again, not reported cancelled."""

    name: str
    status: EventStatus
    elapsed_s: float | None = None


class Builder(Protocol):
    """Builds a batch of independent targets in one invocation; must be cancellable."""

    async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]: ...


OnEvent = Callable[[str, EventStatus, float | None], None]
_Report = tuple[tuple[str, ...], Mapping[str, TargetOutcome] | Exception]


def dependents(deps: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Each target's direct downstream targets, in mapping order."""
    below: dict[str, list[str]] = {name: [] for name in deps}
    for name, ups in deps.items():
        for up in dict.fromkeys(ups):
            below[up].append(name)
    return {name: tuple(down) for name, down in below.items()}


def priorities(
    deps: Mapping[str, Sequence[str]], weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each target's weight plus the heaviest chain of its dependents: its critical-path length."""
    _check_names(deps)
    try:
        topo = list(TopologicalSorter(deps).static_order())
    except CycleError as exc:
        raise ValueError(f"dependency cycle: {' -> '.join(exc.args[1])}") from exc
    below = dependents(deps)
    prio: dict[str, float] = {}
    for name in reversed(topo):
        prio[name] = _weight(weights, name) + max((prio[d] for d in below[name]), default=0.0)
    return prio


class Schedule:
    """Waiting, ready, building and finished targets, and the next batches to start.

    Pure and deterministic: no clock, no I/O; the caller reports each batch's outcomes.
    """

    def __init__(
        self,
        deps: Mapping[str, Sequence[str]],
        order: Sequence[str],
        weights: Mapping[str, float] | None = None,
        *,
        max_batch: int | None = None,
        fail_fast: bool = False,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        _check_order(deps, order)
        self._order = tuple(order)
        self._deps = {name: tuple(dict.fromkeys(deps[name])) for name in self._order}
        self._below = dependents(self._deps)
        self.priority: Mapping[str, float] = priorities(self._deps, weights)
        self._rank = {n: (-self.priority[n], i) for i, n in enumerate(self._order)}
        self._max_batch = max_batch
        self._fail_fast = fail_fast
        self._unbuilt = {name: len(ups) for name, ups in self._deps.items()}
        self._state: dict[str, State] = dict.fromkeys(self._order, "waiting")
        self._ready: set[str] = set()
        self._solo: set[str] = set()  # cancelled by a failing sibling: next time, alone
        self._results: dict[str, TargetResult] = {}
        self._events: list[Event] = []
        self._stopped = False
        self.first_failure: str | None = None
        for name in self._order:
            if not self._unbuilt[name]:
                self._enqueue(name)

    @property
    def stopped(self) -> bool:
        """True once fail-fast has seen a failure: nothing new starts."""
        return self._stopped

    @property
    def done(self) -> bool:
        return len(self._results) == len(self._order)

    @property
    def ready(self) -> tuple[str, ...]:
        """Targets whose upstream is all built, highest priority first."""
        return tuple(sorted(self._ready, key=self._rank.__getitem__))

    def drain_events(self) -> tuple[Event, ...]:
        """The status changes since the last call, in the order they happened."""
        events, self._events = tuple(self._events), []
        return events

    def start_batches(self, free_slots: int) -> list[tuple[str, ...]]:
        """Start min(free_slots, ready) batches of contiguous priority, each of at most
        ceil(ready / batches) and `max_batch` targets; a retried target goes alone."""
        if self._stopped or free_slots < 1 or not self._ready:
            return []
        ready = self.ready
        n = min(free_slots, len(ready))
        cap = -(-len(ready) // n)
        if self._max_batch is not None:
            cap = min(cap, self._max_batch)
        solos = [name for name in ready[:n] if name in self._solo]
        others = [name for name in ready if name not in self._solo]
        # Contiguous chunks rather than round-robin: an invocation reports when its slowest
        # target is done, so similar priorities together keep short targets from waiting.
        m = n - len(solos)  # `others` holds at least m targets: the top n minus the solos
        take = min(len(others), m * cap)
        size, extra = divmod(take, m) if m else (0, 0)
        batches: list[tuple[str, ...]] = [(name,) for name in solos]
        at = 0
        for i in range(m):
            end = at + size + (1 if i < extra else 0)
            batches.append(tuple(others[at:end]))
            at = end
        batches.sort(key=lambda batch: self._rank[batch[0]])
        for batch in batches:
            for name in batch:
                self._ready.discard(name)
                self._solo.discard(name)
                self._state[name] = "building"
                self._events.append(Event(name, "building"))
        return batches

    def finish(self, batch: Sequence[str], outcomes: Mapping[str, TargetOutcome]) -> None:
        """Record a started batch's outcomes; a target missing from them has failed."""
        for name in batch:
            if self._state.get(name) != "building":
                raise ValueError(f"{name!r} is not building")
        reported = {name: _outcome(outcomes.get(name), alone=len(batch) == 1) for name in batch}
        if self._fail_fast and any(o.status == "failed" for o in reported.values()):
            self._stopped = True
        for name, outcome in reported.items():
            if outcome.status == "built":
                self._close(name, TargetResult("built", outcome.duration_s, outcome.detail))
                for down in self._below[name]:
                    self._unbuilt[down] -= 1
                    if not self._unbuilt[down] and not self._stopped:
                        self._enqueue(down)
            elif outcome.status == "cancelled":
                # buildx bake stops the rest of a bake when one target fails: not this
                # target's fault, so it is built again, alone, where no sibling can stop it.
                self._solo.add(name)
                if not self._stopped:
                    self._enqueue(name)
                else:
                    self._state[name] = "queued"
            else:
                self._fail(name, outcome)

    def cancel_unfinished(
        self, elapsed: Mapping[str, float] | None = None, detail: str | None = None
    ) -> None:
        """Report every unfinished target cancelled; `elapsed` holds those that were building."""
        elapsed = elapsed or {}
        if detail is None:
            cause = f"{self.first_failure} failed" if self.first_failure else "the run stopped"
            detail = f"not finished: fail-fast stopped the run when {cause}"
        for name in self._order:
            if name not in self._results:
                self._ready.discard(name)
                self._close(name, TargetResult("cancelled", elapsed.get(name), detail))
        self._solo.clear()

    def result(self) -> RunResult:
        if not self.done:
            waiting = [n for n in self._order if n not in self._results]
            raise RuntimeError(f"the schedule is not finished: {', '.join(waiting)}")
        return RunResult({name: self._results[name] for name in self._order})

    def _enqueue(self, name: str) -> None:
        self._state[name] = "queued"
        self._ready.add(name)
        self._events.append(Event(name, "queued"))

    def _close(self, name: str, result: TargetResult) -> None:
        self._state[name] = result.status
        self._results[name] = result
        self._events.append(Event(name, result.status, result.duration_s))

    def _fail(self, name: str, outcome: TargetOutcome) -> None:
        if self.first_failure is None:
            self.first_failure = name
        self._close(name, TargetResult("failed", outcome.duration_s, outcome.detail))
        for down in sorted(_reach(self._below, [name]), key=self._rank.__getitem__):
            if self._state[down] == "waiting":
                self._close(down, TargetResult("blocked", None, f"upstream {name} failed"))


async def run_schedule(
    deps: Mapping[str, Sequence[str]],
    order: Sequence[str],
    builder: Builder,
    *,
    jobs: int = 4,
    weights: Mapping[str, float] | None = None,
    fail_fast: bool = False,
    max_batch: int | None = None,
    on_event: OnEvent | None = None,
) -> RunResult:
    """Build every target in dependency order with at most `jobs` builder invocations at once.

    A builder exception stops the run and is re-raised; cancelling the caller cancels the builds.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    schedule = Schedule(deps, order, weights, max_batch=max_batch, fail_fast=fail_fast)

    def publish() -> None:
        for event in schedule.drain_events():
            if on_event is not None:
                on_event(event.name, event.status, event.elapsed_s)

    # Unbounded, yet never holds more than `jobs` reports: a finishing batch never waits to report.
    send, receive = anyio.create_memory_object_stream[_Report](math.inf)
    started: dict[tuple[str, ...], float] = {}  # running batches -> start time
    error: Exception | None = None
    with send, receive:
        async with anyio.create_task_group() as tg:

            def launch() -> None:
                for batch in schedule.start_batches(jobs - len(started)):
                    started[batch] = anyio.current_time()
                    _spawn(tg, builder, batch, send)
                publish()

            publish()
            launch()
            while started:
                batch, report = await receive.receive()
                del started[batch]
                if isinstance(report, Exception):
                    error = report
                    break
                schedule.finish(batch, report)
                publish()
                if schedule.stopped:
                    break
                launch()
            if started or schedule.stopped or error is not None:
                tg.cancel_scope.cancel()
                # Batches that reported before the stop did finish: record them as they ended.
                while error is None:
                    try:
                        batch, report = receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    del started[batch]
                    if isinstance(report, Exception):
                        error = report
                    else:
                        schedule.finish(batch, report)
                if error is None:
                    now = anyio.current_time()
                    running = {n: now - t0 for batch, t0 in started.items() for n in batch}
                    schedule.cancel_unfinished(running)
                    publish()
    if error is not None:
        raise error
    return schedule.result()


def _spawn(
    tg: TaskGroup,
    builder: Builder,
    batch: tuple[str, ...],
    send: MemoryObjectSendStream[_Report],
) -> None:
    async def build() -> None:
        try:
            report: Mapping[str, TargetOutcome] | Exception = dict(await builder.build(batch))
        except Exception as exc:  # the loop re-raises it outside the task group, unwrapped
            report = exc
        send.send_nowait((batch, report))

    tg.start_soon(build, name=f"build {' '.join(batch)}")


def _outcome(outcome: TargetOutcome | None, *, alone: bool) -> TargetOutcome:
    if outcome is None:
        return TargetOutcome("failed", 0.0, NO_RESULT)
    if outcome.status == "cancelled" and alone:
        # No sibling could have stopped it; retrying would loop forever.
        return TargetOutcome("failed", outcome.duration_s, outcome.detail or LONE_CANCEL)
    if outcome.status not in ("built", "failed", "cancelled"):
        return TargetOutcome("failed", outcome.duration_s, f"unknown status {outcome.status!r}")
    return outcome


def _weight(weights: Mapping[str, float] | None, name: str) -> float:
    w = weights.get(name, 1.0) if weights else 1.0
    # A corrupt duration record must not make priorities NaN, which would break the ordering.
    return w if math.isfinite(w) and w >= 0 else 1.0


def _reach(below: Mapping[str, Sequence[str]], roots: Iterable[str]) -> frozenset[str]:
    seen: set[str] = set()
    todo = deque(d for r in roots for d in below[r])
    while todo:
        name = todo.popleft()
        if name not in seen:
            seen.add(name)
            todo.extend(below[name])
    return frozenset(seen)


def _check_names(deps: Mapping[str, Sequence[str]]) -> None:
    for name, ups in deps.items():
        for up in ups:
            if up not in deps:
                raise ValueError(f"{name} depends on {up}, which is not a selected target")


def _check_order(deps: Mapping[str, Sequence[str]], order: Sequence[str]) -> None:
    _check_names(deps)
    if len(set(order)) != len(order) or set(order) != set(deps):
        raise ValueError("order must list every target exactly once")
    seen: set[str] = set()
    for name in order:
        for up in deps[name]:
            if up not in seen:
                raise ValueError(f"order puts {name} before its dependency {up}")
        seen.add(name)
