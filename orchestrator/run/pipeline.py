"""Every run of `orch build`, `orch test` and `orch dev`: one pipeline of named steps.

    load -> select -> connect -> resolve -> settle -> build -> gate -> publish -> record -> report

- load: the plan, its Dockerfiles and the graph (`orchestrator.project`);
- select: the jobs the names and `--since` ask for, with what they build on (`select`);
- connect: the engine, or the pool of builders, that will run them (`connect`);
- resolve: each selected target's version, external base digests included (`resolve`);
- settle, build, gate, publish, record: on the engine, in `orchestrator.run.steps.execute`;
- report: the terminal summary, `--report`, JUnit and GitHub's files (`report`).

`run` is the whole of it, in that order, under one event loop. A step with nothing to do hands
an empty result on: no command leaves before the report, so a commit that affects nothing
still writes `--report`, JUnit and GitHub's outputs. `orch dev` calls `run` for each rebuild,
on its session's engine, with the options the command line parsed.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from orchestrator import jsontext
from orchestrator.errors import EXIT_ENGINE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from orchestrator.files import Destination
from orchestrator.project import Project
from orchestrator.run import jobs
from orchestrator.run.defaults import DEFAULT_MAX_BATCH
from orchestrator.run.jobs import JobSet
from orchestrator.run.results import RunOutcome
from orchestrator.run.steps import PoolEntry, RunOptions

if TYPE_CHECKING:
    from orchestrator.inputs.changes import Affected
    from orchestrator.inputs.versions import Manifest
    from orchestrator.report.console import StatusView
    from orchestrator.run.builder import BakeEngine
    from orchestrator.run.interrupts import Interrupts
    from orchestrator.run.masking import Masker

EMPTY = JobSet(jobs={}, deps={}, order=())


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What a command asked of a run, as the command line parsed it."""

    test: bool = False  # `orch test`: the test stages
    targets: tuple[str, ...] = ()  # none: every service (with a test stage, for `orch test`)
    since: str | None = None
    builder: str | None = None  # --builder, one name or several separated by commas
    pull: bool = False
    options: RunOptions = field(default_factory=lambda: RunOptions(max_batch=DEFAULT_MAX_BATCH))
    report: Destination | None = None
    junit: Destination | None = None
    trace: Destination | None = None  # --trace: Chrome's trace-event JSON
    timeline: Destination | None = None  # --timeline: one HTML page
    ci: str | None = None  # "github", "none", or None: github when GITHUB_ACTIONS=true
    dry_run: bool = False  # --dry-run: up to settle, then what would run; nothing written
    prune: bool = False  # --prune: after a run that succeeded, `orch prune` of its targets

    @property
    def verb(self) -> str:
        return "test" if self.test else "build"


@dataclass(frozen=True, slots=True)
class Selection:
    """The jobs of a run, and what `--since` found."""

    jobset: JobSet
    affected: Affected | None  # None without --since
    note: str | None = None  # why nothing was selected

    @property
    def names(self) -> list[str]:
        return sorted({job.target.name for job in self.jobset.jobs.values()})

    def affected_names(self) -> list[str]:
        """What GitHub's `affected` output lists: the affected targets, else every job."""
        if self.affected is not None:
            return sorted(self.affected.targets)
        return list(self.jobset.order)


@dataclass(frozen=True, slots=True)
class Connection:
    """The engine a run bakes with, or the pool it spreads over; and what was left out."""

    engine: BakeEngine | None  # None: nothing to build, so no engine was asked
    pool: tuple[PoolEntry, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ran:
    """A run's whole result: its outcome, what was selected, and the versions it used."""

    outcome: RunOutcome
    selection: Selection
    manifests: Mapping[str, Manifest]
    # What the report step could not hand on (GitHub's step outputs): the run failed.
    report_errors: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.outcome.interrupted:
            return EXIT_INTERRUPTED
        if self.outcome.engine_gone:
            return EXIT_ENGINE
        return EXIT_OK if self.outcome.ok and not self.report_errors else EXIT_FAILED


def wants_github(request: Request) -> bool:
    """Whether the run writes for GitHub Actions: `--ci github`, or GITHUB_ACTIONS set
    without `--ci none`."""
    return request.ci == "github" or (request.ci is None and "GITHUB_ACTIONS" in os.environ)


# --- load: what the run will write, checked against what it reads ----------------------------


def inputs_of(project: Project) -> tuple[dict[Path, str], list[Path]]:
    """The files every build of the plan reads (the plan, each Dockerfile and ignore file),
    each with what it is, and the directories sent as build contexts."""
    from orchestrator.inputs.dockerignore import IGNORE_FILE

    plan = project.plan
    files: dict[Path, str] = {plan.path: "the plan"}
    contexts: list[Path] = []
    for t in plan.targets.values():
        files[t.dockerfile] = f"the Dockerfile of {t.name}"
        files[t.dockerfile.with_name(t.dockerfile.name + IGNORE_FILE)] = (
            f"an ignore file of {t.name}"
        )
        files[t.context / IGNORE_FILE] = f"the ignore file of {t.name}'s context"
        contexts.append(t.context)
        for named in t.contexts:
            if named.path is not None:
                contexts.append(named.path)
                files[named.path / IGNORE_FILE] = (
                    f"the ignore file of {t.name}'s context {named.name}"
                )
    return files, contexts


def check_destinations(project: Project, written: Mapping[str, Destination | None]) -> None:
    """A UsageError (exit 2, before anything runs) when a file the run was asked to write
    (`--report`, `--junit`, `--bake-file`) is one it reads, or lies in a build context."""
    from orchestrator.files import refuse_input
    from orchestrator.plan.state import state_dir

    files, contexts = inputs_of(project)
    state = state_dir(project.plan)
    for option, dest in written.items():
        if dest is not None:
            refuse_input(dest, files, contexts, option, allowed=[state])


# --- select -------------------------------------------------------------------------------


def starting_names(project: Project, request: Request) -> list[str]:
    """The names a run starts from: those the arguments select (orchestrator.plan.selectors:
    names, globs, `...NAME`), else every service (with a test stage, for `orch test`, which
    also keeps to those where a pattern chose)."""
    plan = project.plan
    if request.targets:
        from orchestrator.plan.selectors import expand

        chosen = expand(request.targets, project.graph)
        if not (request.test and chosen.patterned):
            return list(chosen.names)
        tested = [n for n in chosen.names if n in plan.services and plan.targets[n].tests]
        if not tested:
            raise UsageError(
                f"{' '.join(request.targets)} selects no service with a test stage",
                hint="add `test: <stage>` to a service, or select one that has it",
            )
        return tested
    if request.test:
        return [n for n in plan.services if plan.targets[n].tests]
    return list(plan.services)


def select(project: Project, request: Request) -> Selection:
    """The jobs of the run: the names asked for (under --since, those of them a change
    affects: an intersection), and everything upstream of them."""
    affected = None
    names = starting_names(project, request) if request.targets else []
    if request.since is not None:
        from orchestrator.inputs.changes import affected as find_affected

        affected = find_affected(project, request.since)
        pool = names or starting_names(project, request)
        names = [n for n in pool if n in affected.targets]
        if not names:
            them = "them" if pool else "the plan"
            note = f"nothing to {request.verb}: no change since {affected.ref} affects {them}"
            return Selection(EMPTY, affected, note)
    if request.test:
        return Selection(jobs.select_test_jobs(project, names), affected)
    return Selection(jobs.build_jobs(project, names), affected)


# --- connect ------------------------------------------------------------------------------


async def connect(project: Project, selection: Selection, request: Request) -> Connection:
    """The engine (or the pool of builders) the run bakes with, checked; none when there is
    nothing to build."""
    from orchestrator.engine import pool as pools
    from orchestrator.engine.docker import Engine
    from orchestrator.errors import EngineError

    names = selection.names
    choices = pools.choose(project.plan, request.builder, request.options.parallel)
    pools.check_registry(
        project.plan, names, choices, push=request.options.push, cli=request.builder is not None
    )
    if not names:
        return Connection(None)
    if len(choices) > 1:
        engines, left_out = await pools.open_pool(choices, pull=request.pull)
        chosen = {c.name: c for c in choices}
        entries = tuple(
            PoolEntry(e.name, chosen[e.name].slots, e, chosen[e.name].platforms) for e in engines
        )
        return Connection(engines[0], entries, tuple(left_out))
    engine = Engine(builder=choices[0].name if choices else None, pull=request.pull)
    if choices:  # else the first engine call finds out, one round trip fewer
        try:
            await engine.check_async()
        except EngineError:
            pools.check_names([choices[0].name], await engine.builder_names())
            raise
    return Connection(engine)


# --- resolve, then the engine steps ----------------------------------------------------------


async def resolve(
    project: Project, selection: Selection, connection: Connection, request: Request
) -> Mapping[str, Manifest]:
    """Every selected target's manifest (inputs and version), base images resolved."""
    from orchestrator.run import resolve as resolving

    if connection.engine is None:
        return {}
    resolved = await resolving.versions(
        project, selection.names, connection.engine, pull=request.pull
    )
    return resolved.manifests


async def execute(
    project: Project,
    selection: Selection,
    connection: Connection,
    manifests: Mapping[str, Manifest],
    request: Request,
    *,
    view: StatusView | None = None,
    interrupts: Interrupts | None = None,
) -> RunOutcome:
    """settle -> build -> gate -> publish -> record, on the engine (`orchestrator.run.steps`)."""
    from orchestrator.plan.state import state_dir
    from orchestrator.run import steps
    from orchestrator.run.workspace import open_run

    if connection.engine is None:
        return RunOutcome(results=(), test=request.test)
    absent = steps.check_secrets(selection.jobset, os.environ)
    masker = steps.secret_masker(selection.jobset, os.environ, absent)
    if wants_github(request):
        mask_in_runner(masker)
    options = request.options
    if connection.pool:  # a chain would keep a whole connected graph on one builder
        options = dataclasses.replace(options, chain=False)
    from orchestrator.run import history

    run_dir = open_run(state_dir(project.plan), project.plan.path)
    durations = history.load(run_dir.state / "history.json")  # the ETA's and the scheduler's
    if view is not None:
        view.expect(selection.jobset.deps, durations)
    try:
        return await steps.execute(
            project,
            selection.jobset,
            connection.engine,
            run_dir,
            manifests=manifests,
            options=options,
            test=request.test,
            absent_secrets=absent,
            masker=masker,
            on_event=view.event if view is not None else None,
            on_place=view.place if view is not None else None,
            on_build=view.build_event if view is not None else None,
            interrupts=interrupts,
            pool=connection.pool,
            earlier=durations,
        )
    finally:
        run_dir.close()


async def dry_run(
    project: Project,
    selection: Selection,
    connection: Connection,
    manifests: Mapping[str, Manifest],
    request: Request,
    view: StatusView,
) -> None:
    """settle, read-only, then what the run would do (orchestrator.run.dryrun): each job's
    status and reason, and the bakes. Nothing is built, tagged or written, no run directory
    opened; a look-up that needs the engine asks it."""
    from orchestrator.engine import images
    from orchestrator.plan.state import state_dir
    from orchestrator.run import dryrun, history
    from orchestrator.run.bake import hand_off_ref
    from orchestrator.run.jobs import pending
    from orchestrator.run.steps import job_versions
    from orchestrator.run.workspace import changes_since_last, read_passed

    if selection.note is not None:
        view.print(selection.note)
        return
    jobset = selection.jobset
    versions = {name: m.version for name, m in manifests.items()}
    wanted = {
        k: (j.target, hand_off_ref(j.target, versions))
        for k, j in jobset.jobs.items()
        if not j.test
    }
    engine = connection.engine
    found: set[str] = set()
    if engine is not None and not request.options.force:
        found |= set(await images.find(engine, wanted))
    state = state_dir(project.plan)
    job_version = job_versions(jobset, manifests)
    passed = read_passed(state)
    found |= {k for k, j in jobset.jobs.items() if j.test and passed.get(k) == job_version[k]}
    changes = changes_since_last(state, {n: manifests[n] for n in selection.names})
    statuses = dryrun.decide(
        jobset,
        job_version,
        found=frozenset(found),
        changes=changes,
        force=request.options.force,
        known=engine is not None,
    )
    todo = pending(jobset, [k for k, s in statuses.items() if s.status == dryrun.UP_TO_DATE])
    options = request.options
    bakes = dryrun.planned_bakes(
        todo,
        slots=options.parallel,
        max_batch=options.max_batch,
        chain=options.chain and not connection.pool,
        weights=history.load(state / "history.json"),
    )
    width = view.console.width if view.console.is_terminal else None
    view.print(dryrun.render(statuses, bakes, verb=request.verb, width=width).rstrip("\n"))


def mask_in_runner(masker: Masker, stream: TextIO | None = None) -> None:
    """`::add-mask::` for each secret value (each line of one), before anything builds: the
    runner then masks them in the whole job's log, not only in what orch prints (masked
    already). Not on a terminal, where a person would read the values, not a runner."""
    out = stream or sys.stdout
    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):  # a closed stream, or one that cannot tell
        terminal = False
    if not masker.values or terminal:
        return
    from orchestrator.ci import github

    for value in masker.single_lines:
        out.write(github.add_mask(value) + "\n")
    out.flush()


# --- report -------------------------------------------------------------------------------


def report(
    project: Project,
    selection: Selection,
    outcome: RunOutcome,
    request: Request,
    view: StatusView,
    *,
    stream: TextIO | None = None,
) -> tuple[str, ...]:
    """The terminal summary, then each file the run was asked for: `--report`, `--junit`, and
    GitHub's step summary, outputs and annotations. Returns what could not be handed on, each
    printed as an error: the step outputs, which the workflow's later steps read."""
    from orchestrator.report import summary as reports

    if selection.note is not None:
        view.print(selection.note)
    else:
        reports.summary(view, outcome)
    if request.report is not None:
        request.report.write(jsontext.dumps(reports.document(outcome)) + "\n")
    if request.junit is not None:
        from orchestrator.ci.junit import junit_xml

        request.junit.write(junit_xml(outcome))
    deps = selection.jobset.deps
    title = f"orch {request.verb}"
    if request.trace is not None:
        from orchestrator.report.trace import chrome_trace

        request.trace.write(jsontext.dumps(chrome_trace(outcome, deps, title=title)) + "\n")
    if request.timeline is not None:
        from orchestrator.report.timeline import timeline_html

        request.timeline.write(timeline_html(outcome, deps, title=title))
    if not wants_github(request):
        return ()
    from orchestrator.ci import outputs

    github_files = outputs.target_from(ci=request.ci)
    if github_files is None:
        return ()
    from orchestrator.report import timing

    path = timing.critical_path(outcome.results, deps)
    critical = timing.critical_line(path, timing.span_s(outcome.results)) if path else None
    affected = selection.affected_names()
    written = outputs.write_github(
        github_files, project, outcome, affected=affected, stream=stream, critical=critical
    )
    for warning in written.warnings:
        view.print(f"warning: {warning}")
    for error in written.errors:
        view.print(f"error: {error}", style="bold red")
    return written.errors


# --- the whole pipeline -----------------------------------------------------------------------


ViewFor = Callable[[Sequence[str]], "StatusView"]


async def run(
    project: Project,
    request: Request,
    view_for: ViewFor,
    *,
    engine: BakeEngine | None = None,
    interrupts: Interrupts | None = None,
) -> Ran:
    """select -> connect -> resolve -> settle -> build -> gate -> publish -> record -> report.

    `engine`: one already connected (`orch dev`'s, for each rebuild of its session)."""
    written = {
        "--report": request.report,
        "--junit": request.junit,
        "--trace": request.trace,
        "--timeline": request.timeline,
    }
    if request.dry_run and (given := [o for o, d in written.items() if d is not None]):
        raise UsageError(
            f"--dry-run writes nothing, and {given[0]} writes a file",
            hint=f"leave out {' and '.join(given)}, or --dry-run",
        )
    check_destinations(project, written)
    selection = select(project, request)
    if engine is None:
        connection = await connect(project, selection, request)
    else:
        connection = Connection(engine if selection.names else None)
    manifests = await resolve(project, selection, connection, request)
    if request.dry_run:
        await dry_run(project, selection, connection, manifests, request, view_for(()))
        return Ran(RunOutcome(results=(), test=request.test), selection, manifests)
    view = view_for(selection.jobset.order)
    if selection.affected is not None and selection.affected.warning:
        view.print(f"warning: {selection.affected.warning}")
    for warning in connection.warnings:
        view.print(f"warning: {warning}")
    with view:
        outcome = await execute(
            project, selection, connection, manifests, request, view=view, interrupts=interrupts
        )
    errors = report(project, selection, outcome, request, view)
    if request.prune and outcome.ok and not errors and not outcome.interrupted:
        errors += await prune_after(project, selection, connection, request, view)
    return Ran(outcome, selection, manifests, errors)


async def prune_after(
    project: Project,
    selection: Selection,
    connection: Connection,
    request: Request,
    view: StatusView,
) -> tuple[str, ...]:
    """prune: `orch prune` of the run's targets (the default bound), once it succeeded (those
    it started from when nothing needed building); what could not be removed fails the run,
    as `orch prune` exits 1 for it."""
    import io

    from orchestrator.prune.sweep import prune
    from orchestrator.prune.sweep import report as said

    engine = connection.engine
    if engine is None:
        from orchestrator.engine.docker import Engine

        engine = Engine()
    names = selection.names or starting_names(project, request)
    swept = await prune(project, engine, names=names)  # type: ignore[arg-type]
    text = io.StringIO()
    said(swept, dry_run=False, out=text)
    view.print(text.getvalue().rstrip("\n"))
    return tuple(swept.problems)
