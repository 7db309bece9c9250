"""`orch dev` without the engine or a file watcher: which edits matter, how bursts of them
become one build, what the container would run, bad input, and the loop on a fake engine with
the change stream handed in."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import anyio
import pytest
import trio.testing

from orchestrator.commands.main import main
from orchestrator.dev.decide import (
    Armed,
    Burst,
    Overrides,
    WatchRoots,
    arm,
    came_back,
    overrides,
    relevant,
    run_spec,
    watch_roots,
)
from orchestrator.dev.session import Session
from orchestrator.engine.containers import RunSpec, container_name, run_argv
from orchestrator.errors import PlanError, UsageError
from orchestrator.plan import load_plan
from orchestrator.plan.ports import PortMapping, parse_port
from tests.kit import FakeEngine, project_of, write_tree

PLAN = """\
defaults:
  image: "devtest/{name}"
stages:
  base: {context: stages/base}
services:
  app:
    context: services/app
    contexts: {shared: libs/shared}
    watch: ["proto/**"]
    dev:
      ports: ["8080:80", 9090]
      env: {GREETING: "a, b 'c'"}
      command: "sh -c 'echo \\"$GREETING\\"'"
  other:
    context: services/other
"""
FILES = {
    "stages/base/Dockerfile": "FROM busybox\nCOPY base.txt /\n",
    "stages/base/base.txt": "base\n",
    "services/app/Dockerfile": "FROM base\nCOPY . /app\nCOPY --from=shared . /shared\n",
    "services/app/.dockerignore": "*.log\nnotes/\n",
    "services/app/main.sh": "echo app\n",
    "libs/shared/lib.sh": "echo lib\n",
    "proto/api.proto": "syntax\n",
    "services/other/Dockerfile": "FROM busybox\n",
    "services/other/x.txt": "x\n",
}


@pytest.fixture
def project(tmp_path, isolated_git):
    return project_of(tmp_path, PLAN, FILES)


# --- A burst of edits ---------------------------------------------------------------------


def test_a_burst_ends_after_a_quiet_window():
    burst = Burst(quiet_s=0.2, most_s=5.0)
    assert burst.due() is None
    burst.add([Path("/a")], now=10.0)
    assert burst.due() == pytest.approx(10.2)
    burst.add([Path("/b")], now=10.1)  # another event moves the end
    assert burst.due() == pytest.approx(10.3)
    assert burst.take() == {Path("/a"), Path("/b")}
    assert burst.due() is None
    assert burst.take() == frozenset()


def test_edits_that_never_stop_still_build_at_the_longest_wait():
    burst = Burst(quiet_s=0.2, most_s=1.0)
    for i in range(20):
        burst.add([Path(f"/f{i}")], now=i * 0.1)
    assert burst.due() == pytest.approx(1.0)  # the first event's time plus most_s


# --- Which paths are inputs ---------------------------------------------------------------


def test_every_input_directory_is_watched_and_nothing_twice(project, tmp_path):
    roots = watch_roots(project, project.graph.select(["app"]))
    assert set(roots.recursive) == {
        tmp_path / "stages/base",
        tmp_path / "services/app",
        tmp_path / "libs/shared",
        tmp_path / "proto",
    }
    # The plan's own directory holds all the others: watched alone, not with everything in it.
    assert roots.flat == (tmp_path,)
    assert tmp_path / "services/other" not in roots.recursive


def test_a_watch_base_made_later_is_watched_through_its_parent(tmp_path, isolated_git):
    project = project_of(
        tmp_path,
        "services:\n  app:\n    context: app\n    watch: [gen/api/**]\n",
        {"app/Dockerfile": "FROM busybox\n"},
    )
    assert tmp_path in watch_roots(project, ["app"]).recursive


@pytest.mark.parametrize(
    ("path", "targets"),
    [
        ("services/app/main.sh", {"app"}),
        ("services/app/Dockerfile", {"app"}),
        ("services/app/.dockerignore", {"app"}),  # it changes what BuildKit receives
        ("services/app/gone.sh", {"app"}),  # deleted: matched by name
        ("services/app/new dir/o'dd, name.sh", {"app"}),
        ("stages/base/base.txt", {"base"}),  # upstream of the service
        ("libs/shared/lib.sh", {"app"}),  # a named context
        ("proto/api.proto", {"app"}),  # a watch pattern
        ("services/app/debug.log", set()),  # excluded by .dockerignore
        ("services/app/notes/todo.txt", set()),
        ("services/other/x.txt", set()),  # another service's input
        (".orch/logs/app.log", set()),  # orch's own state, written by every build
        ("README.md", set()),
    ],
)
def test_only_inputs_of_the_service_and_its_upstream_start_a_build(project, path, targets):
    found = relevant(project, "app", [project.plan.root / path])
    assert set(found.hits) == targets
    assert bool(found) == bool(targets)


def test_an_edit_of_the_plan_is_relevant(project):
    found = relevant(project, "app", [project.plan.path])
    assert found.plan and found
    assert found.describe() == "the plan"


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("services/app", "services/app/"),  # a context, removed or made again whole
        ("services", "services/"),  # it holds one
        ("libs/shared", "libs/shared/"),  # a named context
        ("proto", "proto/"),  # a watch base
        ("stages/base", "stages/base/"),  # upstream of the service
        ("", "./"),  # the plan's own directory, which holds them all
        ("services/other", None),  # another service's
        ("services/app/notes", None),  # excluded by .dockerignore: no input of app's
        (".orch", None),
    ],
)
def test_a_directory_that_holds_inputs_is_relevant(project, path, shown):
    found = relevant(project, "app", [project.plan.root / path])
    assert bool(found) == (shown is not None)
    if shown is not None:
        assert found.describe() == f"{shown} (a directory of inputs)"


def _identities(*dirs: Path, inode: int = 1) -> dict[Path, tuple[int, int]]:
    """Directories as the file system would know them: each one's parents too."""
    known = {}
    for d in dirs:
        for p in (d, *d.parents):
            known.setdefault(p, (1, inode + len(known)))
    return known


def test_a_root_that_is_gone_is_watched_through_its_nearest_parent():
    top = Path("/repo")
    roots = WatchRoots(recursive=(top / "svc", top / "deep/a/b"), flat=(top, top / "docker"))
    disk = _identities(top / "svc", top / "deep/a/b", top / "docker")
    armed = arm(roots, disk.get)
    assert armed.recursive == roots.recursive
    assert armed.flat == (top, top / "docker")

    # `rm -rf svc deep docker`: each is watched through the nearest directory left, once.
    for gone in (top / "svc", top / "deep/a/b", top / "deep/a", top / "deep", top / "docker"):
        del disk[gone]
    gone = arm(roots, disk.get)
    assert gone.recursive == ()
    assert gone.flat == (top,)
    assert came_back(roots, armed, gone) == frozenset()

    # `deep` made again: its parent's watch moves down to it, and nothing is back yet.
    disk[top / "deep"] = (1, 100)
    partly = arm(roots, disk.get)
    assert partly.flat == (top, top / "deep")
    assert came_back(roots, gone, partly) == frozenset()


def test_a_root_made_again_is_armed_again_and_said_to_be_back():
    top = Path("/repo")
    roots = WatchRoots(recursive=(top / "svc", top / "lib"), flat=(top,))
    disk = _identities(top / "svc", top / "lib")
    armed = arm(roots, disk.get)
    assert arm(roots, disk.get) == armed  # nothing moved: nothing armed again

    # A branch switch: `svc` is another directory at the same path (a new inode).
    disk[top / "svc"] = (1, 999)
    switched = arm(roots, disk.get)
    assert switched != armed
    assert switched.recursive == armed.recursive
    assert came_back(roots, armed, switched) == {top / "svc"}

    # Removed, then back: watched through `/repo` meanwhile, then as itself again.
    del disk[top / "lib"]
    away = arm(roots, disk.get)
    assert away.recursive == (top / "svc",)
    disk[top / "lib"] = (1, 1000)
    back = arm(roots, disk.get)
    assert back.recursive == (top / "svc", top / "lib")
    assert came_back(roots, away, back) == {top / "lib"}
    assert came_back(roots, Armed(), back) == {top / "svc", top / "lib", top}


def test_reasons_are_shown_with_their_rule(project):
    root = project.plan.root
    found = relevant(project, "app", [root / "services/app/main.sh", root / "libs/shared/lib.sh"])
    assert found.describe() == (
        "libs/shared/lib.sh (named context shared of app), services/app/main.sh (context of app)"
    )


# --- The container ------------------------------------------------------------------------


def test_the_plan_dev_entry_gives_ports_env_and_a_command_split_as_a_shell_would(project):
    dev = project.plan.targets["app"].dev
    assert dev is not None
    assert [str(p) for p in dev.ports] == ["8080:80", "9090"]
    assert dev.env == {"GREETING": "a, b 'c'"}
    assert dev.command == ("sh", "-c", 'echo "$GREETING"')
    assert project.plan.targets["other"].dev is None


def test_the_command_line_adds_ports_wins_on_env_and_replaces_the_command(project):
    given = overrides(
        ["127.0.0.1:1234:80"], ["GREETING=hi", "FROM_HERE"], ["env"], {"FROM_HERE": "1"}
    )
    spec = run_spec(project.plan.targets["app"], "devtest/app:abc", given)
    assert [str(p) for p in spec.ports] == ["8080:80", "9090", "127.0.0.1:1234:80"]
    assert spec.env == {"GREETING": "hi", "FROM_HERE": "1"}
    assert spec.command == ("env",)
    assert run_spec(project.plan.targets["other"], "x:1", Overrides()).command is None


def test_docker_run_gets_each_value_as_one_argument():
    spec = RunSpec(
        image="devtest/app:abc",
        ports=(parse_port("8080:80"),),
        env={"A": "x, y 'z' \"q\""},
        command=("sh", "-c", "echo $A"),
    )
    argv = run_argv("orch-dev-app-1", spec, {"dev.orch.dev.target": "app"})
    assert argv == [
        "run", "-d", "--name", "orch-dev-app-1", "--label", "dev.orch.dev.target=app",
        "-p", "8080:80", "-e", "A=x, y 'z' \"q\"", "devtest/app:abc", "sh", "-c", "echo $A",
    ]  # fmt: skip


def test_container_names_are_per_plan_and_target(tmp_path):
    one, two = tmp_path / "one/buildplan.yaml", tmp_path / "two/buildplan.yaml"
    assert container_name(one, "app") == container_name(one, "app")
    assert container_name(one, "app") != container_name(two, "app")
    assert container_name(one, "app").startswith("orch-dev-app-")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("80", "80"),
        ("8080:80", "8080:80"),
        ("127.0.0.1:8080:80", "127.0.0.1:8080:80"),
        ("127.0.0.1::80", "127.0.0.1::80"),
        ("[::1]:8080:80/udp", "[::1]:8080:80/udp"),
        ("8000-8002:9000-9002", "8000-8002:9000-9002"),
        ("53/tcp", "53"),
    ],
)
def test_ports_docker_reads(text, shown):
    assert str(parse_port(text)) == shown


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("8080:abc", "container port 'abc' is not a number"),
        ("abc:80", "host port 'abc' is not a number"),
        ("0", "not between 1 and 65535"),
        ("65536:80", "host port 65536 is not between"),
        ("80/icmp", "unknown protocol"),
        ("1-3:1-2", "differ in length"),
        ("9-1", "runs backwards"),
        (":80", "host port before ':' is empty"),
        ("::1:80:80", "too many ':'"),
        ("nothere:80:80", "'nothere' is not an IP address"),
        ("", "no container port"),
        ("8080:", "no container port"),
    ],
)
def test_ports_docker_would_refuse(text, says):
    with pytest.raises(ValueError, match=says):
        parse_port(text)


def test_port_mapping_defaults_are_docker_s():
    assert parse_port("80") == PortMapping(container="80")


# --- Bad input ----------------------------------------------------------------------------


def _plan_error(tmp_path, dev_body: str, kind: str = "services") -> PlanError:
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": f"version: 1\n{kind}:\n  app:\n    context: app\n    dev:\n"
            + dev_body,
            "app/Dockerfile": "FROM busybox\n",
        },
    )
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "buildplan.yaml")
    return caught.value


def test_a_bad_port_in_the_plan_is_located(tmp_path):
    error = _plan_error(tmp_path, '      ports: ["8080:80", "8080:abc"]\n')
    assert (error.location.line, error.location.column) == (6, 26)
    assert "8080:abc" in error.message and "not a number" in error.message


def test_an_unclosed_quote_in_the_command_is_located(tmp_path):
    error = _plan_error(tmp_path, '      command: "sh -c \'echo hi"\n')
    assert error.location.line == 6
    assert "No closing quotation" in error.message
    assert "list of words" in (error.hint or "")


def test_dev_belongs_to_services(tmp_path):
    error = _plan_error(tmp_path, "      ports: [80]\n", kind="stages")
    assert "dev: is only for services" in error.message


def test_an_env_name_docker_cannot_pass_is_located(tmp_path):
    error = _plan_error(tmp_path, '      env: {"A=B": x}\n')
    assert error.location.line == 6 and "'='" in error.message


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dev", "ap"], "unknown target 'ap'"),
        (["dev", "base"], "'base' is a stage"),
        (["dev", "app", "--run", "--", "sh -c 'echo'"], "holding spaces or quotes"),
        (["dev", "app", "--run", "--", '"sh"', "-c"], "holding spaces or quotes"),
        (["dev", "app", "--run", "-p", "8080:abc"], "--port '8080:abc'"),
        (["dev", "app", "--run", "-e", "UNSET_HERE_1234"], "is not set here"),
        (["dev", "app", "--", "ls"], "they need --run"),
    ],
)
def test_bad_input_is_exit_2_before_the_engine_is_asked(project, monkeypatch, capsys, args, says):
    monkeypatch.chdir(project.plan.root)
    monkeypatch.delenv("UNSET_HERE_1234", raising=False)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert "Docker" not in err  # the engine was never asked


def test_a_bad_port_in_the_plan_is_exit_2_with_its_place(tmp_path, monkeypatch, capsys):
    _plan_error(tmp_path, '      ports: ["8080:abc"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["dev", "app", "--run"]) == 2
    assert "buildplan.yaml:6:15: error: port '8080:abc'" in capsys.readouterr().err


def test_a_command_line_overrides_rejects_a_whole_command_in_one_word():
    with pytest.raises(UsageError, match="holding spaces"):
        overrides([], [], ["python3 -m app"], {})
    assert overrides([], [], ["sh", "-c", "echo 'a b'"], {}).command == ("sh", "-c", "echo 'a b'")
    # With an ENTRYPOINT, ARGS are its arguments: an option may hold a space.
    assert overrides([], [], ["--name=a b"], {}).command == ("--name=a b",)


# --- The loop, on a fake engine, with the change stream handed in --------------------------


def test_a_burst_of_edits_is_one_build_of_what_changed_and_other_edits_build_nothing(
    project, tmp_path
):
    root = project.plan.root
    engine = FakeEngine()
    err = io.StringIO()

    async def scenario() -> list[list[str]]:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](100)

        async def watch(roots, out):
            async for batch in receive:
                await out.send(batch)

        session = Session(
            plan_path=project.plan.path, service="app", engine=engine, watch=watch, err=err
        )
        built: list[list[str]] = []

        async def builds(n: int) -> None:
            with anyio.fail_after(60):
                while len(session.outcomes) < n:
                    await anyio.sleep(0.01)
            built.append([r.key for r in session.outcomes[n - 1].results if r.status == "built"])

        async def quiet() -> None:  # long past any debounce window: nothing more was built
            count = len(session.outcomes)
            await anyio.sleep(10)
            assert len(session.outcomes) == count

        async with anyio.create_task_group() as tg:
            tg.start_soon(session.serve, project)
            await builds(1)
            # A save as editors do it: a temporary file, a rename, the file; then another.
            (root / "services/app/main.sh").write_text("echo app 2\n")
            for name in (".main.sh.swp~", "main.sh", "main.sh"):
                await send.send(frozenset({root / "services/app" / name}))
                await anyio.sleep(0.05)
            await builds(2)
            await quiet()
            # Ignored by .dockerignore, another service's file, orch's own state: no build.
            (root / "services/app/debug.log").write_text("x\n")
            await send.send(frozenset({root / "services/app/debug.log"}))
            await send.send(frozenset({root / "services/other/x.txt", root / ".orch/x"}))
            await quiet()
            # The shared stage: both are built again.
            (root / "stages/base/base.txt").write_text("base 2\n")
            await send.send(frozenset({root / "stages/base/base.txt"}))
            await builds(3)
            # A touch that changes no content: built once more, and nothing needs building.
            await send.send(frozenset({root / "stages/base/base.txt"}))
            await builds(4)
            # A broken plan: no build, and the session goes on.
            plan_text = project.plan.path.read_text()
            project.plan.path.write_text(plan_text + "  broken: [\n")
            await send.send(frozenset({project.plan.path}))
            await quiet()
            # The service renamed away: said so, and the session goes on.
            project.plan.path.write_text(plan_text.replace("  app:", "  app2:"))
            await send.send(frozenset({project.plan.path}))
            await quiet()
            project.plan.path.write_text(plan_text)
            await send.send(frozenset({project.plan.path}))
            await builds(5)
            tg.cancel_scope.cancel()
        return built

    clock = trio.testing.MockClock(autojump_threshold=0)
    built = anyio.run(scenario, backend="trio", backend_options={"clock": clock})
    assert built == [["base", "app"], ["app"], ["base", "app"], [], []]
    # Nothing up to date is baked again: base and app; app; base and app (however the
    # builds are split into bake invocations).
    baked = Counter(name for call in engine.calls for name in call["target"])
    assert baked == {"base": 2, "app": 3}
    text = err.getvalue()
    assert "build 2: services/app/.main.sh.swp~ (context of app), services/app/main.sh" in text
    assert "the plan or a Dockerfile cannot be read" in text
    assert "unknown target 'app'" in text
    assert "build 4 ok" in text and "app up-to-date" in text


def test_an_image_whose_inputs_changed_during_its_build_is_not_kept_as_up_to_date(project):
    """Its version was worked out before BuildKit read the files: an undo back to that
    content must build again, not run an image that may hold the later edit."""
    root = project.plan.root
    source = root / "services/app/main.sh"
    engine = FakeEngine()
    err = io.StringIO()

    async def scenario() -> list[list[str]]:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](100)

        async def watch(roots, out):
            async for batch in receive:
                await out.send(batch)

        session = Session(
            plan_path=project.plan.path, service="app", engine=engine, watch=watch, err=err
        )

        async def until(check) -> None:
            with anyio.fail_after(60):
                while not check():
                    await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(session.serve, project)
            await until(lambda: len(session.outcomes) == 1)
            engine.hold = anyio.Event()
            first_calls = len(engine.calls)
            source.write_text("echo v2\n")
            await send.send(frozenset({source}))
            await until(lambda: len(engine.calls) == first_calls + 1)  # build 2's bake, held
            source.write_text("echo v3\n")  # while BuildKit would be reading the context
            await send.send(frozenset({source}))
            engine.hold.set()
            await until(lambda: len(session.outcomes) == 3)  # build 3: the v3 content
            source.write_text("echo v2\n")  # an undo
            await send.send(frozenset({source}))
            await until(lambda: len(session.outcomes) == 4)
            tg.cancel_scope.cancel()
        return [[r.key for r in o.results if r.status == "built"] for o in session.outcomes]

    clock = trio.testing.MockClock(autojump_threshold=0)
    built = anyio.run(scenario, backend="trio", backend_options={"clock": clock})
    assert built == [["base", "app"], ["app"], ["app"], ["app"]]  # the undo built app again
    assert "changed while being built, so not kept as up to date: devtest/app:" in err.getvalue()


def test_a_plan_edit_that_adds_an_input_directory_watches_it_too(project):
    root = project.plan.root
    (root / "schemas").mkdir()
    watched: list[tuple[Path, ...]] = []

    async def scenario() -> None:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](100)

        async def watch(roots, out):
            watched.append(roots.recursive)
            async for batch in receive:
                await out.send(batch)

        session = Session(
            plan_path=project.plan.path,
            service="app",
            engine=FakeEngine(),
            watch=watch,
            err=io.StringIO(),
        )

        async def builds(n: int) -> None:
            with anyio.fail_after(60):
                while len(session.outcomes) < n:
                    await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(session.serve, project)
            await builds(1)
            text = project.plan.path.read_text()
            project.plan.path.write_text(text.replace('"proto/**"', '"proto/**", "schemas/**"'))
            await send.send(frozenset({project.plan.path}))
            await builds(2)
            tg.cancel_scope.cancel()

    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(scenario, backend="trio", backend_options={"clock": clock})
    assert len(watched) == 2
    assert root / "schemas" not in watched[0]
    assert root / "schemas" in watched[1]


def test_a_context_removed_and_made_again_is_built_again(project):
    """`rm -rf` of a context and its return (a branch switch, `git stash`): the watcher says
    the directory came back, which no event of its files does, and that is a build."""
    root = project.plan.root
    app = root / "services/app"
    err = io.StringIO()

    async def scenario() -> list[list[str]]:
        send, receive = anyio.create_memory_object_stream[frozenset[Path]](100)

        async def watch(roots, out):
            async for batch in receive:
                await out.send(batch)

        session = Session(
            plan_path=project.plan.path, service="app", engine=FakeEngine(), watch=watch, err=err
        )

        async def builds(n: int) -> None:
            with anyio.fail_after(60):
                while len(session.outcomes) < n:
                    await anyio.sleep(0.01)

        async with anyio.create_task_group() as tg:
            tg.start_soon(session.serve, project)
            await builds(1)
            saved = {p.relative_to(app): p.read_text() for p in app.rglob("*") if p.is_file()}
            shutil.rmtree(app)
            await send.send(frozenset({app, *(app / p for p in saved)}))
            await anyio.sleep(10)  # the plan's Dockerfile is gone: said, and nothing built
            write_tree(app, {str(p): text for p, text in saved.items()})
            (app / "main.sh").write_text("echo app, as on the other branch\n")
            await send.send(frozenset({app}))  # what the watcher sends when it is back
            await builds(2)
            tg.cancel_scope.cancel()
        return [[r.key for r in o.results if r.status == "built"] for o in session.outcomes]

    clock = trio.testing.MockClock(autojump_threshold=0)
    built = anyio.run(scenario, backend="trio", backend_options={"clock": clock})
    assert built == [["base", "app"], ["app"]]
    text = err.getvalue()
    assert "the plan or a Dockerfile cannot be read" in text
    assert "build 2: services/app/ (a directory of inputs)" in text


class _CheckedEngine(FakeEngine):
    def check(self) -> None:
        pass


@pytest.mark.timeout(30)
def test_a_state_directory_that_cannot_be_written_ends_dev_with_exit_2(
    project, monkeypatch, capsys
):
    """No edit makes `.orch` writable: the first build that cannot write it ends the session,
    with `orch build`'s message and exit code, instead of watching on."""
    root = project.plan.root
    (root / ".orch").write_text("a file where orch's state directory would be\n")

    async def watch(roots, out):
        await anyio.sleep(5)
        raise AssertionError("orch dev went on watching")

    monkeypatch.chdir(root)
    monkeypatch.setattr("orchestrator.engine.docker.Engine", lambda **_: _CheckedEngine())
    monkeypatch.setattr("orchestrator.dev.watcher.watch", watch)
    assert main(["dev", "app"]) == 2
    err = capsys.readouterr().err
    said = f"error: cannot write orch's state directory {root / '.orch'}: Not a directory"
    assert said in err and "a writable directory" in err  # the hint too
    assert "still watching" not in err and "Traceback" not in err
    # As `orch build` says it.
    assert main(["build", "app"]) == 2
    assert said in capsys.readouterr().err
