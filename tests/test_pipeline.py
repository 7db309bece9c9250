"""The run's pipeline on a fake engine: every path through the same gate and report, `orch dev`
with the command line's options, and `orch plan --since` saying what a build would do."""

from __future__ import annotations

import io
import json
from pathlib import Path

import anyio
import pytest
import trio.testing

from orchestrator.commands.main import main
from orchestrator.dev.session import Session
from orchestrator.errors import UsageError
from orchestrator.files import destination
from orchestrator.plan.state import state_dir
from orchestrator.report.console import StatusView
from orchestrator.run import pipeline
from orchestrator.run.results import RunOutcome
from orchestrator.run.steps import RunOptions
from tests.kit import FakeEngine, make_repo, project_of, read_outputs, write_tree
from tests.test_run import build, statuses

APP = {"app/Dockerfile": "FROM busybox\nCOPY /out/app /app\n"}


def budgeted(tmp_path: Path, size: str, registry: str = "") -> str:
    where = f", registry: {registry}" if registry else ""
    return f"services:\n  app: {{context: app, max_size: {size}{where}}}\n"


# --- the gate holds every image the run ends with -----------------------------------------


def test_a_budget_added_after_the_build_fails_the_image_that_is_up_to_date(tmp_path):
    engine = FakeEngine()
    project = project_of(tmp_path, "services:\n  app: {context: app}\n", APP)
    assert statuses(build(project, engine)) == {"app": "built"}
    tagged = len(engine.tagged)
    project = project_of(tmp_path, budgeted(tmp_path, "1kB"), APP)  # the image is 1,234 bytes
    again = build(project, engine)
    (app,) = again.results
    assert app.status == "failed"
    assert not again.ok
    assert app.error is not None
    assert app.error.startswith("its image is 1.2 kB, over its max_size of 1.0 kB (max_size at ")
    assert "was built before; the budget holds for it all the same" in app.error
    assert "line 2: COPY /out/app /app" in app.error  # its layers, as for a fresh build
    assert len(engine.calls) == 1  # nothing was built again to find that out
    assert len(engine.tagged) == tagged
    assert app.image is None


def test_a_budget_is_checked_on_an_image_found_in_the_registry(tmp_path):
    engine = FakeEngine()
    project = project_of(tmp_path, budgeted(tmp_path, "1MB", "localhost:5000"), APP)
    assert statuses(build(project, engine)) == {"app": "built"}
    engine.images.clear()  # a fresh CI runner: nothing local, the registry has it
    project = project_of(tmp_path, budgeted(tmp_path, "1kB", "localhost:5000"), APP)
    (app,) = build(project, engine).results
    assert app.status == "failed"
    assert app.error is not None and "over its max_size of 1.0 kB" in app.error
    assert any(kind == "remote-size" for kind, _ in engine.lookups)


def test_push_never_publishes_an_image_over_budget_on_the_second_try(tmp_path):
    engine = FakeEngine()
    plan = budgeted(tmp_path, "1kB", "localhost:5000")
    project = project_of(tmp_path, plan, APP)
    first = build(project, engine, push=True)
    assert statuses(first) == {"app": "failed"}
    assert first.published is False
    assert "localhost:5000/orch/app:latest" not in engine.registry
    second = build(project, engine, push=True)  # the versioned image is there now
    assert statuses(second) == {"app": "failed"}
    assert second.published is False
    assert "localhost:5000/orch/app:latest" not in engine.registry


def test_a_build_over_budget_moves_no_tag_and_a_within_budget_one_does(tmp_path):
    engine = FakeEngine()
    project = project_of(tmp_path, budgeted(tmp_path, "1kB"), APP)
    build(project, engine)
    assert "orch/app:latest" not in engine.images
    project = project_of(tmp_path, budgeted(tmp_path, "2kB"), APP)
    (app,) = build(project, engine).results
    assert (app.status, app.image) == ("up-to-date", "orch/app:latest")
    assert engine.images["orch/app:latest"] == engine.images[str(app.versioned_image)]


# --- a quiet commit goes through the report -------------------------------------------------

REPO_FILES = {
    "buildplan.yaml": "version: 1\nservices:\n  a: {context: a}\n  b: {context: b}\n",
    "a/Dockerfile": "FROM busybox\nCOPY . /a\n",
    "b/Dockerfile": "FROM busybox\nCOPY . /b\n",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_git: None) -> Path:
    root = make_repo(tmp_path / "repo", REPO_FILES)
    monkeypatch.chdir(root)
    return root


def github_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return output, summary


def outputs(path: Path) -> dict[str, str]:
    return read_outputs(path.read_text())


@pytest.mark.parametrize("command", ["build", "test"])
def test_a_commit_that_affects_nothing_still_writes_every_output(
    repo, tmp_path, monkeypatch, capsys, command
):
    output, summary = github_files(tmp_path, monkeypatch)
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    args = [command, "--since", "HEAD", "--report", str(report)]
    if command == "test":
        args += ["--junit", str(junit)]
    assert main(args) == 0
    said = capsys.readouterr()
    assert f"nothing to {command}: no change since HEAD affects" in said.err
    got = outputs(output)
    assert got["ok"] == "true"
    assert json.loads(got["affected"]) == []
    assert json.loads(got["built"]) == {}
    assert json.loads(got["images"]) == {}
    assert summary.read_text().strip()  # the step summary says what happened too
    assert json.loads(report.read_text())["ok"] is True
    if command == "test":
        assert "<testsuites" in junit.read_text()


def test_a_quiet_commit_with_names_given_still_writes_the_outputs(repo, tmp_path, monkeypatch):
    output, _ = github_files(tmp_path, monkeypatch)
    assert main(["build", "a", "--since", "HEAD"]) == 0
    assert json.loads(outputs(output)["affected"]) == []


def test_outputs_that_cannot_be_written_fail_the_run_naming_the_file(
    repo, tmp_path, monkeypatch, capsys
):
    _, summary = github_files(tmp_path, monkeypatch)
    output = tmp_path / "outputs-dir"
    output.mkdir()  # a directory: it cannot be opened as the file it should be
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["build", "--since", "HEAD"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot write {output} ($GITHUB_OUTPUT): Is a directory" in err
    assert summary.read_text().strip()  # the rest is written all the same


def test_a_step_summary_that_cannot_be_written_is_a_warning(repo, tmp_path, monkeypatch, capsys):
    output, _ = github_files(tmp_path, monkeypatch)
    summary = tmp_path / "summary-dir"
    summary.mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["build", "--since", "HEAD"]) == 0
    err = capsys.readouterr().err
    assert f"warning: cannot write {summary} ($GITHUB_STEP_SUMMARY): Is a directory" in err
    assert outputs(output)["ok"] == "true"


def test_outputs_that_cannot_be_written_leave_a_failed_run_failed(tmp_path):
    outcome = RunOutcome(results=(), test=False)
    selection = pipeline.Selection(pipeline.EMPTY, None)
    assert pipeline.Ran(outcome, selection, {}, ("cannot write x",)).exit_code == 1
    assert pipeline.Ran(outcome, selection, {}).exit_code == 0
    gone = RunOutcome(results=(), test=False, engine_gone=True)
    assert pipeline.Ran(gone, selection, {}, ("cannot write x",)).exit_code == 3
    stopped = RunOutcome(results=(), test=False, interrupted=True)
    assert pipeline.Ran(stopped, selection, {}, ("cannot write x",)).exit_code == 130


def test_an_unknown_name_under_since_is_still_refused(repo, capsys):
    assert main(["build", "nope", "--since", "HEAD"]) == 2
    assert "unknown target 'nope'" in capsys.readouterr().err


# --- orch dev runs the pipeline with the command line's options -----------------------------


def many_services(tmp_path: Path, n: int) -> tuple[str, dict[str, str]]:
    names = [f"s{i:02}" for i in range(n)]
    plan = "stages:\n" + "".join(f"  {n}: {{context: {n}}}\n" for n in names)
    plan += "services:\n  app:\n    context: app\n    depends_on: [" + ", ".join(names) + "]\n"
    files = {f"{n}/Dockerfile": f"FROM busybox\nRUN echo {n}\n" for n in names}
    files["app/Dockerfile"] = "FROM busybox\n"
    return plan, files


def dev_once(project, engine: FakeEngine, request: pipeline.Request) -> Session:
    err = io.StringIO()

    async def scenario() -> Session:
        async def watch(roots, out):
            await anyio.sleep_forever()

        session = Session(
            plan_path=project.plan.path,
            service="app",
            engine=engine,
            watch=watch,
            err=err,
            request=request,
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(session.serve, project)
            with anyio.fail_after(60):
                while not session.outcomes:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        return session

    clock = trio.testing.MockClock(autojump_threshold=0)
    return anyio.run(scenario, backend="trio", backend_options={"clock": clock})


def test_orch_dev_bakes_in_batches_of_the_command_lines_default(tmp_path, isolated_git):
    plan, files = many_services(tmp_path, 24)
    project = project_of(tmp_path, plan, files)
    engine = FakeEngine()
    # What `orch dev app` hands its session, as parsed from the command line.
    request = pipeline.Request(targets=("app",), ci="none")
    session = dev_once(project, engine, request)
    assert session.outcomes[0].ok
    sizes = [len(call["target"]) for call in engine.calls]
    assert sum(sizes) == 25
    assert max(sizes) <= pipeline.DEFAULT_MAX_BATCH
    assert pipeline.DEFAULT_MAX_BATCH == 10


def test_orch_dev_takes_max_batch_and_parallel_from_its_request(tmp_path, isolated_git):
    plan, files = many_services(tmp_path, 6)
    project = project_of(tmp_path, plan, files)
    engine = FakeEngine()
    request = pipeline.Request(options=RunOptions(max_batch=2, parallel=1), ci="none")
    dev_once(project, engine, request)
    assert max(len(call["target"]) for call in engine.calls) <= 2


def test_orch_dev_parses_the_run_options_as_build_does(tmp_path, monkeypatch, capsys):
    project_of(tmp_path, "services:\n  app: {context: app}\n", APP)
    monkeypatch.chdir(tmp_path)
    seen: dict[str, object] = {}

    def command(plan_path, service, *, request, registry, **kw):
        seen.update(request=request, registry=registry)
        return 0

    monkeypatch.setattr("orchestrator.dev.session.command", command)
    assert main(["dev", "app", "--max-batch", "3", "-j", "2", "--retries", "1", "--no-chain"]) == 0
    request = seen["request"]
    assert isinstance(request, pipeline.Request)
    assert request.options == RunOptions(parallel=2, max_batch=3, retries=1, chain=False)
    assert main(["dev", "app", "--builder", "a,b"]) == 2
    assert "orch dev builds on one builder" in capsys.readouterr().err


def test_dev_defaults_are_builds_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    project_of(tmp_path, "services:\n  app: {context: app}\n", APP)
    monkeypatch.chdir(tmp_path)
    seen: list[pipeline.Request] = []

    def capture(project, request, view_for, **kw):
        seen.append(request)
        raise SystemExit(0)

    monkeypatch.setattr(pipeline, "run", capture)
    monkeypatch.setattr(
        "orchestrator.dev.session.command", lambda *a, request, **k: seen.append(request)
    )
    with pytest.raises(SystemExit):
        main(["build", "app"])
    main(["dev", "app"])
    build_request, dev_request = seen
    assert dev_request.options == build_request.options


# --- the report step reads one selection --------------------------------------------------


def test_the_report_step_writes_an_empty_run_as_any_other(tmp_path):
    project = project_of(tmp_path, "services:\n  app: {context: app}\n", APP)
    report = tmp_path / "report.json"
    request = pipeline.Request(report=destination(str(report)), ci="none")
    selection = pipeline.Selection(pipeline.EMPTY, None, "nothing to build: test")
    err = io.StringIO()
    view = StatusView([], live=False, stream=err)

    pipeline.report(project, selection, RunOutcome(results=(), test=False), request, view)
    assert json.loads(report.read_text())["targets"] == {}
    assert "nothing to build: test" in err.getvalue()


# --- what a run writes never replaces what it reads ----------------------------------------

INPUTS = {
    "buildplan.yaml": "version: 1\nservices:\n  svc: {context: svc}\n",
    "svc/Dockerfile": "FROM busybox\nCOPY . /svc\n",
    "svc/.dockerignore": "*.log\n",
    "svc/app.sh": "echo\n",
}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["build", "--report", "buildplan.yaml"], "would overwrite the plan"),
        (["test", "--junit", "buildplan.yaml"], "would overwrite the plan"),
        (["plan", "--bake-file", "buildplan.yaml"], "would overwrite the plan"),
        (["build", "--report", "svc/Dockerfile"], "would overwrite the Dockerfile of svc"),
        (["build", "--report", "svc/.dockerignore"], "would overwrite the ignore file"),
        (["build", "--report", "svc/report.json"], "is inside the build context"),
        (["build", "--report", "link.yaml"], "would overwrite the plan"),
    ],
)
def test_a_destination_that_is_an_input_is_exit_2_and_nothing_changes(
    tmp_path, monkeypatch, capsys, args, says
):
    files = dict(INPUTS)
    files["buildplan.yaml"] = files["buildplan.yaml"].replace(
        "{context: svc}", "{context: svc, test: [svc]}"
    )
    files["svc/Dockerfile"] = "FROM busybox AS svc\nCOPY . /svc\n"
    write_tree(tmp_path, files)
    (tmp_path / "link.yaml").symlink_to(tmp_path / "buildplan.yaml")
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err
    assert "Traceback" not in err
    assert {p: p.read_bytes() for p in before} == before
    assert not (tmp_path / ".orch").exists()  # refused before anything ran


def test_a_report_under_orchs_own_state_is_accepted_inside_a_context(tmp_path, monkeypatch):
    # The user's cache directory inside the context: orch's state there is still orch's own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = project_of(tmp_path, "services:\n  svc: {context: .}\n", {"Dockerfile": "FROM a\n"})
    state = state_dir(project.plan)
    assert state.is_relative_to(tmp_path / "cache")
    state.mkdir(parents=True)
    write_tree(tmp_path, {".orch/x": ""})  # left by an orch that kept its state there
    inside = destination(str(state / "report.json"))
    pipeline.check_destinations(project, {"--report": inside})  # accepted
    for elsewhere in ("r.json", ".orch/report.json"):  # `.orch/` is no state of this plan
        with pytest.raises(UsageError, match="is inside the build context"):
            pipeline.check_destinations(
                project, {"--report": destination(str(tmp_path / elsewhere))}
            )
