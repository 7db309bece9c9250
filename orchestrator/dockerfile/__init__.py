"""A Dockerfile read as BuildKit's dockerfile frontend reads it: its stages and outside names.

orch turns an outside name that is also a plan target into a dependency edge and a named
context. lexer.py splits the text into instructions (shellwords.py reads their words);
reader.py decides the stages and references; model.py holds the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from orchestrator.dockerfile import reader
from orchestrator.dockerfile.model import Dockerfile, Ref, Stage
from orchestrator.errors import Location, PlanError

__all__ = ["Dockerfile", "Ref", "Stage", "parse_dockerfile", "read_dockerfile"]


def read_dockerfile(path: Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Read and parse the Dockerfile at `path`; an unreadable file is a PlanError naming it."""
    try:
        # Bytes, not read_text: universal newlines would turn a lone CR into a line break,
        # and BuildKit breaks lines at LF only.
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise PlanError(
            f"cannot read Dockerfile {path}: {exc.strerror or exc}",
            location=Location(path),
            hint="check the target's `dockerfile:` path in the plan",
        ) from exc
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"Dockerfile {path} is not UTF-8 text: {exc.reason} at byte {exc.start}",
            location=Location(path),
            hint="save the Dockerfile as UTF-8",
        ) from exc
    return parse_dockerfile(text, path, build_args)


def parse_dockerfile(
    text: str, path: Path, build_args: Mapping[str, str] | None = None
) -> Dockerfile:
    """Parse Dockerfile `text`; `build_args` override ARG defaults before the first FROM."""
    return reader.parse(text, path, build_args or {})
