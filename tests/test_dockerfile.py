"""Reading Dockerfiles as BuildKit does: stages, outside names, and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.dockerfile import Dockerfile, Ref, Stage, parse_dockerfile, read_dockerfile
from orchestrator.dockerfile.lexer import instruction_lines, mount_from
from orchestrator.dockerfile.shellwords import (
    Shell,
    SubstitutionError,
    expand,
    raw_words,
    split_words,
)
from orchestrator.dockerfile.steps import parse_steps, read_steps
from orchestrator.errors import Location, PlanError

PATH = Path("/repo/svc/Dockerfile")


def parse(text: str, **build_args: str) -> Dockerfile:
    return parse_dockerfile(text, PATH, build_args)


def names(dockerfile: Dockerfile) -> list[tuple[str, str]]:
    """(instruction, name) of each ref, in order."""
    return [(r.instruction, r.name) for r in dockerfile.refs]


def error(text: str, **build_args: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        parse(text, **build_args)
    assert info.value.hint, "every Dockerfile error tells the user what to do"
    return info.value


# --- stages ---------------------------------------------------------------------------------


def test_multi_stage_file_lists_its_aliases_lower_cased_in_order() -> None:
    df = parse(
        "FROM golang:1.22 AS Build\n"
        "RUN go build ./...\n"
        "FROM debian:bookworm-slim\n"
        "FROM build AS runtime\n"
    )
    assert df.stages == (
        Stage(index=0, name="build", base="golang:1.22", line=1),
        Stage(index=1, name=None, base="debian:bookworm-slim", line=3),
        Stage(index=2, name="runtime", base="build", line=4),
    )
    assert df.stage_names == ("build", "runtime")
    assert df.path == PATH


def test_instructions_and_as_are_case_insensitive() -> None:
    df = parse("from alpine:3 as one\nCopy --from=ONE /a /b\nFrom one aS Two\nrun true\n")
    assert df.stage_names == ("one", "two")
    assert names(df) == [("FROM", "alpine:3")]


def test_from_an_earlier_alias_is_local_even_when_a_plan_target_has_that_name() -> None:
    # `base` is a plan target built first; `builder` is local, even where it shadows one.
    df = parse("FROM base AS builder\nRUN make\nFROM builder\nCOPY --from=builder /out /out\n")
    assert names(df) == [("FROM", "base")]
    assert df.stages[1].base == "builder"


def test_from_its_own_alias_or_a_later_one_is_an_outside_image() -> None:
    df = parse("FROM tools AS tools\nFROM app\nFROM alpine AS app\n")
    assert names(df) == [("FROM", "tools"), ("FROM", "app"), ("FROM", "alpine")]


def test_from_matches_aliases_as_written_because_buildkit_does() -> None:
    # BuildKit stores aliases lower-cased and looks FROM bases up verbatim.
    df = parse("FROM alpine AS builder\nFROM Builder\n")
    assert names(df) == [("FROM", "alpine"), ("FROM", "Builder")]


def test_scratch_is_no_ref() -> None:
    df = parse("FROM scratch AS empty\nCOPY --from=scratch / /\nRUN --mount=from=scratch true\n")
    assert df.stages[0].base == "scratch"
    assert df.refs == ()


def test_platform_flag_is_not_part_of_the_base() -> None:
    df = parse(
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nFROM --platform=linux/arm64 alpine\n"
    )
    assert [s.base for s in df.stages] == ["golang:1.22", "alpine"]
    assert df.refs[0] == Ref(name="golang:1.22", instruction="FROM", line=1, column=32)


# --- COPY --from and RUN --mount from= --------------------------------------------------------


def test_copy_from_a_stage_alias_or_index_is_local_and_any_other_name_is_a_ref() -> None:
    df = parse(
        "FROM alpine AS build\n"
        "FROM alpine\n"
        "COPY --from=build /a /a\n"
        "COPY --from=BUILD /a /a\n"
        "COPY --from=0 /a /a\n"
        "COPY --from=later /a /a\n"
        "COPY --from=shared /lib /lib\n"
        "COPY --link --from=busybox:latest /bin/sh /bin/sh\n"
        "FROM alpine AS later\n"
    )
    assert names(df) == [
        ("FROM", "alpine"),
        ("FROM", "alpine"),
        ("COPY --from", "shared"),
        ("COPY --from", "busybox:latest"),
        ("FROM", "alpine"),
    ]
    assert df.refs[2] == Ref(name="shared", instruction="COPY --from", line=7, column=13)


def test_copy_from_an_index_past_the_last_stage_is_a_plan_error() -> None:
    err = error("FROM alpine\nCOPY --from=1 /a /a\n")
    assert "invalid stage index 1" in err.message
    assert err.location == Location(PATH, 2, 13)


def test_copy_from_is_not_expanded_and_add_has_no_from() -> None:
    df = parse("ARG S=shared\nFROM alpine\nCOPY --from=$S /a /a\nADD --from=other /a /a\n")
    assert names(df) == [("FROM", "alpine"), ("COPY --from", "$S")]


def test_copy_from_in_quotes_is_unquoted_and_its_column_is_the_name() -> None:
    df = parse('FROM alpine\nCOPY --chown=1:1 --from="shared" /a /a\n')
    assert df.refs[1] == Ref(name="shared", instruction="COPY --from", line=2, column=26)


def test_run_mount_from_names_stages_or_outside_contexts_across_several_mounts() -> None:
    df = parse(
        "FROM alpine AS deps\n"
        "FROM alpine\n"
        "RUN --mount=type=cache,target=/root/.cache,from=deps \\\n"
        "    --mount=type=bind,source=/bin,target=/tools,from=go-toolchain \\\n"
        '    --mount="type=bind,FROM=shared,target=/x" \\\n'
        "    --mount=type=secret,id=token \\\n"
        "    make\n"
    )
    assert names(df)[2:] == [("RUN --mount", "go-toolchain"), ("RUN --mount", "shared")]
    assert df.refs[2] == Ref(name="go-toolchain", instruction="RUN --mount", line=4, column=54)


def test_run_mount_from_takes_a_name_not_an_index() -> None:
    # Unlike COPY --from, BuildKit looks a mount's from= up by name only.
    df = parse("FROM alpine\nRUN --mount=from=0,target=/x true\n")
    assert names(df) == [("FROM", "alpine"), ("RUN --mount", "0")]


def test_run_mount_from_with_a_variable_is_a_plan_error() -> None:
    err = error("FROM alpine\nRUN --mount=type=bind,from=$CTX,target=/x true\n")
    assert "does not support variable expansion" in err.message
    assert err.location == Location(PATH, 2, 28)


# --- ARG substitution in FROM ----------------------------------------------------------------


def test_arg_before_from_gives_its_default_and_a_build_arg_overrides_it() -> None:
    text = "ARG BASE=debian\nARG TAG=bookworm-slim\nFROM ${BASE}:$TAG AS runtime\n"
    assert parse(text).stages[0].base == "debian:bookworm-slim"
    assert parse(text, TAG="trixie").stages[0].base == "debian:trixie"
    assert parse(text, TAG="trixie").refs[0] == Ref("debian:trixie", "FROM", 3, 6)


def test_defaults_and_alternatives_follow_the_shell() -> None:
    text = (
        "ARG EMPTY=\n"
        "ARG UNSET\n"
        "ARG SET=go\n"
        "FROM ${UNSET:-a}\n"
        "FROM ${EMPTY:-b}\n"
        "FROM ${EMPTY-c}x\n"
        "FROM x${SET:+d}\n"
        "FROM x${UNSET:+e}\n"
        "FROM ${UNSET}f\n"
    )
    assert [s.base for s in parse(text).stages] == ["a", "b", "x", "xd", "x", "f"]


def test_arg_defaults_use_earlier_args_and_quotes() -> None:
    text = 'ARG REG=registry.local ARG2="x y"\nARG IMAGE="${REG}/app"\nFROM $IMAGE\n'
    assert parse(text).stages[0].base == "registry.local/app"
    # A build arg is used exactly as given, not expanded.
    assert parse(text, IMAGE="$REG").stages[0].base == "$REG"


def test_pattern_operators_trim_and_replace() -> None:
    text = (
        "ARG V=golang:1.22-bookworm\n"
        "FROM ${V%%-*}\n"
        "FROM ${V#*:}\n"
        "FROM ${V/bookworm/alpine}\n"
        "FROM ${V//o/0}\n"
    )
    bases = [s.base for s in parse(text).stages]
    assert bases == ["golang:1.22", "1.22-bookworm", "golang:1.22-alpine", "g0lang:1.22-b00kw0rm"]


def test_stage_arg_does_not_reach_later_from_lines() -> None:
    df = parse("ARG V=1\nFROM alpine:$V\nARG V=2\nFROM alpine:$V\n")
    assert [s.base for s in df.stages] == ["alpine:1", "alpine:1"]


def test_undeclared_build_arg_is_unseen_except_the_platform_args() -> None:
    text = "FROM app:${VERSION}\nFROM app-${TARGETARCH}\n"
    df = parse(text, VERSION="9", TARGETARCH="arm64")
    assert [s.base for s in df.stages] == ["app:", "app-arm64"]


def test_required_variable_and_blank_base_are_plan_errors() -> None:
    err = error("ARG V\nFROM ${V:?set_V_to_the_base}\n")
    assert "V: set_V_to_the_base" in err.message
    assert err.location == Location(PATH, 2, 6)
    err = error("ARG V\nFROM $V AS x\n")
    assert "should not be blank" in err.message


# --- line structure: directives, continuations, heredocs --------------------------------------


def test_continuation_lines_skip_comments_and_blank_lines_inside() -> None:
    df = parse(
        "FROM \\\n"
        "  # the toolchain image\n"
        "\n"
        "  go-toolchain \\\n"
        "  AS tools\n"
        "COPY \\\n"
        "   --from=shared \\\n"
        "   /lib /lib\n"
    )
    assert df.stage_names == ("tools",)
    assert df.refs == (
        Ref("go-toolchain", "FROM", 4, 3),
        Ref("shared", "COPY --from", 7, 11),
    )


def test_escaped_escape_at_line_end_does_not_continue() -> None:
    df = parse("FROM alpine\nRUN echo \\\\\nFROM busybox\n")
    assert [s.base for s in df.stages] == ["alpine", "busybox"]


def test_escape_directive_backtick_continues_lines_and_leaves_backslashes_alone() -> None:
    df = parse(
        "# escape=`\n"
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n"
        "    AS build\n"
        "RUN dir c:\\\n"
        "FROM build\n"
    )
    assert df.stage_names == ("build",)
    assert [s.line for s in df.stages] == [2, 5]


def test_directives_end_at_the_first_other_line() -> None:
    # After a blank line `# escape=` is a comment, so `\` still continues the FROM line.
    df = parse("# syntax=docker/dockerfile:1\n\n# escape=`\nFROM alpine \\\n  AS a\n")
    assert df.stage_names == ("a",)


def test_repeated_or_invalid_escape_directive_is_a_plan_error() -> None:
    assert "only one escape" in error("# escape=`\n# escape=\\\nFROM a\n").message
    err = error("#escape=x\nFROM a\n")
    assert "invalid escape token" in err.message
    assert err.location == Location(PATH, 1, 1)


def test_heredoc_bodies_are_not_instructions() -> None:
    df = parse(
        "FROM alpine AS base\n"
        "RUN <<EOF\n"
        "FROM evil\n"
        "COPY --from=evil2 / /\n"
        "EOF\n"
        "RUN <<-'SCRIPT' bash\n"
        "\tFROM evil3\n"
        "\tSCRIPT\n"
        'COPY <<one <<"two" /etc/\n'
        "FROM evil4\n"
        "one\n"
        "RUN --mount=from=evil5\n"
        "two\n"
        "RUN cat <<EOF > /x && \\\n"
        "    echo done\n"
        "FROM evil6\n"
        "EOF\n"
        "FROM base\n"
        "COPY --from=shared / /\n"
    )
    assert [s.base for s in df.stages] == ["alpine", "base"]
    assert names(df) == [("FROM", "alpine"), ("COPY --from", "shared")]
    assert df.refs[1].line == 19


def test_heredoc_markers_in_exec_form_or_quotes_open_nothing() -> None:
    df = parse(
        'FROM alpine\nRUN ["sh", "-c", "cat <<EOF"]\nRUN echo "<<EOF" \'<<EOT\'\nFROM busybox\n'
    )
    assert [s.base for s in df.stages] == ["alpine", "busybox"]


def test_heredoc_terminator_must_match_exactly() -> None:
    df = parse("FROM alpine\nRUN <<EOF\n  EOF\nEOF \nEOF\nFROM busybox\n")
    assert [s.base for s in df.stages] == ["alpine", "busybox"]


def test_unterminated_heredoc_is_a_plan_error_at_its_marker() -> None:
    err = error("FROM alpine\nRUN cat <<EOF\nFROM x\n")
    assert "unterminated heredoc" in err.message
    assert err.location == Location(PATH, 2, 9)
    assert "EOF" in (err.hint or "")


def test_crlf_line_ends_and_a_byte_order_mark_are_read() -> None:
    df = parse("\ufeffFROM alpine AS a\r\nRUN <<EOF\r\nFROM x\r\nEOF\r\nFROM a\r\n")
    assert [s.base for s in df.stages] == ["alpine", "a"]


def test_onbuild_triggers_count_where_a_later_stage_builds_on_them() -> None:
    df = parse(
        "FROM alpine AS kit\n"
        "ONBUILD COPY --from=shared /lib /lib\n"
        "ONBUILD RUN --mount=from=kit,target=/k true\n"
        "FROM kit AS one\n"
        "FROM kit AS two\n"
    )
    assert names(df) == [("FROM", "alpine"), ("COPY --from", "shared")]
    unused = parse("FROM alpine AS kit\nONBUILD COPY --from=shared /lib /lib\n")
    assert names(unused) == [("FROM", "alpine")]


def test_refs_are_in_file_order() -> None:
    df = parse(
        "FROM a AS x\nCOPY --from=b / /\nFROM c\nRUN --mount=from=d true\nCOPY --from=e / /\n"
    )
    assert [r.name for r in df.refs] == ["a", "b", "c", "d", "e"]
    assert [r.line for r in df.refs] == [1, 2, 3, 4, 5]


# --- errors -----------------------------------------------------------------------------------


def test_no_from_is_a_plan_error_with_a_line() -> None:
    err = error("# just a comment\nARG X=1\n")
    assert "no FROM" in err.message
    assert err.location == Location(PATH, 2, 1)
    assert error("").location == Location(PATH, 1, 1)


def test_instruction_before_the_first_from_is_a_plan_error() -> None:
    err = error("ARG X\n  RUN true\nFROM alpine\n")
    assert "before the first FROM" in err.message
    assert err.location == Location(PATH, 2, 3)


def test_unknown_instruction_is_a_plan_error_with_a_suggestion() -> None:
    err = error("FROM alpine\nCOPPY a b\n")
    assert err.message == "unknown instruction: COPPY"
    assert err.location == Location(PATH, 2, 1)
    assert err.hint == "did you mean 'COPY'?"


def test_malformed_from_lines_are_plan_errors() -> None:
    assert "one or three arguments" in error("FROM alpine AS\n").message
    assert "one or three arguments" in error("FROM --platform=linux/amd64\n").message
    err = error("FROM alpine AS 1st\n")
    assert "invalid name for build stage" in err.message
    assert err.location == Location(PATH, 1, 16)


def test_read_dockerfile_reads_bytes_and_names_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM alpine AS a\nRUN x\ry\nFROM a\n")  # a lone CR breaks no line
    assert read_dockerfile(path).stage_names == ("a",)
    missing = tmp_path / "nope" / "Dockerfile"
    with pytest.raises(PlanError) as info:
        read_dockerfile(missing)
    assert info.value.location == Location(missing)
    assert str(missing) in info.value.message
    path.write_bytes(b"FROM caf\xe9\n")
    with pytest.raises(PlanError, match="not UTF-8"):
        read_dockerfile(path)


def test_a_line_over_65535_bytes_is_refused_where_it_is_as_buildkit_refuses_it(
    tmp_path: Path,
) -> None:
    # BuildKit's scanner holds 64 KiB: 65,535 bytes and the LF fit, one byte more does not.
    fits = "RUN echo " + "x" * (65_535 - len("RUN echo "))
    assert len(parse(f"FROM alpine\n{fits}\n").stages) == 1
    path = tmp_path / "Dockerfile"
    path.write_bytes(f"FROM alpine\nRUN true\n{fits}x\n".encode())
    with pytest.raises(PlanError) as info:
        read_dockerfile(path)
    err = info.value
    assert err.location == Location(path, 3, 1)
    assert "65,536 bytes" in err.message and "65,535" in err.message
    assert err.hint is not None and "continuation" in err.hint and "COPY" in err.hint
    # Bytes, not characters: 21,846 three-byte letters are 65,538 bytes.
    assert error("FROM alpine\nLABEL a=" + "\u20ac" * 21_846 + "\n").location == Location(
        PATH, 2, 1
    )
    # A CR before the LF is part of the line; so is a heredoc body line.
    assert error(f"FROM alpine\r\n{fits}\r\n").location == Location(PATH, 2, 1)
    heredoc = f"FROM alpine\nRUN <<EOF\n{fits}x\nEOF\n"
    assert error(heredoc).location == Location(PATH, 3, 1)


def test_read_dockerfile_passes_build_args(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("ARG TAG=1\nFROM app:$TAG\n")
    assert read_dockerfile(path, {"TAG": "2"}).refs == (Ref("app:2", "FROM", 2, 6),)


def test_a_realistic_dockerfile_gives_its_stages_and_refs() -> None:
    # How long it takes is printed by bench/plan_bench.py, which reads 2,000 Dockerfiles.
    dockerfile = parse(_REALISTIC)
    assert dockerfile.stage_names == ("build", "test", "runtime")
    assert names(dockerfile) == [
        ("FROM", "golang:1.22-bookworm"),
        ("COPY --from", "shared"),
        ("RUN --mount", "go-toolchain"),
        ("FROM", "debian:bookworm-slim"),
    ]


_REALISTIC = """\
# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG DEBIAN=bookworm-slim
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 \\
    GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \\
    go mod download
COPY --from=shared /lib /src/lib
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \\
    --mount=type=bind,from=go-toolchain,source=/bin,target=/tools \\
    go build -o /out/app ./cmd/app

FROM build AS test
RUN go test ./...

FROM debian:${DEBIAN} AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \\
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/app /usr/local/bin/app
COPY <<EOF /etc/app.conf
listen = 0.0.0.0:8080
EOF
USER 65532:65532
EXPOSE 8080
HEALTHCHECK CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
"""


# --- properties -------------------------------------------------------------------------------

_ALIAS = st.from_regex(r"[a-z][a-z0-9-]{0,5}", fullmatch=True)
_IMAGE = st.one_of(_ALIAS, st.from_regex(r"[a-z][a-z0-9]{0,5}:[0-9]{1,2}", fullmatch=True))


@st.composite
def _files(draw: st.DrawFn) -> tuple[str, list[str | None], list[tuple[str, str]]]:
    """A Dockerfile of random stages and COPY --from lines, with the stages and refs expected."""
    count = draw(st.integers(1, 6))
    aliases: list[str | None] = [draw(st.none() | _ALIAS) for _ in range(count)]
    everyone = {a for a in aliases if a}
    lines: list[str] = []
    expected: list[tuple[str, str]] = []
    for i, alias in enumerate(aliases):
        earlier = [a for a in aliases[:i] if a]
        base = draw(
            st.one_of(_IMAGE, st.just("scratch"), *([st.sampled_from(earlier)] if earlier else []))
        )
        keyword = draw(st.sampled_from(["FROM", "from", "From"]))
        as_ = draw(st.sampled_from(["AS", "as", "As"]))
        lines.append(f"{keyword} {base} {as_} {alias}" if alias else f"{keyword} {base}")
        if base not in earlier and base != "scratch":
            expected.append(("FROM", base))
        for _ in range(draw(st.integers(0, 2))):
            source = draw(
                st.one_of(
                    _IMAGE,
                    st.integers(0, count - 1).map(str),
                    *([st.sampled_from(sorted(everyone)).map(str.upper)] if everyone else []),
                )
            )
            lines.append(f"COPY --from={source} /a /a")
            local = source.isdigit() or source.lower() in everyone or source == "scratch"
            if not local:
                expected.append(("COPY --from", source))
        if draw(st.booleans()):
            lines.append("RUN <<EOF\nFROM not-a-stage\nCOPY --from=not-a-ref / /\nEOF")
        if draw(st.booleans()):
            lines.append("# FROM a comment")
    return "\n".join(lines) + "\n", aliases, expected


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_files())
def test_generated_files_give_the_expected_stages_and_refs(
    case: tuple[str, list[str | None], list[tuple[str, str]]],
) -> None:
    text, aliases, expected = case
    df = parse(text)
    assert [s.name for s in df.stages] == aliases
    assert [s.index for s in df.stages] == list(range(len(aliases)))
    assert df.stage_names == tuple(a for a in aliases if a)
    assert names(df) == expected
    lines = text.split("\n")
    for ref in df.refs:
        written = lines[ref.line - 1]
        assert written[ref.column - 1 :].startswith(ref.name)


# Pieces of Dockerfile syntax that random instructions are made of.
_WORDS = ["FROM ", "RUN ", "COPY ", "ARG ", "ONBUILD ", "AS ", "EOF", "escape=", "scratch"]
_FLAGS = ["--from=", "--mount=", "from=", ":-", "<<", "${", "$", "a", "1", "\\\n"]
_PIECES = [*_WORDS, *_FLAGS, *"${},-\"'\\`# \t\n\r=[]%/?"]
_LINE = st.tuples(
    st.sampled_from(["FROM ", "from ", "RUN ", "COPY ", "ARG ", "ONBUILD ", "ENV ", "# "]),
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
).map("".join)
_NOISE = st.tuples(
    st.sampled_from(["", "FROM a\n", "ARG A=b\nFROM a AS b\n", "# escape=`\n"]),
    st.lists(_LINE, max_size=8).map("\n".join),
).map("".join)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(_NOISE)
def test_any_text_parses_or_raises_a_plan_error(text: str) -> None:
    try:
        df = parse(text)
    except PlanError as exc:
        assert exc.location is not None
        assert exc.location.line >= 1
        assert exc.hint
        return
    assert df.stages
    for ref in df.refs:
        assert ref.line >= 1
        assert ref.column >= 1


# --- one word as BuildKit's shell lexer reads it -------------------------------------------

# Each result is what bash prints for `printf '%s\n' WORD` with these variables (no word
# splitting: a Dockerfile word is one word), except where BuildKit differs, as noted.
SHELL_ENV = {"V": "a.b*c+d[e]f\\g", "G": "golang:1.22-bookworm", "E": "", "N": "x y"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("${G#g?l}", "ang:1.22-bookworm"),
        ("${G#*o}", "lang:1.22-bookworm"),
        ("${G##*o}", "rm"),
        ("${G%o*}", "golang:1.22-bookw"),
        ("${G%%o*}", "g"),
        ("${G#[gh]o}", "lang:1.22-bookworm"),
        ("${G#[!h]o}", "lang:1.22-bookworm"),
        ("${G#[^h]o}", "lang:1.22-bookworm"),
        ("${G#[h]o}", "golang:1.22-bookworm"),
        ("${G%[0-9]-*}", "golang:1.2"),
        ("${G#[z-a]}", "golang:1.22-bookworm"),  # a range that is no range matches nothing here
        ("${G#golang[}", "golang:1.22-bookworm"),  # an open bracket is a plain character
        ("${G/[0-9]/N}", "golang:N.22-bookworm"),
        ("${G//[0-9]/N}", "golang:N.NN-bookworm"),
        ("${G//[!a-z]/}", "golangbookworm"),
        ("${G/o}", "glang:1.22-bookworm"),
        ("${G//o}", "glang:1.22-bkwrm"),
        ("${G/?/X}", "Xolang:1.22-bookworm"),
        ("${G#\\g}", "olang:1.22-bookworm"),
        ("${G%\\m}", "golang:1.22-bookwor"),
        ("${G/[.]/,}", "golang:1,22-bookworm"),
        ("${G/[a-c]*/-}", "gol-"),
        ("${G#*}", "golang:1.22-bookworm"),
        ("${G##*}", ""),
        ("${G%*}", "golang:1.22-bookworm"),
        ("${G%%*}", ""),
        ("${G%?}", "golang:1.22-bookwor"),
        ("${G#??????}", ":1.22-bookworm"),
        ("${G/l*g/_}", "go_:1.22-bookworm"),
        ("${G/:*-/=}", "golang=bookworm"),
        ("${G/x/y}", "golang:1.22-bookworm"),
        ("${G#x}", "golang:1.22-bookworm"),
        ("${V/./_}", "a_b*c+d[e]f\\g"),
        ("${V//[.*+]/_}", "a_b_c_d[e]f\\g"),
        ("${V/\\*/S}", "a.bSc+d[e]f\\g"),
        ("${V#a.b\\*}", "c+d[e]f\\g"),
        ("${V/[[]e[]]/()}", "a.b*c+d()f\\g"),
        ("${V%\\\\g}", "a.b*c+d[e]f"),
        ("${V/[\\\\]/|}", "a.b*c+d[e]f|g"),
        ("${V%%[a-c]*}", ""),
        ("${V##*[a-c]}", "+d[e]f\\g"),
        ("${V#[!a]}", "a.b*c+d[e]f\\g"),
        ("${V#[^.]}", ".b*c+d[e]f\\g"),
        ("${V#[]}", "a.b*c+d[e]f\\g"),
        ("${V//[a-c]}", ".*+d[e]f\\g"),
        ("${V//}", "a.b*c+d[e]f\\g"),
        ("'$V'", "$V"),
        ('"$V"', "a.b*c+d[e]f\\g"),
        ('"${V%%[*]*}"', "a.b"),
        ("x'y'\"z\"", "xyz"),
        ('"a\\$V"', "a$V"),
        ('"a\\"b"', 'a"b'),
        ('"a\\b"', "a\\b"),
        ("${E:-d}", "d"),
        ("${E-d}", ""),
        ("${U:-d}", "d"),
        ("${E:+a}", ""),
        ("${E+a}", "a"),
        ("${V?}", "a.b*c+d[e]f\\g"),
        ("${E?}", ""),
        ("$N", "x y"),
        ("${N// /_}", "x_y"),
        ("$1x", "x"),
        ("${V:+'q'}", "q"),
        ("a\\ b", "a b"),
        ("a\\$V", "a$V"),
        ("$", "$"),
        ("a$", "a$"),
        ("${U/x/y}", ""),
        ("${E/x/y}", ""),
        ("$G$N", "golang:1.22-bookwormx y"),
    ],
)
def test_a_word_expands_as_a_posix_shell_expands_it(word: str, expected: str) -> None:
    assert expand(word, SHELL_ENV, "\\") == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("a`$V", "a$V"),
        ("`'q`'", "'q'"),
        ("a\\$V", "a\\a.b*c+d[e]f\\g"),
        ("${V%`g}", "a.b*c+d[e]f\\"),
    ],
)
def test_with_a_backtick_escape_the_backslash_is_a_plain_character(
    word: str, expected: str
) -> None:
    assert expand(word, SHELL_ENV, "`") == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${V", "syntax error: missing '}'"),
        ("${", "syntax error: missing '}'"),
        ("${V:", "syntax error: missing '}'"),
        ("${V-x", "syntax error: missing '}'"),
        ("${V/x", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:}", "syntax error: bad substitution"),
        ("${V:#x}", "unsupported modifier (:#) in substitution"),
        ("${V!}", "unsupported modifier (!) in substitution"),
        ("${E:?}", "E: is not allowed to be empty"),
        ("${U?}", "U: is not allowed to be unset"),
        ("${U:?need it}", "U: need it"),
        ("'abc", "unexpected end of statement while looking for matching single-quote"),
        ('"abc', "unexpected end of statement while looking for matching double-quote"),
    ],
)
def test_a_word_the_shell_lexer_rejects_says_why(word: str, message: str) -> None:
    with pytest.raises(SubstitutionError) as caught:
        expand(word, SHELL_ENV, "\\")
    assert str(caught.value) == message


def test_a_heredoc_word_keeps_what_is_unset_as_written() -> None:
    word = "$V ${U} ${U:-x} ${V#a} ${U/x/y} ${U#x} $U"
    assert Shell(word, SHELL_ENV, "\\", keep_unset=True).word("") == (
        "a.b*c+d[e]f\\g ${U} ${U:-x} .b*c+d[e]f\\g ${U/x/y} ${U#x} $U"
    )


@pytest.mark.parametrize(
    ("text", "base"),
    [
        ('ARG A="x y" B=z\nFROM i:${A#x?}$B\n', "i:yz"),  # a quoted blank stays in the value
        ("ARG B=z A='$B'\nFROM i:$A\n", "i:$B"),  # single quotes: no substitution
        ("ARG A=x\\ y\nFROM i:${A#x?}\n", "i:y"),  # an escaped blank too
        ('ARG A="" B=\nFROM i${A:-1}${B:-2}\n', "i12"),
        ("ARG A=1\tB=2\nFROM i:$A$B\n", "i:12"),
        ("ARG A=1 B=$A C=${B}x\nFROM i:$C\n", "i:1x"),  # each default sees the ones before it
        ('# escape=`\nARG A=x`y B="q`"r"\nFROM i:$A$B\n', 'i:xyq"r'),
        ("ARG  A=1  \nFROM i:$A\n", "i:1"),
    ],
)
def test_an_arg_line_declares_each_of_its_words(text: str, base: str) -> None:
    assert [s.base for s in parse(text).stages] == [base]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("ARG =x\nFROM a\n", "ARG names can not be blank", 5),
        ("ARG A=1 =2\nFROM a\n", "ARG names can not be blank", 5),
        ("ARG\nFROM a\n", "ARG requires at least one argument", 4),
        ("ARG A=${\nFROM a\n", "cannot substitute ARG A=${: syntax error: missing '}'", 5),
        (
            'ARG A="x\nFROM a\n',
            'cannot substitute ARG A="x: unexpected end of statement while looking for matching '
            "double-quote",
            5,
        ),
    ],
)
def test_a_bad_arg_before_from_is_a_plan_error_at_its_words(
    text: str, message: str, column: int
) -> None:
    err = error(text)
    assert err.message == message
    assert err.location == Location(PATH, 1, column)


def test_a_build_arg_replaces_a_default_that_could_not_be_substituted() -> None:
    assert [s.base for s in parse("ARG A=${\nFROM i:$A\n", A="ok").stages] == ["i:ok"]


# --- flags: --mount's fields, quotes and escapes in flag words ------------------------------


@pytest.mark.parametrize(
    ("spec", "found"),
    [
        ("type=bind,from=x,target=/x", "x"),
        ("type=cache,target=/x", None),
        ("from=a,FROM=b", "b"),  # the last one wins; the key is not case sensitive
        ('type=bind,"from=a,b",target=/x', "a,b"),  # a quoted field may hold a comma
        ("from==x", "=x"),
        ("source=a=b,from=c=d", "c=d"),
        ("From=z", "z"),
        ("fromx=y,xfrom=z", None),
    ],
)
def test_the_from_of_a_mount_is_read_as_buildkit_reads_its_fields(
    spec: str, found: str | None
) -> None:
    assert mount_from(spec) == found


@pytest.mark.parametrize(
    ("run", "ref"),
    [
        ('RUN --mount="type=bind,from=shared,target=/s" true', "shared"),
        ("RUN --mount='type=bind,from=shared' --network=none true", "shared"),
        ('RUN --mount=type=bind,"from=shared",target=/t true', "shared"),
        ('RUN --network=none --mount="from=shared" \\\n  true', "shared"),
        ('RUN --mount="from=sh\\ared" true', "shared"),  # a backslash escapes in a flag
        ('RUN --mount=from=sh"ar"ed true', "shared"),
    ],
)
def test_a_mount_flag_with_quotes_still_names_its_stage(run: str, ref: str) -> None:
    df = parse(f"FROM busybox\n{run}\n")
    assert names(df) == [("FROM", "busybox"), ("RUN --mount", ref)]


def test_a_quoted_mount_naming_a_stage_alias_is_no_reference() -> None:
    df = parse('FROM a AS x\nFROM b\nRUN --mount="type=bind,from=x,target=/s" true\n')
    assert names(df) == [("FROM", "a"), ("FROM", "b")]


@pytest.mark.parametrize(
    ("text", "stages"),
    [
        ("FROM b\nRUN echo a \\ \t\n  b\nFROM c\n", [("b", None), ("c", None)]),
        ("FROM b\nRUN echo a \\\\\nFROM c\n", [("b", None), ("c", None)]),  # an escaped escape
        ("FROM b \\\t\n AS q\nFROM q\n", [("b", "q"), ("q", None)]),
        ("FROM \\\nb\n", [("b", None)]),
        ("# escape=`\nFROM b `\n AS q\nRUN echo \\\nFROM c\n", [("b", "q"), ("c", None)]),
    ],
)
def test_a_line_continues_only_on_an_unescaped_escape_before_blanks(
    text: str, stages: list[tuple[str, str | None]]
) -> None:
    assert [(s.base, s.name) for s in parse(text).stages] == stages


def test_instruction_lines_reads_any_bytes_and_gives_each_instructions_arguments(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(
        b"FROM busybox\n# \xff\xfe\nRUN --mount=type=cache,target=/c echo \\\n  hi\n"
        b"COPY --chown=1 a b\n"
    )
    assert instruction_lines(path) == [
        (1, "from", "busybox"),
        (3, "run", "echo   hi"),
        (5, "copy", "a b"),
    ]


def test_instruction_lines_of_a_broken_dockerfile_is_a_plan_error_in_that_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM busybox\nRUM true\n")
    with pytest.raises(PlanError) as caught:
        instruction_lines(path)
    assert caught.value.location == Location(path, 2, 1)
    assert caught.value.message == "unknown instruction: RUM"


# --- every instruction, for linters -----------------------------------------------------------

STEPS_TEXT = """# syntax=docker/dockerfile:1
ARG BASE=busybox
# the build stage
FROM $BASE AS build
COPY --from=tools --chown=app:app --from=other /a /b
RUN <<EOF cat >/x && \\
  true
# not a comment: a heredoc line
echo hi
EOF
CMD ["python3", "-m", "app"]
  # indented comment
FROM scratch
  ENTRYPOINT [1, 2]
CMD ["broken"
"""


def test_steps_are_every_instruction_by_stage_with_places_heredocs_and_comments() -> None:
    steps = parse_steps(STEPS_TEXT, PATH)
    assert steps.path == PATH
    assert steps.lines == 15
    assert steps.comments == {
        1: "syntax=docker/dockerfile:1",
        3: "the build stage",
        12: "indented comment",
    }
    assert [(s.kind, s.flags, s.args, s.line, s.end_line) for s in steps.meta] == [
        ("arg", (), "BASE=busybox", 2, 2)
    ]
    shown = [
        [(s.kind, s.flags, s.args, s.heredocs, s.line, s.column, s.end_line) for s in stage]
        for stage in steps.stages
    ]
    assert shown == [
        [
            ("from", (), "$BASE AS build", (), 4, 1, 4),
            ("copy", ("--from=tools", "--chown=app:app", "--from=other"), "/a /b", (), 5, 1, 5),
            (
                "run",
                (),
                "<<EOF cat >/x &&   true",
                (("# not a comment: a heredoc line", "echo hi"),),
                6,
                1,
                10,
            ),
            ("cmd", (), '["python3", "-m", "app"]', (), 11, 1, 11),
        ],
        [
            ("from", (), "scratch", (), 13, 1, 13),
            ("entrypoint", (), "[1, 2]", (), 14, 3, 14),
            ("cmd", (), '["broken"', (), 15, 1, 15),
        ],
    ]
    copy = steps.stages[0][1]
    assert copy.flag("from") == ["tools", "other"]
    assert copy.flag("chown") == ["app:app"]
    assert copy.flag("fro") == []
    assert copy.place(0) == (5, 48)
    assert copy.place(3) == (5, 51)
    assert steps.stages[1][1].place(1) == (14, 15)
    forms = [s.exec_form() for stage in steps.stages for s in stage]
    assert forms == [None, None, None, ["python3", "-m", "app"], None, None, None]


def test_a_json_args_value_that_is_no_list_of_strings_is_the_shell_form() -> None:
    text = 'FROM a\nCMD {"a": 1}\nCMD []\nCMD  ["x"]  \nCMD ["x", null]\n'
    (stage,) = parse_steps(text, PATH).stages
    assert [s.exec_form() for s in stage] == [None, None, [], ["x"], None]


def test_read_steps_reads_any_bytes(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM busybox\n# caf\xe9\nRUN true\n")
    steps = read_steps(path)
    assert steps.path == path
    assert steps.comments == {2: "caf\ufffd"}
    assert [[s.kind for s in stage] for stage in steps.stages] == [["from", "run"]]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$12x", "twelvex"),  # a positional name is all its digits
        ("${12}x", "twelvex"),
        ("$1x", "onex"),
        ("$@", "at"),  # a special name is one character
        ("$#", "hash"),
        ("${#}", "hash"),
        ("$A_1-", "a1-"),
        ("$-", ""),
        ("${V}}", "v}"),
        ("${V:-}", "v"),
        ("${V:+}", ""),
        ("${V%}", "v"),
        ("$V.x", "v.x"),
    ],
)
def test_parameter_names_are_read_as_the_shell_reads_them(word: str, expected: str) -> None:
    env = {"1": "one", "12": "twelve", "@": "at", "#": "hash", "A_1": "a1", "V": "v"}
    assert expand(word, env, "\\") == expected


def test_a_dockerfile_that_cannot_be_read_is_a_plan_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_bytes(b"FROM a\n# \xff\n")
    cases = [
        (
            tmp_path / "missing",
            f"cannot read Dockerfile {tmp_path / 'missing'}: No such file or directory",
            "check the target's `dockerfile:` path in the plan",
        ),
        (
            tmp_path,
            f"cannot read Dockerfile {tmp_path}: Is a directory",
            "check the target's `dockerfile:` path in the plan",
        ),
        (
            bad,
            f"Dockerfile {bad} is not UTF-8 text: invalid start byte at byte 9",
            "save the Dockerfile as UTF-8",
        ),
    ]
    for path, message, hint in cases:
        with pytest.raises(PlanError) as caught:
            read_dockerfile(path, {})
        assert (caught.value.message, caught.value.hint) == (message, hint)
        assert caught.value.location == Location(path)


def test_a_dockerfile_read_from_disk_names_its_file_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text("FROM a\nRUM true\n")
    with pytest.raises(PlanError) as caught:
        read_dockerfile(path, {})
    assert caught.value.location == Location(path, 2, 1)
    with pytest.raises(PlanError) as caught:
        parse_steps(path.read_text(), path)
    assert caught.value.location == Location(path, 2, 1)


@pytest.mark.parametrize(
    ("run", "ref"),
    [
        ('RUN --mount="from=shared"', "shared"),  # the flag ends the file
        ("RUN --mount=from=shared\\", "shared"),  # an escape ends the file
        ('RUN --mount="from=reg.io/x:X1" true', "reg.io/x:X1"),
        ('RUN --mount="from=a b" true', "a b"),  # a quoted blank is part of the word
        ("RUN --mount='from=q\\\"' true", 'q"'),
    ],
)
def test_a_flag_word_ends_where_the_shell_would_end_it(run: str, ref: str) -> None:
    assert names(parse(f"FROM busybox\n{run}")) == [("FROM", "busybox"), ("RUN --mount", ref)]


def test_a_comment_without_a_blank_and_a_heredoc_steps_places() -> None:
    steps = parse_steps("FROM a\n#tight\nRUN <<EOF cat\nx\nEOF\n", PATH)
    assert steps.comments == {2: "tight"}
    run = steps.stages[0][1]
    assert (run.args, run.place(0), run.place(6), run.end_line) == ("<<EOF cat", (3, 5), (3, 11), 5)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('a "b c" d', [("a", 0), ('"b c"', 2), ("d", 8)]),
        ("a 'b c'", [("a", 0), ("'b c'", 2)]),
        ("a\\ b c", [("a\\ b", 0), ("c", 5)]),
        ('a "b', []),  # an open quote: no words
        ("a 'b", []),
        ("x", [("x", 0)]),
        ("  lead  trail  ", [("lead", 2), ("trail", 8)]),
        ('a"b c"d e', [('a"b c"d', 0), ("e", 8)]),
        ("\\'a b", [("\\'a", 0), ("b", 4)]),
        ('x "a\\"b" y', [("x", 0), ('"a\\"b"', 2), ("y", 9)]),  # an escaped quote inside
        ('x "\\\\" y', [("x", 0), ('"\\\\"', 2), ("y", 7)]),  # an escaped escape
        ("a\\", [("a\\", 0)]),
        ('"a\\"', []),  # the closing quote is escaped: still open
        ("'a'b' c'", [("'a'b' c'", 0)]),
        ('x "a" "b"', [("x", 0), ('"a"', 2), ('"b"', 6)]),
    ],
)
def test_raw_words_keep_quotes_and_escapes_and_their_offsets(
    line: str, words: list[tuple[str, int]]
) -> None:
    assert raw_words(line) == words


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("A=\"x y\" '' B", ['A="x y"', "''", "B"]),
        ('A="x\\', ['A="x']),  # an escape that ends the text inside quotes is dropped
        ("x\\", ["x"]),
        ('A="a\\"b"', ['A="a\\"b"']),  # an escaped quote does not close the quotes
        ("A='a\\'b", ["A='a\\'b"]),  # in single quotes the backslash is a plain character
        ('"A" B ', ['"A"', "B"]),
        (' "A"', ['"A"']),
        ('X"a b" Y', ['X"a b"', "Y"]),
        ("'a\\ b' c", ["'a\\ b'", "c"]),
        ('a\\ "b c"', ['a\\ "b c"']),
    ],
)
def test_arg_words_split_on_blanks_outside_quotes(text: str, words: list[str]) -> None:
    assert split_words(text, "\\") == words


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("x'a b'y", "xa by"),
        ("x''y", "xy"),
        ('"a"b', "ab"),
        ("'a'x'b'", "axb"),
        ("$12", "t"),
        ("$XY", "xy"),
    ],
)
def test_quotes_and_names_end_where_they_should(word: str, expected: str) -> None:
    assert expand(word, {"12": "t", "XY": "xy", "X": "x"}, "\\") == expected


def test_an_escape_that_ends_a_double_quoted_word_leaves_it_open() -> None:
    with pytest.raises(SubstitutionError, match="matching double-quote"):
        expand('"a\\', {}, "\\")


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("ARG\nFROM a\n", "write `ARG NAME` or `ARG NAME=default`"),
        ("ARG =x\nFROM a\n", "write `ARG NAME=default`"),
        ("ARG A=${\nFROM a\n", "fix the ${...} expression in the default"),
    ],
)
def test_a_bad_arg_before_from_says_how_to_write_it(text: str, hint: str) -> None:
    assert error(text).hint == hint


def test_an_arg_default_may_hold_an_equals_sign() -> None:
    assert [s.base for s in parse("ARG A=x=y\nFROM i:$A\n").stages] == ["i:x=y"]


@pytest.mark.parametrize("after", ["\x0b", "X", "\f", "\x1f", "\u00a0"])
def test_only_blanks_and_tabs_may_follow_a_continuation_escape(after: str) -> None:
    for text in (f"RUN echo \\{after}\n", f"RUN echo \\\n  more \\{after}\n"):
        df = parse(f"FROM a\n{text}FROM b\n")
        assert [s.base for s in df.stages] == ["a", "b"], text


def _steps(text: str) -> list[list[tuple[str, str, tuple[tuple[str, ...], ...], int, int]]]:
    return [
        [(s.kind, s.args, s.heredocs, s.line, s.end_line) for s in stage]
        for stage in parse_steps(text, PATH).stages
    ]


@pytest.mark.parametrize(
    ("body", "steps"),
    [
        (  # <<- strips leading tabs from the body and the terminator
            "RUN <<-EOF\n\tline\n\t\tdeep\n\tEOF\n",
            [("run", "<<-EOF", (("line", "deep"),), 2, 5)],
        ),
        ("RUN <<EOF\n\tline\nEOF\n", [("run", "<<EOF", (("\tline",),), 2, 4)]),
        (  # a heredoc of an ONBUILD trigger: its body is no instruction
            "ONBUILD RUN <<EOF\nFROM x\nEOF\n",
            [("onbuild", "RUN <<EOF", (("FROM x",),), 2, 4)],
        ),
        ('RUN <<"EOF"\n$X\nEOF\n', [("run", '<<"EOF"', (("$X",),), 2, 4)]),
        ("RUN <<'E$X'\nbody\nE$X\n", [("run", "<<'E$X'", (("body",),), 2, 4)]),
        ("RUN <<E\\OF\nbody\nEOF\n", [("run", "<<E\\OF", (("body",),), 2, 4)]),
        (
            "RUN <<EOF cat && <<TWO cat\none\nEOF\ntwo\nTWO\n",
            [("run", "<<EOF cat && <<TWO cat", (("one",), ("two",)), 2, 6)],
        ),
        ("COPY <<EOF /x\nhi\nEOF\n", [("copy", "<<EOF /x", (("hi",),), 2, 4)]),
        ("\\\n  RUN true\n", [("run", "true", (), 2, 3)]),  # an escape alone, then the instruction
        ("RUN <<E$X\nbody\nE$X\n", [("run", "<<E$X", (("body",),), 2, 4)]),  # $X kept as written
        ("RUN <<<EOF cat\n", [("run", "<<<EOF cat", (), 2, 2)]),  # a here-string: no body
        ("RUN cat <<'' x\n", [("run", "cat <<'' x", (), 2, 2)]),  # an empty marker: none
        (  # a marker that cannot be read is skipped, the next one still counts
            "RUN cat <<${ <<EOF\nx\nEOF\n",
            [("run", "cat <<${ <<EOF", (("x",),), 2, 4)],
        ),
    ],
)
def test_heredocs_are_read_as_buildkit_reads_them(body: str, steps: list[object]) -> None:
    assert _steps(f"FROM a\n{body}RUN true\n")[0][1:] == [
        *steps,
        ("run", "true", (), steps[-1][4] + 1, steps[-1][4] + 1),  # type: ignore[index]
    ]


def test_an_exec_form_opens_no_heredoc_and_env_has_none() -> None:
    assert _steps('FROM a\nRUN ["sh", "-c", "cat <<EOF"]\nFROM b\n') == [
        [("from", "a", (), 1, 1), ("run", '["sh", "-c", "cat <<EOF"]', (), 2, 2)],
        [("from", "b", (), 3, 3)],
    ]
    assert _steps('FROM a\nRUN  ["cat <<EOF"] \nFROM b\n')[1] == [("from", "b", (), 3, 3)]
    err = error("FROM a\nENV <<EOF\nhi\nEOF\n")
    assert err.message == "unknown instruction: hi"


@pytest.mark.parametrize(
    ("run", "column"),
    [
        ("RUN \\\n  --mount=type=bind,from=$CTX,target=/x true", 26),
        ("RUN --network=none \\\n --mount=type=bind,from=$CTX true", 25),
    ],
)
def test_a_flag_error_on_a_continuation_line_points_into_that_line(run: str, column: int) -> None:
    err = error(f"FROM alpine\n{run}\n")
    assert err.location == Location(PATH, 3, column)


def test_a_quoted_copy_from_points_at_the_name_inside_the_quotes() -> None:
    df = parse("FROM a AS x\nFROM b\nCOPY --from=\"shared\" /a /b\nCOPY --from='other' /a /b\n")
    assert df.refs[2:] == (
        Ref("shared", "COPY --from", 3, 14),
        Ref("other", "COPY --from", 4, 14),
    )


_NO_FROM = (
    "the Dockerfile has no FROM instruction",
    "a Dockerfile starts its first build stage with `FROM <image>`",
)
_BEFORE = "only ARG may come before the first FROM; start a stage with `FROM <image>`"
_ARGS = (
    "FROM requires either one or three arguments",
    "write `FROM <image>` or `FROM <image> AS <name>`",
)
_MOUNT = "name a stage `FROM <image> AS <alias>` and mount from=<alias>"


@pytest.mark.parametrize(
    ("text", "message", "hint", "at"),
    [
        ("", *_NO_FROM, (1, 1)),
        ("# only a comment\n", *_NO_FROM, (1, 1)),
        ("\n\n\n", *_NO_FROM, (3, 1)),
        ("RUN true\nFROM a\n", "RUN before the first FROM", _BEFORE, (1, 1)),
        ("  run true\n", "run before the first FROM", _BEFORE, (1, 3)),
        (
            "FROM 1bad AS 1bad\n",
            "invalid name for build stage: '1bad'",
            "a stage name starts with a letter and has only letters, digits, '-', '_', '.'",
            (1, 14),
        ),
        ("FROM a b\n", *_ARGS, (1, 8)),
        ("FROM a\tAS  x y\n", *_ARGS, (1, 8)),
        ("FROM img AS img2 AS\n", *_ARGS, (1, 10)),
        (
            "ARG V\nFROM $V\n",
            "base name ($V) should not be blank",
            "give the ARG a default before the first FROM, or pass it as a build arg",
            (2, 6),
        ),
        (
            "FROM ${UNSET:?need_it}\n",
            "cannot substitute FROM ${UNSET:?need_it}: UNSET: need_it",
            "declare the variable with ARG before the first FROM, or pass it as a build arg",
            (1, 6),
        ),
        (
            "FROM a\nRUN --mount=type=bind,FROM=$X,target=/y true\n",
            "RUN --mount from=$X: from= does not support variable expansion",
            _MOUNT,
            (2, 28),
        ),
        (
            "FROM a\nRUN --mount=from=ok --mount=type=bind,from=$X true\n",
            "RUN --mount from=$X: from= does not support variable expansion",
            _MOUNT,
            (2, 44),
        ),
        (
            "FROM a\nFROM b\nCOPY --from=5 /a /b\n",
            "COPY --from=5: invalid stage index 5",
            "this Dockerfile has stages 0 to 1; name the stage with `AS` and copy --from=<name>",
            (3, 13),
        ),
    ],
)
def test_each_dockerfile_error_says_what_where_and_how_to_fix_it(
    text: str, message: str, hint: str, at: tuple[int, int]
) -> None:
    err = error(text)
    assert (err.message, err.hint) == (message, hint)
    assert err.location == Location(PATH, *at)


def test_a_mount_from_ending_in_a_dollar_and_onbuild_mounts_are_not_rejected() -> None:
    df = parse("FROM a\nRUN --mount=type=bind,from=x$ true\nONBUILD RUN --mount=from=$X true\n")
    assert names(df) == [("FROM", "a"), ("RUN --mount", "x$")]


def test_onbuild_triggers_count_where_a_stage_builds_on_them_once_per_place() -> None:
    run = parse("FROM a AS base\nONBUILD run --mount=from=shared true\nFROM base\n")
    assert run.refs == (Ref("a", "FROM", 1, 6), Ref("shared", "RUN --mount", 2, 26))
    # A trigger is no strict COPY: an index it names is not checked.
    assert parse("FROM a AS base\nONBUILD COPY --from=5 /a /b\nFROM base\n").refs == (
        Ref("a", "FROM", 1, 6),
    )
    twice = parse(
        "FROM a AS base\nONBUILD COPY --from=tools /x /y\nFROM base\nCOPY --from=lib /a /b\n"
        "FROM base\n"
    )
    assert twice.refs == (
        Ref("a", "FROM", 1, 6),
        Ref("tools", "COPY --from", 2, 21),
        Ref("lib", "COPY --from", 4, 13),
    )
