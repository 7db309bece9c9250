"""The commands that build: build, test and dev, each through the run's pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from orchestrator.commands.group import (
    cli,
    engine_options,
    platform_option,
    platforms_of,
    registry_option,
    request_of,
    run_command,
    run_options,
    target_argument,
)
from orchestrator.errors import UsageError


@cli.command("build")
@target_argument("targets", many=True)
@run_options
@click.option(
    "--push",
    is_flag=True,
    help="Publish all or nothing: build and push every target under its versioned tag, then "
    "move the plan's tags, only if every one succeeded.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="After a build that succeeded, `orch prune` its targets: versions past the newest 3.",
)
@click.pass_context
def build_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build TARGETS (every service when none) and what they need, in dependency order."""
    ctx.exit(run_command(ctx, targets, test=False, **opts))


@cli.command("test")
@target_argument("targets", many=True)
@run_options
@click.option(
    "--junit",
    metavar="FILE",
    help="Write the test stages as JUnit XML to FILE (- for standard output).",
)
@click.pass_context
def test_cmd(ctx: click.Context, /, targets: tuple[str, ...], **opts: Any) -> None:
    """Build the test stages of TARGETS (every service with one when none), with --target."""
    ctx.exit(run_command(ctx, targets, test=True, **opts))


@cli.command("dev")
@target_argument("service", many=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--run", "run_container", is_flag=True, help="Run its container after each build.")
@click.option("-p", "--port", "ports", multiple=True, help="Publish a port, as docker run -p.")
@click.option("-e", "--env", multiple=True, help="Set NAME=VALUE in the container (or pass NAME).")
@platform_option
@engine_options
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
    platform = platforms_of(opts.pop("platform", ()) or ())
    request = request_of((service,), test=False, ci="none", **opts)
    ctx.exit(
        command(
            Path(ctx.obj["plan"]),
            service,
            request=request,
            registry=registry_option(opts["registry"]),
            platform=platform,
            run_container=run_container,
            ports=ports,
            env=env,
            args=args,
        )
    )
