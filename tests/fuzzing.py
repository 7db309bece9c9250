"""Hypothesis strategies for hostile plans and Dockerfiles, and one run of the real CLI on them.

Shared by tests/test_fuzz.py (a bounded budget in the suite) and bench/fuzz_bench.py (at
length). A case is a directory holding `buildplan.yaml`, the contexts it names and their
Dockerfiles, every file given as bytes: random YAML documents (schema keys and random ones,
every YAML type, anchors and aliases, deep nesting, huge numbers) and random Dockerfiles
(every instruction, continuation lines, heredocs, parser directives), each then possibly mangled
at the byte level (a BOM, tabs, invalid UTF-8, NUL and control bytes, a cut).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from orchestrator.commands import main as cli
from orchestrator.run import resolve

PLAN = "buildplan.yaml"
CONTEXTS = ("svc", "web", "base")  # directories a case may hold, each with a Dockerfile
TARGET_NAMES = ("svc", "web", "base", "api", "Api", "sérvice", "a" * 129, "x.y", "a__b")

# What a user could run on a plan without an engine; `lint` when this orch has it.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("plan",),
    ("plan", "--json"),
    ("graph",),
    ("graph", "--format", "dot"),
    ("plan", "svc"),
)
LINT: tuple[tuple[str, ...], ...] = (("lint",),) if "lint" in cli.cli.commands else ()

TARGET_KEYS = (
    "context",
    "dockerfile",
    "target",
    "test",
    "depends_on",
    "contexts",
    "watch",
    "secrets",
    "platforms",
    "args",
    "image",
    "tags",
    "labels",
    "registry",
    "cache",
    "max_size",
    "dev",
    "lint",
)
TOP_KEYS = ("version", "defaults", "stages", "services")
SUB_KEYS = ("from", "to", "id", "env", "src", "optional", "ports", "command", "ignore")

# --- YAML values of every type -----------------------------------------------------------------

_text = st.text(max_size=12) | st.sampled_from(
    [
        "svc",
        "web",
        "Dockerfile",
        "..",
        "../..",
        "/etc",
        "svc/Dockerfile",
        "",
        " ",
        "~",
        "null",
        "yes",
        "0o17",
        "1e400",
        "type=local,dest=.c/{name}",
        "type=registry,ref=r/c:{name}",
        "docker-image://busybox",
        "linux/amd64",
        "{name}",
        "a,b=c",
        "${X}",
        "*",
        "**/x",
        "25MB",
    ]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1, 2, -1, 10**400, 2**63, -(2**63) - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_rare = st.binary(max_size=8) | st.dates()  # dumped as !!binary and a timestamp


def _mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], one_in: int) -> Any:
    """`usual`, and `odd` once in `one_in` draws: most cases get past the first check."""
    return st.integers(0, one_in - 1).flatmap(lambda n: odd if n == one_in // 2 else usual)


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True once in `one_in` draws (hypothesis favours 0 and the maximum, so neither)."""
    return bool(draw(st.integers(0, one_in - 1)) == one_in // 2)


_keys = _mostly(
    st.sampled_from(TOP_KEYS + TARGET_KEYS + SUB_KEYS), _text | st.integers(-3, 3) | st.none(), 8
)


def _values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(_keys, inner, max_size=4)
            | st.tuples(inner, inner).map(lambda pair: [pair[0], pair[0], pair[1]])
        ),  # an alias
        max_leaves=12,
    )


_value = _values(_mostly(_scalars, _rare, 40))

_plausible: dict[str, st.SearchStrategy[Any]] = {
    "context": st.sampled_from(CONTEXTS) | _text,
    "dockerfile": st.sampled_from(["Dockerfile", "Dockerfile.dev", "../svc/Dockerfile"]) | _text,
    "target": st.sampled_from(["build", "runtime", "test", "Runtime"]) | _text,
    "test": st.lists(st.sampled_from(["test", "build", "nope"]), max_size=3),
    "depends_on": st.lists(st.sampled_from(TARGET_NAMES), max_size=3),
    "contexts": st.dictionaries(
        st.sampled_from(["shared", "svc", "busybox", "Bad Name"]),
        st.sampled_from(["web", "docker-image://busybox:latest", "../x", "docker-image://"]),
        max_size=2,
    ),
    "args": st.dictionaries(_text, _scalars, max_size=3),
    "cache": st.fixed_dictionaries(
        {}, optional={"from": st.lists(_text, max_size=2), "to": st.lists(_text, max_size=2)}
    ),
    "secrets": st.lists(
        st.fixed_dictionaries(
            {"id": _text}, optional={"env": _text, "src": _text, "optional": st.booleans()}
        ),
        max_size=2,
    ),
    "dev": st.fixed_dictionaries(
        {},
        optional={
            "ports": st.lists(_text | st.integers(-1, 70000), max_size=2),
            "env": st.dictionaries(_text, _text, max_size=2),
            "command": _text | st.lists(_text, max_size=2),
        },
    ),
}


@st.composite
def _target(draw: st.DrawFn, *, context: bool = True) -> Any:
    if _rarely(draw, 20):
        return draw(_value)  # not even a mapping
    keys = draw(st.lists(st.sampled_from(TARGET_KEYS), max_size=4, unique=True))
    spec: dict[Any, Any] = {"context": draw(st.sampled_from(CONTEXTS))} if context else {}
    for key in keys:
        plausible = _plausible.get(key)
        odd = plausible is None or _rarely(draw, 5)
        spec[key] = draw(_value if odd or plausible is None else plausible)
    if _rarely(draw, 10):
        spec[draw(_keys)] = draw(_value)
    return spec


@st.composite
def plan_documents(draw: st.DrawFn) -> dict[Any, Any]:
    """A plan as a Python value: mostly the schema's shape, with random values and keys."""
    doc: dict[Any, Any] = {}
    if not _rarely(draw, 20):
        doc["version"] = 1 if not _rarely(draw, 10) else draw(_scalars)
    for section in ("stages", "services"):
        if not _rarely(draw, 6):
            odd = _rarely(draw, 10)
            names = draw(
                st.lists(
                    _text if odd else st.sampled_from(CONTEXTS), min_size=1, max_size=3, unique=True
                )
            )
            doc[section] = {name: draw(_target()) for name in names}
    if _rarely(draw, 3):
        doc["defaults"] = draw(_target(context=_rarely(draw, 10)))
    if _rarely(draw, 10):
        doc[draw(_keys)] = draw(_value)
    return doc


def _dump(doc: Any) -> bytes:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode()
    except (yaml.YAMLError, TypeError, ValueError):
        return repr(doc).encode()


_MANGLES = st.sampled_from(
    ["none"] * 16 + ["bom", "tabs", "bytes", "cut", "nest", "merge", "bomb", "docs", "crlf"]
)


def _mangle(data: bytes, how: str, junk: bytes, at: int) -> bytes:
    at = at % (len(data) + 1)
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "tabs":
        return data.replace(b"  ", b"\t", 1 + at % 3)
    if how == "bytes":
        return data[:at] + junk + data[at:]
    if how == "cut":
        return data[:at]
    if how == "nest":
        depth = 50 + at * 37 % 5000
        return data + b"deep: " + b"[" * depth + b"]" * depth + b"\n"
    if how == "merge":
        return b"x-base: &base {context: svc}\n" + data + b"extra: {<<: *base, <<: *nope}\n"
    if how == "bomb":
        lines = [b"a0: &a0 [x, x]"] + [
            f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]".encode() for i in range(1, 12 + at % 20)
        ]
        return b"\n".join(lines) + b"\n" + data
    if how == "docs":
        return data + b"---\n" + data
    if how == "crlf":
        return data.replace(b"\n", b"\r\n")
    return data


@st.composite
def plan_bytes(draw: st.DrawFn) -> bytes:
    """A plan file's bytes: a random document dumped as YAML, maybe mangled."""
    data = draw(st.binary(max_size=64)) if _rarely(draw, 20) else _dump(draw(plan_documents()))
    return _mangle(
        data, draw(_MANGLES), draw(st.binary(min_size=1, max_size=6)), draw(st.integers(0, 10**6))
    )


# --- Dockerfiles -------------------------------------------------------------------------------

_word = st.sampled_from(
    [
        "busybox",
        "busybox:latest",
        "scratch",
        "svc",
        "web",
        "base",
        "build",
        "$BASE",
        "${BASE}",
        "${BASE:-busybox}",
        "${BASE:?no}",
        "debian@sha256:" + "0" * 64,
        "Build",
        "sérvice",
        "a b",
        "--platform=$BUILDPLATFORM",
        "--platform=linux/amd64",
        "\\",
        "`",
        '"',
        "'",
        "[",
        "]",
        "{}",
    ]
) | st.text(min_size=1, max_size=8)

_image = (
    st.sampled_from(
        [
            "busybox",
            "busybox:latest",
            "scratch",
            "base",
            "svc",
            "$BASE",
            "${BASE:-busybox}",
            "build",
        ]
    )
    | _word
)
_stage = st.sampled_from(["build", "runtime", "test", "Build", "b.c-d_e"]) | _word

_INSTRUCTIONS = (
    "FROM",
    "RUN",
    "COPY",
    "ADD",
    "ARG",
    "ENV",
    "LABEL",
    "WORKDIR",
    "USER",
    "CMD",
    "ENTRYPOINT",
    "SHELL",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "from",
    "Run",
    "FRÖM",
    "RÜN",
    "COPPY",
)


@st.composite
def _instruction(draw: st.DrawFn) -> str:
    kind = draw(
        st.sampled_from(_INSTRUCTIONS[:16])
        if not _rarely(draw, 10)
        else st.sampled_from(_INSTRUCTIONS)
    )
    words = draw(st.lists(_word, max_size=4))
    if kind.upper() == "FROM" and not _rarely(draw, 5):
        words = [draw(_image), "AS", draw(_stage)] if draw(st.booleans()) else [draw(_image)]
    elif kind.upper() in ("COPY", "ADD") and draw(st.booleans()):
        words = [f"--from={draw(_image | _stage)}", *words, "/dst/"]
    elif kind.upper() == "RUN" and draw(st.booleans()):
        mount = draw(
            st.sampled_from(
                [
                    "type=cache,target=/c",
                    "from=svc,target=/s",
                    "from=build",
                    "type=secret,id=x",
                    "type=bind,from=busybox:latest,source=/,target=/b",
                    "from=",
                    "=,=",
                    "type=",
                ]
            )
        )
        words = [f"--mount={mount}", *words]
    elif kind.upper() in ("CMD", "ENTRYPOINT", "SHELL") and draw(st.booleans()):
        words = ['["sh", "-c"', *words, "]"]
    line = " ".join([kind, *words])
    form = draw(st.sampled_from(["plain", "plain", "continued", "heredoc", "heredoc-dash"]))
    if form == "continued":
        at = draw(st.integers(0, len(line)))
        line = (
            line[:at]
            + draw(st.sampled_from([" \\\n", "\\\n# comment\n", " `\n", "\\  \n\n"]))
            + line[at:]
        )
    elif form.startswith("heredoc"):
        dash = "-" if form == "heredoc-dash" else ""
        tag = draw(st.sampled_from(["EOF", '"EOF"', "'EOT'", "E"]))
        end = tag.strip("\"'")
        body = draw(st.lists(_word, max_size=3))
        closed = not _rarely(draw, 6)
        line = (
            f"{line} <<{dash}{tag}\n"
            + "\n".join(body)
            + (f"\n\t{end}" if dash else f"\n{end}") * closed
        )
    return line


@st.composite
def dockerfile_text(draw: st.DrawFn) -> str:
    lines: list[str] = draw(
        st.lists(
            st.sampled_from(
                [
                    "# syntax=docker/dockerfile:1",
                    "# escape=`",
                    "# escape=\\",
                    "# escape=x",
                    "# check=skip=all",
                    "#directive=x",
                    "# syntax = x",
                    "#",
                ]
            ),
            max_size=3,
        )
    )
    if not _rarely(draw, 10):
        lines += [f"ARG BASE={draw(_image)}"] if draw(st.booleans()) else []
        lines.append(
            f"FROM {draw(_image)}" + (f" AS {draw(_stage)}" if draw(st.booleans()) else "")
        )
    lines += draw(
        st.lists(
            _instruction() | st.sampled_from(["", "   ", "# a comment", "\\", "\t"]), max_size=8
        )
    )
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\\", "\n\n"]))


@st.composite
def dockerfile_bytes(draw: st.DrawFn) -> bytes:
    if _rarely(draw, 20):
        return draw(st.binary(max_size=64))
    data = draw(dockerfile_text()).encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["none", "none", "none", "bom", "tabs", "bytes", "cut", "crlf"]))
    return _mangle(data, how, draw(st.binary(min_size=1, max_size=6)), draw(st.integers(0, 10**6)))


@dataclass(frozen=True, slots=True)
class Case:
    """The files of one fuzzed monorepo (relative path -> bytes) and the command run on it."""

    files: dict[str, bytes]
    argv: tuple[str, ...]

    def write(self, root: Path) -> None:
        for rel, data in self.files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


@st.composite
def cases(draw: st.DrawFn, *, plans: bool = True, dockerfiles: bool = True) -> Case:
    """A monorepo to run orch on: a fuzzed plan, fuzzed Dockerfiles, or both."""
    if plans:
        plan = draw(plan_bytes())
    else:
        targets = {"svc": {"context": "svc"}, "web": {"context": "web", "target": "build"}}
        if draw(st.booleans()):
            targets["web"] = {"context": "web"}
        plan = _dump({"version": 1, "stages": {"base": {"context": "base"}}, "services": targets})
    files = {PLAN: plan}
    # One Dockerfile fuzzed, the others plain: a case is more often readable as a whole.
    fuzzed = draw(st.sampled_from(CONTEXTS)) if dockerfiles else None
    for context in CONTEXTS:
        if context == fuzzed:
            files[f"{context}/Dockerfile"] = draw(dockerfile_bytes())
        else:
            files[f"{context}/Dockerfile"] = b"FROM busybox AS build\nFROM build\n"
        if _rarely(draw, 5):
            files[f"{context}/.dockerignore"] = draw(
                st.sampled_from([b"*\n!Dockerfile\n", b"[\n", b"\xff\xfe", b"**/\x00", b"!"])
            )
    argv = draw(st.sampled_from(COMMANDS + LINT))
    return Case(files=files, argv=argv)


# --- One run of the real CLI -------------------------------------------------------------------

# A command-line mistake (`orch plan svc` of a plan without svc) names the argument instead.
_ARGUMENT = re.compile(r"^error: unknown target ", re.MULTILINE)
_LOCATED = re.compile(r"(?:buildplan\.yaml|Dockerfile|\.dockerignore)(?::\d+)*")


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int
    out: str
    err: str

    def problem(self, argv: Sequence[str]) -> str | None:
        """What is wrong with this outcome, or None: exit 0, or exit 2 naming the file
        (`orch lint` may also exit 1, for findings)."""
        allowed = {0, 2} | ({1} if argv[:1] == ("lint",) else set())
        if self.code not in allowed:
            return f"exit {self.code}, not one of {sorted(allowed)}"
        if "Traceback" in self.err:
            return "a traceback was printed"
        if self.code == 2 and not _LOCATED.search(self.err) and not _ARGUMENT.search(self.err):
            return "exit 2 without naming the file"
        return None


def run_case(case: Case, root: Path) -> Outcome:
    """Write the case under `root` (emptied first), run `orch -f buildplan.yaml ARGV` in
    process from there, and return what it exited with and printed."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    case.write(root)
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(root),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _no_engine(),
    ):
        code = cli.main(["-f", PLAN, *case.argv])
    return Outcome(code=code, out=out.getvalue(), err=err.getvalue())


@contextlib.contextmanager
def _no_engine() -> Any:
    """The engine is not what is fuzzed: `plan` and `graph` go on as when it does not answer,
    without a `docker version` round trip per case."""
    saved: Callable[[], Any] = resolve.reachable_engine

    async def no_engine() -> None:
        return None

    resolve.reachable_engine = no_engine
    try:
        yield
    finally:
        resolve.reachable_engine = saved
