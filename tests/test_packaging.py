"""The distribution a user installs: `orch-build`, its wheel, and the README's install line in a
fresh virtual environment."""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from orchestrator import __version__
from tests.kit import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (found,) = out.glob("orch_build-*.whl")
    return found


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(z.read(name).decode())


def test_the_wheel_is_orch_build_at_the_package_s_version_with_runtime_dependencies_only(wheel):
    meta = metadata(wheel)
    assert meta["Name"] == "orch-build"
    assert meta["Version"] == __version__
    assert meta["License"] == "MIT" or "MIT" in (meta["License-Expression"] or "")
    runtime = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    names = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in runtime}
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert names == {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0].lower() for d in declared}
    assert not names & {"pytest", "mypy", "ruff", "hypothesis", "zizmor", "mkdocs-material"}


def test_the_wheel_holds_the_package_its_types_and_nothing_of_the_repository(wheel):
    with zipfile.ZipFile(wheel) as z:
        files = z.namelist()
        entry = z.read(next(n for n in files if n.endswith("entry_points.txt"))).decode()
    assert "orchestrator/py.typed" in files
    assert "orchestrator/ci/action.py" in files
    assert not [f for f in files if f.startswith(("tests/", "bench/", "docs/", "scripts/"))]
    assert "orch = orchestrator.entry:main" in entry


@pytest.mark.timeout(300)
def test_the_readme_s_install_line_works_in_a_fresh_venv(wheel, tmp_path):
    """`python -m pip install .` in the README: here from the wheel that builds, into a new
    venv with nothing else in it; then the command runs and reads the shipped plan."""
    readme = (REPO / "README.md").read_text()
    assert "python -m pip install ." in readme and "pipx install ." in readme
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    orch = env_dir / "bin" / "orch"
    version = subprocess.run([str(orch), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and __version__ in version.stdout
    plan = subprocess.run(
        [str(orch), "plan", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert plan.returncode == 0, plan.stderr
    assert '"api"' in plan.stdout
    dev_tools = subprocess.run(
        [str(python), "-c", "import pytest"], capture_output=True, text=True
    ).returncode
    assert dev_tools != 0  # the wheel pulls in no development tool
