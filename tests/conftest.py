"""Shared fixtures: engine access for tests that opt in, and small real monorepos on disk."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Per-test timeouts by tier, in seconds. Unit tests get pyproject's `timeout` (60); these are for
# the marked tiers. A test's own @pytest.mark.timeout, --timeout or PYTEST_TIMEOUT win over both.
SLOW_TIMEOUT = 300
ENGINE_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Opt-in tests (`example_platforms`) are deselected unless asked for; engine and slow tests
    get their tier's timeout, unless a timeout was set for the test or for the whole run."""
    asked = "example_platforms" in (config.getoption("markexpr", "") or "") or (
        os.environ.get("ORCH_EXAMPLE_PLATFORMS") == "1"
    )
    if not asked:
        left = [i for i in items if i.get_closest_marker("example_platforms") is not None]
        if left:
            config.hook.pytest_deselected(items=left)
            items[:] = [i for i in items if i.get_closest_marker("example_platforms") is None]
    if config.getoption("timeout", None) is not None or os.environ.get("PYTEST_TIMEOUT"):
        return
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        if item.get_closest_marker("engine") is not None:
            item.add_marker(pytest.mark.timeout(ENGINE_TIMEOUT))
        elif item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


def _engine_answers() -> str | None:
    """None when `docker info` and buildx answer; otherwise why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    for argv in (["docker", "info"], ["docker", "buildx", "version"]):
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(argv)}: {exc}"
        if proc.returncode != 0:
            return f"{' '.join(argv)}: {proc.stderr.strip()[-300:]}"
    return None


@pytest.fixture(autouse=True)
def _no_engine_unless_asked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unit tests get a Docker host that does not exist, so reaching the engine fails loudly;
    tests marked `engine` get the engine, or fail in CI when it is missing."""
    # Nothing of a test's reaches the user's own cache directory.
    monkeypatch.setenv("XDG_CACHE_HOME", str(request.getfixturevalue("tmp_path") / ".xdg-cache"))
    if request.node.get_closest_marker("engine") is None:
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/orch-unit-tests-have-no-engine.sock")
    else:
        request.getfixturevalue("engine_ready")


@pytest.fixture(scope="session")
def engine_ready() -> None:
    """The engine, or a failure in CI (never a skip there), or a skip on a developer's machine."""
    why = _engine_answers()
    if why is None:
        return
    message = f"the Docker Engine is needed and not answering ({why}); run scripts/engine"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def image_prefix(engine_ready: None) -> Iterator[str]:
    """A repository prefix unique to the test; its images are removed afterwards."""
    prefix = f"orchtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    out = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    mine = [ref for ref in out if ref.startswith(prefix) or f"/{prefix}/" in ref]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True, check=False)


@pytest.fixture
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user or system git configuration, and no repository above the test's directory."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "orch tests")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "tests@orch.invalid")
