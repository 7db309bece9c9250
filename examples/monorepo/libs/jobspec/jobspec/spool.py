"""The spool: a directory the scheduler and the workers share, one JSON file per job.

    <root>/incoming/<id>.json   submitted, waiting for a worker       (the scheduler writes)
    <root>/running/<id>.json    claimed by one worker                 (a worker renames into)
    <root>/done/<id>.json       finished: {"spec": ..., "result": ...}
    <root>/failed/<id>.json     failed, timed out or invalid: the same shape

A file changes state by a rename inside one file system, which is atomic: two workers
never claim the same job, and no reader ever sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from jobspec.spec import JobSpec, dumps, valid_id

STATES = ("incoming", "running", "done", "failed")


class Spool:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def ensure(self) -> Spool:
        """Create the state directories if missing; returns self."""
        for state in STATES:
            (self.root / state).mkdir(parents=True, exist_ok=True)
        return self

    def _path(self, state: str, job_id: str) -> Path:
        if not valid_id(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / state / f"{job_id}.json"

    def _write_new(self, path: Path, text: str) -> None:
        """Write text to path atomically, refusing (FileExistsError) if path exists."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, path)  # unlike rename, never replaces an existing file
        finally:
            tmp.unlink()

    def submit(self, spec: JobSpec) -> Path:
        """Queue a job. Raises FileExistsError if a job with its id exists in any state."""
        if self.state(spec.id) is not None:
            raise FileExistsError(f"job {spec.id} exists")
        path = self._path("incoming", spec.id)
        self._write_new(path, dumps(spec) + "\n")
        return path

    def claim(self) -> tuple[str, bytes] | None:
        """Take the oldest waiting job: (its id, its file's bytes), or None if none waits."""
        incoming = self.root / "incoming"
        waiting = []
        for entry in os.scandir(incoming):
            if entry.name.startswith(".") or not entry.name.endswith(".json"):
                continue  # a submission being written
            with contextlib.suppress(FileNotFoundError):
                waiting.append((entry.stat().st_mtime_ns, entry.name))
        for _, name in sorted(waiting):
            running = self.root / "running" / name
            try:
                (incoming / name).rename(running)
            except FileNotFoundError:
                continue  # another worker claimed it first
            return name.removesuffix(".json"), running.read_bytes()
        return None

    def finish(self, job_id: str, record: dict[str, object], *, ok: bool) -> Path:
        """Record a claimed job's outcome in done/ (ok) or failed/, and release its claim."""
        path = self._path("done" if ok else "failed", job_id)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
        with contextlib.suppress(FileNotFoundError):
            self._path("running", job_id).unlink()
        return path

    def state(self, job_id: str) -> str | None:
        """The state a job is in, or None if the spool has no such job (or job_id is invalid)."""
        if not valid_id(job_id):
            return None
        # In the order a job moves through them: a job that moves on between two checks is
        # found by a later one (a record is written before its claim is released).
        for state in STATES:
            if self._path(state, job_id).exists():
                return state
        return None

    def record(self, job_id: str) -> dict[str, object] | None:
        """The outcome recorded for a finished job, or None if it has not finished."""
        for state in ("done", "failed"):
            with contextlib.suppress(FileNotFoundError):
                return json.loads(self._path(state, job_id).read_text(encoding="utf-8"))
        return None

    def waiting(self) -> list[str]:
        """The ids of the jobs in incoming/, sorted."""
        return sorted(
            path.stem
            for path in (self.root / "incoming").iterdir()
            if path.suffix == ".json" and not path.name.startswith(".")
        )
