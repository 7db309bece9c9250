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
from orchestrator.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    OrchError,
    UsageError,
)
from orchestrator.run.defaults import DEFAULT_MAX_BATCH, DEFAULT_PARALLEL

if TYPE_CHECKING:
    from orchestrator.inputs.changes import Affected
    from orchestrator.project import Project

DEFAULT_PLAN = "buildplan.yaml"


def _project(ctx: click.Context, registry: str | None = None) -> Project:
    from orchestrator.project import load_project

    return load_project(Path(ctx.obj["plan"]), registry=registry)


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


def _since_option(fn: Any) -> Any:
    return click.option(
        "--since",
        metavar="REF",
        help="Only what a change since REF (its merge base with HEAD) affects, "
        "uncommitted and untracked files included.",
    )(fn)


def _affected(project: Project, since: str | None) -> Affected | None:
    if since is None:
        return None
    from orchestrator.inputs.changes import affected

    return affected(project, since)


def _by_since(names: Sequence[str], affected: Affected | None) -> list[str]:
    return list(names) if affected is None else [n for n in names if n in affected.targets]


@cli.command("plan")
@click.argument("targets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--bake-file",
    help="Write one bake file of the selected targets, for a hand-run `docker buildx bake`.",
)
@_since_option
@click.pass_context
def plan_cmd(
    ctx: click.Context,
    targets: tuple[str, ...],
    as_json: bool,
    bake_file: str | None,
    since: str | None,
) -> None:
    """Show what would be built, in build order, with each target's version.

    With TARGETS, only those and everything upstream of them. With --since, each target's
    status too (unaffected, up-to-date or pending), which asks the engine what is there.
    """
    from orchestrator.files import destination
    from orchestrator.report import planview
    from orchestrator.run import pipeline, resolve
    from orchestrator.run.bake import RunInputs, bake_definitions
    from orchestrator.run.bake import bake_file as make_bake_file
    from orchestrator.run.jobs import build_job

    out = destination(bake_file) if bake_file is not None else None
    project = _project(ctx)
    pipeline.check_destinations(project, {"--bake-file": out})
    names = project.graph.select(list(targets))
    selection = None
    if since is not None:
        # What `orch build --since` would run: the same selection step.
        selection = pipeline.select(project, pipeline.Request(targets=targets, since=since))
    run = selection.names if selection is not None else []
    # Under --since only what the build would run has its version worked out.
    wanted = names if selection is None else run
    resolved, found = resolve.look_up(project, wanted, find=run)
    if not resolved.engine:
        click.echo(f"warning: {resolve.NO_ENGINE}", err=True)
    versions = resolved.versions
    labels = {name: m.inputs for name, m in resolved.manifests.items()}  # as a build labels them
    statuses = None
    if selection is not None and selection.affected is not None:
        needed_by = {n: [d for d in run if n in project.graph.deps(d)] for n in run}
        statuses = planview.statuses(
            names, versions, selection.affected, needed_by, found, known=resolved.engine
        )
    plan = project.plan
    if out is not None:
        jobs = [build_job(plan.targets[n]) for n in names]
        inputs = RunInputs(versions=versions, inputs=labels)
        data = make_bake_file(bake_definitions(project, jobs, link_targets=True, inputs=inputs))
        out.write(json.dumps(data, indent=2) + "\n")
        if out.path is not None:
            click.echo(
                f"wrote {out.shown}: `docker buildx bake -f {out.path}` from {plan.root}",
                err=True,
            )
        if not as_json:
            return
    if as_json:
        shown = planview.plan_json(project, names, versions, statuses, labels)
        click.echo(json.dumps(shown, indent=2))
    else:
        planview.plan_table(project, names, versions, statuses)


@cli.command("why")
@click.argument("target")
@_since_option
@click.pass_context
def why_cmd(ctx: click.Context, target: str, since: str | None) -> None:
    """Say why TARGET would be built, or why not: what changed, which inputs moved."""
    from orchestrator.inputs.versions import Manifest
    from orchestrator.report import why
    from orchestrator.run import resolve
    from orchestrator.run.bake import hand_off_ref
    from orchestrator.run.workspace import last_manifest

    project = _project(ctx)
    project.graph.select([target])  # an unknown name fails here, with a suggestion
    affected = _affected(project, since)
    resolved, found = resolve.look_up(project, [target], find=[target])
    manifests, versions, known = resolved.manifests, resolved.versions, resolved.engine
    saved = last_manifest(project.plan.root, target)
    try:
        last = Manifest.from_json(saved) if saved else None
    except (KeyError, TypeError, ValueError):
        last = None  # written by another orch: nothing to compare with
    explained = why.explain(
        target,
        manifest=manifests[target],
        ref=hand_off_ref(project.plan.targets[target], versions),
        found=found.get(target),
        known=known,
        last=last,
        affected=affected,
        upstream_versions=versions,
    )
    click.echo(explained.render(), nl=False)


@cli.command("matrix")
@_since_option
@click.pass_context
def matrix_cmd(ctx: click.Context, since: str | None) -> None:
    """Print a JSON matrix for GitHub's strategy.matrix: one entry per affected service (every
    service without --since), with what it needs built first and the targets it alone builds;
    `shared` lists what more than one entry needs, to build once before the fan-out."""
    from orchestrator.ci.matrix import matrix

    project = _project(ctx)
    click.echo(json.dumps(matrix(project, _affected(project, since)), indent=2))


@cli.command("size")
@click.argument("target")
@click.pass_context
def size_cmd(ctx: click.Context, target: str) -> None:
    """Show TARGET's image layer by layer (largest first, with the Dockerfile line of each)
    and the size of every named stage of its Dockerfile built with --target."""
    import anyio

    from orchestrator.engine.docker import Engine
    from orchestrator.report.layers import size_report
    from orchestrator.run import resolve

    project = _project(ctx)
    project.graph.select([target])  # an unknown name fails here, with a suggestion
    engine = Engine()
    engine.check()

    async def report() -> str:
        resolved = await resolve.versions(project, [target], engine)
        return (await size_report(project, target, engine, resolved.versions)).render()

    click.echo(anyio.run(report), nl=False)


@cli.command("graph")
@click.argument("targets", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
)
@_since_option
@click.pass_context
def graph_cmd(ctx: click.Context, targets: tuple[str, ...], fmt: str, since: str | None) -> None:
    """Draw the dependency graph (of TARGETS and their upstream, or of the whole plan).

    With --since, of what a change since REF affects, and what that builds on.
    """
    from orchestrator.report import drawing

    project = _project(ctx)
    names = project.graph.select(list(targets))
    affected = _affected(project, since)
    if affected is not None:
        hit = _by_since(names, affected)
        names = project.graph.select(hit) if hit else ()
    render = {
        "text": drawing.render_text,
        "mermaid": drawing.render_mermaid,
        "dot": drawing.render_dot,
    }
    click.echo(render[fmt](project.graph, names), nl=False)


@cli.command("lint")
@click.argument("targets", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
)
@click.option(
    "--hadolint/--no-hadolint",
    default=True,
    show_default=True,
    help="Merge hadolint's findings when it is installed.",
)
@click.pass_context
def lint_cmd(ctx: click.Context, targets: tuple[str, ...], fmt: str, hadolint: bool) -> None:
    """Check the Dockerfiles of TARGETS (every target when none) against the multi-stage
    practice: exit 1 when an error is found, 0 with warnings only."""
    from orchestrator.lint.command import lint_command

    ctx.exit(lint_command(_project(ctx), targets, fmt, use_hadolint=hadolint))


def _engine_options(fn: Any) -> Any:
    """The options of every command that builds, `orch dev` included."""
    fn = click.option(
        "-j",
        "--parallel",
        type=click.IntRange(1, 64),
        default=DEFAULT_PARALLEL,
        show_default=True,
        help="Bake invocations at once (each builds the targets ready together).",
    )(fn)
    fn = click.option("--jobs", "jobs_alias", type=click.IntRange(1, 64), hidden=True)(fn)
    fn = click.option(
        "--max-batch",
        type=click.IntRange(1, None),
        default=DEFAULT_MAX_BATCH,
        show_default=True,
        help="Most targets one bake invocation builds: BuildKit fails whole bakes with "
        "'no such job' or a deadline once about 75-100 targets are in flight at once.",
    )(fn)
    fn = click.option(
        "--no-chain",
        is_flag=True,
        help="Build each level in a bake of its own, after the images it builds on were "
        "exported (default: a target goes into its upstream's bake, linked, when that bake "
        "holds every upstream of it still to build).",
    )(fn)
    fn = click.option(
        "--builder",
        help="The buildx builder to use, or several separated by commas to spread the run "
        "over (default: the plan's builders:, else the current one).",
    )(fn)
    fn = click.option(
        "--retries",
        type=click.IntRange(0, 10),
        default=None,
        help="Attempts more for a job that failed for a passing reason: a registry's 5xx, a "
        "reset connection, a lost builder session (default: 2 under CI, else 0).",
    )(fn)
    fn = click.option(
        "--pull",
        is_flag=True,
        help="Look every external base image up in its registry first: a refreshed one "
        "rebuilds what uses it.",
    )(fn)
    return click.option(
        "--registry",
        metavar="HOST[:PORT]",
        help="Push every image there, and hand images on through it, as if the plan's "
        "defaults said `registry: HOST[:PORT]` (a target's own registry: stays).",
    )(fn)


def _run_options(fn: Any) -> Any:
    """The options of `orch build` and `orch test`."""
    fn = _engine_options(fn)
    fn = click.option("--fail-fast", is_flag=True, help="Stop everything at the first failure.")(fn)
    fn = click.option(
        "--keep-going", is_flag=True, help="Build what does not depend on a failure (default)."
    )(fn)
    fn = click.option(
        "--force", is_flag=True, help="Build every selected target, even those up to date."
    )(fn)
    fn = _since_option(fn)
    fn = click.option(
        "--ci",
        type=click.Choice(["github", "none"]),
        default=None,
        help="Write results where that CI looks (default: github when GITHUB_ACTIONS=true).",
    )(fn)
    return click.option(
        "--report",
        metavar="FILE",
        help="Write a JSON report of the run to FILE (- for standard output).",
    )(fn)


def _registry_option(registry: str | None) -> str | None:
    if registry is None:
        return None
    from orchestrator.plan.references import fixed_registry, registry_problem

    problem = registry_problem(registry)
    if problem is not None:
        raise UsageError(
            f"--registry {registry!r} is not a registry address: {problem}",
            hint=f"write it as host[:port][/path], such as --registry {fixed_registry(registry)}",
        )
    return registry


def _request(targets: Sequence[str], *, test: bool, **opts: Any) -> Any:
    """The pipeline's request from the options of build, test and dev."""
    from orchestrator.files import destination
    from orchestrator.run.defaults import default_retries
    from orchestrator.run.pipeline import Request
    from orchestrator.run.steps import RunOptions

    if opts.get("fail_fast") and opts.get("keep_going"):
        raise UsageError("--fail-fast and --keep-going contradict each other", hint="pick one")
    retries = opts.get("retries")
    options = RunOptions(
        parallel=opts.get("jobs_alias") or opts["parallel"],
        max_batch=opts["max_batch"],
        fail_fast=bool(opts.get("fail_fast")),
        force=bool(opts.get("force")),
        retries=retries if retries is not None else default_retries(os.environ),
        push=bool(opts.get("push")),
        chain=not opts["no_chain"],
    )
    return Request(
        test=test,
        targets=tuple(targets),
        since=opts.get("since"),
        builder=opts.get("builder"),
        pull=bool(opts.get("pull")),
        options=options,
        report=destination(opts["report"]) if opts.get("report") is not None else None,
        junit=destination(opts["junit"]) if opts.get("junit") else None,
        ci=opts.get("ci"),
    )


def _run(ctx: click.Context, targets: Sequence[str], *, test: bool, **opts: Any) -> int:
    """The pipeline (orchestrator.run.pipeline) for `orch build` and `orch test`."""
    import anyio

    from orchestrator.errors import unwrapped
    from orchestrator.report.console import StatusView, wants_live
    from orchestrator.run import pipeline
    from orchestrator.run.interrupts import catch_interrupts

    request = _request(targets, test=test, **opts)
    project = _project(ctx, _registry_option(opts["registry"]))

    def view_for(order: Sequence[str]) -> StatusView:
        return StatusView(list(order), live=wants_live(sys.stderr))

    with catch_interrupts() as interrupts:
        ran = anyio.run(
            lambda: unwrapped(pipeline.run(project, request, view_for, interrupts=interrupts))
        )
    return int(ran.exit_code)


@cli.command("build")
@click.argument("targets", nargs=-1)
@_run_options
@click.option(
    "--push",
    is_flag=True,
    help="Publish all or nothing: build and push every target under its versioned tag, then "
    "move the plan's tags, only if every one succeeded.",
)
@click.pass_context
def build_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build TARGETS (every service when none) and what they need, in dependency order."""
    ctx.exit(_run(ctx, targets, test=False, **opts))


@cli.command("test")
@click.argument("targets", nargs=-1)
@_run_options
@click.option(
    "--junit",
    metavar="FILE",
    help="Write the test stages as JUnit XML to FILE (- for standard output).",
)
@click.pass_context
def test_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build the test stages of TARGETS (every service with one when none), with --target."""
    ctx.exit(_run(ctx, targets, test=True, **opts))


@cli.command("dev")
@click.argument("service")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--run", "run_container", is_flag=True, help="Run its container after each build.")
@click.option("-p", "--port", "ports", multiple=True, help="Publish a port, as docker run -p.")
@click.option("-e", "--env", multiple=True, help="Set NAME=VALUE in the container (or pass NAME).")
@_engine_options
@click.pass_context
def dev_cmd(
    ctx: click.Context,
    /,
    service: str,
    args: tuple[str, ...],
    run_container: bool,
    ports: tuple[str, ...],
    env: tuple[str, ...],
    **opts: Any,
) -> None:
    """Build SERVICE and what it needs, then rebuild on every edit of their inputs.

    With --run, (re)start its container after each successful build, as the plan's `dev:`
    entry says (ports, env, command), with ARGS after `--` as its command. Ctrl-C stops all.
    Each build is the pipeline of `orch build SERVICE`, with these options.
    """
    from orchestrator.dev.session import command

    if opts["builder"] and "," in opts["builder"]:
        raise UsageError(
            f"--builder {opts['builder']!r}: orch dev builds on one builder",
            hint="name one, such as --builder " + opts["builder"].split(",")[0],
        )
    request = _request((service,), test=False, ci="none", **opts)
    ctx.exit(
        command(
            Path(ctx.obj["plan"]),
            service,
            request=request,
            registry=_registry_option(opts["registry"]),
            run_container=run_container,
            ports=ports,
            env=env,
            args=args,
        )
    )


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
