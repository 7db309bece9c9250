"""Rules about what ships: the stage that becomes the image, what it builds on, what it copies
in, and what its context sends. Each is a pure function of a Subject yielding findings."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator

from orchestrator.dockerfile.model import Ref
from orchestrator.dockerfile.steps import Step
from orchestrator.lint.facts import (
    SentOwn,
    SentSecret,
    StageView,
    Subject,
    effective_user,
    is_root,
    toolchain,
)
from orchestrator.lint.findings import Finding, finding

_DISTROLESS = ("scratch", "gcr.io/distroless/", "cgr.dev/")


def runs_as_root(s: Subject) -> Iterator[Finding]:
    """OL101: the shipped stage has no USER, or `USER root`/`USER 0`, here or upstream."""
    stage = s.stages[s.shipped]
    user = effective_user(s, s.shipped)
    if not is_root(user.value):
        return
    if user.step is not None:
        place = (user.step.line, user.step.column)
        message = f"the shipped stage {stage.label} runs as root: `USER {user.value}`"
    else:
        place = (stage.steps[0].line, stage.steps[0].column)
        message = f"the shipped stage {stage.label} runs as root: {user.where}"
    yield finding(
        "OL101",
        s.target.name,
        s.file,
        place,
        message,
        "a process that breaks out of the app is root in the container (and on the host "
        "if the runtime is misconfigured), and Kubernetes' runAsNonRoot refuses to start it",
        _user_fix(s.chain(s.shipped)[-1].base, s),
    )


def _user_fix(base: str, s: Subject) -> str:
    if base == "scratch" or base.startswith(_DISTROLESS):
        return (
            "add `USER 65534:65534` (nobody) before ENTRYPOINT: this base has no /etc/passwd, "
            "so give numbers; or ship FROM gcr.io/distroless/static:nonroot"
        )
    if base.split(":", 1)[0].rsplit("/", 1)[-1] == "node":
        return "add `USER node` (uid 1000, which the node images make) after the last root step"
    up = s.upstream.get(base)
    alpine = "alpine" in base
    create = (
        "RUN addgroup -S -g 10001 app && adduser -S -u 10001 -G app app"
        if alpine
        else "RUN useradd --uid 10001 --user-group --no-create-home app"
    )
    where = f" (or in the plan's `{base}`, for every image built on it)" if up else ""
    return (
        f"create a user once{where}: `{create}`, then `USER 10001:10001` after the last step "
        "that needs root; a number, so that runAsNonRoot can check it"
    )


def ships_toolchain(s: Subject) -> Iterator[Finding]:
    """OL102: the shipped stage is, or builds on, a compiler or build tool."""
    reason = toolchain(s, s.shipped)
    if reason is None:
        return
    stage = s.stages[s.shipped]
    yield finding(
        "OL102",
        s.target.name,
        s.file,
        stage.steps[0].place(0),
        f"the shipped stage {stage.label} is a toolchain: {reason}",
        "the image carries the compiler, its caches and the sources into production: the "
        "same Go service is 1.1 GB on golang:1.23 and 12 MB as its binary on scratch, and "
        "every tool in it is one more thing to patch and to exploit",
        "build in a stage of its own (`FROM golang:1.23 AS build` ... `RUN CGO_ENABLED=0 "
        "go build -o /out/app .`) and ship only its output: `FROM scratch` or "
        "gcr.io/distroless/static (a -slim or -alpine runtime for interpreted code), then "
        "`COPY --from=build /out/app /app`",
    )


def copies_whole_stage(s: Subject) -> Iterator[Finding]:
    """OL107: the shipped image copies `/` of a stage, or the directory a stage copied its
    whole context into (`COPY --from=builder /app .` after `COPY . .` there)."""
    for stage in s.chain(s.shipped):
        for step in stage.steps:
            sources = _copy_sources(step)
            froms = step.flag("from")
            if step.kind != "copy" or not froms or not sources:
                continue
            source_stage = s.stage_named(froms[0])
            whole = _context_dirs(s, source_stage) if source_stage is not None else set()
            for src in sources:
                path = _normal(src)
                if path == "/":
                    what = f"the whole of {froms[0]} (`/`)"
                elif path in whole:
                    what = f"{path} of {froms[0]}, where it copied the whole build context"
                else:
                    continue
                yield finding(
                    "OL107",
                    s.target.name,
                    s.file,
                    (step.line, step.column),
                    f"the shipped stage {s.stages[s.shipped].label} copies {what}",
                    "everything the build left there ships: sources, the compiler's and the "
                    "package manager's caches, test files; the multi-stage split is undone",
                    f"copy only what runs: the binary or the build's output directory, such as "
                    f"`COPY --from={froms[0]} /out/app /app` or `COPY --from={froms[0]} "
                    f"{path.rstrip('/') or ''}/dist ./dist`",
                )


def _copy_sources(step: Step) -> list[str]:
    if step.kind not in ("copy", "add"):
        return []
    words = step.exec_form() or [w for w in step.args.split() if not w.startswith("<<")]
    return words[:-1] if len(words) >= 2 else []


def whole_context(step: Step) -> bool:
    """A COPY or ADD of the whole build context (`COPY . .`, `COPY ./ /app/`)."""
    if step.kind not in ("copy", "add") or step.flag("from"):
        return False
    return any(_normal(src) in (".", "*", "./*") for src in _copy_sources(step))


def _normal(path: str) -> str:
    if path in ("/", "/.", "/*"):
        return "/"
    if path in (".", "./", "./."):
        return "."
    return posixpath.normpath(path) if path.startswith("/") else path


def _context_dirs(s: Subject, stage: StageView) -> set[str]:
    """The directories stage `stage` (or a stage it builds on) copied the whole context into."""
    found: set[str] = set()
    workdir = "/"
    for view in reversed(s.chain(stage.index)):
        for step in view.steps:
            if step.kind == "workdir" and step.args.strip():
                workdir = posixpath.join(workdir, step.args.strip())
            elif whole_context(step):
                words = step.exec_form() or step.args.split()
                found.add(posixpath.normpath(posixpath.join(workdir, words[-1])))
    return found


def unpinned_bases(s: Subject, refs: tuple[Ref, ...]) -> Iterator[Finding]:
    """OL109: an outside image named by tag, not by digest."""
    for ref in refs:
        if "@sha256:" in ref.name or not s.is_outside(ref.name):
            continue
        yield finding(
            "OL109",
            s.target.name,
            s.file,
            (ref.line, ref.column),
            f"{ref.name} is not pinned by digest",
            "a tag moves: the same Dockerfile builds on another image tomorrow, and a bad or "
            "compromised push reaches the next build unseen",
            f"pin it: `{ref.name}@sha256:<digest>` (`docker buildx imagetools inspect "
            f"{ref.name}` prints the digest); Renovate or Dependabot keep the pin fresh",
        )


_IGNORE_LINES = {
    ".git": ".git",
    "node_modules": "**/node_modules",
    "__pycache__": "**/__pycache__",
    "a virtualenv": "**/.venv",
}


def sends_unread(s: Subject) -> Iterator[Finding]:
    """OL108: a context (the main one or a named one) sends .git, node_modules, __pycache__
    or a virtualenv, for want of a .dockerignore that leaves them out."""
    by_context: dict[str, list[str]] = {}
    for sent in s.sent:
        by_context.setdefault(sent.context, []).append(sent.path)
    for context, paths in by_context.items():
        first = next(x for x in s.sent if x.context == context)
        kinds = sorted({x.kind for x in s.sent if x.context == context})
        lines = []
        for kind in kinds:
            pattern = _IGNORE_LINES[kind]
            if kind == "a virtualenv":
                venvs = [x.path for x in s.sent if x.context == context and x.kind == kind]
                pattern = venvs[0] if len(venvs) == 1 else pattern
            lines.append(pattern)
        shown = ", ".join(paths[:4]) + (f" and {len(paths) - 4} more" if len(paths) > 4 else "")
        which = "the build context" if not context else f"the named context `{context}`"
        missing = (
            f"{first.ignore_file} does not leave them out"
            if first.ignore_file
            else "it has no .dockerignore"
        )
        where = first.ignore_file or (
            ".dockerignore in the context directory"
            if not context
            else f".dockerignore in the `{context}` directory"
        )
        yield finding(
            "OL108",
            s.target.name,
            s.file,
            _sending_step(s, context),
            f"{which} sends {shown}: {missing}",
            "BuildKit uploads them on every build and `COPY . .` puts them in the image (the "
            "repository's history, a host's node_modules built for another OS); orch's version "
            "leaves out .git and what git ignores, so two images of one version can differ",
            f"add to {where}: {', '.join(f'`{line}`' for line in lines)} (one a line)",
        )


def sends_orch_files(s: Subject, sent: Iterable[SentOwn]) -> Iterator[Finding]:
    """OL110: a context (the main one or a named one) sends a directory orch writes (its
    state, its part of the user's cache, a local cache the plan exports to), for want of an
    ignore file that leaves it out."""
    for own in sent:
        which = "the build context" if not own.context else f"the named context `{own.context}`"
        missing = (
            f"{own.ignore_file} does not leave it out"
            if own.ignore_file
            else "it has no .dockerignore"
        )
        where = own.ignore_file or (
            ".dockerignore in the context directory"
            if not own.context
            else f".dockerignore in the `{own.context}` directory"
        )
        yield finding(
            "OL110",
            s.target.name,
            s.file,
            _sending_step(s, own.context),
            f"{which} sends {own.path}, {own.what}: {missing}",
            "BuildKit uploads it on every build and `COPY . .` puts it in the image (orch's "
            "logs and bake files, cache blobs); it changes on every run, so orch's version "
            "leaves it out and two images of one version can differ",
            f"add to {where}: {', '.join(f'`{line}`' for line in own.lines)} (one a line)"
            + (f"; {own.note}" if own.note else ""),
        )


def _sending_step(s: Subject, context: str) -> tuple[int, int]:
    """The first step that reads the context, else the first FROM."""
    for stage in s.stages:
        for step in stage.steps:
            if context and (
                context in step.flag("from") or (step.kind == "from" and stage.base == context)
            ):
                return (step.line, step.column)
            if not context and step.kind in ("copy", "add") and not step.flag("from"):
                return (step.line, step.column)
    first = s.stages[0].steps[0]
    return (first.line, first.column)


def secrets_in_context(s: Subject, plan_file: str, sent: Iterable[SentSecret]) -> Iterator[Finding]:
    """OL111: a secret's `src:` file lies in a context the build sends (the main one or a
    named one) and its ignore file does not leave it out; found at the secret in the plan."""
    for secret in sent:
        which = (
            "the build context" if not secret.context else f"the named context `{secret.context}`"
        )
        missing = (
            f"{secret.ignore_file} does not leave it out"
            if secret.ignore_file
            else "it has no .dockerignore"
        )
        where = secret.ignore_file or (
            ".dockerignore in the context directory"
            if not secret.context
            else f".dockerignore in the `{secret.context}` directory"
        )
        yield finding(
            "OL111",
            s.target.name,
            plan_file,
            secret.place,
            f"the file of secret {secret.secret!r} ({secret.path}) is in {which}: {missing}",
            "BuildKit receives the whole context on every build, a remote builder too, and "
            "`COPY . .` puts the file in a layer of the image, where anyone who pulls it reads "
            "the secret; the mount keeps it out of the image only if the context does",
            f"add `/{secret.path}` to {where}, or keep the file outside the context "
            "(in the home directory, or the CI runner's temporary directory)",
        )


# --- OL112 ---------------------------------------------------------------------------------

_COMPILERS = re.compile(
    r"\b(?:go\s+build|go\s+install|cargo\s+build|gcc|g\+\+|clang|cc|javac|rustc|"
    r"mvn\b[^&;|]*\b(?:package|install|verify)|gradle\w*\b[^&;|]*\b(?:build|assemble)|"
    r"npm\s+run\s+build|yarn\s+build|pnpm\s+build|dotnet\s+(?:build|publish))\b"
)
_CROSS = {
    "go": "RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build ...",
    "cargo": "RUN cargo build --target $(uname -m)-unknown-linux-gnu ... (a target triple "
    "for $TARGETARCH)",
}


def emulated_compile(s: Subject) -> Iterator[Finding]:
    """OL112: a multi-platform target compiles in a stage whose FROM takes the target's
    platform: each platform but the machine's own runs the compiler under emulation."""
    if len(s.target.platforms) < 2:
        return
    for stage in s.stages:
        first = stage.steps[0]
        if first.flag("platform"):
            continue  # --platform=$BUILDPLATFORM (or a fixed one): it runs natively
        root = s.chain(stage.index)[-1]
        if root.steps[0].flag("platform"):
            continue
        for step in stage.steps[1:]:
            found = _COMPILERS.search(step.args) if step.kind == "run" else None
            if found is None:
                continue
            tool = found.group(0).split()[0]
            cross = _CROSS.get(
                tool, "build for $TARGETOS/$TARGETARCH with the compiler's own cross-compile flags"
            )
            name = f" AS {stage.name}" if stage.name else ""
            yield finding(
                "OL112",
                s.target.name,
                s.file,
                step.place(found.start()),
                f"stage {stage.label} runs `{found.group(0)}` for each of "
                f"{', '.join(s.target.platforms)} under emulation",
                "QEMU runs the compiler 5 to 20 times slower than the machine would: a "
                "two-platform build spends most of its time compiling the foreign platform",
                f"compile on the build machine for the target platform: "
                f"`FROM --platform=$BUILDPLATFORM {root.base}{name}`, then "
                f"`ARG TARGETOS TARGETARCH` and `{cross}`",
            )
            break
