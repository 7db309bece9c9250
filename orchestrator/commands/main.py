"""`orch`: the command line's entry, every command registered, every error an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from orchestrator.commands import build, inspect, tools  # noqa: F401 (each registers its commands)
from orchestrator.commands.group import cli
from orchestrator.errors import EXIT_INTERRUPTED, EXIT_OK, OrchError


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
