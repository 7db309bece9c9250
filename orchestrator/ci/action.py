"""orch's GitHub Action (`action.yml` at the repository root): its inputs as one orch command line,
and what it keeps between runs with actions/cache.

The action's steps hand every input over in the environment (`ORCH_INPUT_<NAME>`), never pasted
into a script: a branch name, a target or an argument stays text, and is never run as shell.
`python -m orchestrator.ci.action run` runs orch with them; `... cache` writes the paths and keys
the cache steps use, as step outputs.

    inputs       command (build, test, matrix, lint, plan), targets (space-separated),
                 since (a ref, or `auto`), push (true/false), args (more arguments, split as a
                 POSIX shell would, never run by one), file (the plan)
    cache paths  orch's history and image sizes, the manifests `orch why` compares with, and
                 every local directory the plan's `cache.to` exports to
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import EXIT_USAGE, OrchError, UsageError

COMMANDS = ("build", "test", "matrix", "lint", "plan")
PREFIX = "ORCH_INPUT_"
# The files of orch's state worth keeping between runs: durations (the scheduler's weights and
# the ETA), image sizes (size changes in the summary), the manifests `orch why` compares with.
STATE_KEPT = ("history.json", "image-sizes.json", "manifests")
KEY_VERSION = "v1"  # part of every cache key: a change of what is kept starts a new series


@dataclass(frozen=True, slots=True)
class Inputs:
    """The action's inputs, checked."""

    command: str = "build"
    targets: tuple[str, ...] = ()
    since: str | None = None
    push: bool = False
    args: tuple[str, ...] = ()
    file: str | None = None


def _flag(name: str, value: str) -> bool:
    said = value.strip().lower()
    if said in ("", "false", "no", "0"):
        return False
    if said in ("true", "yes", "1"):
        return True
    raise UsageError(
        f"the action's input `{name}` is {value!r}, which is neither true nor false",
        hint=f"write `{name}: true` or `{name}: false`",
    )


def read_inputs(environ: Mapping[str, str]) -> Inputs:
    """The inputs from `ORCH_INPUT_*`; a UsageError (exit 2) names the input and its fix."""

    def get(name: str) -> str:
        return environ.get(PREFIX + name.upper().replace("-", "_"), "")

    command = get("command").strip() or "build"
    if command not in COMMANDS:
        raise UsageError(
            f"the action's input `command` is {command!r}, which orch does not run here",
            hint="write one of " + ", ".join(COMMANDS),
        )
    try:
        args = tuple(shlex.split(get("args"), comments=False, posix=True))
    except ValueError as exc:
        raise UsageError(
            f"the action's input `args` cannot be split into arguments: {exc}",
            hint="close every quote; quote an argument that holds spaces",
        ) from None
    push = _flag("push", get("push"))
    if push and command != "build":
        raise UsageError(
            f"the action's input `push` is true for `orch {command}`, which pushes nothing",
            hint="set `push` only with `command: build`",
        )
    since = get("since").strip() or None
    if since is not None and command not in ("build", "test", "matrix", "plan"):
        raise UsageError(
            f"the action's input `since` is set for `orch {command}`, which takes no --since",
            hint="leave `since` out, or use build, test, matrix or plan",
        )
    return Inputs(
        command=command,
        targets=tuple(get("targets").split()),
        since=since,
        push=push,
        args=args,
        file=get("file").strip() or None,
    )


def command_line(inputs: Inputs) -> list[str]:
    """The orch command line of `inputs` (without the program name)."""
    argv = ["-f", inputs.file] if inputs.file else []
    argv.append(inputs.command)
    if inputs.since is not None:
        argv += ["--since", inputs.since]
    if inputs.push:
        argv.append("--push")
    argv += list(inputs.args)
    if inputs.targets:
        # `--` first: a target is never read as an option, whatever its name.
        argv += ["--", *inputs.targets]
    return argv


def cache_key(inputs: Inputs, environ: Mapping[str, str]) -> tuple[str, str]:
    """The key this run saves its cache under, and the prefix it restores the newest from.

    One series per runner OS, job, command, targets and plan (matrix jobs of one workflow job
    keep theirs apart); each run saves a new entry, since an entry of actions/cache is never
    overwritten, and restores the newest of its series.
    """
    what = "\0".join([inputs.command, inputs.file or "", *inputs.targets])
    digest = hashlib.sha256(what.encode()).hexdigest()[:12]
    job = "".join(c if c.isalnum() or c in "-_." else "_" for c in environ.get("GITHUB_JOB", ""))
    series = "-".join(
        ["orch", KEY_VERSION, environ.get("RUNNER_OS", "") or "os", job or "job", digest]
    )
    run = f"{environ.get('GITHUB_RUN_ID', '0')}-{environ.get('GITHUB_RUN_ATTEMPT', '1')}"
    return f"{series}-{run}", f"{series}-"


def cache_paths(state: Path, caches: Sequence[Path], cwd: Path) -> list[str]:
    """What the cache steps keep: orch's state files worth keeping and each local cache
    directory with its versions, relative to `cwd` where they are inside it."""
    from orchestrator.plan.state import versions_of

    paths = [state / name for name in STATE_KEPT]
    for cache in caches:
        paths += [cache, versions_of(cache)]

    def shown(path: Path) -> str:
        return path.relative_to(cwd).as_posix() if path.is_relative_to(cwd) else str(path)

    return [shown(p) for p in paths]


def _cache_outputs(inputs: Inputs, environ: Mapping[str, str]) -> dict[str, str]:
    from orchestrator.plan.state import state_dir, written_caches
    from orchestrator.project import load_project

    project = load_project(Path(inputs.file or "buildplan.yaml"))
    cwd = Path.cwd().absolute()
    paths = cache_paths(state_dir(project.plan), list(written_caches(project.plan)), cwd)
    key, restore = cache_key(inputs, environ)
    return {"paths": "\n".join(paths), "key": key, "restore-key": restore}


def _write_outputs(values: Mapping[str, str], environ: Mapping[str, str]) -> None:
    from orchestrator.ci.github import format_outputs

    output = environ.get("GITHUB_OUTPUT")
    if not output:
        raise UsageError(
            "GITHUB_OUTPUT is not set: the action's cache step runs inside GitHub Actions",
            hint="run orch itself outside GitHub Actions",
        )
    with Path(output).open("a", encoding="utf-8") as f:
        f.write(format_outputs(values))


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """`run`: orch with the action's inputs; `cache`: the cache steps' paths and keys."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    try:
        if args == ["run"]:
            inputs = read_inputs(env)
            line = command_line(inputs)
            print("orch " + shlex.join(line), file=sys.stderr, flush=True)
            from orchestrator.entry import main as orch

            return orch(line)
        if args == ["cache"]:
            _write_outputs(_cache_outputs(read_inputs(env), env), env)
            return 0
        raise UsageError(
            f"unknown use {shlex.join(args)!r} of orchestrator.ci.action",
            hint="python -m orchestrator.ci.action run|cache",
        )
    except OrchError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
