"""The `orch` command and `python -m orchestrator`: the CLI loaded inside the interrupt guard.

Loading the CLI imports click, anyio, the plan loader and the rest, which takes tens of
milliseconds; a Ctrl-C among those imports would stop whichever one was running and print
its traceback. This module imports nothing at its top, so the imports happen inside `main`,
where an interrupt at any point ends orch as an interrupt during a run does: exit 130 and
one line, `interrupted`, on standard error.
"""

from __future__ import annotations

import sys

# orchestrator.errors.EXIT_INTERRUPTED, written out: importing errors is part of the load.
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Load and run the CLI (orchestrator.commands.main.main); exit 130 when interrupted, even while
    the CLI is still being imported."""
    try:
        from orchestrator.commands.main import main as cli_main

        return cli_main(argv)
    except KeyboardInterrupt:
        return interrupted()


def interrupted() -> int:
    """Say `interrupted` and return its exit code, with further Ctrl-Cs ignored: orch is on
    its way out, and another one would only break the message off with a traceback."""
    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C before the first was dealt with: the same interrupt
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # standard error is closed or gone
        pass
    return EXIT_INTERRUPTED
