"""What a person sees while a run goes on: plain lines in CI and pipes, a live table on a TTY."""

from __future__ import annotations

import io

from orchestrator.report.console import StatusView, wants_live


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_output_is_one_line_per_event():
    out = io.StringIO()
    with StatusView(["base", "api"], live=False, stream=out) as progress:
        progress.event("base", "queued")
        progress.event("base", "building")
        progress.event("base", "built", 1.25)
        progress.event("api", "blocked")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # queued is not news in a log
    assert lines[0].endswith("base: building")
    assert lines[1].endswith("base: built in 1.2s")
    assert lines[2].endswith("api: blocked")


def test_live_view_only_on_a_terminal_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert wants_live(Tty())
    assert not wants_live(io.StringIO())
    monkeypatch.setenv("CI", "true")
    assert not wants_live(Tty())


def test_live_view_shows_every_target_with_its_state():
    out = Tty()
    with StatusView(["base", "api", "worker"], live=True, stream=out) as progress:
        progress.event("base", "building")
        progress.event("base", "built", 2.0)
        progress.event("api", "failed", 3.5)
    screen = out.getvalue()
    for text in ("base", "built", "2.0s", "api", "failed", "3.5s", "worker", "queued"):
        assert text in screen
