"""`orch prune` and `orch build --prune`: list what the engine and the state hold, decide
(orchestrator.prune.decide), and remove it, each target's images under its job lock.

What goes, past the bound (`--keep N`, default 3, or `--older-than D`):
- the plan's versioned image tags (never forced: an image a container uses stays);
- run directories of `.orch/runs/` no run holds;
- logs of jobs no longer in the plan (and, with `--older-than`, older ones);
- manifests of targets no longer in the plan;
- versions of the plan's local caches (`cache.to` of `type=local`) that are not current.
With a registry (`registry:`), the versioned tags there past the bound are listed, and deleted
only with `--registry-delete`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from orchestrator.engine.docker import Engine, familiar
from orchestrator.plan.sizes import size_text
from orchestrator.project import Project
from orchestrator.prune import decide


@dataclass
class Swept:
    """What a prune removed (or, dry, would remove), and what went wrong."""

    images: list[str] = field(default_factory=list)
    freed: int = 0
    runs: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    caches: list[str] = field(default_factory=list)
    cache_bytes: int = 0
    registry: list[str] = field(default_factory=list)
    kept: list[decide.Kept] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _tree_bytes(path: Path) -> int:
    total = 0
    for here, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += (Path(here) / f).lstat().st_size
    return total


@contextlib.contextmanager
def _held(paths: Sequence[Path]) -> Iterator[set[Path]]:
    """The locks of `paths` that no one else holds, held until the end: the ones given back
    are free to act on."""
    held: list[tuple[Path, IO[bytes]]] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock: IO[bytes] = path.open("ab")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            held.append((path, lock))
        yield {p for p, _ in held}
    finally:
        for _, lock in held:
            lock.close()


def _repository(image: str) -> str:
    named = familiar(f"{image}:x")
    return named[0] if named else image


async def prune(
    project: Project,
    engine: Engine,
    *,
    names: Sequence[str] = (),
    keep: int = 3,
    older_than: float | None = None,
    dry_run: bool = False,
    registry_delete: bool = False,
) -> Swept:
    """Prune the plan's targets (`names`, or every one): see the module."""
    from orchestrator.plan.state import state_dir, written_caches
    from orchestrator.run.workspace import file_name

    plan = project.plan
    chosen = list(names) or list(plan.targets)
    state = state_dir(plan)
    now = time.time()
    swept = Swept()
    repositories = {n: _repository(plan.targets[n].image) for n in chosen}
    locks = {n: state / "locks" / f"{file_name(n)}.lock" for n in chosen}
    if not dry_run:
        from orchestrator.files import ignore_dir

        state.mkdir(parents=True, exist_ok=True)
        ignore_dir(state)  # orch's own, whole, as a run makes it: git status stays clean
    with _held(list(locks.values()) if not dry_run else []) as free:
        busy = [] if dry_run else [n for n in chosen if locks[n] not in free]
        tags = await engine.local_tags()
        wanted = {t.image_id for t in tags if t.repository in set(repositories.values())}
        facts = await engine.image_facts(sorted(wanted))
        in_use = await engine.container_images()
        from orchestrator.inputs.versions import plan_key

        decision = decide.decide(
            repositories,
            tags,
            facts,
            in_use=in_use,
            busy=busy,
            keep=keep,
            older_than=older_than,
            now=now,
            plan=plan_key(plan.path),
        )
        swept.kept = list(decision.kept)
        swept.freed = decision.freed
        refs = [t.ref for t in decision.remove]
        if not dry_run and refs:
            problems = await engine.untag(refs)
            swept.problems += [f"{ref} was not removed: {why}" for ref, why in problems.items()]
            refs = [r for r in refs if r not in problems]
        swept.images = refs
    _state(project, state, swept, keep=keep, older_than=older_than, now=now, dry_run=dry_run)
    for dest in written_caches(plan):
        _caches(dest, swept, dry_run=dry_run)
    registered = [n for n in chosen if plan.targets[n].registry]
    if registered:
        from orchestrator.prune import remote

        await remote.prune(
            project,
            registered,
            swept,
            keep=keep,
            older_than=older_than,
            now=now,
            delete=registry_delete and not dry_run,
        )
    return swept


def _state(
    project: Project,
    state: Path,
    swept: Swept,
    *,
    keep: int,
    older_than: float | None,
    now: float,
    dry_run: bool,
) -> None:
    from orchestrator.run.workspace import KEEP_RUNS, file_name

    runs = state / "runs"
    if runs.is_dir():
        dirs = {p.name: p.stat().st_mtime for p in runs.iterdir() if p.is_dir()}
        # A run keeps the newest KEEP_RUNS itself; prune's bound is the tighter one.
        bound = min(keep, KEEP_RUNS)
        for name in decide.older(dirs, keep=bound, older_than=older_than, now=now):
            lock_path = runs / f"{name}.lock"
            if dry_run:  # listed, nothing touched: not even a lock file
                swept.runs.append(name)
                continue
            with _held([lock_path]) as free:
                if lock_path not in free:
                    continue  # a run holds it
                shutil.rmtree(runs / name, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
                swept.runs.append(name)
    jobs = {file_name(n) for n in project.plan.targets}
    jobs |= {file_name(f"{n}:{s}") for n, t in project.plan.targets.items() for s in t.tests}
    logs = state / "logs"
    for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
        gone = log.stem not in jobs
        old = older_than is not None and now - log.stat().st_mtime >= older_than
        if gone or old:
            if not dry_run:
                log.unlink(missing_ok=True)
            swept.logs.append(log.name)
    manifests = state / "manifests"
    for manifest in sorted(manifests.glob("*.json")) if manifests.is_dir() else []:
        if manifest.stem not in jobs:
            if not dry_run:
                manifest.unlink(missing_ok=True)
            swept.manifests.append(manifest.name)


def _caches(dest: Path, swept: Swept, *, dry_run: bool) -> None:
    from orchestrator.run.cache import collect, stale_versions

    sizes = {v: _tree_bytes(v) for v in stale_versions(dest)}  # before they go
    gone = list(sizes)
    if not dry_run:
        collect(dest)
        gone = [v for v in sizes if not v.exists()]  # one a build holds stays
    swept.caches += [str(v) for v in gone]
    swept.cache_bytes += sum(sizes[v] for v in gone)


def report(swept: Swept, *, dry_run: bool, out: TextIO, verbose: bool = False) -> None:
    """What went (or would go), a line each, then the totals."""
    verb = "would remove" if dry_run else "removed"
    for ref in swept.images:
        out.write(f"{verb} {ref}\n")
    for ref in swept.registry:
        out.write(ref + "\n")
    if verbose:
        for kept in swept.kept:
            out.write(f"kept {kept.ref}: {kept.why}\n")
    for problem in swept.problems:
        out.write(f"warning: {problem}\n")
    parts = [
        f"{len(swept.images)} image tag{'s' * (len(swept.images) != 1)} "
        f"(up to {size_text(swept.freed)}: layers other images share stay)",
        f"{len(swept.runs)} run director{'ies' if len(swept.runs) != 1 else 'y'}",
        f"{len(swept.logs)} log{'s' * (len(swept.logs) != 1)}",
        f"{len(swept.manifests)} manifest{'s' * (len(swept.manifests) != 1)}",
        f"{len(swept.caches)} cache version{'s' * (len(swept.caches) != 1)} "
        f"({size_text(swept.cache_bytes)})",
    ]
    # A line each, so that none is wider than a terminal's 80 columns.
    out.write(f"prune: {verb} {parts[0]}\n  and {', '.join(parts[1:])}\n")
    if dry_run:
        out.write("dry run: nothing was removed\n")
