"""The commands that read the plan and say what is there: plan, why, matrix, size, graph, lint."""

from __future__ import annotations

import click

from orchestrator import jsontext
from orchestrator.commands.group import (
    affected_since,
    by_since,
    cli,
    expand_targets,
    project_of,
    set_option,
    since_option,
    target_argument,
)
from orchestrator.errors import UsageError


@cli.command("plan")
@target_argument("targets", many=True)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--wide", is_flag=True, help="One table however wide, instead of a block per target.")
@click.option(
    "--bake-file",
    help="Write one bake file of the selected targets, for a hand-run `docker buildx bake`.",
)
@since_option
@set_option
@click.pass_context
def plan_cmd(
    ctx: click.Context,
    targets: tuple[str, ...],
    as_json: bool,
    wide: bool,
    bake_file: str | None,
    since: str | None,
    sets: tuple[str, ...],
) -> None:
    """Show what would be built, in build order, with each target's version.

    With TARGETS, only those and everything upstream of them. Each target's status and why:
    up-to-date or pending, as `orch build --dry-run` says (the engine is asked what is there);
    with --since, unaffected too.
    """
    from orchestrator.files import destination
    from orchestrator.report import planview
    from orchestrator.run import pipeline, resolve
    from orchestrator.run.bake import RunInputs, bake_definitions
    from orchestrator.run.bake import bake_file as make_bake_file
    from orchestrator.run.jobs import build_job

    out = destination(bake_file) if bake_file is not None else None
    project = project_of(ctx, sets=sets)
    pipeline.check_destinations(project, {"--bake-file": out})
    names = project.graph.select(expand_targets(project, targets))
    selection = None
    if since is not None:
        # What `orch build --since` would run: the same selection step.
        selection = pipeline.select(project, pipeline.Request(targets=targets, since=since))
        if selection.affected is not None and selection.affected.warning:
            click.echo(f"warning: {selection.affected.warning}", err=True)
    run = selection.names if selection is not None else list(names)
    # Every target shown has its version; under --since only what the build would run is
    # looked up in the engine.
    resolved, found = resolve.look_up(project, names, find=run)
    if not resolved.engine:
        click.echo(f"warning: {resolve.NO_ENGINE}", err=True)
    versions = resolved.versions
    labels = {name: m.inputs for name, m in resolved.manifests.items()}  # as a build labels them
    statuses: dict[str, tuple[str, str]] | None = None
    if selection is not None and selection.affected is not None:
        needed_by = {n: [d for d in run if n in project.graph.deps(d)] for n in run}
        statuses = planview.statuses(
            names, versions, selection.affected, needed_by, found, known=resolved.engine
        )
    elif selection is None:
        # What `orch build` of these targets would find: the same decision as --dry-run's.
        from orchestrator.plan.state import state_dir
        from orchestrator.run import dryrun
        from orchestrator.run.jobs import build_jobs
        from orchestrator.run.workspace import changes_since_last

        jobset = build_jobs(project, names)
        decided = dryrun.decide(
            jobset,
            versions,
            found=frozenset(found),
            changes=changes_since_last(state_dir(project.plan), resolved.manifests),
            known=resolved.engine,
        )
        statuses = {k: (s.status, s.reason) for k, s in decided.items()}
    plan = project.plan
    if out is not None:
        jobs = [build_job(plan.targets[n]) for n in names]
        inputs = RunInputs(versions=versions, inputs=labels)
        data = make_bake_file(bake_definitions(project, jobs, link_targets=True, inputs=inputs))
        out.write(jsontext.dumps(data) + "\n")
        if out.path is not None:
            click.echo(
                f"wrote {out.shown}: `docker buildx bake -f {out.path}` from {plan.root}",
                err=True,
            )
        if not as_json:
            return
    if as_json:
        shown = planview.plan_json(project, names, versions, statuses, labels)
        click.echo(jsontext.dumps(shown))
    else:
        planview.plan_table(project, names, versions, statuses, wide=wide)


@cli.command("why")
@target_argument("target", many=False)
@since_option
@click.pass_context
def why_cmd(ctx: click.Context, target: str, since: str | None) -> None:
    """Say why TARGET would be built, or why not: what changed, which inputs moved."""
    from orchestrator.inputs.versions import Manifest
    from orchestrator.plan.state import state_dir
    from orchestrator.report import why
    from orchestrator.run import resolve
    from orchestrator.run.bake import hand_off_ref
    from orchestrator.run.workspace import last_manifest

    project = project_of(ctx)
    chosen = expand_targets(project, [target])  # an unknown name fails here, with a suggestion
    if len(chosen) != 1:
        raise UsageError(
            f"{target!r} selects {len(chosen)} targets ({', '.join(chosen[:5])}"
            f"{', ...' if len(chosen) > 5 else ''}); `orch why` explains one",
            hint="name one target",
        )
    (target,) = chosen
    affected = affected_since(project, since)
    resolved, found = resolve.look_up(project, [target], find=[target])
    manifests, versions, known = resolved.manifests, resolved.versions, resolved.engine
    saved = last_manifest(state_dir(project.plan), target)
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
@target_argument("targets", many=True)
@since_option
@click.pass_context
def matrix_cmd(ctx: click.Context, targets: tuple[str, ...], since: str | None) -> None:
    """Print a JSON matrix for GitHub's strategy.matrix: one entry per affected service (every
    service without --since; with TARGETS, the services among them), with what it needs built
    first and the targets it alone builds;
    `shared` lists what more than one entry needs, to build once before the fan-out. In GitHub
    Actions it also sets the step outputs `matrix` ({"include": [...]}), `shared` (names,
    space-separated), `affected` (a JSON list of services) and `any` (true or false)."""
    from orchestrator.ci.matrix import matrix, step_outputs
    from orchestrator.ci.outputs import target_from, write_outputs

    project = project_of(ctx)
    among = expand_targets(project, targets) if targets else None
    document = matrix(project, affected_since(project, since), among=among)
    click.echo(jsontext.dumps(document))
    github = target_from(ci=None)
    if github is not None:
        from orchestrator.errors import OrchError

        for problem in write_outputs(github, step_outputs(document)):
            raise OrchError(problem, hint="the runner names this file; check the step's env")


@cli.command("size")
@target_argument("target", many=False)
@click.option(
    "--platform",
    metavar="P",
    help="The platform of a multi-platform image to show (Docker Engine 28 or later).",
)
@click.pass_context
def size_cmd(ctx: click.Context, target: str, platform: str | None) -> None:
    """Show TARGET's image layer by layer (largest first, with the Dockerfile line of each,
    the upstream target's Dockerfile for an inherited layer) and the size of every named stage
    of its Dockerfile built with --target."""
    import anyio

    from orchestrator.commands.group import platforms_of
    from orchestrator.engine.docker import Engine
    from orchestrator.report.layers import size_report
    from orchestrator.run import resolve

    if platform is not None:
        (platform,) = platforms_of([platform])[:1] or (platform,)
    project = project_of(ctx)
    project.graph.select([target])  # an unknown name fails here, with a suggestion
    engine = Engine()

    async def report() -> str:
        await engine.check_async()
        resolved = await resolve.versions(project, [target], engine)
        made = await size_report(project, target, engine, resolved.versions, platform)
        return made.render()

    click.echo(anyio.run(report), nl=False)


@cli.command("graph")
@target_argument("targets", many=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "dot"]),
    default="text",
    show_default=True,
)
@since_option
@click.pass_context
def graph_cmd(ctx: click.Context, targets: tuple[str, ...], fmt: str, since: str | None) -> None:
    """Draw the dependency graph (of TARGETS and their upstream, or of the whole plan).

    With --since, of what a change since REF affects, and what that builds on.
    """
    from orchestrator.report import drawing

    project = project_of(ctx)
    names = project.graph.select(expand_targets(project, targets))
    affected = affected_since(project, since)
    if affected is not None:
        hit = by_since(names, affected)
        names = project.graph.select(hit) if hit else ()
    render = {
        "text": drawing.render_text,
        "mermaid": drawing.render_mermaid,
        "dot": drawing.render_dot,
    }
    click.echo(render[fmt](project.graph, names), nl=False)


@cli.command("lint")
@target_argument("targets", many=True)
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

    project = project_of(ctx)
    ctx.exit(lint_command(project, expand_targets(project, targets), fmt, use_hadolint=hadolint))
