"""Each rule of `orch lint` on a Dockerfile that has its fault and on one that has not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.lint.command import lint
from orchestrator.lint.findings import Finding
from orchestrator.project import load_project
from tests.kit import write_tree

NONROOT = "USER 10001:10001\n"


def lint_tree(root: Path, plan: str, files: dict[str, str], *names: str) -> list[Finding]:
    write_tree(root, {"buildplan.yaml": "version: 1\n" + plan, **files})
    return list(lint(load_project(root / "buildplan.yaml"), names, use_hadolint=False).findings)


def lint_one(root: Path, dockerfile: str, extra: dict[str, str] | None = None, **spec: str):
    """One service `app` in app/, with `spec` as its plan keys."""
    keys = "".join(f"    {k}: {v}\n" for k, v in spec.items())
    plan = f"services:\n  app:\n    context: app\n{keys}"
    return lint_tree(root, plan, {"app/Dockerfile": dockerfile, **(extra or {})})


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def only(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


# --- OL101 the shipped stage runs as root ---------------------------------------------------


def test_no_user_anywhere_is_root_at_the_shipped_from(tmp_path):
    found = only(lint_one(tmp_path, 'FROM busybox:latest\nCMD ["sh"]\n'), "OL101")
    assert [(f.line, f.column, f.severity) for f in found] == [(1, 1, "error")]
    assert "no USER" in found[0].message


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root"])
def test_user_root_is_found_at_its_line(tmp_path, user):
    found = only(lint_one(tmp_path, f"FROM busybox:latest\nUSER 1000\nUSER {user}\n"), "OL101")
    assert [(f.line, f.message) for f in found] == [
        (3, f"the shipped stage #0 (FROM busybox:latest) runs as root: `USER {user}`")
    ]


def test_a_non_root_user_passes(tmp_path):
    assert only(lint_one(tmp_path, "FROM busybox:latest\n" + NONROOT), "OL101") == []


def test_the_shipped_stage_is_the_targets_target_not_the_last(tmp_path):
    dockerfile = "FROM busybox:latest AS runtime\nUSER 1000\nFROM runtime AS debug\nUSER root\n"
    assert only(lint_one(tmp_path, dockerfile, target="runtime"), "OL101") == []
    found = only(lint_one(tmp_path, dockerfile), "OL101")
    assert [f.line for f in found] == [4]


def test_the_user_comes_through_stage_aliases(tmp_path):
    dockerfile = 'FROM busybox:latest AS base\nUSER 1000\nFROM base\nCMD ["sh"]\n'
    assert only(lint_one(tmp_path, dockerfile), "OL101") == []


def test_the_user_of_a_plan_stage_is_inherited(tmp_path):
    plan = (
        "stages:\n  base: {context: base}\n  rootbase: {context: rootbase}\n"
        "services:\n  app: {context: app}\n  other: {context: other}\n"
    )
    files = {
        "base/Dockerfile": "FROM busybox:latest\n" + NONROOT,
        "rootbase/Dockerfile": "FROM busybox:latest\n",
        "app/Dockerfile": "FROM base\n",
        "other/Dockerfile": "FROM rootbase\n",
    }
    found = only(lint_tree(tmp_path, plan, files), "OL101")
    # A shared stage running as root is fine (what builds on it installs things); only the
    # service that ships it as root is found.
    assert [f.target for f in found] == ["other"]
    assert "rootbase" in found[0].message


def test_distroless_nonroot_passes_and_scratch_gets_a_numeric_fix(tmp_path):
    assert only(lint_one(tmp_path, "FROM gcr.io/distroless/static:nonroot\n"), "OL101") == []
    (found,) = only(lint_one(tmp_path, "FROM scratch\nCOPY app /app\n"), "OL101")
    assert "USER 65534:65534" in found.fix


# --- OL102 the shipped stage is a toolchain -------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "golang:1.23",
        "node:22",
        "python:3.13",
        "rust:1.82-slim",
        "maven:3",
        "gradle:8-jdk21",
        "gcc:14",
        "buildpack-deps:bookworm",
        "eclipse-temurin:21-jdk",
        "docker.io/library/golang:1.23@sha256:" + "0" * 64,
    ],
)
def test_shipping_a_toolchain_image_is_an_error(tmp_path, image):
    (found,) = only(lint_one(tmp_path, f"FROM {image}\n{NONROOT}"), "OL102")
    assert (found.line, found.column, found.severity) == (1, 6, "error")
    assert image in found.message
    assert "12 MB" in found.why


@pytest.mark.parametrize(
    "image", ["node:22-alpine", "python:3.13-slim", "eclipse-temurin:21-jre", "alpine:3.20"]
)
def test_runtime_images_are_not_toolchains(tmp_path, image):
    assert only(lint_one(tmp_path, f"FROM {image}\n{NONROOT}"), "OL102") == []


def test_the_seeds_multi_stage_go_build_passes_and_the_single_stage_fails(tmp_path):
    single = "FROM golang:1.23\nWORKDIR /app\nCOPY . .\nRUN go build -o server .\n"
    assert "OL102" in rules(lint_one(tmp_path, single + NONROOT))
    multi = (
        "FROM golang:1.23 AS builder\nWORKDIR /app\nCOPY go.mod go.sum ./\nRUN go mod download\n"
        "COPY . .\nRUN CGO_ENABLED=0 go build -o server .\n"
        "FROM scratch\nCOPY --from=builder /app/server /server\nUSER 65534:65534\n"
    )
    assert "OL102" not in rules(lint_one(tmp_path, multi))


def test_a_stage_alias_of_a_toolchain_is_a_toolchain(tmp_path):
    dockerfile = f"FROM golang:1.23 AS build\nRUN go build\nFROM build AS final\n{NONROOT}"
    (found,) = only(lint_one(tmp_path, dockerfile), "OL102")
    assert found.line == 3


def test_a_plan_stage_that_installs_a_compiler_is_a_toolchain_transitively(tmp_path):
    plan = (
        "stages:\n  base: {context: base}\n  go-toolchain: {context: go}\n"
        "  sdk: {context: sdk}\nservices:\n  app: {context: app}\n  fine: {context: fine}\n"
    )
    files = {
        "base/Dockerfile": "FROM debian:bookworm-slim\n",
        "go/Dockerfile": "FROM base\nRUN apt-get update && apt-get install -y "
        "--no-install-recommends golang-go && rm -rf /var/lib/apt/lists/*\n",
        "sdk/Dockerfile": "FROM go-toolchain\nRUN true\n",
        "app/Dockerfile": f"FROM sdk\n{NONROOT}",
        "fine/Dockerfile": f"FROM go-toolchain AS build\nRUN true\nFROM base\n{NONROOT}",
    }
    found = only(lint_tree(tmp_path, plan, files), "OL102")
    # The stages themselves are toolchains by design: only the service shipping one is found.
    assert [f.target for f in found] == ["app"]
    assert "sdk" in found[0].message and "golang-go" in found[0].message


# --- OL103 secret-looking ARG / ENV ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "column"),
    [
        ("ARG NPM_TOKEN", "NPM_TOKEN", 5),
        ("ENV DB_PASSWORD=hunter2", "DB_PASSWORD", 5),
        ("ENV API_KEY abc", "API_KEY", 5),
        ("ARG A=1 CLIENT_SECRET", "CLIENT_SECRET", 9),
    ],
)
def test_secret_names_are_found_at_the_name(tmp_path, line, name, column):
    (found,) = only(lint_one(tmp_path, f"FROM busybox:latest\n{line}\n{NONROOT}"), "OL103")
    assert (found.line, found.column) == (2, column)
    assert name in found.message
    assert "--mount=type=secret" in found.fix and "secrets:" in found.fix


def test_a_secret_arg_before_the_first_from_is_found(tmp_path):
    found = only(lint_one(tmp_path, f"ARG GITHUB_TOKEN\nFROM busybox:latest\n{NONROOT}"), "OL103")
    assert [f.line for f in found] == [1]


@pytest.mark.parametrize(
    "line",
    ["ARG DB_PASSWORD_FILE=/run/secrets/db", "ENV GPG_KEY=A5D3", "ARG PUBLIC_KEY", "ARG N=1"],
)
def test_names_that_are_not_secrets_pass(tmp_path, line):
    assert only(lint_one(tmp_path, f"FROM busybox:latest\n{line}\n{NONROOT}"), "OL103") == []


# --- OL104 COPY . . before the dependency install -------------------------------------------

NODE_FILES = {"app/package.json": "{}", "app/package-lock.json": "{}"}


def test_copying_the_context_before_npm_ci_names_the_manifests(tmp_path):
    dockerfile = f"FROM node:22-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci\n{NONROOT}"
    (found,) = only(lint_one(tmp_path, dockerfile, NODE_FILES), "OL104")
    assert (found.line, found.severity) == (3, "warning")
    assert "COPY package.json package-lock.json ./" in found.fix


def test_the_seeds_node_order_passes(tmp_path):
    dockerfile = (
        "FROM node:22-alpine AS deps\nWORKDIR /app\nCOPY package.json package-lock.json ./\n"
        "RUN npm ci\nFROM deps AS builder\nCOPY . .\nRUN npm run build\n"
        f"FROM node:22-alpine\nCOPY --from=builder /app/dist ./dist\n{NONROOT}"
    )
    assert only(lint_one(tmp_path, dockerfile, NODE_FILES), "OL104") == []


def test_pip_requirements_after_the_context_in_a_later_stage(tmp_path):
    dockerfile = (
        "FROM python:3.13-slim AS src\nCOPY . /app\nFROM src\n"
        f"RUN pip install --no-cache-dir -r /app/requirements.txt\n{NONROOT}"
    )
    (found,) = only(lint_one(tmp_path, dockerfile), "OL104")
    assert found.line == 2
    assert "COPY /app/requirements.txt ./" in found.fix


def test_go_mod_download_after_the_sources(tmp_path):
    dockerfile = "FROM golang:1.23 AS b\nCOPY . .\nRUN go mod download\nFROM scratch\n"
    found = only(lint_one(tmp_path, dockerfile, {"app/go.mod": "module x\n"}), "OL104")
    assert "COPY go.mod ./" in found[0].fix


# --- OL105 / OL106 package installs ---------------------------------------------------------


def test_apt_get_install_without_no_install_recommends(tmp_path):
    dockerfile = (
        "FROM debian:bookworm-slim\nRUN apt-get update \\\n && apt-get install -y curl \\\n"
        f" && rm -rf /var/lib/apt/lists/*\n{NONROOT}"
    )
    (found,) = only(lint_one(tmp_path, dockerfile), "OL105")
    assert (found.line, found.column) == (3, 5)
    assert "--no-install-recommends curl" in found.fix


def test_apt_lists_left_in_the_layer(tmp_path):
    dockerfile = (
        "FROM debian:bookworm-slim\n"
        f"RUN apt-get update && apt-get install -y --no-install-recommends curl\n{NONROOT}"
    )
    (found,) = only(lint_one(tmp_path, dockerfile), "OL106")
    assert (found.line, found.column) == (2, 5)
    assert "rm -rf /var/lib/apt/lists/*" in found.fix


@pytest.mark.parametrize(
    "run",
    [
        "RUN apt-get update && apt-get install -y --no-install-recommends curl "
        "&& rm -rf /var/lib/apt/lists/*",
        "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked "
        "--mount=type=cache,target=/var/lib/apt/lists,sharing=locked "
        "apt-get update && apt-get install -y --no-install-recommends curl",
        "RUN pip install --no-cache-dir -r requirements.txt",
        "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt",
        "RUN apk add --no-cache curl",
        'RUN ["pip", "install", "--no-cache-dir", "flask"]',
    ],
)
def test_clean_installs_pass(tmp_path, run):
    found = lint_one(tmp_path, f"FROM python:3.13-slim\n{run}\n{NONROOT}")
    assert only(found, "OL105") + only(found, "OL106") == []


@pytest.mark.parametrize(
    ("run", "what"),
    [
        ("RUN pip install -r requirements.txt", "pip install"),
        ("RUN python3 -m pip install flask", "pip install"),
        ('RUN ["pip", "install", "flask"]', "pip install"),
        ("RUN apk add curl", "apk add"),
        ("RUN dnf install -y gcc", "dnf install"),
        ("RUN <<EOF\nset -e\npip install flask\nEOF", "pip install"),
    ],
)
def test_caches_left_in_the_layer(tmp_path, run, what):
    (found,) = only(lint_one(tmp_path, f"FROM python:3.13-slim\n{run}\n{NONROOT}"), "OL106")
    assert what in found.message
    assert found.line == 2


def test_pip_no_cache_dir_from_the_environment_passes(tmp_path):
    dockerfile = f"FROM python:3.13-slim\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask\n{NONROOT}"
    assert only(lint_one(tmp_path, dockerfile), "OL106") == []


# --- OL107 the shipped stage copies a whole stage -------------------------------------------


def test_copying_all_of_a_build_stage(tmp_path):
    dockerfile = "FROM golang:1.23 AS build\nRUN go build\nFROM scratch\nCOPY --from=build / /\n"
    (found,) = only(lint_one(tmp_path, dockerfile + NONROOT), "OL107")
    assert (found.line, found.severity) == (4, "error")


def test_copying_the_directory_a_stage_put_the_context_in(tmp_path):
    dockerfile = (
        "FROM eclipse-temurin:21-jdk AS builder\nWORKDIR /app\nCOPY . .\n"
        "RUN ./gradlew installDist\n"
        f"FROM eclipse-temurin:21-jre\nWORKDIR /app\nCOPY --from=builder /app .\n{NONROOT}"
    )
    (found,) = only(lint_one(tmp_path, dockerfile), "OL107")
    assert found.line == 7
    assert "/app of builder" in found.message


def test_copying_the_build_output_passes(tmp_path):
    dockerfile = (
        "FROM golang:1.23 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /out/app\n"
        f"FROM scratch\nCOPY --from=build /out/app /app\n{NONROOT}"
    )
    assert only(lint_one(tmp_path, dockerfile), "OL107") == []


# --- OL108 no .dockerignore in a context that holds .git, node_modules, ... -----------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("app/.git/HEAD", ".git"),
        ("app/web/node_modules/x/index.js", "web/node_modules"),
        ("app/pkg/__pycache__/m.cpython-311.pyc", "pkg/__pycache__"),
        ("app/env/pyvenv.cfg", "env"),
    ],
)
def test_a_context_that_sends_what_no_build_reads(tmp_path, path, kind):
    dockerfile = f"FROM busybox:latest\nCOPY . /app\n{NONROOT}"
    (found,) = only(lint_one(tmp_path, dockerfile, {path: "x"}), "OL108")
    assert (found.line, found.severity) == (2, "warning")
    assert kind in found.message and "no .dockerignore" in found.message


def test_a_dockerignore_that_leaves_them_out_passes(tmp_path):
    files = {
        "app/.git/HEAD": "x",
        "app/node_modules/x.js": "x",
        "app/.dockerignore": ".git\nnode_modules\n",
    }
    assert only(lint_one(tmp_path, "FROM busybox:latest\n" + NONROOT, files), "OL108") == []


def test_a_dockerignore_that_misses_one_is_named(tmp_path):
    files = {"app/node_modules/x.js": "x", "app/.dockerignore": "*.md\n"}
    (found,) = only(lint_one(tmp_path, "FROM busybox:latest\n" + NONROOT, files), "OL108")
    assert "app/.dockerignore does not leave them out" in found.message
    assert "**/node_modules" in found.fix


def test_a_named_context_is_checked_too(tmp_path):
    files = {"lib/__pycache__/m.pyc": "x"}
    dockerfile = f"FROM busybox:latest\nCOPY --from=shared . /lib\n{NONROOT}"
    (found,) = only(lint_one(tmp_path, dockerfile, files, contexts="{shared: lib}"), "OL108")
    assert "named context `shared`" in found.message and found.line == 2


def test_a_symlinked_directory_is_not_walked(tmp_path):
    write_tree(tmp_path, {"elsewhere/node_modules/x.js": "x"})
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "link").symlink_to(tmp_path / "elsewhere")
    assert only(lint_one(tmp_path, "FROM busybox:latest\n" + NONROOT), "OL108") == []


# --- OL110 a context sends orch's state or cache -----------------------------------------

AT_ROOT = (
    "defaults:\n  cache:\n    to: ['type=local,dest=.orch-cache/{name},mode=max']\n"
    "services:\n  app: {context: .}\n"
)
COPY_ALL = f"FROM busybox:latest\nCOPY . /src\n{NONROOT}"


def test_a_local_cache_in_the_context_is_sent(tmp_path):
    root = tmp_path / "repo"
    (found,) = only(lint_tree(root, AT_ROOT, {"Dockerfile": COPY_ALL}), "OL110")
    assert (found.file, found.line, found.severity) == ("Dockerfile", 2, "warning")
    assert found.message == (
        "the build context sends .orch-cache/app, the local cache of app's cache.to: "
        "it has no .dockerignore"
    )
    assert "`/.orch-cache/app`, `/.orch-cache/app.versions`" in found.fix
    assert ".dockerignore in the context directory" in found.fix


def test_an_ignore_file_that_leaves_orchs_directories_out_passes(tmp_path):
    files = {"Dockerfile": COPY_ALL, ".dockerignore": ".orch-cache\n.orch\n", ".orch/x": ""}
    assert only(lint_tree(tmp_path / "repo", AT_ROOT, files), "OL110") == []


def test_an_ignore_file_that_leaves_out_half_a_cache_names_the_other_half(tmp_path):
    files = {"Dockerfile": COPY_ALL, ".dockerignore": ".orch-cache/app\n"}
    (found,) = only(lint_tree(tmp_path / "repo", AT_ROOT, files), "OL110")
    assert found.message.startswith("the build context sends .orch-cache/app.versions, ")
    assert ".dockerignore does not leave it out" in found.message
    assert "add to .dockerignore: `/.orch-cache/app.versions` (one a line)" in found.fix


def test_an_orch_directory_left_in_the_context_says_where_the_state_is_now(tmp_path):
    plan = "services:\n  app: {context: .}\n"
    files = {"Dockerfile": COPY_ALL, ".orch/history.json": "{}"}
    (found,) = only(lint_tree(tmp_path / "repo", plan, files), "OL110")
    assert "sends .orch, orch's state from before it moved out of the context" in found.message
    assert "`/.orch`" in found.fix and "or remove it: orch keeps this plan's state in " in found.fix


def test_the_users_cache_directory_inside_a_named_context(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "repo" / "home" / ".cache"))
    plan = "services:\n  app: {context: app, contexts: {all: .}}\n"
    dockerfile = f"FROM busybox:latest\nCOPY --from=all . /all\n{NONROOT}"
    (found,) = only(lint_tree(tmp_path / "repo", plan, {"app/Dockerfile": dockerfile}), "OL110")
    assert found.message == (
        "the named context `all` sends home/.cache/orch, orch's part of the user's cache "
        "directory, which holds this plan's state: it has no .dockerignore"
    )
    assert found.line == 2


def test_contexts_in_subdirectories_send_nothing_of_orchs(tmp_path):
    plan = AT_ROOT.replace("{context: .}", "{context: app}")
    files = {"app/Dockerfile": COPY_ALL, ".orch/history.json": "{}"}
    assert only(lint_tree(tmp_path / "repo", plan, files), "OL110") == []


# --- OL109 base images not pinned by digest -------------------------------------------------


def test_an_unpinned_base_is_a_warning_at_its_name(tmp_path):
    found = only(lint_one(tmp_path, "FROM --platform=linux/amd64 debian:bookworm-slim\n"), "OL109")
    assert [(f.line, f.column, f.severity) for f in found] == [(1, 29, "warning")]


def test_pinned_bases_plan_stages_and_named_contexts_pass(tmp_path):
    digest = "sha256:" + "a" * 64
    plan = (
        "stages:\n  base: {context: base}\n"
        "services:\n  app: {context: app, contexts: {tools: lib}}\n"
    )
    files = {
        "lib/x": "x",
        "base/Dockerfile": "FROM debian:bookworm-slim\n",
        "app/Dockerfile": "FROM base\nCOPY --from=tools x /x\n"
        f"COPY --from=busybox@{digest} /bin/sh /sh\n",
    }
    # The shared stage's unpinned base is off by default: orch rebuilds it when its digest moves.
    assert only(lint_tree(tmp_path, plan, files), "OL109") == []


def test_a_plan_stage_can_turn_the_digest_rule_on(tmp_path):
    plan = "stages:\n  base: {context: base, lint: {enable: [OL109]}}\n"
    files = {"base/Dockerfile": "FROM debian:bookworm-slim\n"}
    found = lint_tree(tmp_path, plan, files)
    assert rules(found) == ["OL109"]


def test_a_cache_in_a_stage_that_does_not_ship_says_so(tmp_path):
    dockerfile = (
        "FROM python:3.13-slim AS build\nRUN pip install --prefix=/install flask\n"
        f"FROM python:3.13-slim\nCOPY --from=build /install /usr/local\nRUN pip install gunicorn\n"
        f"{NONROOT}"
    )
    build, shipped = only(lint_one(tmp_path, dockerfile), "OL106")
    assert "does not ship" in build.why and build.line == 2
    assert "does not ship" not in shipped.why and shipped.line == 5


# --- OL111 a secret's file inside a build context -------------------------------------------

PLAN_WITH_FILE = """\
services:
  app:
    context: app
    contexts: {shared: lib}
    secrets:
      - {id: netrc, src: %s}
"""
FILES_WITH_SECRETS = {
    "app/Dockerfile": "FROM busybox:latest\nRUN --mount=type=secret,id=netrc true\n" + NONROOT,
    "lib/x": "x",
    "app/.netrc": "password p\n",
    "lib/token": "t\n",
    "elsewhere/.netrc": "password p\n",
}


def test_a_secret_file_in_the_context_is_an_error_at_the_secret(tmp_path):
    (found,) = only(lint_tree(tmp_path, PLAN_WITH_FILE % "app/.netrc", FILES_WITH_SECRETS), "OL111")
    assert (found.file, found.line, found.severity) == (
        "buildplan.yaml",
        7,
        "error",
    )  # past `version: 1`
    assert found.message == (
        "the file of secret 'netrc' (.netrc) is in the build context: it has no .dockerignore"
    )
    assert "add `/.netrc` to .dockerignore in the context directory" in found.fix


def test_a_secret_file_in_a_named_context_is_found(tmp_path):
    (found,) = only(lint_tree(tmp_path, PLAN_WITH_FILE % "lib/token", FILES_WITH_SECRETS), "OL111")
    assert "(token) is in the named context `shared`" in found.message


def test_a_secret_file_the_ignore_file_leaves_out_passes(tmp_path):
    files = {**FILES_WITH_SECRETS, "app/.dockerignore": "**/.netrc\n"}
    assert only(lint_tree(tmp_path, PLAN_WITH_FILE % "app/.netrc", files), "OL111") == []


def test_an_ignore_file_that_does_not_leave_the_secret_out_is_named(tmp_path):
    files = {**FILES_WITH_SECRETS, "app/.dockerignore": "*.log\n"}
    (found,) = only(lint_tree(tmp_path, PLAN_WITH_FILE % "app/.netrc", files), "OL111")
    assert found.message.endswith("app/.dockerignore does not leave it out")


def test_a_secret_file_outside_every_context_or_from_a_variable_passes(tmp_path):
    assert (
        only(lint_tree(tmp_path, PLAN_WITH_FILE % "elsewhere/.netrc", FILES_WITH_SECRETS), "OL111")
        == []
    )
    plan = PLAN_WITH_FILE.replace("{id: netrc, src: %s}", "{id: netrc, env: NETRC}")
    assert only(lint_tree(tmp_path, plan, FILES_WITH_SECRETS), "OL111") == []


def test_the_plan_can_ignore_a_secret_in_its_context(tmp_path):
    plan = (PLAN_WITH_FILE % "app/.netrc").replace(
        "    secrets:", "    lint: {ignore: [OL111]}\n    secrets:"
    )
    assert only(lint_tree(tmp_path, plan, FILES_WITH_SECRETS), "OL111") == []


# --- hostile input --------------------------------------------------------------------------


def test_a_fifo_a_git_file_and_odd_names_in_the_context(tmp_path):
    write_tree(tmp_path, {'app/it\'s a "dir"/x': "x", "app/.git": "gitdir: /elsewhere\n"})
    os.mkfifo(tmp_path / "app" / "pipe")
    dockerfile = f"FROM busybox:latest\nCOPY . /app\n{NONROOT}"
    (found,) = only(lint_one(tmp_path, dockerfile), "OL108")
    assert "sends .git" in found.message


def test_a_user_from_a_variable_is_not_guessed(tmp_path):
    dockerfile = "FROM busybox:latest\nARG UID=10001\nUSER ${UID}\n"
    assert only(lint_one(tmp_path, dockerfile), "OL101") == []


def test_heredocs_onbuild_and_exec_forms_are_read(tmp_path):
    dockerfile = (
        "FROM busybox:latest\n"
        "COPY <<EOF /etc/motd\n# orch-lint: this is text in a heredoc, not a comment\nEOF\n"
        'ONBUILD RUN ["pip", "install", "x"]\n'
        'RUN ["/bin/sh", "-c", "apt-get update && apt-get install -y curl"]\n'
        f"{NONROOT}"
    )
    found = lint_one(tmp_path, dockerfile)
    assert sorted(rules(found)) == ["OL105", "OL106", "OL109"]
    assert {f.line for f in found if f.rule != "OL109"} == {6}


def test_two_targets_sharing_a_dockerfile_report_once(tmp_path):
    plan = "services:\n  a: {context: app}\n  b: {context: app, target: debug}\n"
    files = {"app/Dockerfile": "FROM busybox:latest AS debug\nARG NPM_TOKEN\n"}
    found = lint_tree(tmp_path, plan, files)
    assert rules(found).count("OL103") == 1


def test_a_compiler_installed_and_purged_in_one_step_is_not_kept(tmp_path):
    run = (
        "RUN apt-get update && apt-get install -y --no-install-recommends gcc "
        "&& pip install --no-cache-dir psutil && apt-get purge -y gcc "
        "&& rm -rf /var/lib/apt/lists/*\n"
    )
    assert only(lint_one(tmp_path, f"FROM python:3.13-slim\n{run}{NONROOT}"), "OL102") == []
    kept = run.replace("apt-get purge -y gcc", "true")
    (found,) = only(lint_one(tmp_path, f"FROM python:3.13-slim\n{kept}{NONROOT}"), "OL102")
    assert "installs gcc" in found.message


# --- OL112 a multi-platform build compiles under emulation ----------------------------------

GO_BUILD = (
    "FROM golang:1.23 AS build\nWORKDIR /src\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app .\n"
    "FROM scratch\nCOPY --from=build /app /app\nUSER 1000\n"
)
TWO = "[linux/amd64, linux/arm64]"


def test_a_compile_in_a_two_platform_target_is_found_with_both_lines_of_the_fix(tmp_path):
    (found,) = only(lint_one(tmp_path, GO_BUILD, platforms=TWO), "OL112")
    assert (found.line, found.severity) == (4, "warning")
    assert "`go build` for each of linux/amd64, linux/arm64 under emulation" in found.message
    assert "`FROM --platform=$BUILDPLATFORM golang:1.23 AS build`" in found.fix
    assert "RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build" in found.fix


def test_a_cross_compile_and_a_single_platform_pass(tmp_path):
    cross = GO_BUILD.replace("FROM golang:1.23", "FROM --platform=$BUILDPLATFORM golang:1.23")
    assert only(lint_one(tmp_path / "a", cross, platforms=TWO), "OL112") == []
    assert only(lint_one(tmp_path / "b", GO_BUILD, platforms="[linux/amd64]"), "OL112") == []
    assert only(lint_one(tmp_path / "c", GO_BUILD), "OL112") == []


@pytest.mark.parametrize(
    "run",
    [
        "cargo build --release",
        "gcc -O2 -o app app.c",
        "javac Main.java",
        "npm run build",
        "mvn -B package",
        "./gradlew build",
    ],
)
def test_other_compilers_are_found(tmp_path, run):
    dockerfile = f"FROM debian:bookworm-slim AS build\nRUN {run}\nFROM scratch\nUSER 1000\n"
    assert len(only(lint_one(tmp_path, dockerfile, platforms=TWO), "OL112")) == 1


def test_a_stage_on_a_cross_compiling_stage_is_native_too(tmp_path):
    dockerfile = (
        "FROM --platform=$BUILDPLATFORM golang:1.23 AS base\nFROM base AS build\n"
        "RUN go build -o /app .\nFROM scratch\nUSER 1000\n"
    )
    assert only(lint_one(tmp_path, dockerfile, platforms=TWO), "OL112") == []


def test_the_example_api_cross_compiles():
    from tests.kit import REPO

    project = load_project(REPO / "buildplan.yaml")
    import dataclasses

    api = dataclasses.replace(project.plan.targets["api"], platforms=("linux/amd64", "linux/arm64"))
    plan = dataclasses.replace(project.plan, targets={**project.plan.targets, "api": api})
    from orchestrator.project import project_of_plan

    found = lint(project_of_plan(plan), ["api"], use_hadolint=False).findings
    assert only(list(found), "OL112") == []
