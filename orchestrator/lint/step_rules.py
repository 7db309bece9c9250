"""Rules about single steps in any stage: secrets in ARG/ENV, the context copied before the
dependency install, and package installs that keep what they download in a layer."""

from __future__ import annotations

import re
from collections.abc import Iterator

from orchestrator.dockerfile.shellwords import raw_words
from orchestrator.dockerfile.steps import Step
from orchestrator.lint import shell
from orchestrator.lint.facts import Subject
from orchestrator.lint.findings import Finding, finding
from orchestrator.lint.image_rules import whole_context

# --- OL103 ---------------------------------------------------------------------------------

_SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|_KEY$|^KEY$|APIKEY")
# A name that says where a secret is, or that it is public, is not one.
_NOT_SECRET = re.compile(r"PUBLIC|^GPG_KEY$|_(FILE|PATH|DIR|URL|ENDPOINT|NAME|ID)$")


def secret_args(s: Subject) -> Iterator[Finding]:
    """OL103: an ARG or ENV whose name says it holds a secret."""
    steps = [*s.steps.meta, *(step for stage in s.stages for step in stage.steps)]
    for step in steps:
        if step.kind not in ("arg", "env"):
            continue
        for name, at in _declared(step):
            upper = name.upper()
            if not _SECRET_NAME.search(upper) or _NOT_SECRET.search(upper):
                continue
            secret_id = name.lower().replace("_", "-")
            keeps = (
                "a build arg's value is written into the image's history and the build's "
                "provenance, for anyone who can pull the image to read"
                if step.kind == "arg"
                else "an ENV value is part of the image config: `docker inspect` shows it to "
                "anyone who can pull the image, and every container inherits it"
            )
            yield finding(
                "OL103",
                s.target.name,
                s.file,
                step.place(at),
                f"{step.kind.upper()} {name} looks like a secret",
                keeps,
                f"mount it in the one step that needs it: `RUN --mount=type=secret,id="
                f"{secret_id},env={name} <command>` (or read /run/secrets/{secret_id}), and "
                f"give it in the plan: `secrets: [{{id: {secret_id}, env: {name}}}]`; orch "
                "passes it to that step only, never to a layer, a log or the image",
            )


def _declared(step: Step) -> list[tuple[str, int]]:
    """The names an ARG or ENV declares, with their offsets in its arguments."""
    words = raw_words(step.args)
    if step.kind == "env" and words and "=" not in words[0][0]:
        return [words[0]]  # the old `ENV NAME value` form
    return [(w.split("=", 1)[0], at) for w, at in words if w.split("=", 1)[0]]


# --- OL104 ---------------------------------------------------------------------------------

_NODE = ("package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")
_MANIFESTS: dict[str, tuple[str, ...]] = {
    "node": _NODE,
    "go": ("go.mod", "go.sum"),
    "poetry": ("pyproject.toml", "poetry.lock"),
    "pipenv": ("Pipfile", "Pipfile.lock"),
    "uv": ("pyproject.toml", "uv.lock"),
    "bundler": ("Gemfile", "Gemfile.lock"),
    "composer": ("composer.json", "composer.lock"),
    "cargo": ("Cargo.toml", "Cargo.lock"),
    "maven": ("pom.xml",),
}


def _install(command: shell.Command) -> tuple[str, tuple[str, ...]] | None:
    """(the install as written, the manifests it reads) when `command` installs dependencies."""
    w = command.words
    name = command.name
    args = [a for a in w[1:] if not a.startswith("-")]
    verb = args[0] if args else ""
    shown = " ".join(w[:2])
    if name in ("npm", "pnpm") and verb in ("ci", "install", "i") and len(args) == 1:
        return shown, _MANIFESTS["node"]
    if name == "yarn" and verb in ("", "install"):
        return "yarn install", _MANIFESTS["node"]
    if name == "go" and args[:2] == ["mod", "download"]:
        return "go mod download", _MANIFESTS["go"]
    if _is_pip(w) and "install" in w:
        for flag in ("-r", "--requirement"):
            if flag in w and w.index(flag) + 1 < len(w):
                return "pip install -r", (w[w.index(flag) + 1],)
        return None
    simple = {
        ("poetry", "install"): "poetry",
        ("pipenv", "install"): "pipenv",
        ("uv", "sync"): "uv",
        ("bundle", "install"): "bundler",
        ("composer", "install"): "composer",
        ("cargo", "fetch"): "cargo",
        ("mvn", "dependency:go-offline"): "maven",
        ("mvn", "dependency:resolve"): "maven",
    }
    kind = simple.get((name, verb))
    if kind is not None:
        return f"{name} {verb}", _MANIFESTS[kind]
    if name == "dotnet" and verb == "restore":
        return "dotnet restore", tuple(a for a in args[1:] if a.endswith("proj")) or ("*.csproj",)
    return None


def _is_pip(words: tuple[str, ...]) -> bool:
    head = words[0].rsplit("/", 1)[-1]
    if re.fullmatch(r"pip[0-9.]*", head):
        return True
    return bool(re.fullmatch(r"python[0-9.]*", head)) and words[1:3] == ("-m", "pip")


def context_before_install(s: Subject, context_names: frozenset[str]) -> Iterator[Finding]:
    """OL104: `COPY . .` before a dependency install in the same stage (or one it builds on)."""
    for stage in s.stages:
        found = _first_install_after_copy(s, stage.index)
        if found is None:
            continue
        copied, step, shown, manifests = found
        have = [m for m in manifests if m in context_names] or list(manifests[:2])
        yield finding(
            "OL104",
            s.target.name,
            s.file,
            (copied.line, copied.column),
            f"the whole context is copied before `{shown}` (line {step.line})",
            f"every source edit changes this layer, so `{shown}` runs again from nothing: "
            "the dependency layer is rebuilt on each edit instead of only when the manifests "
            "change",
            f"copy the manifests first and install, then the sources: "
            f"`COPY {' '.join(have)} ./`, `RUN {shown} ...`, then `COPY . .`",
        )


def _first_install_after_copy(
    s: Subject, index: int
) -> tuple[Step, Step, str, tuple[str, ...]] | None:
    copied: Step | None = None
    for view in reversed(s.chain(index)):
        for step in view.steps:
            if copied is None and whole_context(step):
                copied = step
            if copied is None or step.kind != "run":
                continue
            for command in shell.commands(step):
                found = _install(command)
                if found is not None:
                    return copied, step, *found
    return None


# --- OL105, OL106 --------------------------------------------------------------------------

_APT = ("apt-get", "apt")


def apt_recommends(s: Subject) -> Iterator[Finding]:
    """OL105: `apt-get install` that also installs every Recommends."""
    for step in _runs(s):
        for command in shell.commands(step):
            if command.name not in _APT or "install" not in command.words:
                continue
            if command.has("--no-install-recommends") or any(
                "Install-Recommends" in w for w in command.words
            ):
                continue
            packages = command.words[command.words.index("install") + 1 :]
            names = " ".join(p for p in packages if not p.startswith("-")) or "<packages>"
            yield finding(
                "OL105",
                s.target.name,
                s.file,
                _at(step, command),
                f"`{command.name} install` without --no-install-recommends",
                "Debian installs every Recommends too, packages nothing asked for (golang-go "
                "brings gcc, g++ and pkg-config): tens of MB more to ship, scan and patch",
                f"`{command.name} install -y --no-install-recommends {names}`",
            )


_NOT_SHIPPED = (
    "; this stage does not ship, but the layer fills the build cache (exported whole with "
    "mode=max), and a cache mount would keep the downloads for the next build"
)


def package_caches(s: Subject) -> Iterator[Finding]:
    """OL106: apt lists, apk's cache, pip's cache or dnf/yum's cache written into a layer."""
    shipped = {id(step) for stage in s.chain(s.shipped) for step in stage.steps}
    for step in _runs(s):
        cmds = shell.commands(step)
        removed = [w for c in cmds if c.name == "rm" for w in c.words[1:]]
        for command in cmds:
            problem = _cache_problem(step, command, cmds, removed, s)
            if problem is not None:
                message, why, fix = problem
                if id(step) not in shipped:
                    why += _NOT_SHIPPED
                yield finding("OL106", s.target.name, s.file, _at(step, command), message, why, fix)


def _cache_problem(
    step: Step,
    command: shell.Command,
    cmds: tuple[shell.Command, ...],
    removed: list[str],
    s: Subject,
) -> tuple[str, str, str] | None:
    words, name = command.words, command.name
    if name in _APT and "update" in words:
        if any(w.startswith("/var/lib/apt/lists") for w in removed) or shell.cached(
            step, "/var/lib/apt/lists"
        ):
            return None
        return (
            f"`{name} update` leaves the package lists in this layer",
            "/var/lib/apt/lists holds 20-40 MB of indexes after an update; once in a layer, "
            "a later `rm` cannot make the image smaller",
            "end the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or keep the lists in "
            "cache mounts, out of every layer: `RUN --mount=type=cache,target=/var/cache/apt,"
            "sharing=locked --mount=type=cache,target=/var/lib/apt/lists,sharing=locked "
            "apt-get update && apt-get install -y --no-install-recommends ...`",
        )
    if name == "apk" and ("add" in words or "update" in words):
        if "add" in words and command.has("--no-cache"):
            return None
        if any(w.startswith("/var/cache/apk") for w in removed) or shell.cached(
            step, "/var/cache/apk", "/etc/apk/cache"
        ):
            return None
        return (
            f"`apk {'add' if 'add' in words else 'update'}` keeps its index in /var/cache/apk",
            "the APKINDEX files stay in this layer, shipped with every image",
            "`apk add --no-cache <packages>`, or a cache mount: "
            "`RUN --mount=type=cache,target=/var/cache/apk apk add <packages>`",
        )
    if _is_pip(words) and "install" in words:
        if command.has("--no-cache-dir") or shell.cached(step, "/root/.cache/pip"):
            return None
        if _env_in_chain(s, step, "PIP_NO_CACHE_DIR"):
            return None
        return (
            "`pip install` keeps its download cache in this layer",
            "pip keeps every wheel it downloads in /root/.cache/pip, often as large as what "
            "it installed, and the layer keeps it",
            "`pip install --no-cache-dir ...`, or keep the cache between builds and out of "
            "the layer: `RUN --mount=type=cache,target=/root/.cache/pip pip install ...`",
        )
    if name in ("dnf", "yum", "microdnf") and "install" in words:
        cleaned = any(c.name == name and "clean" in c.words for c in cmds)
        if cleaned or shell.cached(step, f"/var/cache/{name.removeprefix('micro')}"):
            return None
        return (
            f"`{name} install` keeps its metadata and packages in this layer",
            f"/var/cache/{name.removeprefix('micro')} holds the repository metadata and "
            "the downloaded RPMs, shipped with the image",
            f"end the same RUN with `&& {name} clean all`, or mount "
            f"/var/cache/{name.removeprefix('micro')} as a cache",
        )
    return None


def _env_in_chain(s: Subject, at: Step, variable: str) -> bool:
    for stage in s.stages:
        if at in stage.steps:
            return any(
                step.kind in ("env", "arg") and variable in step.args
                for view in s.chain(stage.index)
                for step in view.steps
            )
    return False


def _runs(s: Subject) -> Iterator[Step]:
    for stage in s.stages:
        for step in stage.steps:
            if step.kind == "run":
                yield step


def _at(step: Step, command: shell.Command) -> tuple[int, int]:
    return step.place(command.offset) if command.offset >= 0 else (step.line, step.column)
