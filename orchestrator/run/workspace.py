"""orch's state directory: each run's own directory, logs, history, manifests, locks.

It is `.orch/` beside the plan, or the user's cache directory when a context holds that
(`orchestrator.plan.state.state_dir` decides it for every command). Every run writes into a
directory of its own, `runs/<id>/` there, locked while it runs, so two runs in one checkout
never read each other's bake files. A person re-runs a bake by hand from there; the newest
runs are kept, older ones are removed when no run holds them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import anyio

from orchestrator.errors import OrchError
from orchestrator.files import (
    ignore_dir,
    read_json_object,
    write_json_atomic,
    write_text_atomic,
)
from orchestrator.plan.state import STATE_DIR

if TYPE_CHECKING:
    from orchestrator.inputs.versions import InputChange, Manifest

# Image sizes remembered by image id (see RunDir.image_sizes).
KEEP_IMAGE_SIZES = 2000
KEEP_RUNS = 20
LOCK_POLL_S = 0.2


def shown(path: Path, root: Path) -> str:
    """A file of the state as messages and reports name it: relative to the plan's directory
    `root` when it is in it (`.orch/logs/api.log`), else absolute (the user's cache)."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def file_name(key: str) -> str:
    """A job key as a file name: ':' (test stages) becomes '@', which no name or stage has."""
    return key.replace(":", "@")


class StateError(OrchError):
    """orch's state directory cannot be written: nothing can run (exit 2)."""


@dataclass
class RunDir:
    """One run's directory, held by a lock until `close`."""

    state: Path  # orch's state directory (`state_dir`)
    path: Path
    _lock: IO[bytes] | None = None
    _count: int = field(default=0)

    def bake_file(self, keys: tuple[str, ...], data: object) -> Path:
        """Write the bake file of one invocation; its name says which jobs it builds."""
        self._count += 1
        first = file_name(keys[0])
        more = f"+{len(keys) - 1}" if len(keys) > 1 else ""
        path = self.path / f"{self._count:03d}-{first}{more}.json"
        write_json_atomic(path, data)
        return path

    def write_log(self, key: str, text: str) -> Path:
        """`logs/<key>.log` of the state, replaced whole: the last log of each job."""
        path = self.state / "logs" / f"{file_name(key)}.log"
        write_text_atomic(path, text)
        return path

    @contextlib.asynccontextmanager
    async def building(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the jobs against another run in this checkout building them at the same time.

        The engine names an image once per build: two builds of one tag that end together
        fail one of them ("already exists"). The second run waits, then builds from cache.
        Locks are taken all at once or not at all, so two runs never wait on each other.
        """
        locks = self.state / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        paths = [locks / f"{file_name(key)}.lock" for key in sorted(set(keys))]
        while True:
            held = _try_lock_all(paths)
            if held is not None:
                break
            await anyio.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            for lock in held:
                lock.close()

    def passed(self) -> dict[str, str]:
        """The test stages that passed, by job key, with the version they passed at."""
        return read_passed(self.state)

    def record_passed(self, versions: Mapping[str, str]) -> None:
        """Add test stages that passed, merged with what another run may have added."""
        if versions:
            with _locked(self.state / "passed.lock"):
                merged = self.passed() | dict(versions)
                write_json_atomic(self.state / "passed.json", dict(sorted(merged.items())))

    def sizes(self) -> dict[str, int]:
        """Each target's image size (compressed) at its last build recorded here, in bytes."""
        data = read_json_object(self.state / "sizes.json")
        return {
            k: v["compressed"]
            for k, v in data.items()
            if isinstance(v, dict) and isinstance(v.get("compressed"), int)
        }

    def record_sizes(
        self,
        sizes: Mapping[str, tuple[int | None, int | None]],
        platforms: Mapping[str, Mapping[str, int]] | None = None,
    ) -> None:
        """Keep the sizes (compressed, uncompressed, and each platform's of a multi-platform
        image) of the images just built, merged with what another run added."""
        platforms = platforms or {}
        if sizes:
            with _locked(self.state / "sizes.lock"):
                merged = read_json_object(self.state / "sizes.json") | {
                    k: {"compressed": c, "uncompressed": u}
                    | ({"platforms": dict(platforms[k])} if platforms.get(k) else {})
                    for k, (c, u) in sizes.items()
                }
                write_json_atomic(self.state / "sizes.json", dict(sorted(merged.items())))

    def image_sizes(self) -> dict[str, int]:
        """The size of each image built here, by image id: an image never changes, so a run
        that finds one up to date need not ask the engine again."""
        data = read_json_object(self.state / "image-sizes.json")
        return {k: v for k, v in data.items() if isinstance(v, int)}

    def record_image_sizes(self, sizes: Mapping[str, int]) -> None:
        """Add image sizes by id, the newest `KEEP_IMAGE_SIZES` kept."""
        if sizes:
            with _locked(self.state / "sizes.lock"):
                merged = read_json_object(self.state / "image-sizes.json")
                for key in sizes:
                    merged.pop(key, None)
                merged |= dict(sizes)
                kept = dict(list(merged.items())[-KEEP_IMAGE_SIZES:])
                write_json_atomic(self.state / "image-sizes.json", kept)

    def save_manifest(self, name: str, manifest: Mapping[str, object]) -> None:
        """Keep the inputs of a target's last build, for `orch why` to compare against."""
        write_json_atomic(self.state / "manifests" / f"{file_name(name)}.json", manifest)

    def close(self) -> None:
        """Remove this run's leftovers, release it, and remove old runs nobody holds."""
        for stray in self.path.glob(".metadata-*"):
            with contextlib.suppress(OSError):
                stray.unlink()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        with contextlib.suppress(OSError):
            _prune(self.path.parent, KEEP_RUNS)


def open_run(state: Path, plan: Path | None = None) -> RunDir:
    """Make and lock this run's directory in the `state` directory; StateError when that
    cannot be written. `plan`, the plan file, is named in a state kept away from it."""
    runs = state / "runs"
    name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path = runs / name
    try:
        # Locked before its directory exists: a sweep never takes a run being opened.
        runs.mkdir(parents=True, exist_ok=True)
        ignore_dir(state)  # orch's own, whole: git status stays clean
        lock = (runs / f"{name}.lock").open("ab")
        fcntl.flock(lock, fcntl.LOCK_EX)
        path.mkdir()
    except OSError as exc:
        raise StateError(
            f"cannot write orch's state directory {state}: {exc.strerror or exc}",
            hint=f"orch keeps bake files and logs there: make {state} a writable "
            "directory (or remove what is in its way)",
        ) from None
    if plan is not None and state != plan.parent / STATE_DIR:
        with contextlib.suppress(OSError):
            owner = state / "plan"
            if not owner.exists():  # which plan a directory of the user's cache is for
                write_text_atomic(owner, f"{plan}\n")
    with contextlib.suppress(OSError):
        sweep(state)
    return RunDir(state=state, path=path, _lock=lock)


def read_passed(state: Path) -> dict[str, str]:
    """The test stages that passed, by job key, with the version they passed at, as kept in
    the `state` directory (read only)."""
    data = read_json_object(state / "passed.json")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def changes_since_last(
    state: Path, manifests: Mapping[str, Manifest]
) -> dict[str, list[InputChange] | None]:
    """For each target: what changed since its last build kept in `state` ([] when nothing
    did), or None when it has no last build here (or one another orch wrote)."""
    from orchestrator.inputs.versions import Manifest, diff_manifests

    changes: dict[str, list[InputChange] | None] = {}
    for name, manifest in manifests.items():
        saved = last_manifest(state, name)
        try:
            last = Manifest.from_json(saved) if saved else None
        except (KeyError, TypeError, ValueError):
            last = None
        changes[name] = None if last is None else diff_manifests(last, manifest)
    return changes


def last_manifest(state: Path, name: str) -> dict[str, object] | None:
    """The inputs of the last build of `name` kept in the `state` directory; None if none."""
    data = read_json_object(state / "manifests" / f"{file_name(name)}.json")
    return data or None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _try_lock_all(paths: list[Path]) -> list[IO[bytes]] | None:
    held: list[IO[bytes]] = []
    for path in paths:
        lock = path.open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _still_at(path, lock):
                raise BlockingIOError  # swept away by another run: take the new file
        except BlockingIOError:
            lock.close()
            for other in held:
                other.close()
            return None
        held.append(lock)
    return held


def _still_at(path: Path, lock: IO[bytes]) -> bool:
    """Whether the file `lock` holds is still the one at `path` (a sweep may have removed it
    between the open and the lock)."""
    try:
        return path.stat().st_ino == os.fstat(lock.fileno()).st_ino
    except OSError:
        return False


def sweep(state: Path) -> None:
    """Remove what runs that are gone left behind (killed ones run no cleanup): job lock files
    nobody holds, run locks without their directory, stray metadata files in the directories
    of runs that no longer hold them. What a live run holds is never touched."""
    for lock_path in (state / "locks").glob("*.lock"):
        _unlink_if_free(lock_path)
    runs = state / "runs"
    for lock_path in runs.glob("*.lock"):
        run = lock_path.with_suffix("")
        if not run.is_dir():
            _unlink_if_free(lock_path)
            continue
        strays = list(run.glob(".metadata-*"))
        if not strays:
            continue
        with _free(lock_path) as free:
            if free:
                for stray in strays:
                    stray.unlink(missing_ok=True)


@contextlib.contextmanager
def _free(path: Path) -> Iterator[bool]:
    """Hold `path`'s lock if no one does: yields whether it was free."""
    try:
        lock = path.open("ab")
    except OSError:
        yield False
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield _still_at(path, lock)


def _unlink_if_free(path: Path) -> None:
    with _free(path) as free:
        if free:
            path.unlink(missing_ok=True)


def _prune(runs: Path, keep: int) -> None:
    dirs = sorted((p for p in runs.iterdir() if p.is_dir()), key=lambda p: p.name)
    for old in dirs[: max(0, len(dirs) - keep)]:
        lock_path = runs / f"{old.name}.lock"
        with lock_path.open("ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another run is still using it
            shutil.rmtree(old, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
