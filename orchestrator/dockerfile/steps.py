"""Every instruction of a Dockerfile, grouped by stage, with its place and its comments.

reader.py keeps only what decides the graph (stages, outside names); a linter needs each
instruction: its word, flags and arguments with their (line, column), the heredoc bodies a
RUN feeds its shell, and the comment lines around it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dockerfile.lexer import Instruction, Lexer


@dataclass(frozen=True, slots=True)
class Step:
    """One instruction: `kind` lower-cased, flags as written without quotes, then arguments."""

    kind: str
    flags: tuple[str, ...]  # e.g. ("--from=build", "--chown=app")
    args: str  # the text after the flags
    heredocs: tuple[tuple[str, ...], ...]  # the bodies of its heredocs, line by line
    instruction: Instruction
    args_at: int  # offset of `args` in the joined instruction text
    end_line: int  # its last line, a heredoc's terminator included

    @property
    def line(self) -> int:
        return self.instruction.line

    @property
    def column(self) -> int:
        return self.instruction.segments[0].indent + 1

    def place(self, offset: int) -> tuple[int, int]:
        """The (line, column) of character `offset` of `args`, both 1-based."""
        return self.instruction.place(self.args_at + offset)

    def flag(self, name: str) -> list[str]:
        """The values of `--name=value` flags, in order."""
        head = f"--{name}="
        return [f[len(head) :] for f in self.flags if f.startswith(head)]

    def exec_form(self) -> list[str] | None:
        """The arguments of the JSON (exec) form `["a", "b"]`, or None for the shell form."""
        text = self.args.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [str(v) for v in value]
        return None


@dataclass(frozen=True, slots=True)
class Steps:
    """A Dockerfile's instructions: those before the first FROM, then each stage's, and its
    comment lines by line number (heredoc bodies are not comments)."""

    path: Path
    meta: tuple[Step, ...]
    stages: tuple[tuple[Step, ...], ...]  # stage i starts with its FROM step
    comments: Mapping[int, str]  # line -> the comment, `#` and blanks around it removed
    lines: int  # how many lines the file has


def read_steps(path: Path) -> Steps:
    """The instructions of the Dockerfile at `path`, which the plan loader has already read."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return parse_steps(text, path)


def parse_steps(text: str, path: Path) -> Steps:
    lexer = Lexer(text, path)
    meta: list[Step] = []
    stages: list[list[Step]] = []
    for ins in lexer:
        flags, args_at = ins.flags()
        step = Step(
            kind=ins.kind,
            flags=tuple(f.word for f in flags),
            args=ins.text[args_at:],
            heredocs=(),
            instruction=ins,
            args_at=args_at,
            end_line=ins.segments[-1].line,
        )
        if ins.kind == "from":
            stages.append([step])
        elif stages:
            stages[-1].append(step)
        else:
            meta.append(step)
    # Heredoc bodies are known once the lexer has gone past them.
    with_bodies = [
        [_with_heredocs(s, lexer.heredocs.get(s.line)) for s in stage] for stage in stages
    ]
    comments = {
        number: stripped[1:].strip()
        for number, raw in enumerate(lexer.lines, 1)
        if (stripped := raw.lstrip()).startswith("#") and number not in lexer.body_lines
    }
    return Steps(
        path=path,
        meta=tuple(meta),
        stages=tuple(tuple(stage) for stage in with_bodies),
        comments=comments,
        lines=len(lexer.lines),
    )


def _with_heredocs(step: Step, bodies: list[tuple[str, ...]] | None) -> Step:
    if not bodies:
        return step
    end = step.end_line + sum(len(b) + 1 for b in bodies)
    return Step(
        kind=step.kind,
        flags=step.flags,
        args=step.args,
        heredocs=tuple(bodies),
        instruction=step.instruction,
        args_at=step.args_at,
        end_line=end,
    )
