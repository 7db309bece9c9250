"""The schedule: which targets to build when, on which builder, and how many per invocation.

`Schedule` is a pure state machine: it takes the outcomes of the batches it handed out and
decides what is ready, what is retried, what is blocked and where each batch goes. Its driver,
`orchestrator.run.scheduler.run_schedule`, runs it with anyio over the builders.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from graphlib import CycleError, TopologicalSorter
from typing import Literal, Protocol

from orchestrator.run.results import JobResult

# `retry`: failed for a reason that may pass (a registry's 503, a lost session): tried again
# while the run's retries last. `lost`: the builder went away with it: built elsewhere.
OutcomeStatus = Literal["built", "failed", "cancelled", "retry", "lost"]
FinalStatus = Literal["built", "failed", "blocked", "cancelled"]
EventStatus = Literal["queued", "building", "built", "failed", "blocked", "cancelled"]
State = Literal["waiting", "queued", "building", "built", "failed", "blocked", "cancelled"]

NO_RESULT = "the builder reported no result for this target"
LONE_CANCEL = "the builder cancelled it although no other target of its invocation failed"
ONE_BUILDER = ""  # the pool of a run on one builder: the builder the user's docker CLI picks
# Placement prefers a faster builder only when its history says it is this much faster: closer
# durations are the same machine's noise, and there the least loaded builder is the better bet.
FASTER = 1.25


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """What a builder reports for one target of a batch."""

    status: OutcomeStatus
    duration_s: float = 0.0
    detail: str = ""
    result: JobResult | None = None  # what the builder made of this attempt, for the report


@dataclass(frozen=True, slots=True)
class TargetResult:
    """How one target ended; `duration_s` is None when it never started."""

    status: FinalStatus
    duration_s: float | None = None
    detail: str = ""
    builder: str | None = None  # where it was built (last tried, when it failed)
    attempts: int = 0  # builder invocations it was part of
    result: JobResult | None = None  # the builder's account of its last attempt, if it had one


@dataclass(frozen=True, slots=True)
class RunResult:
    """Every target's result, in build order; `lost` are the builders that went away."""

    targets: Mapping[str, TargetResult]
    lost: tuple[str, ...] = ()
    engine_gone: bool = False  # every builder went away: what was left was cut off

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
    """Builds a batch of independent targets in one invocation; must be cancellable.

    Raises `BuilderLost` when its engine went away: the batch is built elsewhere."""

    async def build(self, batch: tuple[str, ...]) -> Mapping[str, TargetOutcome]: ...


class BuilderLost(Exception):
    """A builder's engine stopped answering during a batch; `cause` says how it showed.
    `results`: the builder's account of each target of the batch (its attempts so far)."""

    def __init__(
        self, builder: str, cause: str, results: Mapping[str, JobResult] | None = None
    ) -> None:
        super().__init__(f"builder {builder or 'default'} went away: {cause}")
        self.builder = builder
        self.cause = cause
        self.results = dict(results or {})


@dataclass(frozen=True, slots=True)
class Member:
    """One builder of a run's pool: its name (the buildx builder), its slots, what builds."""

    name: str
    slots: int
    builder: Builder


OnEvent = Callable[[str, EventStatus, float | None], None]
OnPlace = Callable[[str, str], None]  # (target, builder) as a target starts on a builder
Report = tuple[str, tuple[str, ...], Mapping[str, TargetOutcome] | Exception]


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
        retries: int = 0,
        chain: bool = False,
        speeds: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        if retries < 0:
            raise ValueError(f"retries must be at least 0, not {retries}")
        _check_order(deps, order)
        self._order = tuple(order)
        self._deps = {name: tuple(dict.fromkeys(deps[name])) for name in self._order}
        self._below = dependents(self._deps)
        self._weights = {n: _weight(weights, n) for n in self._order}
        self.priority: Mapping[str, float] = priorities(self._deps, self._weights)
        self._speeds = speeds or {}  # target -> builder -> its last duration there, s
        self._rank = {n: (-self.priority[n], i) for i, n in enumerate(self._order)}
        self._max_batch = max_batch
        self._chain = chain
        self._position = {n: i for i, n in enumerate(self._order)}
        self._fail_fast = fail_fast
        self._retries = retries
        self._tries: Counter[str] = Counter()  # invocations each target was part of
        self._failures: Counter[str] = Counter()  # ... that failed in a way worth a retry
        self._built_on: dict[str, str] = {}  # target -> builder: last tried, built when built
        self._unbuilt = {name: len(ups) for name, ups in self._deps.items()}
        self._state: dict[str, State] = dict.fromkeys(self._order, "waiting")
        self._ready: set[str] = set()
        self._solo: set[str] = set()  # cancelled by a failing sibling: next time, alone
        self._results: dict[str, TargetResult] = {}
        self._latest: dict[str, JobResult] = {}  # the builder's account of each last attempt
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

    def attempt(self, name: str) -> int:
        """The attempt a target is at, counting only its tries that failed in a way worth a
        retry (1: none did); a sibling's failure or a lost builder does not count."""
        return self._failures[name] + 1

    def place(
        self,
        free: Mapping[str, int],
        capacity: Mapping[str, int] | None = None,
        *,
        affinity: bool = True,
    ) -> list[tuple[str, tuple[str, ...]]]:
        """Start batches as `start_batches` does over every free slot of the pool, and put each,
        most critical first, on a builder with a free slot: the one that built most of its
        upstream targets (their layers are warm there, no hand-off through a registry); among
        those, one whose history says it builds the batch fastest, or nearly (within `FASTER`);
        among those, the least loaded. (builder, batch) pairs. Without `affinity`, upstream
        builders do not count."""
        open_ = {b: n for b, n in free.items() if n > 0}
        capacity = capacity or free
        index = {b: i for i, b in enumerate(free)}
        placed: list[tuple[str, tuple[str, ...]]] = []
        for batch in self.start_batches(sum(open_.values())):
            votes = Counter(
                self._built_on[up]
                for name in batch
                for up in self._deps[name]
                if affinity and up in self._built_on and self._state[up] == "built"
            )
            candidates = [b for b, n in open_.items() if n > 0]
            most = max(votes[b] for b in candidates)
            candidates = [b for b in candidates if votes[b] == most]
            took = {b: self.expected(batch, b) for b in candidates}
            fastest = min(took.values())
            candidates = [b for b in candidates if took[b] <= fastest * FASTER]
            best = max(candidates, key=lambda b: (open_[b] / max(capacity.get(b, 1), 1), -index[b]))
            open_[best] -= 1
            placed.append((best, batch))
            for name in batch:
                self._built_on[name] = best
        return placed

    def expected(self, batch: Iterable[str], builder: str) -> float:
        """How long `builder` takes for `batch`, by history: each target's last duration there,
        else its last duration anywhere (its weight)."""
        total = 0.0
        for name in batch:
            took = self._speeds.get(name, {}).get(builder, -1.0)
            total += took if math.isfinite(took) and took >= 0 else self._weights[name]
        return total

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
        if self._chain:
            batches = self._chained(batches)
        for batch in batches:
            for name in batch:
                self._ready.discard(name)
                self._solo.discard(name)
                self._state[name] = "building"
                self._tries[name] += 1
                self._events.append(Event(name, "building"))
        return batches

    def _chained(self, batches: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """Each batch with the waiting targets that build on it alone: every upstream of
        theirs not built yet is in that batch. One bake then links them (`target:`), so a
        downstream build starts as soon as its upstream's last step is done, not after its
        image was exported; at most `max_batch` targets a batch, as before. Called before
        the batches' targets leave `_solo`."""
        # A target built again alone gets no chain either: what builds on it could stop it.
        home: dict[str, int] = {
            name: i
            for i, batch in enumerate(batches)
            for name in batch
            if not (len(batch) == 1 and name in self._solo)
        }
        grown = [list(batch) for batch in batches]
        for name in self._order:
            if self._state[name] != "waiting" or name in home or name in self._solo:
                continue
            ups = [u for u in self._deps[name] if self._state[u] != "built"]
            homes = {home[u] for u in ups if u in home}
            if len(homes) != 1 or any(u not in home for u in ups):
                continue
            i = homes.pop()
            if self._max_batch is not None and len(grown[i]) >= self._max_batch:
                continue
            grown[i].append(name)
            home[name] = i
        return [tuple(batch) for batch in grown]

    def lose(self, batch: Sequence[str], results: Mapping[str, JobResult] | None = None) -> None:
        """A started batch's builder went away: its targets are ready again, for another
        builder, and that attempt does not count against the retries."""
        results = results or {}
        self.finish(
            batch, {name: TargetOutcome("lost", result=results.get(name)) for name in batch}
        )

    def finish(self, batch: Sequence[str], outcomes: Mapping[str, TargetOutcome]) -> None:
        """Record a started batch's outcomes; a target missing from them has failed."""
        for name in batch:
            if self._state.get(name) != "building":
                raise ValueError(f"{name!r} is not building")
        reported = {name: _outcome(outcomes.get(name), alone=len(batch) == 1) for name in batch}
        for name, outcome in reported.items():
            if outcome.result is not None:
                self._latest[name] = outcome.result
        for name, outcome in list(reported.items()):
            if outcome.status != "retry":
                continue
            self._failures[name] += 1
            if self._failures[name] > self._retries:
                # With retries, giving up comes after two attempts at least.
                said = f" (gave up after {self._failures[name]} attempts)" if self._retries else ""
                detail = outcome.detail + said
                reported[name] = replace(outcome, status="failed", detail=detail)
        if self._fail_fast and any(o.status == "failed" for o in reported.values()):
            self._stopped = True
        # In build order: a chained target comes after the upstream it was built with.
        for name in sorted(reported, key=self._position.__getitem__):
            outcome = reported[name]
            failed_up = next(
                (u for u in self._deps[name] if self._state[u] in ("failed", "blocked")), None
            )
            # Judged already, in build order: an upstream in this batch that is not built
            # (stopped, to retry, or itself waiting to be judged) leaves this one unjudged.
            unbuilt_up = any(u in reported and self._state[u] != "built" for u in self._deps[name])
            if failed_up is not None and outcome.status != "built":
                # Chained with an upstream that failed: never started, and never will.
                self._close(name, TargetResult("blocked", None, f"upstream {failed_up} failed"))
            elif outcome.status == "failed" and unbuilt_up:
                # Chained with an upstream the bake did not finish: BuildKit shares the steps
                # of linked targets, and may name the failure of the upstream's step after
                # this one. It waits for its upstream to be built, and is judged then.
                self._solo.add(name)
                self._state[name] = "waiting"
            elif outcome.status == "built":
                self._close(name, TargetResult("built", outcome.duration_s, outcome.detail))
                for down in self._below[name]:
                    self._unbuilt[down] -= 1
                    waiting = self._state[down] == "waiting"
                    if not self._unbuilt[down] and waiting and not self._stopped:
                        self._enqueue(down)
            elif outcome.status in ("cancelled", "retry", "lost"):
                # cancelled: buildx bake stops the rest of a bake when one target fails: not
                # this target's fault, so it is built again, alone, where no sibling can stop
                # it. retry: again, alone, once the run's backoff has passed. lost: again,
                # elsewhere, as it was. A chained target whose upstream did not build waits
                # for it again.
                if outcome.status != "lost":
                    self._solo.add(name)
                if self._unbuilt[name]:
                    self._state[name] = "waiting"
                elif not self._stopped:
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
        if detail is None and self.first_failure:
            detail = f"not finished: fail-fast stopped the run when {self.first_failure} failed"
        elif detail is None:
            detail = "not finished: the run stopped"
        for name in self._order:
            if name not in self._results:
                self._ready.discard(name)
                self._close(name, TargetResult("cancelled", elapsed.get(name), detail))
        self._solo.clear()

    def result(self, lost: Sequence[str] = (), *, engine_gone: bool = False) -> RunResult:
        if not self.done:
            waiting = [n for n in self._order if n not in self._results]
            raise RuntimeError(f"the schedule is not finished: {', '.join(waiting)}")
        return RunResult(
            {name: self._results[name] for name in self._order},
            lost=tuple(lost),
            engine_gone=engine_gone,
        )

    def _enqueue(self, name: str) -> None:
        self._state[name] = "queued"
        self._ready.add(name)
        self._events.append(Event(name, "queued"))

    def _close(self, name: str, result: TargetResult) -> None:
        if self._tries[name]:
            result = TargetResult(
                result.status,
                result.duration_s,
                result.detail,
                builder=self._built_on.get(name),
                attempts=self._tries[name],
                result=self._latest.get(name),
            )
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


def _outcome(outcome: TargetOutcome | None, *, alone: bool) -> TargetOutcome:
    if outcome is None:
        return TargetOutcome("failed", 0.0, NO_RESULT)
    if outcome.status == "cancelled" and alone:
        # No sibling could have stopped it; retrying would loop forever.
        return replace(outcome, status="failed", detail=outcome.detail or LONE_CANCEL)
    if outcome.status not in ("built", "failed", "cancelled", "retry", "lost"):
        return replace(outcome, status="failed", detail=f"unknown status {outcome.status!r}")
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
