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
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich is imported when a terminal is drawn on, off the plain-text path
    from rich.console import Console, Group
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


PROGRESS = ("auto", "tty", "plain", "quiet")
FINISHED_OK = ("built", "up-to-date", "passed")
UNFINISHED = ("queued", "building")


def view_kind(progress: str, stream: TextIO) -> str:
    """What `--progress` shows on `stream`: `tty` (the live view), `lines` (a line per event),
    `plain` (those lines and every target's build output) or `quiet` (the summary only).
    `auto` is the live view on a terminal outside CI, else a line per event."""
    if progress == "auto":
        return "tty" if wants_live(stream) else "lines"
    return progress


class StatusView:
    """Receives the run's events and shows them: a live view, a line per event (with every
    target's build output, for `plain`), or nothing until the summary (`quiet`).

    The live view: a header with the run's time, targets done of all and an ETA from the
    durations of earlier runs (`expect`); a row per running target with the step it runs; the
    targets done folded into one line; the rows that do not fit the terminal counted."""

    def __init__(
        self,
        keys: Sequence[str],
        *,
        live: bool = False,
        stream: TextIO | None = None,
        kind: str | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.kind = kind or ("tty" if live else "lines")
        self.order = list(keys)
        self.deps: dict[str, Sequence[str]] = {}
        self.state = dict.fromkeys(keys, "queued")
        self.since: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.on: dict[str, str] = {}  # key -> the builder it runs on, in a run over a pool
        # key -> the steps it runs now, as BuildKit names them, the latest started last
        self.running: dict[str, dict[str, None]] = {}
        self.expected: dict[str, float] = {}  # key -> its duration in earlier runs
        self.started = time.monotonic()
        self._console: Console | None = None
        self._live: Live | None = None
        if self.kind == "tty":
            from rich.live import Live

            self._live = Live(
                console=self.console,
                refresh_per_second=4,
                transient=False,
                get_renderable=self._frame,  # re-rendered each tick: the times keep counting
            )

    def expect(self, deps: Mapping[str, Sequence[str]], durations: Mapping[str, float]) -> None:
        """The jobs' dependencies, and each job's duration in earlier runs here: what the ETA
        adds up along the longest chain."""
        self.deps = dict(deps)
        self.expected = {k: d for k, d in durations.items() if k in self.state and d >= 0}

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
        from orchestrator.engine.events import Failed, ImageExported, LogLine, StepDone, StepStarted

        if self.kind == "plain":  # every target's build output, prefixed with its name
            if isinstance(event, StepStarted):
                self._say(event.key, event.step)
            elif isinstance(event, LogLine):
                self._say(event.key, f"  {event.text}")
            elif isinstance(event, StepDone) and event.cached:
                self._say(event.key, f"{event.step}: cached")
            elif isinstance(event, Failed):
                self._say(event.key, f"{event.step}: ERROR: {event.error}")
        if isinstance(event, StepStarted) and self.state.get(event.key) == "building":
            self.running.setdefault(event.key, {})[event.step] = None
        elif isinstance(event, StepDone):
            self.running.get(event.key, {}).pop(event.step, None)
        elif isinstance(event, ImageExported) and self.state.get(event.key) == "building":
            since = self.since.get(event.key)
            self.event(event.key, "built", None if since is None else time.monotonic() - since)

    @property
    def step(self) -> dict[str, str]:
        """Each building job's current step: the latest started of those still running."""
        return {key: list(steps)[-1] for key, steps in self.running.items() if steps}

    def _say(self, key: str, text: str) -> None:
        self.stream.write(f"{key} | {printable(text)}\n")
        self.stream.flush()

    def event(self, key: str, status: str, elapsed_s: float | None = None) -> None:
        if status == self.state.get(key) and status != "building":
            return  # said already, by BuildKit's word before the bake ended
        self.state[key] = status
        if status != "building":
            self.running.pop(key, None)
        now = time.monotonic()
        if status == "building":
            self.since[key] = now
        elif elapsed_s is not None:
            self.elapsed[key] = elapsed_s
        if self._live is not None:
            self._live.refresh()
            return
        if status == "queued" or self.kind == "quiet":
            return
        stamp = f"[{now - self.started:7.1f}s]"
        took = f" in {elapsed_s:.1f}s" if elapsed_s is not None and status != "building" else ""
        on = f" on {self.on[key]}" if key in self.on and status in ("building", "built") else ""
        self.stream.write(f"{stamp} {key}: {status}{on}{took}\n")
        self.stream.flush()

    def eta_s(self) -> float | None:
        """Seconds until the run is done, by earlier runs' durations; None when unknown."""
        from orchestrator.report.timing import eta_s

        now = time.monotonic()
        left: dict[str, float | None] = {}
        for key, status in self.state.items():
            if status not in UNFINISHED:
                continue
            took = self.expected.get(key)
            ran = now - self.since[key] if status == "building" and key in self.since else 0.0
            left[key] = None if took is None else took - ran
        return eta_s(self.order, self.deps, left)

    def header(self) -> str:
        """`building 12.3s · 3/6 done · ETA 20s`."""
        now = time.monotonic()
        done = sum(1 for s in self.state.values() if s not in UNFINISHED)
        doing = "building" if done < len(self.state) else "finished in"
        said = [f"{doing} {now - self.started:.1f}s", f"{done}/{len(self.state)} done"]
        if done < len(self.state):
            eta = self.eta_s()
            said.append(f"ETA {eta:.0f}s" if eta is not None else "ETA unknown (no earlier run)")
        return " · ".join(said)

    def _frame(self) -> Group:
        """The live view: the header, the targets done on one line, then a row per target
        still running, failed or waiting, as many as the terminal's height allows."""
        from rich.console import Group
        from rich.text import Text

        ok = [k for k in self.order if self.state[k] in FINISHED_OK]
        rows = [k for k in self.order if self.state[k] not in FINISHED_OK]
        # Running first, then failures and the rest, each in build order.
        rank = {"building": 0, "failed": 1, "blocked": 2, "cancelled": 2, "queued": 3}
        rows.sort(key=lambda k: rank.get(self.state[k], 3))
        room = max(1, self.console.height - 3)
        hidden = rows[room:] if len(rows) > room else []
        if hidden:
            rows = rows[: room - 1]
            hidden = [k for k in self.order if k not in rows and self.state[k] not in FINISHED_OK]
        parts: list[Text | Table] = [Text(self.header(), style="bold")]
        if ok:
            parts.append(Text(f"✓ {len(ok)} done: " + ", ".join(ok), style="green"))
        if rows:
            parts.append(self._table(rows))
        if hidden:
            waiting = sum(1 for k in hidden if self.state[k] == "queued")
            parts.append(Text(f"… {len(hidden)} more not shown ({waiting} queued)", style="dim"))
        return Group(*parts)

    def _table(self, keys: Sequence[str] | None = None) -> Table:
        from rich.table import Table
        from rich.text import Text

        keys = list(self.state) if keys is None else keys
        table = Table(box=None, pad_edge=False, show_header=False)
        longest = max((len(key) for key in keys), default=6)
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
        for key in keys:
            status = self.state[key]
            building = status == "building"
            secs = now - self.since.get(key, now) if building else self.elapsed.get(key)
            shown = f"{secs:.1f}s" if secs is not None else ""
            on = [self.on.get(key, "")] if self.on else []
            now_at = self.running.get(key)
            step = printable(list(now_at)[-1], 200) if building and now_at and room > 8 else ""
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
