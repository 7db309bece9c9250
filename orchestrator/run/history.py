"""Durations of the last run, in `history.json` of the state: the scheduler's weights.

A job's key holds its last duration anywhere; `KEY@BUILDER`, its last duration on that builder
of a pool (no target name, stage or job key has an `@`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from orchestrator.files import write_json_atomic


def load(path: Path) -> dict[str, float]:
    """Each job's last duration in seconds; an unreadable or odd file counts as empty."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and v >= 0}


def by_builder(durations: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Each job's last duration on each builder it ran on in a pool: job key -> builder -> s."""
    speeds: dict[str, dict[str, float]] = {}
    for key, seconds in durations.items():
        job, at, builder = key.rpartition("@")
        if at and job and builder:
            speeds.setdefault(job, {})[builder] = seconds
    return speeds


def update(path: Path, durations: Mapping[str, float]) -> None:
    """Merge new durations in, replacing the file atomically so a stopped run never truncates it."""
    merged = load(path) | {k: round(v, 3) for k, v in durations.items()}
    write_json_atomic(path, dict(sorted(merged.items())))
