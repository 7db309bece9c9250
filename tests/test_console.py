"""What a person sees while a run goes on: plain lines in CI and pipes, a live table on a TTY."""

from __future__ import annotations

import io
import re

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
    assert "2/3 done" in screen and "✓ 1 done: base" in screen  # finished rows folded
    for text in ("api", "failed", "3.5s", "worker", "queued"):
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


def _frame_text(progress: StatusView, width: int = 80, height: int = 24) -> list[str]:
    from rich.console import Console

    progress._console = Console(width=width, height=height, file=io.StringIO())
    progress.console.print(progress._frame())
    return progress.console.file.getvalue().splitlines()


def test_the_live_view_has_a_header_with_done_of_all_and_an_eta_from_earlier_runs():
    keys = ["base", "go-toolchain", "api", "worker"]
    deps = {"base": (), "go-toolchain": ("base",), "api": ("go-toolchain",), "worker": ("base",)}
    progress = StatusView(keys, stream=io.StringIO())
    progress.expect(deps, {"base": 2.0, "go-toolchain": 30.0, "api": 10.0, "worker": 5.0})
    progress.event("base", "built", 2.0)
    progress.event("go-toolchain", "building")
    lines = _frame_text(progress)
    assert lines[0].startswith("building ") and "1/4 done" in lines[0]
    eta = re.search(r"ETA (\d+)s", lines[0])
    assert eta is not None and 39 <= int(eta.group(1)) <= 40  # go-toolchain 30 s, then api 10 s
    assert lines[1] == "✓ 1 done: base"
    assert [line.split()[0] for line in lines[2:]] == ["go-toolchain", "api", "worker"]
    progress.expect(deps, {"base": 2.0})  # no history for the rest
    assert "ETA unknown" in _frame_text(progress)[0]


def test_rows_that_do_not_fit_the_terminal_are_counted():
    keys = [f"svc-{i:02}" for i in range(30)]
    progress = StatusView(keys, stream=io.StringIO())
    for key in keys[:3]:
        progress.event(key, "building")
    progress.event(keys[3], "failed", 1.0)
    lines = _frame_text(progress, height=10)
    assert len(lines) <= 10
    shown = [line.split()[0] for line in lines[1:-1]]
    assert shown[:4] == ["svc-00", "svc-01", "svc-02", "svc-03"]  # running, then failed
    assert lines[-1] == f"… {30 - len(shown)} more not shown ({30 - len(shown)} queued)"


def test_plain_progress_streams_each_targets_build_output_prefixed_with_its_name():
    from orchestrator.engine.events import Failed, LogLine, StepDone, StepStarted

    out = io.StringIO()
    progress = StatusView(["api", "web"], stream=out, kind="plain")
    progress.event("api", "building")
    progress.build_event(StepStarted("api", "[2/3] RUN make", 0.1))
    progress.build_event(LogLine("api", "[2/3] RUN make", "cc -o app \x1b]0;title\x07main.c", 0.2))
    progress.build_event(StepDone("web", "[1/2] COPY . .", 0.3, 0.0, True))
    progress.build_event(Failed("api", "[2/3] RUN make", "exit code: 2", 0.4))
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("api: building")
    assert lines[1:] == [
        "api | [2/3] RUN make",
        "api |   cc -o app main.c",  # escape sequences from the build are not obeyed
        "web | [1/2] COPY . .: cached",
        "api | [2/3] RUN make: ERROR: exit code: 2",
    ]


def test_quiet_progress_prints_no_event_lines_but_the_summary_still_prints():
    out = io.StringIO()
    with StatusView(["api"], stream=out, kind="quiet") as progress:
        progress.event("api", "building")
        progress.event("api", "built", 1.0)
        progress.print("build ok: 1 built")
    assert out.getvalue() == "build ok: 1 built\n"


def test_no_color_is_honoured_on_a_terminal(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    out = Tty()
    with StatusView(["api"], stream=out, kind="tty") as progress:
        progress.event("api", "failed", 1.0)
        progress.print("build FAILED", style="bold red")
    colour = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])(?:;\d+)*m")  # a foreground colour
    assert not colour.search(out.getvalue())
    monkeypatch.delenv("NO_COLOR")
    out = Tty()
    with StatusView(["api"], stream=out, kind="tty") as progress:
        progress.event("api", "failed", 1.0)
    assert colour.search(out.getvalue())


def test_the_current_step_is_the_latest_started_of_those_still_running():
    from orchestrator.engine.events import StepDone, StepStarted

    progress = StatusView(["api"], stream=io.StringIO())
    progress.event("api", "building")
    progress.build_event(StepStarted("api", "[build 2/4] RUN go mod download", 1.0))
    progress.build_event(StepStarted("api", "[test 1/2] COPY . .", 1.5))
    assert progress.step == {"api": "[test 1/2] COPY . ."}
    progress.build_event(StepDone("api", "[test 1/2] COPY . .", 1.6, 0.1, False))
    assert progress.step == {"api": "[build 2/4] RUN go mod download"}  # still running
    progress.build_event(StepDone("api", "[build 2/4] RUN go mod download", 9.0, 8.0, False))
    assert progress.step == {}
