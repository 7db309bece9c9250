"""Local cache directories that a failed, interrupted or concurrent run cannot corrupt.

A plan's `type=local,dest=D` cache is kept as versions: each build exports into a fresh
directory `D.versions/<id>`, and only after the build succeeded does `D` (a symlink) swap to it,
atomically. A run that reads a version holds a shared lock on it for its whole build, so old
versions are deleted only when no run reads them. `D` stays a plain path that a hand-run
`docker buildx bake` can use as `src=D` too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator.files import ignore_dir
from orchestrator.plan.specs import CacheEntry
from orchestrator.run.bake import CacheSpecs

# A JSON manifest or index is small; a larger blob is a layer and never parsed.
MANIFEST_LIMIT = 4 * 1024 * 1024


def _versions_dir(dest: Path) -> Path:
    return dest.with_name(dest.name + ".versions")


@dataclass
class CacheLease:
    """The cache specs one build uses, and what to do with its export when the build ends."""

    cache_from: list[str]
    cache_to: list[str]
    _locks: list[IO[bytes]] = field(default_factory=list)
    _swaps: list[tuple[Path, Path]] = field(default_factory=list)  # (dest, new version)

    @property
    def specs(self) -> CacheSpecs:
        return CacheSpecs(tuple(self.cache_from), tuple(self.cache_to))

    def commit(self) -> None:
        """The build succeeded: make each new export the current version of its cache."""
        swaps, self._swaps = self._swaps, []
        for dest, version in swaps:
            if (version / "index.json").is_file():
                _drop_unreferenced(version)
                _swap(dest, version)
            else:
                shutil.rmtree(version, ignore_errors=True)
                version.with_name(version.name + ".lock").unlink(missing_ok=True)
        self.release()
        for dest in {d for d, _ in swaps}:
            _collect(dest)

    def abort(self) -> None:
        """The build failed or was stopped: drop its exports, keep every current version."""
        for _, version in self._swaps:
            shutil.rmtree(version, ignore_errors=True)
            version.with_name(version.name + ".lock").unlink(missing_ok=True)
        self._swaps.clear()
        self.release()

    def release(self) -> None:
        for lock in self._locks:
            lock.close()
        self._locks.clear()


def _lock_shared(version: Path) -> IO[bytes] | None:
    lock = version.with_name(version.name + ".lock").open("ab")
    fcntl.flock(lock, fcntl.LOCK_SH)
    if version.is_dir():
        return lock
    lock.close()  # collected between resolving the symlink and locking it
    return None


def _resolve_current(src: Path) -> tuple[Path, IO[bytes] | None]:
    """The directory `src` names now, locked against collection while a build reads it."""
    for _ in range(5):
        if not src.is_symlink():
            return src, None
        real = src.resolve()
        if not real.is_dir():
            return src, None
        lock = _lock_shared(real)
        if lock is not None:
            return real, lock
    return src, None


def _prefill(dest: Path, version: Path) -> None:
    """Start a new version with the current one's blobs hard-linked, so BuildKit writes only
    the layers that are new (a whole mode=max export costs seconds).

    Blobs are content-addressed and BuildKit writes each anew under a temporary name, never
    into an existing file, so sharing them cannot change the current version. Nothing else is
    carried over: index.json is BuildKit's to write, and a version without one is never
    swapped in. A blob that will not link just leaves the new version emptier.
    """
    current = dest.resolve() if dest.is_symlink() else None
    blobs = current / "blobs" if current is not None else None
    if blobs is None or not blobs.is_dir() or blobs.is_symlink():
        return
    for algo in blobs.iterdir():
        if not algo.is_dir() or algo.is_symlink():
            continue
        into = version / "blobs" / algo.name
        for blob in algo.iterdir():
            if blob.is_file() and not blob.is_symlink():
                with contextlib.suppress(OSError):
                    into.mkdir(parents=True, exist_ok=True)
                    os.link(blob, into / blob.name)


def _referenced(version: Path) -> set[str] | None:
    """Every blob digest the version's index.json reaches; None if it cannot be read whole."""
    blobs = version / "blobs"
    seen: set[str] = set()
    try:
        todo = [json.loads((version / "index.json").read_text())]
        while todo:
            doc = todo.pop()
            refs = [*doc.get("manifests", []), *doc.get("layers", []), doc.get("config") or {}]
            for ref in refs:
                digest = ref.get("digest") if isinstance(ref, dict) else None
                if not isinstance(digest, str) or digest in seen:
                    continue
                seen.add(digest)
                if "json" in str(ref.get("mediaType", "")) or ref.get("mediaType") is None:
                    algo, _, hexdigest = digest.partition(":")
                    path = blobs / algo / hexdigest
                    if path.is_file() and path.stat().st_size < MANIFEST_LIMIT:
                        with contextlib.suppress(ValueError, UnicodeDecodeError):
                            found = json.loads(path.read_bytes())
                            if isinstance(found, dict):
                                todo.append(found)
    except (OSError, ValueError, AttributeError):
        return None
    return seen


def _drop_unreferenced(version: Path) -> None:
    """Remove the blobs a prefilled version carried over that its new index no longer uses,
    so a cache does not grow with every build."""
    keep = _referenced(version)
    blobs = version / "blobs"
    if keep is None or not blobs.is_dir():
        return  # keep everything rather than guess
    for algo_dir in blobs.iterdir():
        for blob in algo_dir.iterdir():
            if f"{algo_dir.name}:{blob.name}" not in keep:
                blob.unlink(missing_ok=True)


def _swap(dest: Path, version: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not dest.is_symlink():
        # A cache directory written before orch managed it becomes an ordinary old version.
        legacy = _versions_dir(dest) / f"legacy-{uuid.uuid4().hex[:8]}"
        with contextlib.suppress(OSError):
            dest.rename(legacy)
    link = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.link")
    link.symlink_to(os.path.relpath(version, dest.parent))
    link.replace(dest)


def _collect(dest: Path) -> None:
    """Delete versions that are not current and that no running build holds: old ones, and
    what a killed run left (its half-written export, a lock without its version)."""
    versions = _versions_dir(dest)
    if not versions.is_dir():
        return
    for entry in versions.iterdir():
        if entry.name.endswith(".lock"):
            if not entry.with_name(entry.name.removesuffix(".lock")).is_dir():
                _remove_if_free(entry, None, dest)
        elif entry.is_dir() and not entry.is_symlink():
            _remove_if_free(entry.with_name(entry.name + ".lock"), entry, dest)
    _remove_stale_links(dest)


def stale_versions(dest: Path) -> list[Path]:
    """The exports of the local cache `dest` that are not current (what `collect` removes,
    unless a build holds one)."""
    versions = _versions_dir(dest)
    if not versions.is_dir():
        return []
    current = dest.resolve() if dest.is_symlink() else None
    return sorted(
        e for e in versions.iterdir() if e.is_dir() and not e.is_symlink() and e != current
    )


def collect(dest: Path) -> None:
    """Remove the versions of the local cache `dest` that are not current and no build holds
    (`orch prune`; every lease of `dest` does it too)."""
    with contextlib.suppress(OSError):
        _collect(dest)


def _remove_if_free(lock_path: Path, version: Path | None, dest: Path) -> None:
    """Remove a version (or a lone lock) unless a build holds it or it is current."""
    with lock_path.open("ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        # Current as of now, not as of the listing: another run may have swapped it in.
        if version is not None and dest.is_symlink() and dest.resolve() == version:
            return
        if version is not None:
            shutil.rmtree(version, ignore_errors=True)
        lock_path.unlink(missing_ok=True)


# A swap's temporary link lives for microseconds; one this old was left by a killed run.
STALE_LINK_S = 60.0


def _remove_stale_links(dest: Path) -> None:
    now = time.time()
    for link in dest.parent.glob(f".{dest.name}.*.link"):
        with contextlib.suppress(OSError):
            if link.is_symlink() and now - link.lstat().st_mtime > STALE_LINK_S:
                link.unlink()


def made_dirs(directory: Path, root: Path) -> None:
    """`mkdir -p directory`; the topmost directory this makes inside `root` (the plan's) gets a
    `.gitignore` of `*`, so that the cache stays out of `git status`. A directory that was
    there is left as it is."""
    top: Path | None = None
    probe = directory
    while not probe.exists() and probe != probe.parent:
        top, probe = probe, probe.parent
    directory.mkdir(parents=True, exist_ok=True)
    if top is not None and top != root and top.is_relative_to(root):
        ignore_dir(top)


def lease(
    cache_from: Sequence[CacheEntry], cache_to: Sequence[CacheEntry], root: Path
) -> CacheLease:
    """Rewrite a target's local cache specs for one build: read the current, write aside.

    Raises OSError when a cache directory cannot be prepared, holding nothing then.
    """
    result = CacheLease(cache_from=[], cache_to=[])
    try:
        for entry in cache_from:
            src = entry.get("src")
            if entry.type == "local" and src is not None:
                real, lock = _resolve_current((root / src).absolute())
                if lock is not None:
                    result._locks.append(lock)
                entry = entry.with_attr("src", str(real))
            result.cache_from.append(entry.render())
        for entry in cache_to:
            dest_attr = entry.get("dest")
            if entry.type == "local" and dest_attr is not None:
                dest = (root / dest_attr).absolute()
                with contextlib.suppress(OSError):
                    _collect(dest)  # what a killed run left: nobody else collects it
                stamp = time.strftime("%Y%m%dT%H%M%S")
                version = _versions_dir(dest) / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
                made_dirs(version.parent, root.absolute())
                # Locked before it exists: a concurrent run's collection never takes it mid-export.
                lock = version.with_name(version.name + ".lock").open("ab")
                fcntl.flock(lock, fcntl.LOCK_SH)
                result._locks.append(lock)
                version.mkdir()
                result._swaps.append((dest, version))
                _prefill(dest, version)
                entry = entry.with_attr("dest", str(version))
            result.cache_to.append(entry.render())
    except BaseException:
        result.abort()
        raise
    return result
