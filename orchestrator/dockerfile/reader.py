"""The stages of a Dockerfile and the outside names it uses, decided as BuildKit decides them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dockerfile.lexer import Flag, Instruction, Lexer, check_line_sizes, mount_from
from orchestrator.dockerfile.model import COPY_FROM, FROM, RUN_MOUNT, Dockerfile, Ref, Stage
from orchestrator.dockerfile.shellwords import SubstitutionError, expand, split_words

# BuildKit defines these before the first FROM without an ARG; orch knows them only if given.
_PLATFORM_ARGS = frozenset(
    (
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
    )
)
_READ = frozenset(("arg", "copy", "from", "onbuild", "run"))  # the rest name no stage or image
_TOKEN = re.compile(r"[^\t\v\f\r ]+")  # one whitespace-delimited FROM argument
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_INDEX = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts


@dataclass(frozen=True, slots=True)
class _Pending:
    """A COPY --from or RUN --mount name, settled once every stage of the file is known."""

    name: str
    instruction: str  # COPY_FROM or RUN_MOUNT
    line: int
    column: int
    # False for ONBUILD triggers, which BuildKit reads only when they fire and so never
    # rejects up front.
    strict: bool


def parse(text: str, path: Path, build_args: Mapping[str, str]) -> Dockerfile:
    """Parse Dockerfile `text`; `build_args` override ARG defaults before the first FROM."""
    check_line_sizes(text, path)
    return _Reader(Lexer(text, path), build_args).read()


class _Reader:
    """One pass over the instructions; holds what earlier instructions declared."""

    def __init__(self, lexer: Lexer, build_args: Mapping[str, str]) -> None:
        self.lexer = lexer
        self.build_args = build_args
        self.stages: list[Stage] = []
        self.by_name: dict[str, int] = {}
        self.env = {k: v for k, v in build_args.items() if k in _PLATFORM_ARGS}
        # In file order, FROM refs and the COPY --from and RUN --mount names still to settle:
        # those may name a later stage, so they wait until every stage is known.
        self.refs: list[Ref | _Pending] = []
        self.triggers: dict[int, list[_Pending]] = {}  # ONBUILD names by the stage declaring them
        self.reordered = False  # ONBUILD triggers came in out of file order

    def read(self) -> Dockerfile:
        for instruction in self.lexer:
            self.instruction(instruction)
        if not self.stages:
            raise self.lexer.fail(
                "the Dockerfile has no FROM instruction",
                (max(len(self.lexer.lines), 1), 1),
                "a Dockerfile starts its first build stage with `FROM <image>`",
            )
        return Dockerfile(self.lexer.path, tuple(self.stages), self.settle())

    def instruction(self, ins: Instruction) -> None:
        kind = ins.kind
        if not self.stages and kind not in ("arg", "from"):
            raise self.lexer.fail(
                f"{ins.keyword} before the first FROM",
                ins.place(ins.text.index(ins.keyword)),
                "only ARG may come before the first FROM; start a stage with `FROM <image>`",
            )
        if kind not in _READ:
            return  # names no stage or image
        if kind == "from":
            self.from_(ins)
        elif kind == "arg":
            if not self.stages:
                self.meta_arg(ins)
        elif kind == "copy":
            self.copy_from(ins, ins.flags()[0], self.refs, strict=True)
        elif kind == "run":
            self.run_mounts(ins, ins.flags()[0], self.refs, strict=True)
        elif kind == "onbuild":
            sub, sub_flags, _ = ins.sub()
            triggers = self.triggers.setdefault(len(self.stages) - 1, [])
            if sub.lower() == "copy":
                self.copy_from(ins, sub_flags, triggers, strict=False)
            elif sub.lower() == "run":
                self.run_mounts(ins, sub_flags, triggers, strict=False)

    def from_(self, ins: Instruction) -> None:
        body, args_at = ins.text, ins.flags()[1]
        tokens = _TOKEN.findall(body, args_at)  # the first one starts at args_at
        name: str | None = None
        if len(tokens) == 3 and tokens[1].casefold() == "as":  # Go's EqualFold
            name = tokens[2].lower()
            if _STAGE_NAME.fullmatch(name) is None:
                raise self.lexer.fail(
                    f"invalid name for build stage: '{tokens[2]}'",
                    ins.place(body.rindex(tokens[2])),
                    "a stage name starts with a letter and has only letters, digits, '-', '_', '.'",
                )
        elif len(tokens) != 1:
            at = body.index(tokens[1], args_at + len(tokens[0])) if len(tokens) > 1 else args_at
            raise self.lexer.fail(
                "FROM requires either one or three arguments",
                ins.place(at),
                "write `FROM <image>` or `FROM <image> AS <name>`",
            )
        written = tokens[0]
        try:
            base = expand(written, self.env, self.lexer.escape)
        except SubstitutionError as exc:
            raise self.lexer.fail(
                f"cannot substitute FROM {written}: {exc}",
                ins.place(args_at),
                "declare the variable with ARG before the first FROM, or pass it as a build arg",
            ) from None
        if not base:
            raise self.lexer.fail(
                f"base name ({written}) should not be blank",
                ins.place(args_at),
                "give the ARG a default before the first FROM, or pass it as a build arg",
            )
        # BuildKit looks the base up as written against the lower-cased aliases of earlier
        # stages only: `FROM x AS x` with no earlier `x` is the outside image `x`.
        index = self.by_name.get(base)
        if index is not None:
            if index in self.triggers:
                self.refs.extend(self.triggers[index])
                self.reordered = True
        elif base != "scratch":
            self.refs.append(Ref(base, FROM, *ins.place(args_at)))
        self.stages.append(Stage(len(self.stages), name, base, ins.line))
        if name is not None:
            self.by_name[name] = len(self.stages) - 1

    def meta_arg(self, ins: Instruction) -> None:
        """An ARG before the first FROM: a variable FROM lines can use."""
        escape = self.lexer.escape
        args_at = ins.flags()[1]
        words = split_words(ins.text[args_at:], escape)
        if not words:
            raise self.lexer.fail(
                "ARG requires at least one argument",
                ins.place(args_at),
                "write `ARG NAME` or `ARG NAME=default`",
            )
        for word in words:
            key, eq, value = word.partition("=")
            if eq and not key:
                raise self.lexer.fail(
                    "ARG names can not be blank",
                    ins.place(args_at),
                    "write `ARG NAME=default`",
                )
            if key in self.build_args:
                self.env[key] = self.build_args[key]  # a build arg is used as given, unexpanded
            elif eq:
                try:
                    self.env[key] = expand(value, self.env, escape)
                except SubstitutionError as exc:
                    raise self.lexer.fail(
                        f"cannot substitute ARG {word}: {exc}",
                        ins.place(args_at),
                        "fix the ${...} expression in the default",
                    ) from None

    def copy_from(
        self,
        ins: Instruction,
        flags: tuple[Flag, ...],
        into: list[Ref | _Pending] | list[_Pending],
        *,
        strict: bool,
    ) -> None:
        body = ins.text
        for flag in flags:
            # BuildKit neither expands variables in --from nor reads --from on ADD.
            if flag.word.startswith("--from="):
                value = flag.word[7:]
                if value:
                    at = flag.start + 7 + (body[flag.start + 7 : flag.start + 8] in ("'", '"'))
                    into.append(_Pending(value, COPY_FROM, *ins.place(at), strict))

    def run_mounts(
        self,
        ins: Instruction,
        flags: tuple[Flag, ...],
        into: list[Ref | _Pending] | list[_Pending],
        *,
        strict: bool,
    ) -> None:
        for flag in flags:
            if not flag.word.startswith("--mount="):
                continue
            value = mount_from(flag.word[8:])
            if not value:
                continue
            found = ins.text.lower().rfind("from=", flag.start, flag.end)
            place = ins.place(found + 5 if found >= 0 else flag.start)
            # BuildKit rejects a variable in from= when it parses the file.
            if "$" in value[:-1]:
                if strict:
                    raise self.lexer.fail(
                        f"RUN --mount from={value}: from= does not support variable expansion",
                        place,
                        "name a stage `FROM <image> AS <alias>` and mount from=<alias>",
                    )
                continue
            into.append(_Pending(value, RUN_MOUNT, *place, strict))

    def settle(self) -> tuple[Ref, ...]:
        """Outside names, in file order: FROM refs plus COPY/RUN names that are not stages."""
        refs: list[Ref] = []
        stage_count = len(self.stages)
        for entry in self.refs:
            if isinstance(entry, Ref):
                refs.append(entry)
                continue
            name = entry.name
            # Only COPY --from takes a stage index; RUN --mount from= looks names up only.
            if entry.instruction == COPY_FROM and _INDEX.fullmatch(name):
                index = int(name) if len(name) < 20 else -1
                if not 0 <= index < stage_count and entry.strict:
                    raise self.lexer.fail(
                        f"COPY --from={name}: invalid stage index {name}",
                        (entry.line, entry.column),
                        f"this Dockerfile has stages 0 to {stage_count - 1}; "
                        "name the stage with `AS` and copy --from=<name>",
                    )
                continue
            if name.lower() in self.by_name or name == "scratch":
                continue
            refs.append(Ref(name, entry.instruction, entry.line, entry.column))
        if self.reordered:
            # ONBUILD triggers can fire in several stages: one ref per place in the file.
            refs = list(dict.fromkeys(sorted(refs, key=lambda r: (r.line, r.column))))
        return tuple(refs)
