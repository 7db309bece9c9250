"""Files orch writes for people and tools to read: whole or not at all, never in someone's way.

Its own files (bake files, logs, history) are replaced atomically. A path the user names
(`--report`) is treated as a shell redirection treats it: a regular file, or none, is replaced
atomically (through a symlink, the file it points at); a FIFO, a device or a socket is written
into, never replaced; `-` is standard output.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UsageError


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def read_json_object(path: Path) -> dict[str, object]:
    """A JSON object from `path`; {} when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json_atomic(path: Path, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a user asked orch to write a document, checked before the run starts."""

    shown: str  # as the user wrote it, for messages
    path: Path | None  # None: standard output
    replace: bool  # True: atomic replace of `path`; False: open and write into it

    def write(self, text: str) -> None:
        """Write `text`; an OSError (a full device, say) is a UsageError naming the path."""
        try:
            if self.path is None:
                sys.stdout.write(text)
                sys.stdout.flush()
            elif self.replace:
                write_text_atomic(self.path, text)
            else:
                with self.path.open("w") as f:
                    f.write(text)
        except OSError as exc:
            raise UsageError(
                f"cannot write {self.shown}: {exc.strerror or exc}",
                hint="name a file in a directory you can write, or - for standard output",
            ) from None


def destination(given: str) -> Destination:
    """Check that `given` can be written as a shell redirection would; UsageError if not."""
    if given == "-":
        return Destination(given, None, replace=False)
    path = Path(given)
    try:
        mode = path.stat().st_mode  # follows a symlink: what it points at is what is written
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _unwritable(given, exc.strerror or str(exc)) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise _unwritable(given, "it is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        if not os.access(path, os.W_OK):
            raise _unwritable(given, "permission denied")
        return Destination(given, path, replace=False)
    real = path.resolve()  # a symlink to a file, or a dangling one: replace what it names
    parent = real.parent
    if not parent.is_dir():
        raise _unwritable(given, f"the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _unwritable(given, f"the directory {parent} is not writable")
    return Destination(given, real, replace=True)


def _unwritable(given: str, why: str) -> UsageError:
    return UsageError(
        f"cannot write the report to {given}: {why}",
        hint="name a file in a directory you can write, or - for standard output",
    )
