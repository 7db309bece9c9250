"""What a killed run leaves (it runs no cleanup) is removed by the next run; what a live run
holds never is. A live run is stood in for by a lock held on another open file, as a second
process would hold it."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

import pytest

from orchestrator.plan.specs import parse_cache_entry
from orchestrator.run import cache, workspace

TO = "type=local,dest=.cache/api,mode=max"


def _hold(path: Path, mode: int = fcntl.LOCK_EX) -> IO[bytes]:
    lock = path.open("ab")
    fcntl.flock(lock, mode | fcntl.LOCK_NB)
    return lock


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path.resolve()


def test_a_job_lock_nobody_holds_is_removed_and_a_held_one_kept(root: Path) -> None:
    locks = root / ".orch" / "locks"
    locks.mkdir(parents=True)
    (locks / "dead.lock").touch()
    (locks / "live.lock").touch()
    held = _hold(locks / "live.lock")
    run = workspace.open_run(root / ".orch")
    try:
        assert sorted(p.name for p in locks.iterdir()) == ["live.lock"]
    finally:
        run.close()
        held.close()


def test_a_swept_lock_is_never_held_twice(root: Path) -> None:
    """A run that opened a lock file just before a sweep removed it takes the new file."""
    locks = root / ".orch" / "locks"
    locks.mkdir(parents=True)
    path = locks / "api.lock"
    stale = path.open("ab")  # opened by a run, not locked yet
    workspace.sweep(root / ".orch")  # removes the file: nobody holds it
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the lock is on a removed file
    assert not workspace._still_at(path, stale)
    held = workspace._try_lock_all([path])
    assert held is not None  # the new file at the path: the one every later run locks
    assert workspace._try_lock_all([path]) is None
    for lock in held:
        lock.close()
    stale.close()


def test_a_dead_runs_strays_are_removed_and_a_live_runs_kept(root: Path) -> None:
    runs = root / ".orch" / "runs"
    for name in ("dead", "live"):
        (runs / name).mkdir(parents=True)
        (runs / f"{name}.lock").touch()
        (runs / name / ".metadata-x.json").write_text("{}")
        (runs / name / "001-api.json").write_text("{}")
    (runs / "gone.lock").touch()  # a run lock whose directory is gone
    held = _hold(runs / "live.lock")
    run = workspace.open_run(root / ".orch")
    try:
        assert not (runs / "dead" / ".metadata-x.json").exists()
        assert (runs / "dead" / "001-api.json").exists()  # kept, to re-run by hand
        assert (runs / "live" / ".metadata-x.json").exists()
        assert not (runs / "gone.lock").exists()
    finally:
        run.close()
        held.close()


def _lease(root: Path) -> cache.CacheLease:
    return cache.lease([], [parse_cache_entry(TO)], root)


def _export(held: cache.CacheLease) -> Path:
    dest = Path(dict(p.split("=", 1) for p in held.cache_to[0].split(","))["dest"])
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": []}))
    return dest


def test_a_killed_runs_export_and_lone_lock_go_at_the_next_lease(root: Path) -> None:
    first = _lease(root)
    current = _export(first)
    first.commit()
    versions = root / ".cache" / "api.versions"
    # A killed run: its half-written export and its lock, and a lock whose version never came.
    (versions / "20260101T000000-1-dead").mkdir()
    (versions / "20260101T000000-1-dead" / "blobs").mkdir()
    (versions / "20260101T000000-1-dead.lock").touch()
    (versions / "20260101T000000-2-lone.lock").touch()
    # A live run's export, locked as lease() locks it.
    (versions / "20260101T000000-3-live").mkdir()
    live = _hold(versions / "20260101T000000-3-live.lock", fcntl.LOCK_SH)
    second = _lease(root)
    try:
        names = sorted(p.name for p in versions.iterdir())
        mine = Path(dict(p.split("=", 1) for p in second.cache_to[0].split(","))["dest"]).name
        assert names == sorted(
            [
                current.name,
                f"{current.name}.lock",
                "20260101T000000-3-live",
                "20260101T000000-3-live.lock",
                mine,
                f"{mine}.lock",
            ]
        )
    finally:
        second.abort()
        live.close()


def test_a_stale_swap_link_goes_and_a_fresh_one_stays(root: Path) -> None:
    first = _lease(root)
    _export(first)
    first.commit()
    old = root / ".cache" / ".api.deadbeef.link"
    fresh = root / ".cache" / ".api.cafecafe.link"
    for link in (old, fresh):
        link.symlink_to("api.versions/x")
    past = time.time() - 3600
    os.utime(old, (past, past), follow_symlinks=False)
    _lease(root).abort()
    assert not old.is_symlink()
    assert fresh.is_symlink()
