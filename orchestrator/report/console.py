"""Everything orch prints while it runs: a live view on a terminal, plain lines elsewhere.

Text that comes from a build (a failing step's output, BuildKit's errors) passes through
`printable` first: a build can print anything, and a terminal or a CI log viewer obeys escape
sequences (clearing the screen, setting the window title, links). The log files keep it raw.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich is imported when a terminal is drawn on, off the plain-text path
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    from orchestrator.engine.events import BuildEvent

# Longest line of build output orch prints; the rest is in the log.
LINE_LIMIT = 400

_CONTROL = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks; ends at BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, screen clears
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]"  # C0/C1, bidi
)


def printable(text: str, limit: int = LINE_LIMIT) -> str:
    """`text` with control and escape sequences removed, cut to `limit` characters."""
    clean = _CONTROL.sub("", text).replace("\t", "    ")
    if len(clean) > limit:
        return f"{clean[:limit]}... ({len(clean) - limit} more characters in the log)"
    return clean


STYLES = {
    "queued": "dim",
    "up-to-date": "green",
    "building": "cyan",
    "built": "green",
    "passed": "green",
    "failed": "bold red",
    "blocked": "yellow",
    "cancelled": "magenta",
}


def wants_live(stream: TextIO) -> bool:
    """A live view only on a terminal, and never in CI, whose logs want one line per event."""
    return stream.isatty() and not os.environ.get("CI")


class StatusView:
    """Receives scheduler events and shows them: a rich table, or a line per event."""

    def __init__(self, keys: Sequence[str], *, live: bool, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.state = dict.fromkeys(keys, "queued")
        self.since: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.on: dict[str, str] = {}  # key -> the builder it runs on, in a run over a pool
        self.step: dict[str, str] = {}  # key -> the step it runs now, as BuildKit names it
        self.started = time.monotonic()
        self._console: Console | None = None
        self._live: Live | None = None
        if live:
            from rich.live import Live

            self._live = Live(
                console=self.console,
                refresh_per_second=4,
                transient=False,
                get_renderable=self._table,  # re-rendered each tick: building times keep counting
            )

    @property
    def console(self) -> Console:
        """rich's console on the view's stream, made when first drawn on."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def __enter__(self) -> StatusView:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()

    def place(self, key: str, builder: str) -> None:
        """The scheduler put `key` on `builder` (named only in a run over a pool)."""
        if builder:
            self.on[key] = builder

    def build_event(self, event: BuildEvent) -> None:
        """What BuildKit reported of one job: its image exported means it is built, even while
        the rest of its bake goes on."""
        from orchestrator.engine.events import ImageExported, StepStarted

        if isinstance(event, StepStarted) and self.state.get(event.key) == "building":
            self.step[event.key] = event.step
        elif isinstance(event, ImageExported) and self.state.get(event.key) == "building":
            since = self.since.get(event.key)
            self.event(event.key, "built", None if since is None else time.monotonic() - since)

    def event(self, key: str, status: str, elapsed_s: float | None = None) -> None:
        if status == self.state.get(key) and status != "building":
            return  # said already, by BuildKit's word before the bake ended
        self.state[key] = status
        if status != "building":
            self.step.pop(key, None)
        now = time.monotonic()
        if status == "building":
            self.since[key] = now
        elif elapsed_s is not None:
            self.elapsed[key] = elapsed_s
        if self._live is not None:
            self._live.refresh()
            return
        if status == "queued":
            return
        stamp = f"[{now - self.started:7.1f}s]"
        took = f" in {elapsed_s:.1f}s" if elapsed_s is not None and status != "building" else ""
        on = f" on {self.on[key]}" if key in self.on and status in ("building", "built") else ""
        self.stream.write(f"{stamp} {key}: {status}{on}{took}\n")
        self.stream.flush()

    def _table(self) -> Table:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=False)
        longest = max((len(key) for key in self.state), default=6)
        table.add_column("target", no_wrap=True, min_width=longest)  # names whole, at any width
        table.add_column("state", no_wrap=True, min_width=10)
        table.add_column("time", justify="right", no_wrap=True, min_width=7)
        used = longest + 2 + 10 + 2 + 7 + 2
        if self.on:
            builders = max(len(b) for b in self.on.values())
            table.add_column("builder", no_wrap=True, min_width=builders)
            used += builders + 2
        # What it runs now, in the rest of the width: cut short, one line per target (rich
        # would otherwise narrow the names to make room).
        room = max(0, self.console.width - used - 1)
        table.add_column("step", no_wrap=True, overflow="ellipsis", max_width=room)
        now = time.monotonic()
        for key, status in self.state.items():
            building = status == "building"
            secs = now - self.since.get(key, now) if building else self.elapsed.get(key)
            shown = f"{secs:.1f}s" if secs is not None else ""
            on = [self.on.get(key, "")] if self.on else []
            step = printable(self.step.get(key, ""), 200) if building and room > 8 else ""
            table.add_row(
                key, f"[{STYLES.get(status, '')}]{status}[/]", shown, *on, Text(step, style="dim")
            )
        return table

    def print(self, text: str = "", style: str | None = None) -> None:
        if self._console is None and self._live is None and not _is_terminal(self.stream):
            self.stream.write(text + "\n")  # what rich writes to a file or a pipe, unstyled
            self.stream.flush()
            return
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
