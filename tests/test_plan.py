"""The plan loader as a user meets it: what a good plan becomes, and how a bad one is reported."""

from __future__ import annotations

import shutil
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orchestrator import yamlsrc
from orchestrator.errors import Location, PlanError
from orchestrator.plan import NamedContext, Plan, Secret, load_plan
from orchestrator.schema import PLAN_SCHEMA, compile_check
from orchestrator.yamlsrc import read_document

CORPUS = Path(__file__).parent / "plan_corpus"
DOCKERFILE = "FROM busybox\n"


# --- The error corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A corpus case's expected.txt: where the error is, and words its message and hint hold."""

    at: tuple[int, int] | None
    error: str
    hint: str
    setup: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> Expected:
        fields: dict[str, list[str]] = {}
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                key, _, value = line.partition(": ")
                fields.setdefault(key, []).append(value)
        (at,) = fields["at"]
        where = None if at == "none" else tuple(int(n) for n in at.split(":"))
        assert where is None or len(where) == 2
        return cls(where, fields["error"][0], fields["hint"][0], tuple(fields.get("setup", ())))


def _prepare(case: Path, tmp_path: Path) -> Path:
    """Copy a case into a fresh directory (so `..` leads somewhere known) and run its setup."""
    plan_dir = tmp_path / "plan"
    shutil.copytree(case, plan_dir, symlinks=True, ignore=shutil.ignore_patterns("expected.txt"))
    for step in Expected.read(case / "expected.txt").setup:
        verb, _, args = step.partition(" ")
        if verb == "mkdir":
            (plan_dir / args).mkdir(parents=True)
        elif verb == "symlink":
            link, _, target = args.partition(" -> ")
            (plan_dir / link).symlink_to(target, target_is_directory=True)
        else:
            raise AssertionError(f"unknown setup step {step!r} in {case.name}")
    return plan_dir / "buildplan.yaml"


CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expected.txt").is_file())


def test_corpus_is_there() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES)
def test_corpus_error(case: str, tmp_path: Path) -> None:
    _check_case(case, tmp_path)


# Syntax errors are worded by the parser, so only the cases orch itself words are compared.
@pytest.mark.parametrize(
    "case",
    ["duplicate_key_target", "python_tag", "alias_bomb", "deep_nesting", "unknown_key_secret"],
)
def test_pure_python_parser_reports_the_same(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsrc, "_LOADER", yaml.SafeLoader)  # as without libyaml
    _check_case(case, tmp_path)


def _check_case(case: str, tmp_path: Path) -> None:
    expected = Expected.read(CORPUS / case / "expected.txt")
    plan = _prepare(CORPUS / case, tmp_path)
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    err = caught.value
    assert expected.error in err.message, err.render()
    assert err.hint is not None
    assert expected.hint in err.hint, err.render()
    if expected.at is None:
        assert err.location is None, err.render()
        assert str(plan) in err.message
        return
    assert err.location is not None, err.render()
    assert (err.location.line, err.location.column) == expected.at, err.render()
    # The file is named as the user gave it, so the line can be opened from a terminal.
    assert err.location.file == plan
    line, column = expected.at
    assert err.render().startswith(f"{plan}:{line}:{column}: error: {err.message}\n  hint: ")


# --- Resolving a good plan -------------------------------------------------------------------


def _write(root: Path, plan: str, dirs: tuple[str, ...] = ("app",)) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
        (root / d / "Dockerfile").write_text(DOCKERFILE)
    path = root / "buildplan.yaml"
    path.write_text(plan)
    return path


def test_minimal_plan_gets_orch_defaults(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, "version: 1\nservices:\n  app:\n    context: app\n"))
    app = plan.targets["app"]
    root = tmp_path.resolve()
    assert plan.path == root / "buildplan.yaml"
    assert plan.root == root
    assert plan.version == 1
    assert plan.services == ("app",)
    assert app.kind == "service"
    assert app.context == root / "app"
    assert app.dockerfile == root / "app" / "Dockerfile"
    assert app.image == "orch/app"
    assert app.tags == ("orch/app:latest",)
    assert app.target is None
    assert app.tests == ()
    assert app.registry is None
    assert (app.args, app.labels, app.platforms) == ({}, {}, ())
    assert (app.cache_from, app.cache_to, app.secrets, app.contexts, app.watch) == (
        (),
        (),
        (),
        (),
        (),
    )
    assert app.location == Location(tmp_path / "buildplan.yaml", 3, 3)


def test_defaults_merge_and_target_settings_win(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
defaults:
  platforms: [linux/amd64, linux/arm64]
  args: {GO_VERSION: "1.22", MODE: debug}
  labels: {team: core}
  cache:
    from: ["type=local,src=.orch-cache/{name}"]
    to: ["type=local,dest=.orch-cache/{name},mode=max"]
services:
  app:
    context: app
    platforms: [linux/amd64]
    args: {MODE: release, EXTRA: "x"}
    labels: {tier: web}
    cache:
      to: []
  web:
    context: app
""",
    )
    plan = load_plan(path)
    app, web = plan.targets["app"], plan.targets["web"]
    assert app.platforms == ("linux/amd64",)
    assert app.args == {"GO_VERSION": "1.22", "MODE": "release", "EXTRA": "x"}
    assert app.labels == {"team": "core", "tier": "web"}
    # cache.from and cache.to are inherited separately: app turns off only its export.
    assert app.cache_from == ("type=local,src=.orch-cache/app",)
    assert app.cache_to == ()
    assert web.platforms == ("linux/amd64", "linux/arm64")
    assert web.args == {"GO_VERSION": "1.22", "MODE": "debug"}
    assert web.cache_to == ("type=local,dest=.orch-cache/web,mode=max",)


def test_image_tags_and_registry(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
defaults:
  image: "acme/{name}"
  tags: [latest, "1.4"]
  registry: localhost:5000
services:
  app:
    context: app
  web:
    context: app
    image: "web-{name}"
    registry: ghcr.io/acme/
    tags: [edge, "docker.io/acme/web:stable"]
""",
    )
    plan = load_plan(path)
    app, web = plan.targets["app"], plan.targets["web"]
    assert app.image == "localhost:5000/acme/app"
    assert app.tags == ("localhost:5000/acme/app:latest", "localhost:5000/acme/app:1.4")
    assert app.registry == "localhost:5000"
    assert web.image == "ghcr.io/acme/web-web"
    # A tag with ':' or '/' is a full reference and is kept as written.
    assert web.tags == ("ghcr.io/acme/web-web:edge", "docker.io/acme/web:stable")


def test_named_contexts_are_directories_or_references(tmp_path: Path) -> None:
    (tmp_path / "libs" / "proto").mkdir(parents=True)
    path = _write(
        tmp_path,
        """\
version: 1
services:
  app:
    context: app
    contexts:
      proto: libs/proto
      alpine: docker-image://alpine:3.20
""",
    )
    app = load_plan(path).targets["app"]
    assert app.contexts == (
        NamedContext(name="proto", path=tmp_path.resolve() / "libs" / "proto"),
        NamedContext(name="alpine", ref="docker-image://alpine:3.20"),
    )


def test_secrets_from_env_or_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
services:
  app:
    context: app
    secrets:
      - {id: npm, env: NPM_TOKEN}
      - {id: netrc, src: secrets/netrc}
      - {id: ca, src: /etc/ssl/ca.pem}
""",
    )
    app = load_plan(path).targets["app"]
    # A secret file need not exist yet, and may live outside the plan directory.
    assert app.secrets == (
        Secret(id="npm", env="NPM_TOKEN"),
        Secret(id="netrc", src=tmp_path.resolve() / "secrets" / "netrc"),
        Secret(id="ca", src=Path("/etc/ssl/ca.pem").resolve()),
    )


def test_targets_in_file_order_stages_first(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
services:
  zeta:
    context: app
    depends_on: [base]
    test: unit
  alpha:
    context: app
    test: [unit, lint]
stages:
  tools:
    context: app
  base:
    context: app
""",
    )
    plan = load_plan(path)
    assert list(plan.targets) == ["tools", "base", "zeta", "alpha"]
    assert plan.services == ("zeta", "alpha")
    assert plan.targets["base"].kind == "stage"
    assert plan.targets["zeta"].tests == ("unit",)
    assert plan.targets["alpha"].tests == ("unit", "lint")
    assert plan.targets["zeta"].depends_on == ("base",)
    assert plan.targets["zeta"].depends_on_at == {"base": Location(path, 5, 18)}
    assert plan.targets["base"].location == Location(path, 13, 3)


def test_dockerfile_relative_to_context_may_be_shared(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "go.Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "svc" / "api").mkdir(parents=True)
    path = _write(
        tmp_path,
        """\
version: 1
services:
  api:
    context: svc/api
    dockerfile: ../../docker/go.Dockerfile
    target: runtime
  root:
    context: .
    dockerfile: docker/go.Dockerfile
""",
        dirs=(),
    )
    plan = load_plan(path)
    root = tmp_path.resolve()
    assert plan.targets["api"].dockerfile == root / "docker" / "go.Dockerfile"
    assert plan.targets["api"].target == "runtime"
    assert plan.targets["root"].context == root


def test_symlink_inside_the_plan_directory_is_followed(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nservices:\n  app:\n    context: current\n")
    (tmp_path / "current").symlink_to("app", target_is_directory=True)
    assert load_plan(path).targets["app"].context == tmp_path.resolve() / "app"


def test_relative_plan_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _write(tmp_path, "version: 1\nservices:\n  app:\n    context: app\n")
    monkeypatch.chdir(tmp_path)
    plan = load_plan(Path("buildplan.yaml"))
    assert plan.path == tmp_path.resolve() / "buildplan.yaml"
    # Locations keep the path as given: it is what the user typed.
    assert plan.targets["app"].location.file == Path("buildplan.yaml")


def test_anchors_and_aliases_are_plain_reuse(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
services:
  app:
    context: app
    watch: &src ["src/**", "!**/*.md"]
  web:
    context: app
    watch: *src
    depends_on: [app]
""",
    )
    plan = load_plan(path)
    assert plan.targets["web"].watch == ("src/**", "!**/*.md")


def test_an_error_inside_an_alias_points_at_the_anchor(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
defaults:
  args: &args
    GO_VERSION: 1.22
services:
  app:
    context: app
    args: *args
""",
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert (caught.value.location.line, caught.value.location.column) == (4, 17)  # type: ignore[union-attr]
    assert caught.value.hint == 'quote it: GO_VERSION: "1.22"'


def test_quoted_yaml_words_stay_strings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
services:
  "on":
    context: app
    args: {DEBUG: "yes", RETRIES: "3", DATE: 2024-01-01, EMPTY: ""}
""",
    )
    on = load_plan(path).targets["on"]
    # An unquoted date stays the text it is: orch has no use for timestamps.
    assert on.args == {"DEBUG": "yes", "RETRIES": "3", "DATE": "2024-01-01", "EMPTY": ""}


def test_empty_sections_read_as_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\ndefaults:\nstages:\nservices:\n  app:\n    context: app\n")
    assert list(load_plan(path).targets) == ["app"]


def test_plan_file_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path)
    assert "is a directory" in caught.value.message
    assert caught.value.hint == f"pass the file itself: -f {tmp_path / 'buildplan.yaml'}"


# --- Hostile and large input -----------------------------------------------------------------


def _bomb(levels: int) -> str:
    lines = ["version: 1", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_rejected_fast_and_small(tmp_path: Path) -> None:
    path = tmp_path / "buildplan.yaml"
    path.write_text(_bomb(12))  # 9**12 strings, were it expanded
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PlanError, match="aliases expand the plan"):
            load_plan(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 5_000_000


def test_deep_nesting_is_rejected_without_crashing(tmp_path: Path) -> None:
    # libyaml's own composer recurses in C and dies at this depth; events are read iteratively.
    path = tmp_path / "buildplan.yaml"
    path.write_text("[" * 200_000 + "]" * 200_000)
    started = time.perf_counter()
    with pytest.raises(PlanError, match="nests more than 64 levels"):
        load_plan(path)
    assert time.perf_counter() - started < 1.0


def _big_plan(root: Path, n: int) -> Path:
    """A plan of `n` targets with the keys a real monorepo uses."""
    lines = [
        "version: 1",
        "defaults:",
        "  platforms: [linux/amd64]",
        "  registry: localhost:5000",
        "  cache:",
        '    from: ["type=local,src=.orch-cache/{name}"]',
        '    to: ["type=local,dest=.orch-cache/{name},mode=max"]',
        "stages:",
    ]
    for i in range(n):
        section = "stages" if i < n // 10 else "services"
        if i == n // 10:
            lines.append("services:")
        name = f"t{i:05d}"
        (root / section / name).mkdir(parents=True)
        (root / section / name / "Dockerfile").write_text(DOCKERFILE)
        lines += [f"  {name}:", f"    context: {section}/{name}"]
        if i:
            lines.append(f"    depends_on: [t{i - 1:05d}]")
        lines += [f"    watch: ['{section}/{name}/**', '!**/*.md']", f"    args: {{NAME: {name}}}"]
        if section == "services":
            lines += ["    test: [test, lint]", "    secrets: [{id: npm, env: NPM_TOKEN}]"]
    path = root / "buildplan.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_two_thousand_targets_load_quickly(tmp_path: Path) -> None:
    path = _big_plan(tmp_path, 2000)
    load_plan(path)  # warm the file system cache, as a second `orch` run would find it
    best = min(_timed(lambda: load_plan(path)) for _ in range(3))
    # About 0.3 s on a slow shared CI machine; the bound catches an order-of-magnitude slip.
    assert best < 1.5
    plan = load_plan(path)
    assert len(plan.targets) == 2000
    assert plan.targets["t01999"].depends_on == ("t01998",)


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


# --- Properties: never a traceback, and the fast schema check never lets an error through ----

_WORDS = st.sampled_from(
    [
        "version",
        "1",
        "2",
        "services",
        "stages",
        "defaults",
        "app",
        "context",
        "depends_on",
        "args",
        "yes",
        "~",
        "&a",
        "*a",
        "!!str",
        "!!python/name:os.system",
        "<<",
        "-",
        ":",
        "[",
        "]",
        "{",
        "}",
        ",",
        '"',
        "'",
        "#",
        "..",
        "/",
        "\t",
        "\\0",
    ]
)
_TEXT = st.lists(
    st.one_of(_WORDS, st.sampled_from([" ", "  ", "\n", "\n  ", "\n    "])), max_size=60
).map("".join)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_TEXT)
def test_any_text_is_a_plan_or_a_plan_error(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    try:
        assert isinstance(load_plan(path), Plan)
    except PlanError as err:
        assert err.message
        assert err.location is None or err.location.line >= 1


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["app", "", "x/y", "Bad Name", "1", "type=local,dest=d", "\x00"]),
)
_KEYS = st.sampled_from(
    [
        "version",
        "services",
        "stages",
        "defaults",
        "app",
        "base",
        "context",
        "dockerfile",
        "depends_on",
        "test",
        "args",
        "cache",
        "to",
        "from",
        "secrets",
        "id",
        "env",
        "src",
        "contexts",
        "watch",
        "tags",
        "image",
        "Bad",
    ]
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=25,
)
_PLANS = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 1, 2, "1"])},
    optional={
        "defaults": _VALUES,
        "stages": st.dictionaries(st.sampled_from(["base", "Bad", "app"]), _VALUES, max_size=2),
        "services": st.dictionaries(st.sampled_from(["app", "web", "base"]), _VALUES, max_size=2),
    },
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_PLANS)
def test_any_structure_is_a_plan_or_a_plan_error(tmp_path: Path, data: dict[str, object]) -> None:
    path = _write(tmp_path, yaml.safe_dump(data), dirs=("app", "base"))
    try:
        load_plan(path)
    except PlanError as err:
        # Every schema error is worded by orch, with a fix: none falls through untranslated.
        assert err.message
        assert err.hint


_VALIDATOR = Draft202012Validator(PLAN_SCHEMA)
_FAST = compile_check(PLAN_SCHEMA)


@settings(max_examples=500, deadline=None)
@given(data=_PLANS)
def test_fast_check_is_never_laxer_than_jsonschema(data: dict[str, object]) -> None:
    if _FAST(data):
        assert _VALIDATOR.is_valid(data)


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(PLAN_SCHEMA)


def test_fast_check_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="patternProperties"):
        compile_check({"type": "object", "patternProperties": {"^x": {}}})


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "No",
        "TRUE",
        "off",
        "null",
        "Null",
        "~",
        "",
        "3",
        "-1",
        "0x1f",
        "1.5",
        ".inf",
        "1:20",
        "2024-01-01",
        "=",
        "<<",
        "t01999",
        "test",
        "nothing",
        "offline",
        "yesterday",
        "o",
        "n",
    ],
)
def test_fast_scalar_path_agrees_with_pyyaml(text: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(f"k: {text}\n")
    mine = read_document(path).data["k"]
    if text in ("=", "<<", "2024-01-01"):  # YAML's value, merge and date types: orch keeps text
        assert mine == text
        return
    theirs = yaml.safe_load(path.read_text())["k"]
    assert mine == theirs or (mine != mine and theirs != theirs)  # NaN is not NaN
    assert type(mine) is type(theirs)
