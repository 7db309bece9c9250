"""The builders a run spreads over: from `--builder a,b` or the plan's `builders:`, checked.

`choose` is pure: which builders, with how many bake invocations each, and whether the plan can
use a pool at all (every image must go through a registry, by its versioned reference, so that
one builder can build on what another built). `open_pool` is the shell: one engine session per
builder, each checked at once. A name buildx does not know is a usage error (exit 2, with the
closest names); a builder it knows that does not answer is reported and left out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import anyio

from orchestrator.engine.docker import Engine
from orchestrator.errors import EngineError, Location, PlanError, UsageError, did_you_mean
from orchestrator.plan import Plan


def check_names(names: Sequence[str], known: Sequence[str]) -> None:
    """A UsageError for the first of `names` (builders that did not answer) that buildx does not
    know at all, with the closest known name: a typo is not a builder that is down. Nothing
    when `known` is empty (the list itself could not be read)."""
    if not known:
        return
    for name in names:
        if name and name not in known:
            close = did_you_mean(name, known)
            listed = ", ".join(sorted(known))
            raise UsageError(
                f"there is no buildx builder named '{name}'",
                hint=(f"{close} " if close else "") + f"builders: {listed} (`docker buildx ls`)",
            )


@dataclass(frozen=True, slots=True)
class Choice:
    """A builder of the run: its name ("" for the docker CLI's own), its slots and the
    platforms it names (`builders: [{name, platforms}]`; empty: any)."""

    name: str
    slots: int
    platforms: tuple[str, ...] = ()


def choose(plan: Plan, option: str | None, parallel: int) -> tuple[Choice, ...]:
    """The run's builders: `--builder` (comma-separated) over the plan's `builders:`; each
    with its own `jobs`, else `parallel`. Empty: the docker CLI's current builder."""
    if option is not None:
        names = [n.strip() for n in option.split(",")]
        if not all(names):
            raise UsageError(
                f"--builder {option!r} has an empty builder name",
                hint="write builder names separated by commas, such as --builder default,node2",
            )
        if len(set(names)) != len(names):
            raise UsageError(
                f"--builder {option!r} names a builder twice", hint="name each builder once"
            )
        return tuple(Choice(n, parallel) for n in names)
    return tuple(Choice(b.name, b.jobs or parallel, b.platforms) for b in plan.builders)


def check_registry(
    plan: Plan, names: Collection[str], pool: Sequence[Choice], *, push: bool, cli: bool
) -> None:
    """A pool hands images between builders through a registry, and `--push` publishes to
    one: every target the run builds needs `registry:`. A PlanError (exit 2) when one has not."""
    if len(pool) < 2 and not push:
        return
    missing = [n for n in names if not plan.targets[n].registry]
    if not missing:
        return
    first = plan.targets[missing[0]]
    shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    if push:
        why = "--push publishes the plan's tags in a registry"
    else:
        where = "--builder" if cli else "builders:"
        why = (
            f"a run over several builders ({where} {','.join(c.name for c in pool)}) hands "
            "each image to the next builder through a registry"
        )
    location: Location = (
        plan.builders_at
        if plan.builders_at is not None and not cli and not push
        else first.location
    )
    raise PlanError(
        f"{why}, and {shown} {'has' if len(missing) == 1 else 'have'} no registry:",
        location=location,
        hint="set `registry: HOST:PORT` under defaults: (or on each target), such as "
        "registry: localhost:5000",
    )


async def open_pool(pool: Sequence[Choice], *, pull: bool) -> tuple[list[Engine], list[str]]:
    """One engine per builder, checked at once: those that answer, in pool order, and a
    warning for each one that does not. EngineError (exit 3) when none answers."""
    engines = [Engine(c.name or None, pull=pull) for c in pool]
    problems: dict[int, str] = {}

    async def check(i: int, engine: Engine) -> None:
        try:
            await engine.check_async()
        except EngineError as exc:
            problems[i] = exc.message

    async with anyio.create_task_group() as tg:
        for i, engine in enumerate(engines):
            tg.start_soon(check, i, engine)
    if problems:
        check_names([pool[i].name for i in problems], await engines[0].builder_names())
    warnings = [
        f"builder {pool[i].name} is left out of this run: {problems[i]}" for i in sorted(problems)
    ]
    up = [e for i, e in enumerate(engines) if i not in problems]
    if not up:
        raise EngineError(
            "no builder of the run answers: " + "; ".join(problems[i] for i in sorted(problems)),
            hint="list builders with `docker buildx ls`; start them, or pick others with --builder",
        )
    return up, warnings
