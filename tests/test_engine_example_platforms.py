"""The example monorepo for linux/amd64 and linux/arm64, arm64 under QEMU: minutes of emulated
`apt-get`, so it runs only when asked for (`pytest -m example_platforms`, or
ORCH_EXAMPLE_PLATFORMS=1; `ORCH_EXAMPLE_PLATFORMS=1 scripts/engine` makes the two-platform
debian:bookworm-slim it needs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.kit import REPO, docker, report_of, run_orch

pytestmark = [pytest.mark.engine, pytest.mark.example_platforms, pytest.mark.timeout(3600)]

BOTH = "linux/amd64,linux/arm64"
ELF_MACHINE = {b"\x3e\x00": "x86_64", b"\xb7\x00": "aarch64"}  # e_machine, little-endian


def base_has_both() -> None:
    probe = subprocess.run(
        ["docker", "run", "--rm", "--platform", "linux/arm64", "debian:bookworm-slim", "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.fail(
            "debian:bookworm-slim has no linux/arm64 image: run "
            "`ORCH_EXAMPLE_PLATFORMS=1 scripts/engine`"
        )


def machine_of(ref: str, platform: str, path: str) -> str:
    """The architecture of an executable in an image, from its ELF header."""
    box = docker("create", "--platform", platform, ref).strip()
    try:
        out = subprocess.run(
            ["docker", "cp", f"{box}:{path}", "-"], capture_output=True, check=True
        ).stdout
    finally:
        docker("rm", "-f", box)
    # `docker cp ... -` writes a tar: the file's bytes start after the 512-byte header.
    elf = out[512:]
    assert elf[:4] == b"\x7fELF", elf[:16]
    return ELF_MACHINE.get(elf[18:20], repr(elf[18:20]))


def test_the_example_builds_for_both_platforms_and_each_service_runs_on_arm64(
    tmp_path: Path,
) -> None:
    base_has_both()
    report = tmp_path / "report.json"
    proc = run_orch(REPO, "build", "--platform", BOTH, "--report", str(report), timeout=3000)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    targets = report_of(report)["targets"]
    assert {t["status"] for t in targets.values()} <= {"built", "up-to-date"}, targets
    for name in ("api", "worker", "scheduler"):
        ref = targets[name]["versioned_image"]
        for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")):
            binary = "/api" if name == "api" else "/usr/bin/python3.11"
            assert machine_of(ref, platform, binary) == machine, (name, platform)
    # Python runs under QEMU as the image's arm64 side: the worker's own modules import.
    worker = targets["worker"]["versioned_image"]
    said = docker(
        "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "python3", worker,
        "-c", "import platform, worker; print(platform.machine())",
    )  # fmt: skip
    assert said.strip() == "aarch64"
    again = run_orch(REPO, "build", "--platform", BOTH, "--report", str(report))
    assert again.returncode == 0, again.stdout[-3000:]
    assert {t["status"] for t in report_of(report)["targets"].values()} == {"up-to-date"}
