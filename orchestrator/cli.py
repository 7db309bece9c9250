"""The command line: parses arguments, wires the steps of a run together, maps errors to exits."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator import __version__
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, OrchError, UsageError

if TYPE_CHECKING:
    from orchestrator.project import Project

DEFAULT_PLAN = "buildplan.yaml"


def _project(ctx: click.Context) -> Project:
    from orchestrator.project import load_project

    return load_project(Path(ctx.obj["plan"]))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "--file",
    "plan",
    default=DEFAULT_PLAN,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The build plan.",
)
@click.version_option(__version__, prog_name="orch")
@click.pass_context
def cli(ctx: click.Context, plan: Path) -> None:
    """orch: build a monorepo's images in dependency order with docker buildx bake."""
    ctx.obj = {"plan": plan}


@cli.command("plan")
@click.argument("targets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--bake-file",
    help="Write one bake file of the selected targets, for a hand-run `docker buildx bake`.",
)
@click.pass_context
def plan_cmd(
    ctx: click.Context, targets: tuple[str, ...], as_json: bool, bake_file: str | None
) -> None:
    """Show what would be built, in build order, without touching Docker.

    With TARGETS, only those and everything upstream of them.
    """
    from orchestrator import planview
    from orchestrator.bake import bake_definitions
    from orchestrator.bake import bake_file as make_bake_file
    from orchestrator.files import destination
    from orchestrator.jobs import build_job

    out = destination(bake_file) if bake_file is not None else None
    project = _project(ctx)
    names = project.graph.select(list(targets))
    plan = project.plan
    if out is not None:
        jobs = [build_job(plan.targets[n]) for n in names]
        data = make_bake_file(bake_definitions(project, jobs, link_targets=True))
        out.write(json.dumps(data, indent=2) + "\n")
        if out.path is not None:
            click.echo(
                f"wrote {out.shown}: `docker buildx bake -f {out.path}` from {plan.root}",
                err=True,
            )
        if not as_json:
            return
    if as_json:
        click.echo(json.dumps(planview.plan_json(project, names), indent=2))
    else:
        planview.plan_table(project, names)


@cli.command("graph")
@click.argument("targets", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
)
@click.pass_context
def graph_cmd(ctx: click.Context, targets: tuple[str, ...], fmt: str) -> None:
    """Draw the dependency graph (of TARGETS and their upstream, or of the whole plan)."""
    from orchestrator import drawing

    project = _project(ctx)
    names = project.graph.select(list(targets))
    render = {
        "text": drawing.render_text,
        "mermaid": drawing.render_mermaid,
        "dot": drawing.render_dot,
    }
    click.echo(render[fmt](project.graph, names), nl=False)


def _run_options(fn: Any) -> Any:
    fn = click.option(
        "-j",
        "--parallel",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Bake invocations at once (each builds the targets ready together).",
    )(fn)
    fn = click.option("--jobs", "jobs_alias", type=click.IntRange(1, 64), hidden=True)(fn)
    fn = click.option(
        "--max-batch",
        type=click.IntRange(1, None),
        default=None,
        help="Most targets one bake invocation builds (default: all that are ready).",
    )(fn)
    fn = click.option("--fail-fast", is_flag=True, help="Stop everything at the first failure.")(fn)
    fn = click.option(
        "--keep-going", is_flag=True, help="Build what does not depend on a failure (default)."
    )(fn)
    fn = click.option("--builder", help="The buildx builder to use (default: the current one).")(fn)
    return click.option(
        "--report",
        metavar="FILE",
        help="Write a JSON report of the run to FILE (- for standard output).",
    )(fn)


def _run(ctx: click.Context, targets: Sequence[str], *, test: bool, **opts: Any) -> int:
    """load the plan -> select jobs -> check the engine -> run -> summary -> report."""
    from orchestrator import jobs, report, run
    from orchestrator.console import StatusView, wants_live
    from orchestrator.engine import Engine
    from orchestrator.files import destination
    from orchestrator.interrupts import catch_interrupts

    if opts["fail_fast"] and opts["keep_going"]:
        raise UsageError("--fail-fast and --keep-going contradict each other", hint="pick one")
    out = destination(opts["report"]) if opts["report"] is not None else None
    project = _project(ctx)
    jobset = jobs.select_test_jobs(project, targets) if test else jobs.build_jobs(project, targets)
    engine = Engine(builder=opts["builder"])
    engine.check()
    options = run.RunOptions(
        parallel=opts["jobs_alias"] or opts["parallel"],
        max_batch=opts["max_batch"],
        fail_fast=opts["fail_fast"],
    )
    view = StatusView(list(jobset.order), live=wants_live(sys.stderr))
    with catch_interrupts() as interrupts:
        with view:
            outcome = run.run(
                project,
                jobset,
                engine,
                options=options,
                test=test,
                on_event=view.event,
                interrupts=interrupts,
            )
        report.summary(view, outcome)
        if out is not None:
            out.write(json.dumps(report.document(outcome), indent=2) + "\n")
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if outcome.ok else EXIT_FAILED


@cli.command("build")
@click.argument("targets", nargs=-1)
@_run_options
@click.pass_context
def build_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build TARGETS (every service when none) and what they need, in dependency order."""
    ctx.exit(_run(ctx, targets, test=False, **opts))


@cli.command("test")
@click.argument("targets", nargs=-1)
@_run_options
@click.pass_context
def test_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build the test stages of TARGETS (every service with one when none), with --target."""
    ctx.exit(_run(ctx, targets, test=True, **opts))


def main(argv: Sequence[str] | None = None) -> int:
    """Run orch; every user error becomes a message and an exit code, never a traceback."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except OrchError as exc:
        click.echo(exc.render(), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `orch plan | head`: the reader left; nothing to report.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_OK
