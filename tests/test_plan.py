"""The plan loader as a user meets it: what a good plan becomes, and how a bad one is reported."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orchestrator.errors import Location, PlanError
from orchestrator.lint import ids as lint_ids
from orchestrator.plan import NamedContext, Plan, Secret, load_plan, references, yaml_reader
from orchestrator.plan.schema import PLAN_SCHEMA
from orchestrator.plan.specs import parse_cache_entry
from orchestrator.plan.yaml_reader import read_document
from tests.kit import write_tree
from tests.plan_corpus import CASES, CORPUS, Expected, prepare

DOCKERFILE = "FROM busybox\n"


# --- The error corpus ------------------------------------------------------------------------


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
    monkeypatch.setattr(yaml_reader, "_LOADER", yaml.SafeLoader)  # as without libyaml
    _check_case(case, tmp_path)


def _check_case(case: str, tmp_path: Path) -> None:
    expected = Expected.read(CORPUS / case / "expected.txt")
    plan = prepare(CORPUS / case, tmp_path)
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


# Every corpus error as the user reads it, word for word: the cases' expected.txt name the
# words that matter, this pins the rest (a hint's wording is how the user fixes the plan).
# After changing a message on purpose, rewrite the record:
#   ORCH_REWRITE_CORPUS=1 .venv/bin/pytest tests/test_plan.py -k reads_exactly
RENDERED = CORPUS / "rendered.json"


def test_every_corpus_error_reads_exactly_as_recorded(tmp_path: Path) -> None:
    got: dict[str, str] = {}
    for case in CASES:
        plan = prepare(CORPUS / case, tmp_path / case)
        with pytest.raises(PlanError) as caught:
            load_plan(plan)
        text = caught.value.render()
        for tmp in {str((tmp_path / case).resolve()), str(tmp_path / case)}:
            text = text.replace(tmp, "<tmp>")
        got[case] = text
    if os.environ.get("ORCH_REWRITE_CORPUS"):
        RENDERED.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
    assert got == json.loads(RENDERED.read_text())


# --- Resolving a good plan -------------------------------------------------------------------


def _write(root: Path, plan: str, dirs: tuple[str, ...] = ("app",)) -> Path:
    """A plan file and a Dockerfile in each of `dirs`; the plan's path."""
    write_tree(root, {"buildplan.yaml": plan, **{f"{d}/Dockerfile": DOCKERFILE for d in dirs}})
    return root / "buildplan.yaml"


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
    assert app.cache_from == (parse_cache_entry("type=local,src=.orch-cache/app"),)
    assert app.cache_from_at == (Location(path, 7, 12),)  # the defaults entry it comes from
    assert app.cache_to == ()
    assert web.platforms == ("linux/amd64", "linux/arm64")
    assert web.args == {"GO_VERSION": "1.22", "MODE": "debug"}
    assert web.cache_to == (parse_cache_entry("type=local,dest=.orch-cache/web,mode=max"),)
    assert web.cache_to[0].get("dest") == ".orch-cache/web"


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


def test_registry_option_stands_in_for_the_default_registry_only(tmp_path: Path) -> None:
    # `--registry HOST`: every target that names no registry of its own is pushed there; one
    # that names its own keeps it, and the plan's default is replaced.
    path = _write(
        tmp_path,
        """\
version: 1
defaults:
  registry: localhost:5000
services:
  app:
    context: app
  web:
    context: app
    registry: ghcr.io/acme
""",
    )
    plan = load_plan(path, registry="127.0.0.1:5001/")
    app, web = plan.targets["app"], plan.targets["web"]
    assert app.image == "127.0.0.1:5001/orch/app"
    assert app.registry == "127.0.0.1:5001/"
    assert app.tags == ("127.0.0.1:5001/orch/app:latest",)
    assert web.image == "ghcr.io/acme/orch/web"
    # Without the option, the plan's own.
    assert load_plan(path).targets["app"].image == "localhost:5000/orch/app"


def test_a_short_tag_tags_the_image_and_a_reference_is_kept(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\nservices:\n  app:\n    context: app\n"
        '    tags: [v1, ghcr.io/acme/svc, "orch/app:{name}-2"]\n',
    )
    app = load_plan(path).targets["app"]
    # A tag with '/' and no ':' is a full reference: Docker reads it as that image's latest.
    assert app.tags == ("orch/app:v1", "ghcr.io/acme/svc", "orch/app:app-2")
    assert app.first_tag == "orch/app:v1"


def test_without_tags_the_one_reference_is_latest(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nservices:\n  app:\n    context: app\n")
    assert load_plan(path).targets["app"].first_tag == "orch/app:latest"


@pytest.mark.parametrize(
    "name", ["a", "a.b", "a_b", "a__b", "a---b", "0", "go-toolchain", "x" * references.NAME_MAX]
)
def test_valid_target_names(name: str) -> None:
    assert references.name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    ["", "A", "a..b", "x-", "-x", "a___b", "a b", "a/b", "é", "x" * (references.NAME_MAX + 1)],
)
def test_invalid_target_names(name: str) -> None:
    assert references.name_problem(name) is not None


@pytest.mark.parametrize(
    "reference",
    [
        "orch/app",
        "orch/app:latest",
        "localhost:5000/orch/app:v1.2_3-rc",
        "localhost/app",
        "Registry.Example.com/team/app:_x",
        "[::1]:5000/app",
        "ghcr.io/acme/svc",
        "app:" + "t" * 128,
    ],
)
def test_valid_references(reference: str) -> None:
    assert references.reference_problem(reference) is None


@pytest.mark.parametrize(
    "reference",
    [
        "orch/App",
        "Acme/app",  # a first part without '.' or ':' is a path, and must be lowercase
        "orch//app",
        "orch/app/",
        "orch/app:-x",
        "orch/app:a+b",
        "orch/app:" + "t" * 129,
        "orch/app@sha256:" + "0" * 64,
        "bad_host.io:x/app",
        "a/" + "b" * 254,
    ],
)
def test_invalid_references(reference: str) -> None:
    assert references.reference_problem(reference) is not None


@given(text=st.text(st.characters(codec="utf-8"), max_size=300))
def test_the_fixed_name_and_tag_in_hints_are_valid(text: str) -> None:
    assert references.name_problem(references.fixed_name(text)) is None
    assert references.tag_problem(references.fixed_tag(text)) is None


@given(text=st.text(st.sampled_from("aZ0.:_-/@+é "), max_size=60))
def test_the_fixed_references_in_hints_are_valid(text: str) -> None:
    assert references.repository_problem(references.fixed_repository(text)) is None
    assert references.reference_problem(references.fixed_reference(text)) is None
    assert references.registry_problem(references.fixed_registry(text)) is None


@pytest.mark.parametrize(
    ("written", "fixed"),
    [
        ("localhost:5000", "localhost:5000"),
        ("https://ghcr.io/acme/", "ghcr.io/acme"),  # the scheme and the last '/' go
        ("http://Reg_Istry.example.com:50x00/team", "Reg-Istry.example.com:5000/team"),
        ("-bad-.example.-com", "bad.example.com"),
        ("a..b", "a.b"),
        ("host:port", "host"),
        ("ghcr.io:abc/x", "ghcr.io/x"),
        ("reg.io/UPPER/Case", "reg.io/upper/case"),
        ("under_score.io:5000/a__b", "under-score.io:5000/a__b"),
        ("!!!", "localhost"),  # nothing of a host is left
        ("https://", "localhost"),
    ],
)
def test_the_registry_a_hint_suggests_is_the_nearest_valid_one(written: str, fixed: str) -> None:
    assert references.fixed_registry(written) == fixed


@pytest.mark.parametrize(
    ("written", "fixed"),
    [
        ("Ghcr.IO/Acme/App", "Ghcr.IO/acme/app"),  # a host keeps its case, a path does not
        ("ex_ample.com:5x0/app", "ex-ample.com:50/app"),
        ("-x-/app", "x/app"),
        ("a.b:99/c", "a.b:99/c"),
        ("localhost/App", "localhost/app"),
        ("!!!/app", "app"),
    ],
)
def test_the_repository_a_hint_suggests_is_the_nearest_valid_one(written: str, fixed: str) -> None:
    assert references.fixed_repository(written) == fixed


def test_cache_entries_are_parsed_once_with_their_place(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
version: 1
services:
  app:
    context: app
    cache:
      from: ["localhost:5000/cache:{name}", 'type=local,"src=a,b"']
      to: ["type=registry,ref=localhost:5000/cache:{name},mode=max"]
""",
    )
    app = load_plan(path).targets["app"]
    # A bare value is a registry reference, as buildx reads it; a quoted field keeps its comma.
    assert [e.attrs for e in app.cache_from] == [
        (("type", "registry"), ("ref", "localhost:5000/cache:app")),
        (("type", "local"), ("src", "a,b")),
    ]
    assert app.cache_from_at == (Location(path, 6, 14), Location(path, 6, 45))
    assert app.cache_to[0].get("ref") == "localhost:5000/cache:app"
    assert app.cache_to_at == (Location(path, 7, 12),)


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
      - {id: netrc, src: secrets/netrc, optional: true}
      - {id: ca, src: /etc/ssl/ca.pem, optional: false}
""",
    )
    app = load_plan(path).targets["app"]
    # A secret file need not exist yet, and may live outside the plan directory.
    assert app.secrets == (
        Secret(id="npm", env="NPM_TOKEN", location=Location(path, 6, 9)),
        Secret(
            id="netrc",
            src=tmp_path.resolve() / "secrets" / "netrc",
            optional=True,
            location=Location(path, 7, 9),
        ),
        Secret(id="ca", src=Path("/etc/ssl/ca.pem").resolve(), location=Location(path, 8, 9)),
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


def test_alias_bomb_is_rejected_small(tmp_path: Path) -> None:
    # How fast it is rejected is printed by bench/plan_bench.py.
    path = tmp_path / "buildplan.yaml"
    path.write_text(_bomb(12))  # 9**12 strings, were it expanded
    tracemalloc.start()
    try:
        with pytest.raises(PlanError, match="aliases expand the plan"):
            load_plan(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_deep_nesting_is_rejected_without_crashing(tmp_path: Path) -> None:
    # libyaml's own composer recurses in C and dies at this depth; events are read iteratively.
    # Either orch's depth limit or libyaml's own (in its newer releases) stops it first.
    path = tmp_path / "buildplan.yaml"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(PlanError, match="nest") as caught:
        load_plan(path)
    assert caught.value.hint == "a plan needs only a few levels: check the brackets and indentation"


# --- Properties: never a traceback ---------------------------------------------------------

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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(PLAN_SCHEMA)


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
def test_scalars_are_typed_as_pyyaml_types_them(text: str, tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(f"k: {text}\n")
    mine = read_document(path).data["k"]
    if text in ("=", "<<", "2024-01-01"):  # YAML's value, merge and date types: orch keeps text
        assert mine == text
        return
    theirs = yaml.safe_load(path.read_text())["k"]
    assert mine == theirs or (mine != mine and theirs != theirs)  # NaN is not NaN
    assert type(mine) is type(theirs)


def test_a_plan_checked_once_is_not_schema_checked_again_and_an_edited_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.plan import load as plan_load

    path = _write(tmp_path, "version: 1\nservices:\n  app: {context: app}\n")
    load_plan(path)
    assert list((tmp_path / ".xdg-cache" / "orch" / "checked-plans").iterdir())
    assert not (tmp_path / ".orch").exists()  # nothing in the repository

    def fail(doc: object) -> None:
        raise AssertionError("checked again")

    monkeypatch.setattr(plan_load, "validate", fail)
    assert "app" in load_plan(path).targets  # the same data: not checked again
    path.write_text("version: 1\nservices:\n  app: {context: app, depend_on: []}\n")
    with pytest.raises(AssertionError, match="checked again"):
        load_plan(path)  # other data: checked
    monkeypatch.undo()
    with pytest.raises(PlanError, match="depend_on"):
        load_plan(path)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("25MB", 25_000_000),
        ("1.5 GB", 1_500_000_000),
        ("800kB", 800_000),
        ("300MiB", 300 * 2**20),
        (1000, 1000),
    ],
)
def test_max_size_is_read_in_decimal_or_binary_units(
    tmp_path: Path, value: object, size: int
) -> None:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    plan = load_plan(
        _write(tmp_path, f"version: 1\nservices:\n  app: {{context: app, max_size: {shown}}}\n")
    )
    assert plan.targets["app"].max_size == size


def test_a_max_size_that_is_no_size_is_a_plan_error_at_its_value(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nservices:\n  app:\n    context: app\n    max_size: huge\n")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.column) == (5, 15)
    assert "max_size must be a size" in caught.value.message


# --- Beside the plan directory ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "written", "words"),
    [
        ("context", "../plan-other/svc", "is outside the plan directory"),
        ("context", "svc-link", "leads outside the plan directory through a symlink"),
        ("dockerfile", "../../plan-other/svc/Dockerfile", "is outside the plan directory"),
        ("named", "../plan-other/svc", "is outside the plan directory"),
    ],
)
def test_a_directory_named_like_the_plan_directory_is_still_outside_it(
    tmp_path: Path, setting: str, written: str, words: str
) -> None:
    """`plan-other` beside `plan` starts with the same letters; its files are not the plan's."""
    write_tree(
        tmp_path, {"plan-other/svc/Dockerfile": DOCKERFILE, "plan/app/Dockerfile": DOCKERFILE}
    )
    (tmp_path / "plan" / "svc-link").symlink_to(tmp_path / "plan-other" / "svc")
    entry = {
        "context": f"context: {written}",
        "dockerfile": f"context: app\n    dockerfile: {written}",
        "named": f"context: app\n    contexts: {{shared: {written}}}",
    }[setting]
    plan = tmp_path / "plan" / "buildplan.yaml"
    plan.write_text(f"version: 1\nservices:\n  app:\n    {entry}\n")
    with pytest.raises(PlanError) as caught:
        load_plan(plan)
    assert words in caught.value.message
    assert caught.value.hint is not None
    assert "orch builds only what is inside the plan directory" in caught.value.hint


def test_the_plan_directory_itself_and_a_name_that_only_starts_like_it_inside_are_accepted(
    tmp_path: Path,
) -> None:
    """The root as a context (`.`) and a directory `plan/plan-other` are inside."""
    write_tree(
        tmp_path / "plan",
        {
            "buildplan.yaml": "version: 1\nservices:\n  root: {context: .}\n"
            "  deep: {context: plan-other/svc, dockerfile: ../../Dockerfile}\n",
            "Dockerfile": DOCKERFILE,
            "plan-other/svc/main.go": "package main\n",
        },
    )
    plan = load_plan(tmp_path / "plan" / "buildplan.yaml")
    root = (tmp_path / "plan").resolve()
    assert plan.targets["root"].context == root
    assert plan.targets["deep"].context == root / "plan-other" / "svc"
    assert plan.targets["deep"].dockerfile == root / "Dockerfile"


# --- dev: how `orch dev --run` runs a service -------------------------------------------------

DEV_PLAN = "version: 1\nservices:\n  app:\n    context: app\n    dev:\n"


def test_dev_ports_env_and_a_string_command_are_read_into_their_parts(tmp_path: Path) -> None:
    body = (
        '      ports: ["8080:80", 9000, "127.0.0.1:5353:53/udp"]\n'
        '      env: {A: "1", B: ""}\n'
        '      command: python3 -m worker "--name=a b"\n'
    )
    dev = load_plan(_write(tmp_path, DEV_PLAN + body)).targets["app"].dev
    assert dev is not None
    assert [(p.ip, p.host, p.container, p.protocol) for p in dev.ports] == [
        ("", "8080", "80", "tcp"),
        ("", "", "9000", "tcp"),
        ("127.0.0.1", "5353", "53", "udp"),
    ]
    assert dict(dev.env) == {"A": "1", "B": ""}
    assert dev.command == ("python3", "-m", "worker", "--name=a b")
    assert dev.location == Location(tmp_path / "buildplan.yaml", 5, 5)


def test_a_dev_command_list_is_taken_word_for_word(tmp_path: Path) -> None:
    body = '      command: [python3, -m, worker, "a b", "it\'s"]\n'
    dev = load_plan(_write(tmp_path, DEV_PLAN + body)).targets["app"].dev
    assert dev is not None
    assert dev.command == ("python3", "-m", "worker", "a b", "it's")
    assert (dev.ports, dict(dev.env)) == ((), {})


@pytest.mark.parametrize(
    ("body", "at", "message", "hint"),
    [
        (
            '      ports: ["8080:80", "80:x"]\n',
            (6, 26),
            "port '80:x' of 'app' cannot be published: the container port 'x' is not a number",
            'write it as docker run -p does, such as "8080:80" (host 8080 to container 80), '
            '"127.0.0.1:8080:80" or "80/udp"',
        ),
        (
            '      env: {A: "1", "A=B": "1"}\n',
            (6, 21),
            "dev.env 'A=B' of 'app': a variable name must be non-empty and hold no '=' or NUL",
            "name a variable without '=', and give it a value without NUL",
        ),
        (
            '      env: {A: "x\\0y"}\n',
            (6, 13),
            "dev.env 'A' of 'app': a value cannot hold a NUL",
            "name a variable without '=', and give it a value without NUL",
        ),
        (
            '      command: "python3 \'unclosed"\n',
            (6, 16),
            "dev.command of 'app' cannot be split into words: No closing quotation",
            "close the quote, or write the command as a list of words: "
            '[python3, -m, worker, "--name=a b"]',
        ),
        (
            '      command: ""\n',
            (6, 16),
            "dev.command of 'app' is empty",
            "remove command: to run the image's own, or name a program",
        ),
        (
            '      command: ["", x]\n',
            (6, 16),
            "dev.command of 'app' is empty",
            "remove command: to run the image's own, or name a program",
        ),
    ],
)
def test_a_dev_setting_that_cannot_work_is_a_plan_error_at_its_value(
    tmp_path: Path, body: str, at: tuple[int, int], message: str, hint: str
) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, DEV_PLAN + body))
    err = caught.value
    assert err.location is not None
    assert (err.location.line, err.location.column) == at
    assert (err.message, err.hint) == (message, hint)


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("reg.io/team:x/app", ("reg.io/team:x/app", None)),  # a ':' before the last '/' is no tag
        ("localhost:5000/app", ("localhost:5000/app", None)),
        ("localhost:5000/app:1", ("localhost:5000/app", "1")),
        ("app", ("app", None)),
    ],
)
def test_a_reference_splits_into_repository_and_tag_at_its_last_colon(
    reference: str, parts: tuple[str, str | None]
) -> None:
    assert references.split_tag(reference) == parts


def test_registry_problems_and_the_tags_a_hint_suggests() -> None:
    assert references.registry_problem("localhost:5000/") is None
    assert references.registry_problem("reg.io") is None
    assert references.registry_problem("localhost:5000/A") == "'A' must be lowercase"
    assert references.fixed_tag("Release_1.0+build!x") == "Release_1.0-build-x"
    assert references.fixed_tag("..-v1") == "v1"
    assert references.fixed_tag("ABC") == "ABC"
    assert references.fixed_registry("x:12:34/p") == "x:1234/p"
    assert references.fixed_registry("Reg.IO:5000") == "Reg.IO:5000"
    assert references.registry_problem("localhost:5000/teaX") == "'teaX' must be lowercase"
    assert references.fixed_registry("reg.io/teamX/") == "reg.io/teamx"
    assert references.fixed_registry("/reg.io/x") == "localhost/reg.io/x"  # no host before it


@pytest.mark.parametrize(("length", "shown"), [(40, "A" * 40), (41, "A" * 40 + "...")])
def test_a_bad_target_name_is_shown_whole_up_to_40_characters(
    tmp_path: Path, length: int, shown: str
) -> None:
    name = "A" * length
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, f"version: 1\nservices:\n  {name}:\n    context: app\n"))
    assert caught.value.message.startswith(f"bad target name '{shown}': ")


# --- builders: the pool a run spreads over ----------------------------------------------------


def test_builders_are_names_or_names_with_their_slots(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "version: 1\nbuilders: [node1, {name: node2, jobs: 3}]\nservices:\n  app: {context: app}\n",
    )
    plan = load_plan(path)
    at = tmp_path / "buildplan.yaml"
    assert [(b.name, b.jobs, b.location) for b in plan.builders] == [
        ("node1", None, Location(at, 2, 12)),
        ("node2", 3, Location(at, 2, 19)),
    ]
    assert plan.builders_at == Location(at, 2, 1)
    plain = load_plan(_write(tmp_path / "plain", "version: 1\nservices:\n  app: {context: app}\n"))
    assert (plain.builders, plain.builders_at) == ((), None)


def test_a_builder_listed_twice_is_a_plan_error_at_the_second(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "version: 1\nbuilders: [a, b, {name: a}]\nservices:\n  app: {context: app}\n"
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    err = caught.value
    assert err.message == "builder 'a' is in builders: twice (items 1 and 3)"
    assert err.hint == "list each builder once; give it more slots with {name: NAME, jobs: N}"
    assert err.location == Location(tmp_path / "buildplan.yaml", 2, 18)


def test_a_dev_entry_without_command_runs_the_images_own(tmp_path: Path) -> None:
    dev = load_plan(_write(tmp_path, DEV_PLAN + '      ports: ["80"]\n')).targets["app"].dev
    assert dev is not None
    assert dev.command is None


def test_a_dev_env_name_holding_a_nul_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, DEV_PLAN + '      env: {"A\\0B": "1"}\n'))
    assert caught.value.message == (
        "dev.env 'A\\x00B' of 'app': a variable name must be non-empty and hold no '=' or NUL"
    )


def test_targets_exporting_their_caches_to_different_places_are_fine(tmp_path: Path) -> None:
    plan = load_plan(
        _write(
            tmp_path,
            "version: 1\nstages:\n  base:\n    context: app\n"
            '    cache: {to: ["type=local,dest=.c/base"]}\n'
            "services:\n  app:\n    context: app\n"
            '    cache: {to: ["type=local,dest=.c/app", "type=registry,ref=r/app"]}\n'
            "  web:\n    context: app\n"
            '    cache: {to: ["type=registry,ref=r/web", "type=local", "type=inline"]}\n',
        )
    )
    assert [len(t.cache_to) for t in plan.targets.values()] == [1, 2, 3]


def test_a_plan_read_from_text_names_where_it_came_from_in_its_errors() -> None:
    with pytest.raises(PlanError) as caught:
        yaml_reader.read_text("a: [", Path("then/buildplan.yaml"))
    assert caught.value.location == Location(Path("then/buildplan.yaml"), 2, 1)
    doc = yaml_reader.read_text("a: 1\n", Path("then/buildplan.yaml"))
    assert doc.data == {"a": 1}


# --- lint: the rules a target leaves out or turns on ----------------------------------------

LINT_PLAN = "version: 1\nservices:\n  app:\n    context: app\n"
KNOWN_RULES = f"known rules: {lint_ids.known_list()}"


def test_lint_settings_keep_each_rule_with_its_place(tmp_path: Path) -> None:
    body = "    lint: {ignore: [OL101, DL3008], enable: [OL109]}\n"
    lint = load_plan(_write(tmp_path, LINT_PLAN + body)).targets["app"].lint
    at = tmp_path / "buildplan.yaml"
    assert (lint.ignore, lint.enable) == (("OL101", "DL3008"), ("OL109",))
    assert lint.at == {
        "OL101": Location(at, 5, 21),
        "DL3008": Location(at, 5, 28),
        "OL109": Location(at, 5, 46),
    }


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        (
            "    lint: {ignore: [OL1O1]}\n",
            "lint.ignore names 'OL1O1', which is no rule of orch lint",
            f"did you mean 'OL101'? {KNOWN_RULES}",
        ),
        (
            "    lint: {enable: [XYZ]}\n",
            "lint.enable names 'XYZ', which is no rule of orch lint",
            KNOWN_RULES,
        ),
    ],
)
def test_a_lint_rule_orch_does_not_know_is_a_plan_error_at_it(
    tmp_path: Path, body: str, message: str, hint: str
) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(_write(tmp_path, LINT_PLAN + body))
    assert (caught.value.message, caught.value.hint) == (message, hint)
    assert caught.value.location == Location(tmp_path / "buildplan.yaml", 5, 21)


@pytest.mark.parametrize(
    ("body", "files", "message", "hint", "at"),
    [
        (
            "    context: app\n    contexts: {x: 'busybox:latest'}\n",
            {},
            "named context 'x' (busybox:latest) does not exist",
            "an image needs a scheme, such as docker-image://NAME:TAG",
            (5, 19),
        ),
        (
            "    context: app\n    dockerfile: Dockerfle\n",
            {},
            "dockerfile 'Dockerfle' does not exist in the context 'app'",
            "did you mean 'Dockerfile'? (the path is relative to the context directory)",
            (5, 17),
        ),
        (
            "    context: app\n    dockerfile: zzz/qqq\n",
            {},
            "dockerfile 'zzz/qqq' does not exist in the context 'app'",
            "create the file, or fix the path (the path is relative to the context directory)",
            (5, 17),
        ),
        (  # a hidden directory is never suggested
            "    context: .ap\n",
            {".app/Dockerfile": DOCKERFILE},
            "context '.ap' does not exist",
            "did you mean 'app'?",
            (4, 14),
        ),
        (
            "    context: zzzzzz\n",
            {},
            "context 'zzzzzz' does not exist",
            "create the directory, or fix the path",
            (4, 14),
        ),
        (
            "    context: app\n    secrets: [{id: s, src: '~nosuchuser/x'}]\n",
            {},
            "cannot find the home directory in the secret src '~nosuchuser/x'",
            "write the path without ~, relative to the plan or absolute",
            (5, 28),
        ),
        (
            "    context: app\n    secrets:\n      - {id: s, env: A}\n      - {id: s, env: B}\n",
            {},
            "the secret id 's' is declared twice (first at line 6)",
            "give each secret of a target its own id",
            (7, 14),
        ),
    ],
)
def test_a_path_or_secret_that_cannot_work_says_what_to_write(
    tmp_path: Path,
    body: str,
    files: dict[str, str],
    message: str,
    hint: str,
    at: tuple[int, int],
) -> None:
    path = _write(tmp_path, "version: 1\nservices:\n  app:\n" + body)
    write_tree(tmp_path, files)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert (caught.value.message, caught.value.hint) == (message, hint)
    assert caught.value.location == Location(path, *at)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("OL1O1", "did you mean 'OL101'?"),
        ("ol1l1", "did you mean 'OL111'?"),
        ("OL10l", "did you mean 'OL101'?"),
        ("QQ999", None),
    ],
)
def test_a_lint_id_with_a_letter_for_a_digit_is_read_as_the_digit(given, said):
    from orchestrator.lint.ids import closest

    assert closest(given) == said
