"""Test reports on disk: where a test stage's reports directory is exported, kept and read.

Each test job with `reports:` exports into a fresh directory of the state, `reports/<job>.new-*`;
once read, it replaces `reports/<job>/` whole (the previous one moves aside first, then goes), and
`reports/<job>.json` says at which version it was made and whether the stage passed: what a
later run at the same version reports as its cached result. Reading never follows a symlink and
never opens anything but a regular file, so a FIFO or a device in a report cannot hang a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from orchestrator.ci.testcases import FILE_LIMIT, Reports, read_reports
from orchestrator.files import read_json_object, write_json_atomic
from orchestrator.inputs.versions import short
from orchestrator.run.results import JobResult
from orchestrator.run.workspace import shown

REPORTS = "reports"
# A reports directory of more files than this is read up to it: a test that writes a file per
# case writes thousands, not millions.
FILE_COUNT_LIMIT = 10_000


def _name(key: str) -> str:
    return key.replace(":", "@")  # as the state's logs: `api@test`


def export_dir(state: Path, key: str) -> Path:
    """A fresh directory for one export of job `key`'s reports (BuildKit creates it)."""
    parent = state / REPORTS
    parent.mkdir(parents=True, exist_ok=True)
    return parent / f"{_name(key)}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Read:
    """The files of a reports directory: regular files' bytes by relative path, those left
    unread for their size (bytes), and what else was passed over."""

    files: dict[str, bytes]
    too_large: dict[str, int]
    passed_over: tuple[str, ...]
    missing: bool = False


def read(directory: Path) -> Read:
    """Every regular file under `directory`, by its path relative to it."""
    files: dict[str, bytes] = {}
    too_large: dict[str, int] = {}
    passed_over: list[str] = []
    if not directory.is_dir() or directory.is_symlink():
        return Read({}, {}, (), missing=True)
    for top, dirs, names in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(top) / name
            rel = path.relative_to(directory).as_posix()
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                passed_over.append(f"{rel} is not a regular file: left out")
                continue
            if info.st_size > FILE_LIMIT:
                too_large[rel] = info.st_size
                continue
            if len(files) >= FILE_COUNT_LIMIT:
                passed_over.append(f"more than {FILE_COUNT_LIMIT} files: the rest left out")
                return Read(files, too_large, tuple(passed_over))
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "rb") as handle:
                    files[rel] = handle.read(FILE_LIMIT + 1)[:FILE_LIMIT]
            except OSError as exc:
                passed_over.append(f"{rel} could not be read: {exc.strerror or exc}")
    return Read(files, too_large, tuple(passed_over))


def load(directory: Path) -> tuple[Reports, bool]:
    """The cases of a reports directory, with what could not be read among its problems; and
    whether it held any file at all."""
    files = read(directory)
    got = read_reports(files.files, files.too_large)
    problems = (*got.problems, *files.passed_over)
    return dataclasses.replace(got, problems=problems), bool(files.files or files.too_large)


def kept_dir(state: Path, key: str) -> Path:
    return state / REPORTS / _name(key)


def keep(state: Path, key: str, exported: Path, *, version: str, passed: bool) -> Path:
    """Make `exported` the kept reports of job `key`, at `version`; the kept directory."""
    kept = kept_dir(state, key)
    aside = kept.with_name(f"{kept.name}.old-{uuid.uuid4().hex[:8]}")
    with contextlib.suppress(FileNotFoundError):
        kept.rename(aside)
    exported.rename(kept)
    write_json_atomic(kept.with_name(kept.name + ".json"), {"version": version, "passed": passed})
    shutil.rmtree(aside, ignore_errors=True)
    return kept


def kept(state: Path, key: str) -> tuple[Path, str, bool] | None:
    """The kept reports of job `key`: (directory, version, passed), or None."""
    directory = kept_dir(state, key)
    said = read_json_object(directory.with_name(directory.name + ".json"))
    version, passed = said.get("version"), said.get("passed")
    if not directory.is_dir() or not isinstance(version, str) or not isinstance(passed, bool):
        return None
    return directory, version, passed


def cached(state: Path, key: str, version: str, root: Path) -> JobResult | None:
    """The result of test job `key` at `version` from the reports kept when it passed or failed
    there before, with their cases; None when none are kept at that version."""
    found = kept(state, key)
    if found is None or found[1] != version:
        return None
    directory, _, passed = found
    got, _ = load(directory)
    return JobResult(
        key=key,
        status="up-to-date" if passed else "failed",
        version=short(version),
        error=None if passed else f"{key}: {got.verdict()} (cached: at this version before)",
        reports=got,
        reports_dir=shown(directory, root),
        reports_cached=True,
    )


def drop(exported: Path) -> None:
    """An export that is not kept (its build failed)."""
    shutil.rmtree(exported, ignore_errors=True)
