"""The click group every command is on, its global options, and what the commands share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from orchestrator import __version__
from orchestrator.errors import UsageError
from orchestrator.run.defaults import DEFAULT_MAX_BATCH, DEFAULT_PARALLEL

if TYPE_CHECKING:
    from orchestrator.inputs.changes import Affected
    from orchestrator.plan.overrides import Override
    from orchestrator.project import Project

DEFAULT_PLAN = "buildplan.yaml"


def project_of(
    ctx: click.Context,
    registry: str | None = None,
    *,
    sets: Sequence[str] = (),
    no_cache: bool = False,
    no_cache_filter: Sequence[str] = (),
    platform: Sequence[str] = (),
) -> Project:
    """The project of the command line's plan, with `--registry`, `--set`, the no-cache flags
    and `--platform` applied."""
    from orchestrator.project import load_project

    overrides: tuple[Override, ...] = ()
    if sets:
        from orchestrator.plan.overrides import parse

        overrides = tuple(parse(s) for s in sets)
    return load_project(
        Path(ctx.obj["plan"]),
        registry=registry,
        overrides=overrides,
        no_cache=no_cache,
        no_cache_filter=no_cache_filter,
        platform=platform,
    )


def platforms_of(values: Sequence[str]) -> tuple[str, ...]:
    """`--platform P[,P]` (repeatable) as a list of platforms; a UsageError for one that is not
    OS/ARCH[/VARIANT]."""
    import re

    found: list[str] = []
    for value in values:
        for p in value.split(","):
            p = p.strip()
            if not p:
                continue
            if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", p):
                raise UsageError(
                    f"--platform {p!r} is not a platform",
                    hint="write OS/ARCH, such as linux/amd64 or linux/arm64 (or linux/arm/v7)",
                )
            found.append(p)
    return tuple(dict.fromkeys(found))


def platform_option(fn: Any) -> Any:
    return click.option(
        "--platform",
        "platform",
        multiple=True,
        metavar="P[,P]",
        help="Build only these platforms of each target (a laptop's own, say): a version of "
        "its own, never up to date against the plan's full set.",
    )(fn)


def set_option(fn: Any) -> Any:
    """`--set TARGET.KEY=VALUE`, as bake takes it (orchestrator.plan.overrides)."""
    return click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="TARGET.KEY=VALUE",
        help="Override a target's args.NAME, labels.NAME, platform, target, cache-from, "
        "cache-to or no-cache for this command, as bake does; TARGET may be a glob. Each "
        "override enters the target's version.",
    )(fn)


def complete_targets(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of target names, from the plan the command line names (or the default
    one); nothing when it cannot be loaded: completion never prints an error."""
    from click.shell_completion import CompletionItem

    from orchestrator.errors import OrchError
    from orchestrator.plan.load import load_plan

    plan_path = ctx.find_root().params.get("plan") or find_plan(Path.cwd())
    try:
        plan = load_plan(Path(plan_path))
    except (OrchError, OSError, ValueError):
        return []
    services = set(plan.services)
    return [
        CompletionItem(name, help="service" if name in services else "stage")
        for name in plan.targets
        if name.startswith(incomplete)
    ]


def expand_targets(project: Project, targets: Sequence[str]) -> list[str]:
    """The targets the arguments select (names, globs, `...NAME`, `...^NAME`: see
    orchestrator.plan.selectors), in build order; [] for no arguments."""
    from orchestrator.plan.selectors import expand

    return list(expand(targets, project.graph).names) if targets else []


def target_argument(name: str, *, many: bool) -> Callable[[Any], Any]:
    """A command's target (or targets) argument, completed from the plan."""
    argument: Callable[[Any], Any] = click.argument(
        name, nargs=-1 if many else 1, shell_complete=complete_targets
    )
    return argument


def find_plan(start: Path) -> Path:
    """The plan a command without -f reads: buildplan.yaml in `start` or the nearest directory
    above it that has one, named relative to `start`; `buildplan.yaml` (whose absence the load
    reports) when none has."""
    here = start.absolute()
    for directory in (here, *here.parents):
        candidate = directory / DEFAULT_PLAN
        if candidate.is_file():
            return Path(os.path.relpath(candidate, here))
    return Path(DEFAULT_PLAN)


def _file_given(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """`-f` after the subcommand: the same as before it; both, naming two plans, is an error."""
    if value is None:
        return
    obj = ctx.ensure_object(dict)
    before = obj.get("given")
    if before is not None and Path(before) != value:
        raise UsageError(
            f"-f {before} and -f {value} name two plans", hint="give -f once, before or after"
        )
    obj["plan"] = obj["given"] = value
    _stand_in(value)


def _stand_in(plan: Path) -> None:
    from orchestrator.errors import stand_in

    stand_in(Path.cwd(), plan.resolve().parent)


def file_param() -> click.Option:
    return click.Option(
        ["-f", "--file"],
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_file_given,
        help="The build plan (default: buildplan.yaml here or in the nearest directory above).",
    )


class OrchGroup(click.Group):
    """orch's commands: each takes `-f/--file` after its name too, as before it."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(getattr(p, "name", None) == "file" for p in cmd.params):
            cmd.params.append(file_param())
        super().add_command(cmd, name)


@click.group(cls=OrchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "--file",
    "plan",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The build plan (default: buildplan.yaml here or in the nearest directory above).",
)
@click.version_option(__version__, prog_name="orch")
@click.pass_context
def cli(ctx: click.Context, plan: Path | None) -> None:
    """orch: build a monorepo's images in dependency order with docker buildx bake."""
    found = plan if plan is not None else find_plan(Path.cwd())
    ctx.obj = {"plan": found, "given": plan}
    _stand_in(found)


def since_option(fn: Any) -> Any:
    return click.option(
        "--since",
        metavar="REF",
        help="Only what a change since REF (its merge base with HEAD) affects, "
        "uncommitted and untracked files included; A..B: the changes from A to B alone; "
        "auto, in GitHub Actions: a pull request's base branch, else the push's before.",
    )(fn)


def affected_since(project: Project, since: str | None) -> Affected | None:
    if since is None:
        return None
    from orchestrator.inputs.changes import affected

    found = affected(project, since)
    if found.warning:
        click.echo(f"warning: {found.warning}", err=True)
    return found


def by_since(names: Sequence[str], affected: Affected | None) -> list[str]:
    return list(names) if affected is None else [n for n in names if n in affected.targets]


def engine_options(fn: Any) -> Any:
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


def run_options(fn: Any) -> Any:
    """The options of `orch build` and `orch test`."""
    fn = engine_options(fn)
    fn = set_option(fn)
    fn = platform_option(fn)
    fn = click.option(
        "--no-cache",
        is_flag=True,
        help="Build every step of every selected target again, up to date or not, as bake "
        "--no-cache does; the images keep their versions.",
    )(fn)
    fn = click.option(
        "--no-cache-filter",
        multiple=True,
        metavar="STAGE",
        help="Build the Dockerfile stage STAGE again from scratch wherever it is used (repeat "
        "for more); the selected targets are built, up to date or not.",
    )(fn)
    fn = click.option(
        "--dry-run",
        is_flag=True,
        help="Say what would run: each target's status and why, and the bakes; build, tag "
        "and write nothing.",
    )(fn)
    fn = click.option("--fail-fast", is_flag=True, help="Stop everything at the first failure.")(fn)
    fn = click.option(
        "--keep-going", is_flag=True, help="Build what does not depend on a failure (default)."
    )(fn)
    fn = click.option(
        "--force", is_flag=True, help="Build every selected target, even those up to date."
    )(fn)
    fn = since_option(fn)
    fn = click.option(
        "--ci",
        type=click.Choice(["github", "none"]),
        default=None,
        help="Write results where that CI looks (default: github when GITHUB_ACTIONS=true).",
    )(fn)
    fn = click.option(
        "--progress",
        type=click.Choice(["auto", "tty", "plain", "quiet"]),
        default="auto",
        show_default=True,
        help="What to show while it runs: the live view (tty), a line per target's change "
        "with every build's output prefixed by its target (plain), or only the summary "
        "(quiet); auto: the live view on a terminal outside CI, else a line per change.",
    )(fn)
    fn = click.option(
        "--trace",
        metavar="FILE",
        help="Write the run as Chrome trace-event JSON to FILE, for Perfetto or "
        "chrome://tracing: a span per target, its steps, the bakes.",
    )(fn)
    fn = click.option(
        "--timeline",
        metavar="FILE",
        help="Write a picture of the run to FILE: one HTML page, a bar per target on a time "
        "axis, the critical path marked.",
    )(fn)
    return click.option(
        "--report",
        metavar="FILE",
        help="Write a JSON report of the run to FILE (- for standard output).",
    )(fn)


def registry_option(registry: str | None) -> str | None:
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


def request_of(targets: Sequence[str], *, test: bool, **opts: Any) -> Any:
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
        # --no-cache and --no-cache-filter rebuild what is up to date too, as bake would.
        force=bool(opts.get("force") or opts.get("no_cache") or opts.get("no_cache_filter")),
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
        trace=destination(opts["trace"]) if opts.get("trace") else None,
        timeline=destination(opts["timeline"]) if opts.get("timeline") else None,
        ci=opts.get("ci"),
        dry_run=bool(opts.get("dry_run")),
        prune=bool(opts.get("prune")),
    )


def run_command(ctx: click.Context, targets: Sequence[str], *, test: bool, **opts: Any) -> int:
    """The pipeline (orchestrator.run.pipeline) for `orch build` and `orch test`."""
    import anyio

    from orchestrator.errors import unwrapped
    from orchestrator.report.console import StatusView, view_kind
    from orchestrator.run import pipeline
    from orchestrator.run.interrupts import catch_interrupts

    request = request_of(targets, test=test, **opts)
    project = project_of(
        ctx,
        registry_option(opts["registry"]),
        sets=opts.get("sets") or (),
        no_cache=bool(opts.get("no_cache")),
        no_cache_filter=opts.get("no_cache_filter") or (),
        platform=platforms_of(opts.get("platform") or ()),
    )
    kind = view_kind(opts.get("progress") or "auto", sys.stderr)

    def view_for(order: Sequence[str]) -> StatusView:
        return StatusView(list(order), kind=kind)

    with catch_interrupts() as interrupts:
        ran = anyio.run(
            lambda: unwrapped(pipeline.run(project, request, view_for, interrupts=interrupts))
        )
    return int(ran.exit_code)
