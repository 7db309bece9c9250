"""Files orch writes: their modes, and destinations that would overwrite a build's inputs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.files import destination, refuse_input, write_json_atomic, write_text_atomic


@pytest.fixture
def umask() -> Iterator[None]:
    """The process umask, put back after the test."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- modes --------------------------------------------------------------------------------


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path, mask: int, expected: int) -> None:
    os.umask(mask)
    report = tmp_path / "out" / "report.json"
    write_text_atomic(report, "{}\n")
    assert mode(report) == expected
    write_json_atomic(tmp_path / "state.json", {})
    assert mode(tmp_path / "state.json") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "state.json"]  # no leftovers


@pytest.mark.usefixtures("umask")
@pytest.mark.parametrize("kept", [0o600, 0o640, 0o755, 0o666])
def test_a_replaced_file_keeps_its_permission_bits(tmp_path: Path, kept: int) -> None:
    report = tmp_path / "report.json"
    report.write_text("old\n")
    report.chmod(kept)
    write_text_atomic(report, "new\n")
    assert (report.read_text(), mode(report)) == ("new\n", kept)


@pytest.mark.usefixtures("umask")
def test_a_report_through_a_symlink_keeps_the_mode_of_the_file_it_names(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old\n")
    real.chmod(0o640)
    (tmp_path / "link.json").symlink_to(real)
    dest = destination(str(tmp_path / "link.json"))
    dest.write("new\n")
    assert (real.read_text(), mode(real)) == ("new\n", 0o640)
    assert (tmp_path / "link.json").is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(report, "\udcfd")
    assert report.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


# --- destinations that are inputs of the build ----------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for rel in ("buildplan.yaml", "api/Dockerfile", "api/.dockerignore", "api/main.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    (tmp_path / ".orch").mkdir()
    return tmp_path


def protected(root: Path) -> dict[Path, str]:
    return {
        root / "buildplan.yaml": "the plan",
        root / "api" / "Dockerfile": "the Dockerfile of api",
        root / "api" / ".dockerignore": "the ignore file of api",
    }


def refused(root: Path, given: str, what: str = "--report", **kwargs: list[Path]) -> UsageError:
    with pytest.raises(UsageError) as info:
        refuse_input(destination(given), protected(root), [root / "api"], what, **kwargs)
    assert "Traceback" not in info.value.render()
    return info.value


def test_the_plan_a_dockerfile_or_an_ignore_file_is_refused_by_name(project: Path) -> None:
    err = refused(project, str(project / "buildplan.yaml"))
    assert err.message == f"--report {project / 'buildplan.yaml'} would overwrite the plan " + str(
        project / "buildplan.yaml"
    )
    assert err.hint == "name a file outside the build contexts, e.g. `--report /tmp/report.json`"
    err = refused(project, str(project / "api" / "Dockerfile"), "--junit")
    assert "--junit" in err.message and "the Dockerfile of api" in err.message
    assert err.hint is not None and "`--junit /tmp/junit.xml`" in err.hint
    err = refused(project, str(project / "api" / ".dockerignore"), "--bake-file")
    assert "the ignore file of api" in err.message


def test_a_symlink_to_the_plan_is_refused_as_the_plan(project: Path, tmp_path: Path) -> None:
    link = tmp_path / "elsewhere" / "report.json"
    link.parent.mkdir()
    link.symlink_to(project / "buildplan.yaml")
    err = refused(project, str(link))
    assert "would overwrite the plan" in err.message
    assert f"({link} resolves to it)" in err.message
    # A directory symlink on the way, and a plain list of paths, are the same.
    (tmp_path / "via").symlink_to(project)
    with pytest.raises(UsageError, match="would overwrite a build input"):
        refuse_input(
            destination(str(tmp_path / "via" / "buildplan.yaml")),
            [project / "buildplan.yaml"],
            [],
            "--report",
        )


def test_a_file_inside_a_build_context_is_refused(project: Path) -> None:
    (project / "api" / "new").mkdir()
    for given in ("api/report.json", "api/main.py", "api/../api/new/../x.json"):
        err = refused(project, str(project / given))
        assert err.message.startswith(f"--report {project / given} is inside the build context ")
        assert "versions" in err.message
    link = project / "out.json"
    link.symlink_to(project / "api" / "dangling.json")  # a dangling symlink into the context
    assert "inside the build context" in refused(project, str(link)).message


def test_outside_the_contexts_or_under_orchs_own_directory_is_accepted(project: Path) -> None:
    state = project / ".orch"
    for given in (project / "report.json", state / "report.json", project / "apix.json"):
        refuse_input(destination(str(given)), protected(project), [project / "api"], "--report")
    # .orch/ inside a context (a plan whose context is its own directory) is orch's own.
    refuse_input(
        destination(str(state / "report.json")),
        protected(project),
        [project],
        "--report",
        allowed=[state],
    )
    err = refused(project, str(project / "api" / "r.json"), allowed=[state])
    assert err.hint is not None and err.hint.endswith(f", or one under {state}")


def test_standard_output_is_always_accepted(project: Path) -> None:
    refuse_input(destination("-"), protected(project), [project, Path("/")], "--report")


def test_a_fifo_outside_the_contexts_is_accepted_and_one_inside_refused(project: Path) -> None:
    fifo = project / "report.fifo"
    os.mkfifo(fifo)
    dest = destination(str(fifo))
    assert not dest.replace
    refuse_input(dest, protected(project), [project / "api"], "--report")
    inside = project / "api" / "report.fifo"
    os.mkfifo(inside)
    assert "inside the build context" in refused(project, str(inside)).message
