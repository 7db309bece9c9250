"""A target as the rules see it: its stages with their steps, which one ships, what each
builds on (an earlier stage, a plan target, an outside image), and who runs it.

Pure: the command reads the files and passes them in; what a plan target's image is
(`ImageFacts`) is worked out once per target, upstream first, and handed to those that build
on it, so "a plan stage that is a toolchain" is known transitively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.dockerfile.model import Stage
from orchestrator.dockerfile.steps import Step, Steps
from orchestrator.lint import shell
from orchestrator.plan import Target


@dataclass(frozen=True, slots=True)
class StageView:
    index: int
    name: str | None
    base: str  # the FROM argument after ARG substitution
    parent: int | None  # the earlier stage of this file it builds on
    steps: tuple[Step, ...]  # its FROM first

    @property
    def label(self) -> str:
        if self.name:
            return f"`{self.name}`"
        return f"#{self.index} (FROM {self.base.split('@', 1)[0]})"


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What a target's image is, for the targets built FROM it."""

    user: str | None  # its effective USER; None when no USER is set anywhere (root)
    user_where: str  # where that comes from, in words
    toolchain: str | None  # why it is a toolchain, in words; None when it is not


@dataclass(frozen=True, slots=True)
class SentDirectory:
    """A directory a context sends to every build although no build reads it."""

    context: str  # "" for the main context, else the named context's name
    path: str  # relative to the context, e.g. `.git` or `web/node_modules`
    kind: str  # `.git`, `node_modules`, `__pycache__` or `a virtualenv`
    ignore_file: str | None  # the ignore file that fails to exclude it, if there is one


@dataclass(frozen=True, slots=True)
class SentSecret:
    """A secret whose file lies in a context BuildKit receives, which its ignore file does not
    leave out: the file goes to the builder with the context."""

    secret: str  # its id
    context: str  # "" for the main context, else the named context's name
    path: str  # relative to the context, `/`-separated
    ignore_file: str | None  # the ignore file that fails to exclude it, if there is one
    place: tuple[int, int]  # the secret's item in the plan: line, column


@dataclass(frozen=True, slots=True)
class SentOwn:
    """A directory orch writes that a context sends, which its ignore file does not leave out."""

    context: str  # "" for the main context, else the named context's name
    path: str  # relative to the context, `/`-separated
    what: str  # what it is, in words
    lines: tuple[str, ...]  # the ignore file's lines that would leave it out
    ignore_file: str | None  # the ignore file that fails to exclude it, if there is one
    note: str = ""  # more to the fix


@dataclass(frozen=True, slots=True)
class Subject:
    """One target and its Dockerfile, with everything a rule needs to decide."""

    target: Target
    file: str  # the Dockerfile as findings name it (relative to the plan's directory)
    steps: Steps
    stages: tuple[StageView, ...]
    shipped: int  # index of the stage that becomes the image
    plan_targets: frozenset[str]
    upstream: Mapping[str, ImageFacts]  # the plan targets this Dockerfile builds FROM
    sent: tuple[SentDirectory, ...] = ()

    @property
    def named_contexts(self) -> frozenset[str]:
        return frozenset(c.name for c in self.target.contexts)

    def chain(self, index: int) -> list[StageView]:
        """Stage `index`, then the stages of this file it builds on, nearest first."""
        found = []
        at: int | None = index
        while at is not None:
            found.append(self.stages[at])
            at = self.stages[at].parent
        return found

    def stage_named(self, name: str) -> StageView | None:
        """A stage by its alias, or by its index as COPY --from takes it."""
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        lowered = name.lower()
        return next((s for s in self.stages if s.name == lowered), None)

    def is_outside(self, name: str) -> bool:
        """Whether `name` (a FROM or --from) is an outside image, not a stage, a plan target
        or a named context."""
        return not (
            name == "scratch"
            or self.stage_named(name) is not None
            or name in self.plan_targets
            or name in self.named_contexts
        )


def subject(
    target: Target,
    file: str,
    steps: Steps,
    stages: tuple[Stage, ...],
    plan_targets: frozenset[str],
    upstream: Mapping[str, ImageFacts],
    sent: tuple[SentDirectory, ...] = (),
) -> Subject:
    views: list[StageView] = []
    by_name: dict[str, int] = {}
    for stage, stage_steps in zip(stages, steps.stages, strict=True):
        views.append(
            StageView(stage.index, stage.name, stage.base, by_name.get(stage.base), stage_steps)
        )
        if stage.name is not None:
            by_name[stage.name] = stage.index
    shipped = len(views) - 1
    if target.target is not None:
        shipped = by_name.get(target.target.lower(), shipped)
    return Subject(
        target=target,
        file=file,
        steps=steps,
        stages=tuple(views),
        shipped=shipped,
        plan_targets=plan_targets,
        upstream=upstream,
        sent=sent,
    )


# --- who runs the image ----------------------------------------------------------------------

ROOT_USERS = frozenset(("root", "0"))
# Images whose own config names a non-root user: distroless `:nonroot`, Chainguard's,
# .NET's chiseled images (user `app`).
_NONROOT_IMAGE = re.compile(r"nonroot|chiseled|^cgr\.dev/chainguard/")


@dataclass(frozen=True, slots=True)
class User:
    value: str | None  # None: no USER anywhere, so root unless the image says otherwise
    step: Step | None  # the USER step of this file that sets it, if one does
    where: str  # in words


def effective_user(s: Subject, index: int) -> User:
    """The user stage `index` runs as: its last USER, else what it builds on."""
    for stage in s.chain(index):
        for step in reversed(stage.steps):
            if step.kind == "user" and step.args.strip():
                return User(step.args.strip(), step, f"{s.file}:{step.line}")
    base = s.chain(index)[-1].base
    up = s.upstream.get(base)
    if up is not None:
        return User(up.user, None, f"the plan's `{base}` ({up.user_where})")
    if _NONROOT_IMAGE.search(base):
        return User("nonroot", None, f"the image {base}")
    return User(None, None, "no USER in it or in what it builds on")


def is_root(user: str | None) -> bool:
    if user is None:
        return True
    name = user.split(":", 1)[0].strip()
    return name in ROOT_USERS


# --- toolchains --------------------------------------------------------------------------------

# Outside images that are a compiler or a build tool; `node` and `python` only in their full
# Debian variants (gcc, make, headers), not -slim or -alpine, which are what apps run on.
_TOOLCHAIN_IMAGES = {
    "golang": "the Go toolchain",
    "rust": "the Rust toolchain",
    "maven": "Maven and a JDK",
    "gradle": "Gradle and a JDK",
    "gcc": "the GNU compilers",
    "buildpack-deps": "compilers and -dev headers",
    "node": "Node.js with gcc, make and python for native modules",
    "python": "the full Python image: gcc, make and -dev headers",
}
_JDK_IMAGES = frozenset(
    ("openjdk", "eclipse-temurin", "amazoncorretto", "ibm-semeru-runtimes", "sapmachine")
)
# Packages that make a stage a toolchain when it installs them (apt, apk, dnf, yum).
_TOOLCHAIN_PACKAGES = re.compile(
    r"(golang(-go|-[0-9.]+(-go)?)?|go|gcc(-[0-9]+)?|g\+\+(-[0-9]+)?|build-essential|build-base"
    r"|clang(-[0-9]+)?|rustc|cargo|maven|gradle|default-jdk(-headless)?"
    r"|openjdk-?[0-9]+-jdk(-headless)?)(=.*)?"
)
_INSTALLERS = {"apt-get": "install", "apt": "install", "apk": "add", "dnf": "install"}
_INSTALLERS |= {"yum": "install", "microdnf": "install"}


def split_image(ref: str) -> tuple[str, str]:
    """(repository path, tag) of an image reference; the tag is "" when none is written."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, ""


def toolchain_image(ref: str) -> str | None:
    """Why the outside image `ref` is a toolchain, or None."""
    repo, tag = split_image(ref)
    short = repo.rsplit("/", 1)[-1]
    if repo.endswith("dotnet/sdk"):
        return f"{ref} is the .NET SDK"
    if short in ("node", "python") and ("slim" in tag or "alpine" in tag):
        return None
    if short in _TOOLCHAIN_IMAGES:
        return f"{ref} is {_TOOLCHAIN_IMAGES[short]}"
    if short in _JDK_IMAGES and ("jdk" in tag or (short == "openjdk" and "jre" not in tag)):
        return f"{ref} is a JDK"
    return None


_REMOVERS = frozenset(("purge", "remove", "autoremove", "del", "erase"))


def installed_toolchain(step: Step) -> str | None:
    """The toolchain package a RUN step installs and keeps (not purged in the same step)."""
    if step.kind != "run":
        return None
    installed: list[str] = []
    removed: set[str] = set()
    for command in shell.commands(step):
        verb = _INSTALLERS.get(command.name)
        if verb is None:
            continue
        words = command.words[1:]
        if verb in words:
            installed += words[words.index(verb) + 1 :]
        elif any(w in _REMOVERS for w in words):
            removed.update(w.split("=", 1)[0] for w in words)
    for word in installed:
        name = word.split("=", 1)[0]
        if not word.startswith("-") and _TOOLCHAIN_PACKAGES.fullmatch(word) and name not in removed:
            return name
    return None


def toolchain(s: Subject, index: int) -> str | None:
    """Why stage `index` is a toolchain (its image, a plan stage, a package it installs)."""
    chain = s.chain(index)
    for stage in chain:
        for step in stage.steps:
            package = installed_toolchain(step)
            if package is not None:
                return f"stage {stage.label} installs {package} ({s.file}:{step.line})"
    base = chain[-1].base
    up = s.upstream.get(base)
    if up is not None:
        return f"it builds on the plan's `{base}`: {up.toolchain}" if up.toolchain else None
    return toolchain_image(base)


def image_facts(s: Subject) -> ImageFacts:
    """What this target's shipped image is, for the targets that build on it."""
    user = effective_user(s, s.shipped)
    return ImageFacts(user=user.value, user_where=user.where, toolchain=toolchain(s, s.shipped))
