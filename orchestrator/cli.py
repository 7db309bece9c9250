"""The command line: parses arguments, wires the steps of a run together, maps errors to exits."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from orchestrator import __version__
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, OrchError, UsageError

DEFAULT_PLAN = "buildplan.yaml"


def _project(ctx: click.Context) -> Any:
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
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one bake file of the selected targets, for a hand-run `docker buildx bake`.",
)
@click.pass_context
def plan_cmd(
    ctx: click.Context, targets: tuple[str, ...], as_json: bool, bake_file: Path | None
) -> None:
    """Show what would be built, in build order, without touching Docker.

    With TARGETS, only those and everything upstream of them.
    """
    from orchestrator import show
    from orchestrator.bake import bake_file as make_bake_file
    from orchestrator.bake import bake_name, bake_target, build_job

    project = _project(ctx)
    names = project.graph.select(list(targets))
    plan = project.plan
    if bake_file is not None:
        definitions = {
            bake_name(n): bake_target(
                build_job(plan.targets[n]),
                root=plan.root,
                upstream=project.upstream(n),
                link_targets=True,
            )
            for n in names
        }
        bake_file.write_text(json.dumps(make_bake_file(definitions), indent=2) + "\n")
        click.echo(
            f"wrote {bake_file}: `docker buildx bake -f {bake_file.resolve()}` from {plan.root}",
            err=True,
        )
        if not as_json:
            return
    if as_json:
        click.echo(json.dumps(show.plan_json(project, names), indent=2))
    else:
        show.plan_table(project, names)


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
        "--jobs",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Concurrent bake invocations.",
    )(fn)
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
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write a JSON report of the run here.",
    )(fn)


def _run(ctx: click.Context, targets: Sequence[str], *, test: bool, **opts: Any) -> int:
    from orchestrator import jobs, run, show
    from orchestrator.console import Progress, wants_live
    from orchestrator.engine import Engine

    if opts["fail_fast"] and opts["keep_going"]:
        raise UsageError("--fail-fast and --keep-going contradict each other", hint="pick one")
    project = _project(ctx)
    jobset = jobs.select_test_jobs(project, targets) if test else jobs.build_jobs(project, targets)
    engine = Engine(builder=opts["builder"])
    engine.check()
    progress = Progress(list(jobset.order), live=wants_live(sys.stderr))
    summary = run.execute(
        project,
        jobset,
        engine,
        jobs=opts["jobs"],
        max_batch=opts["max_batch"],
        fail_fast=opts["fail_fast"],
        progress=progress,
    )
    show.summary(progress, summary, test=test)
    if opts["report"] is not None:
        from orchestrator.atomic import write_json_atomic

        write_json_atomic(opts["report"], run.report(summary, test=test))
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_FAILED


@cli.command("build")
@click.argument("targets", nargs=-1)
@_run_options
@click.pass_context
def build_cmd(ctx: click.Context, targets: tuple[str, ...], **opts: Any) -> None:
    """Build TARGETS (every service when none) and what they need, in dependency order."""
    ctx.exit(_run(ctx, targets, test=False, **opts))


@cli.command("test")
@click.argument("targets", nargs=-1)
@_run_options
@click.pass_context
def test_cmd(ctx: click.Context, targets: tuple[str, ...], **opts: Any) -> None:
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
