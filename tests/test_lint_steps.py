"""The instruction-level view of a Dockerfile the linter reads (orchestrator/dockerfile/steps.py)
and the RUN commands it sees (orchestrator/lint/shell.py)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.dockerfile.steps import parse_steps
from orchestrator.lint import shell

TEXT = """\
# syntax=docker/dockerfile:1
ARG BASE=debian:bookworm-slim
FROM ${BASE} AS build
# a comment
RUN --mount=type=cache,target=/root/.cache/pip \\
    # a comment inside the continuation
    pip install \\
      flask
COPY <<EOF /etc/motd
# not a comment: heredoc text
EOF
FROM scratch
COPY --from=build --chown=1:1 /x /y
"""


def test_steps_are_grouped_by_stage_with_flags_places_and_heredocs():
    steps = parse_steps(TEXT, Path("Dockerfile"))
    assert [s.kind for s in steps.meta] == ["arg"]
    assert [[s.kind for s in stage] for stage in steps.stages] == [
        ["from", "run", "copy"],
        ["from", "copy"],
    ]
    run = steps.stages[0][1]
    assert run.flag("mount") == ["type=cache,target=/root/.cache/pip"]
    assert (run.line, run.end_line) == (5, 8)
    assert run.place(run.args.index("flask")) == (8, 7)
    copy = steps.stages[0][2]
    assert copy.heredocs == (("# not a comment: heredoc text",),)
    assert (copy.line, copy.end_line) == (9, 11)
    assert steps.stages[1][1].flag("from") == ["build"]
    assert steps.comments == {
        1: "syntax=docker/dockerfile:1",
        4: "a comment",
        6: "a comment inside the continuation",
    }


def test_commands_of_shell_exec_sh_c_and_heredoc_forms():
    text = (
        "FROM x\n"
        "RUN A=1 sudo apt-get update && apt-get install -y curl; rm -rf /var/lib/apt/lists/*\n"
        'RUN ["sh", "-c", "pip install \'flask==3.0\' || true"]\n'
        "RUN <<EOT\nset -e\nnpm ci \\\n  --omit=dev\nEOT\n"
    )
    stage = parse_steps(text, Path("Dockerfile")).stages[0]
    words = [[c.words for c in shell.commands(step)] for step in stage[1:]]
    assert words == [
        [("apt-get", "update"), ("apt-get", "install", "-y", "curl"),
         ("rm", "-rf", "/var/lib/apt/lists/*")],
        [("pip", "install", "flask==3.0"), ("true",)],
        [("set", "-e"), ("npm", "ci", "--omit=dev")],
    ]  # fmt: skip
    first = shell.commands(stage[1])[0]
    assert stage[1].place(first.offset) == (2, 14)  # `apt-get`, past the assignment and sudo


def test_cache_mounts_cover_paths_below_and_above_them():
    text = "FROM x\nRUN --mount=type=cache,target=/root/.cache --mount=type=bind,target=/src true\n"
    run = parse_steps(text, Path("Dockerfile")).stages[0][1]
    assert shell.cached(run, "/root/.cache/pip")
    assert not shell.cached(run, "/src")  # a bind mount is no cache
    assert not shell.cached(run, "/var/cache/apk")
