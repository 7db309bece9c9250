"""The error corpus: a directory per bad plan, its expected.txt saying where the error is and what.

expected.txt holds `at: LINE:COL` (or `none`), `error:` and `hint:` (words the message and hint
contain) and optional `setup:` steps (`mkdir DIR`, `symlink LINK -> TARGET`) run on a copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.txt").is_file())


@dataclass(frozen=True)
class Expected:
    """A corpus case's expected.txt: where the error is, and words its message and hint hold."""

    at: tuple[int, int] | None
    error: str
    hint: str
    setup: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Expected:
        fields: dict[str, list[str]] = {}
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition(": ")
                fields.setdefault(key, []).append(value)
        (at,) = fields["at"]
        line, _, column = at.partition(":")
        where = None if at == "none" else (int(line), int(column))
        return cls(where, fields["error"][0], fields["hint"][0], tuple(fields.get("setup", ())))


def prepare(case: Path, tmp_path: Path) -> Path:
    """Copy a case into a fresh directory (so `..` leads somewhere known) and run its setup."""
    plan_dir = tmp_path / "plan"
    shutil.copytree(
        case,
        plan_dir,
        symlinks=True,
        ignore=shutil.ignore_patterns("expected.txt", "__init__.py", "__pycache__"),
    )
    for step in Expected.read(case / "expected.txt").setup:
        verb, _, args = step.partition(" ")
        if verb == "mkdir":
            (plan_dir / args).mkdir(parents=True)
        elif verb == "symlink":
            link, _, target = args.partition(" -> ")
            (plan_dir / link).symlink_to(target, target_is_directory=True)
        else:
            raise AssertionError(f"unknown setup step {step!r} in {case.name}")
    return plan_dir / "buildplan.yaml"
