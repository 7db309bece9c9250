"""The `orch` entry point: a Ctrl-C while the CLI is still being imported is exit 130 too."""

from __future__ import annotations

import builtins
import signal
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import entry
from orchestrator.errors import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sigint_restored() -> Iterator[None]:
    """The entry point ignores SIGINT once interrupted; the test process must not."""
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_restored")
def test_an_interrupt_while_the_cli_is_imported_is_exit_130_and_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def interrupted_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "orchestrator.commands.main":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    assert entry.main(["--help"]) == EXIT_INTERRUPTED == entry.EXIT_INTERRUPTED
    assert capsys.readouterr() == ("", "interrupted\n")
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_without_an_interrupt_the_entry_point_runs_the_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert entry.main(["--version"]) == 0
    assert capsys.readouterr().out.strip()


# A real SIGINT, sent by the child to itself while Python imports click for the CLI, then
# `python -m orchestrator` run as runpy runs it.
_CHILD = textwrap.dedent(
    """
    import os, runpy, signal, sys

    class Interrupt:
        def find_spec(self, name, path=None, target=None):
            if name == "click":
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, Interrupt())
    sys.argv = ["orch", "--help"]
    runpy.run_module("orchestrator", run_name="__main__", alter_sys=True)
    """
)


def test_a_sigint_during_the_imports_of_python_m_orchestrator_prints_no_traceback() -> None:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (child.returncode, child.stderr, child.stdout) == (EXIT_INTERRUPTED, "interrupted\n", "")


def test_the_orch_command_is_the_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["orch"] == "orchestrator.entry:main"
