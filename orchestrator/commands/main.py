"""`orch`: the command line's entry, every command registered, every error an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from orchestrator.commands import build, inspect, tools  # noqa: F401 (each registers its commands)
from orchestrator.commands.group import cli
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_OK, OrchError

# Flags of `docker buildx bake` (and build) that orch has no flag for, and what to use instead.
FOREIGN_FLAGS = {
    "--load": "orch loads every image it builds into the local image store already; "
    "--push publishes them",
    "--print": "`orch plan --bake-file FILE` writes the bake file orch would run",
    "--provenance": "orch builds without attestations",
    "--sbom": "orch builds without attestations",
    "--attest": "orch builds without attestations",
    "--metadata-file": "--report FILE writes each target's image, digest and size as JSON",
    "--call": "`orch lint` checks the Dockerfiles",
    "--check": "`orch lint` checks the Dockerfiles",
    "--allow": "entitlements are bake's own: orch asks for none",
    "--debug": "`--progress plain` shows every line of every build",
}


def offer_only_typos(exc: click.exceptions.NoSuchOption) -> click.exceptions.NoSuchOption:
    """Keep click's suggestion only when the unknown option is a typo of one the command has
    (never a hidden one, nor a nearby flag that does something else); say what to use for a
    flag of bake's that orch has no flag for."""
    from orchestrator.errors import typo_of

    command = exc.ctx.command if exc.ctx is not None else None
    visible = (
        [o for p in command.params if not getattr(p, "hidden", False) for o in p.opts]
        if command is not None
        else []
    )
    typo = typo_of(exc.option_name, [o for o in visible if o.startswith("--")])
    instead = FOREIGN_FLAGS.get(exc.option_name.split("=", 1)[0])
    message = f"No such option: {exc.option_name}." + (f"\n  hint: {instead}" if instead else "")
    return click.exceptions.NoSuchOption(
        exc.option_name, message, possibilities=[typo] if typo else [], ctx=exc.ctx
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run orch; every user error becomes a message and an exit code, never a traceback."""
    from orchestrator.errors import stand_out

    try:
        return _main(argv)
    finally:
        stand_out()  # messages of a later call in this process name paths as they are


def _main(argv: Sequence[str] | None) -> int:
    try:
        code = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except OrchError as exc:
        click.echo(exc.render(), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.NoSuchOption as exc:
        shown = offer_only_typos(exc)
        shown.show()
        return shown.exit_code
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
