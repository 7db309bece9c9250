"""Helpers for tests: small monorepos on disk, the real CLI in a subprocess, images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text) under root and return root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run_orch(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `orch` CLI in a subprocess, as a user would, from `root`."""
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def monorepo(root: Path, prefix: str, plan_body: str, files: dict[str, str]) -> Path:
    """A plan whose images are named `<prefix>/<target>`, with its Dockerfiles and sources."""
    header = f'version: 1\ndefaults:\n  image: "{prefix}/{{name}}"\n'
    write_tree(root, {"buildplan.yaml": header + plan_body, **files})
    return root


def report_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def orch_build(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, Any]]:
    """`orch build --report` in root: exit code, everything printed, the report."""
    report = root / "report.json"
    proc = run_orch(root, "build", "--report", str(report), *args, env=env)
    data = report_of(report) if report.exists() else {}
    return proc.returncode, proc.stdout + proc.stderr, data


def docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def image_file(ref: str, path: str) -> str:
    """The contents of a file inside an image, read by running `cat` in a throwaway container."""
    return docker("run", "--rm", "--network", "none", "--entrypoint", "cat", ref, path)
