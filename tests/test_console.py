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


def test_a_target_is_built_when_buildkit_exported_its_image_and_said_so_once():
    from orchestrator.engine.events import ImageExported, StepStarted

    out = io.StringIO()
    with StatusView(["base", "api"], live=False, stream=out) as progress:
        progress.event("base", "building")
        progress.event("api", "building")
        progress.build_event(StepStarted("base", "[2/2] RUN make", 0.1))
        assert progress.step == {"base": "[2/2] RUN make"}
        progress.build_event(ImageExported("base", 0.8))
        assert progress.state == {"base": "built", "api": "building"}
        assert progress.step == {}
        progress.event("base", "built", 9.0)  # the scheduler's word, when the bake ended
        progress.event("api", "built", 9.0)
    built = [line.split("] ", 1)[1] for line in out.getvalue().splitlines() if ": built" in line]
    assert len(built) == 2  # base's once, from BuildKit; the scheduler's repeat is not news
    assert built[0].startswith("base: built in ") and built[1] == "api: built in 9.0s"
    assert progress.elapsed["base"] < 9.0  # base's own time, not the bake's


def test_an_export_of_a_target_that_is_not_building_changes_nothing():
    from orchestrator.engine.events import ImageExported

    out = io.StringIO()
    with StatusView(["base"], live=False, stream=out) as progress:
        progress.event("base", "cancelled")
        progress.build_event(ImageExported("base", 0.8))
    assert progress.state == {"base": "cancelled"}


def test_the_live_table_shows_each_running_step_and_fits_80_columns_with_names_whole():
    from rich.console import Console

    from orchestrator.engine.events import StepStarted

    long_name = "a-very-long-service-name-for-testing"
    progress = StatusView(["base", "go-toolchain", long_name], live=False, stream=io.StringIO())
    progress._console = Console(width=80, file=io.StringIO())
    progress.event("base", "built", 0.8)
    for key in ("go-toolchain", long_name):
        progress.event(key, "building")
    step = "[builder 4/7] RUN --mount=type=cache,target=/root/.cache/go-build go build ./..."
    progress.build_event(StepStarted("go-toolchain", step, 1.0))
    progress.build_event(StepStarted(long_name, "[2/3] RUN pip install -r r.txt", 1.0))
    progress.console.print(progress._table())
    lines = progress.console.file.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["base", "built", "0.8s"]
    assert lines[1].split()[:3] == ["go-toolchain", "building", "0.0s"]
    assert "[builder 4/7] RUN" in lines[1] and lines[1].rstrip().endswith("…")
    assert lines[2].startswith(long_name + " ") and "[2/3] RUN pip" in lines[2]
