"""Files orch writes for people and tools to read: whole or not at all, never in someone's way.

Its own files (bake files, logs, history) are replaced atomically. A path the user names
(`--report`) is treated as a shell redirection treats it: a regular file, or none, is replaced
atomically (through a symlink, the file it points at); a FIFO, a device or a socket is written
into, never replaced; `-` is standard output.

A file written anew gets the mode any program's new file gets, 0666 less the umask; a file
replaced keeps its permission bits. `refuse_input` refuses a destination that is the plan, a
Dockerfile, an ignore file or a file inside a build context.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UsageError

NEW_FILE_MODE = 0o666  # what the umask is taken from, as for a shell redirection's new file
_TEMPORARY_TRIES = 100


def write_new(path: Path, text: str) -> None:
    """Write `text` to `path`, which must not exist: O_EXCL, so that a file (or a link) that
    appears meanwhile is never replaced. FileExistsError otherwise."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside `path`, then rename over it: a reader never sees half a file.

    A new file's mode is 0666 less the umask; a file replaced keeps its permission bits.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = _permissions(path)
    fd, tmp = _temporary(path)
    try:
        if kept is not None:
            os.fchmod(fd, kept)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _permissions(path: Path) -> int | None:
    """The permission bits of the file at `path` (through a symlink); None when there is none."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return stat.S_IMODE(mode) & 0o777 if stat.S_ISREG(mode) else None


def _temporary(path: Path) -> tuple[int, Path]:
    """A new file beside `path`, open for writing, made with mode 0666 so that the kernel
    applies the umask (and a directory's default ACL) as it does to any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMPORARY_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            return os.open(tmp, flags, NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary name beside {path}")


SELF_IGNORE = "# Written by orch: what orch keeps here is not part of the repository.\n*\n"


def ignore_dir(directory: Path) -> None:
    """A `.gitignore` of `*` in `directory` (as pytest's and ruff's caches have), so that git
    status stays clean; unless it has one, which is never replaced, nor a link followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(directory / ".gitignore", flags, 0o644)
    except OSError:
        return  # there already, or not writable: nothing of the user's is touched
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(SELF_IGNORE)


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


def refuse_input(
    dest: Destination,
    protected: Iterable[Path] | Mapping[Path, str],
    contexts: Iterable[Path],
    what: str,
    *,
    allowed: Iterable[Path] = (),
) -> None:
    """A UsageError when writing `dest` (the value of option `what`, such as `--report`)
    would change an input of the build: one of the `protected` files (the plan, a
    Dockerfile, an ignore file; a mapping names what each is) or a file inside one of the
    `contexts` directories, unless it is under one of the `allowed` directories (orch's own
    state directory). Paths are compared with every symlink resolved; `-` is always accepted.
    """
    if dest.path is None:
        return
    real = _real(dest.path)
    allowed = tuple(allowed)
    described = protected if isinstance(protected, Mapping) else dict.fromkeys(protected, "")
    for path, name in described.items():
        if _real(path) == real:
            direct = Path(dest.shown).absolute() == real
            through = "" if direct else f" ({dest.shown} resolves to it)"
            raise UsageError(
                f"{what} {dest.shown} would overwrite {name or 'a build input'} {path}{through}",
                hint=_elsewhere(what, allowed),
            )
    if any(_within(real, _real(a)) for a in allowed):
        return
    for context in contexts:
        if _within(real, _real(context)):
            raise UsageError(
                f"{what} {dest.shown} is inside the build context {context}: writing it "
                "would change what the build is sent, and so the versions of its targets",
                hint=_elsewhere(what, allowed),
            )


def _real(path: Path) -> Path:
    """`path` absolute, with every symlink resolved as far as the path exists."""
    return Path(os.path.realpath(path))


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _elsewhere(what: str, allowed: tuple[Path, ...]) -> str:
    example = f"{what} /tmp/{what.lstrip('-')}.{'xml' if what == '--junit' else 'json'}"
    under = [str(a) for a in allowed]
    return f"name a file outside the build contexts, e.g. `{example}`" + (
        f", or one under {' or '.join(under)}" if under else ""
    )
