"""Durations of the last run, kept in `.orch/history.json`: the scheduler's weights."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def load(path: Path) -> dict[str, float]:
    """Each job's last duration in seconds; an unreadable or odd file counts as empty."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and v >= 0}


def update(path: Path, durations: Mapping[str, float]) -> None:
    """Merge new durations in, replacing the file atomically so a stopped run never truncates it."""
    merged = load(path) | {k: round(v, 3) for k, v in durations.items()}
    write_json_atomic(path, dict(sorted(merged.items())))


def write_json_atomic(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
