"""The job specification: what a client submits and a worker runs.

{"id": "nightly-report",             optional at submission: the scheduler assigns one
 "command": ["report", "--daily"],   an argv list, never a shell string
 "timeout_s": 60,                    per attempt, 0 < timeout_s <= 3600 (default 60)
 "retries": 2,                       attempts after the first, 0 to 10 (default 0)
 "env": {"REPORT_DAY": "monday"}}    extra environment for the command (default none)
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_TIMEOUT_S = 3600
MAX_RETRIES = 10
DEFAULT_TIMEOUT_S = 60.0

# A job id is a file name in the spool: no slash, no leading dot, nothing to escape.
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS = frozenset({"id", "command", "timeout_s", "retries", "env"})


class SpecError(ValueError):
    """A job specification that does not validate. `problems` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class JobSpec:
    """A validated job. Build one with `parse` or `loads`, which check every field."""

    id: str
    command: tuple[str, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = 0
    env: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "command": list(self.command),
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "env": dict(self.env),
        }


def valid_id(job_id: object) -> bool:
    """Whether job_id is a well-formed job id: 1 to 64 of [a-z0-9._-], starting alphanumeric."""
    return isinstance(job_id, str) and _ID.fullmatch(job_id) is not None


def new_id() -> str:
    """A fresh job id that sorts by submission time: `<unix seconds>-<8 hex digits>`."""
    return f"{int(time.time())}-{secrets.token_hex(4)}"


def _is_number(value: object) -> bool:
    # bool is an int in Python, never a number in a job spec.
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse(data: object) -> JobSpec:
    """Check a decoded JSON value and return the job it describes.

    Raises SpecError naming every problem, not only the first, so that a client fixes its
    request in one go.
    """
    if not isinstance(data, Mapping):
        raise SpecError(["a job spec is a JSON object"])
    problems = [f"{name}: unknown field" for name in sorted(set(data) - _FIELDS)]

    job_id = data.get("id")
    if not valid_id(job_id):
        problems.append("id: 1 to 64 characters of [a-z0-9._-], starting with a letter or digit")

    command = data.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(arg, str) for arg in command)
        or not command[0]
    ):
        problems.append("command: a non-empty list of strings, the program first")

    timeout_s = data.get("timeout_s", DEFAULT_TIMEOUT_S)
    if not _is_number(timeout_s) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        problems.append(f"timeout_s: a number of seconds, above 0 and at most {MAX_TIMEOUT_S}")

    retries = data.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        problems.append(f"retries: a whole number from 0 to {MAX_RETRIES}")

    env = data.get("env", {})
    if not isinstance(env, Mapping):
        problems.append("env: an object of variable names to string values")
    else:
        for name, value in env.items():
            if not _ENV_NAME.fullmatch(name):
                problems.append(f"env: {name!r} is not a variable name")
            elif not isinstance(value, str):
                problems.append(f"env: the value of {name} is not a string")

    if problems:
        raise SpecError(problems)
    return JobSpec(
        id=job_id,
        command=tuple(command),
        timeout_s=float(timeout_s),
        retries=retries,
        env=dict(env),
    )


def loads(text: str | bytes) -> JobSpec:
    """Parse a job from JSON text."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SpecError([f"not JSON: {err}"]) from None
    return parse(data)


def dumps(spec: JobSpec) -> str:
    """The JSON text of a job, stable: keys sorted."""
    return json.dumps(spec.to_dict(), sort_keys=True)
