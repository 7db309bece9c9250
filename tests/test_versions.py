"""Content versions over real trees on disk, in and out of git work trees."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.inputs.contexts import ContentReader, FileInput, Tree, blob_id, watch_bases
from orchestrator.inputs.versions import (
    SCHEME,
    InputChange,
    Manifest,
    NamedInput,
    compute_manifests,
    compute_versions,
    diff_manifests,
    stage_version,
    versioned_ref,
)


@dataclass(frozen=True)
class Ctx:
    name: str
    path: Path | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Sec:
    id: str


@dataclass(frozen=True)
class T:
    """The parts of a plan target that versions read."""

    name: str
    context: Path
    dockerfile: Path
    contexts: tuple[Ctx, ...] = ()
    watch: tuple[str, ...] = ()
    args: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[str, ...] = ()
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[Sec, ...] = ()
    overrides: tuple[str, ...] = ()
    attest: tuple[str, ...] = ()
    sbom_generator: str | None = None


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path_factory.getbasetemp()))
    for var in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{var}_NAME", "orch tests")
        monkeypatch.setenv(f"GIT_{var}_EMAIL", "tests@orch.invalid")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit_all(root: Path) -> None:
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "snapshot")


FILES = {
    "services/api/Dockerfile": "FROM base\nCOPY . /app\n",
    "services/api/.dockerignore": "*.log\ntmp/\n",
    "services/api/main.go": "package main\n",
    "services/api/debug.log": "ignored by .dockerignore\n",
    "services/api/tmp/scratch": "ignored by .dockerignore\n",
    "services/api/bin/run": "#!/bin/sh\n",
    "services/worker/Dockerfile": "FROM base\nCOPY --from=shared . /lib\n",
    "services/worker/app.py": "print('worker')\n",
    "services/scheduler/Dockerfile": "FROM base\nCOPY --from=shared . /lib\n",
    "services/scheduler/app.py": "print('scheduler')\n",
    "libs/shared/.dockerignore": "tests\n",
    "libs/shared/lib.py": "X = 1\n",
    "libs/shared/tests/test_lib.py": "ignored by the library's .dockerignore\n",
    "libs/proto/api.proto": "syntax = 'proto3';\n",
    "libs/proto/README.md": "not watched\n",
    "stages/base/Dockerfile": "FROM busybox\n",
    "docs/unrelated.md": "nobody reads this\n",
}


def make_tree(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "services/api/bin/run").chmod(0o755)
    (root / "services/api/current").symlink_to("main.go")
    return root


def targets(root: Path) -> dict[str, T]:
    shared = Ctx("shared", path=root / "libs/shared")
    svc = root / "services"
    return {
        "base": T("base", root / "stages/base", root / "stages/base/Dockerfile"),
        "api": T(
            "api",
            svc / "api",
            svc / "api/Dockerfile",
            watch=("libs/proto/*.proto",),
            args={"GOFLAGS": "-trimpath"},
            platforms=("linux/amd64",),
            target="runtime",
            labels={"team": "core"},
            secrets=(Sec("netrc"),),
            contexts=(Ctx("tools", ref="docker-image://busybox:latest"),),
        ),
        "worker": T("worker", svc / "worker", svc / "worker/Dockerfile", contexts=(shared,)),
        "scheduler": T(
            "scheduler", svc / "scheduler", svc / "scheduler/Dockerfile", contexts=(shared,)
        ),
    }


UPSTREAM = {"api": ["base"], "worker": ["base"], "scheduler": ["base"]}


def manifests(
    root: Path, *, use_git: bool = True, tweak: Mapping[str, T] | None = None
) -> dict[str, Manifest]:
    found = {**targets(root), **(tweak or {})}
    reader = ContentReader(root, use_git=use_git)
    return compute_manifests(root, found, UPSTREAM, reader=reader)


def versions(root: Path, **kwargs: object) -> dict[str, str]:
    return {n: m.version for n, m in manifests(root, **kwargs).items()}  # type: ignore[arg-type]


def test_versions_are_the_same_in_a_copy_at_another_path_and_at_other_mtimes(tmp_path: Path):
    root = make_tree(tmp_path / "one")
    before = versions(root)
    copy = tmp_path / "elsewhere" / "two"
    shutil.copytree(root, copy, symlinks=True)
    for base, _, names in os.walk(copy):
        for name in names:
            os.utime(Path(base) / name, (12345, 12345), follow_symlinks=False)
    assert versions(copy) == before


def test_git_object_ids_and_reading_the_files_give_the_same_versions(tmp_path: Path):
    root = make_tree(tmp_path / "repo")
    plain = versions(root)
    commit_all(root)
    assert versions(root) == plain
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    # A clone lacks what git ignores or never tracked: here nothing, so nothing differs.
    assert versions(clone) == plain
    assert versions(clone, use_git=False) == plain


def test_a_clean_checkout_reads_no_file_and_a_dirty_one_reads_only_what_changed(
    tmp_path: Path,
):
    root = make_tree(tmp_path / "repo")
    commit_all(root)
    reader = ContentReader(root)
    compute_manifests(root, targets(root), UPSTREAM, reader=reader)
    assert reader.files_read == 0
    (root / "services/api/main.go").write_text("package main // edited\n")
    (root / "libs/shared/new.py").write_text("Y = 2\n")
    reader = ContentReader(root)
    compute_manifests(root, targets(root), UPSTREAM, reader=reader)
    # The shared library is walked once for both of its users.
    assert reader.files_read == 2


def test_outside_git_every_file_is_read_once(tmp_path: Path):
    root = make_tree(tmp_path / "plain")
    reader = ContentReader(root)
    assert reader.repo is None
    compute_manifests(root, targets(root), UPSTREAM, reader=reader)
    sent = {
        "services/api/Dockerfile",
        "services/api/.dockerignore",
        "services/api/main.go",
        "services/api/bin/run",
        "services/worker/Dockerfile",
        "services/worker/app.py",
        "services/scheduler/Dockerfile",
        "services/scheduler/app.py",
        "libs/shared/.dockerignore",
        "libs/shared/lib.py",
        "libs/proto/api.proto",
        "stages/base/Dockerfile",
    }
    assert reader.files_read == len(sent)


def test_a_file_blob_id_is_gits():
    assert blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def edit(root: Path, what: str) -> None:
    """One change of one input, applied to the tree made by make_tree."""
    api = root / "services/api"
    if what == "content":
        (api / "main.go").write_text("package main\n// more\n")
    elif what == "add":
        (api / "extra.go").write_text("package main\n")
    elif what == "delete":
        (api / "main.go").unlink()
        (api / "current").unlink()
    elif what == "rename":
        (api / "main.go").rename(api / "app.go")
        (api / "current").unlink()
        (api / "current").symlink_to("app.go")
    elif what == "exec-bit":
        (api / "main.go").chmod(0o755)
    elif what == "exec-bit-cleared":
        (api / "bin/run").chmod(0o644)
    elif what == "symlink-target":
        (api / "current").unlink()
        (api / "current").symlink_to("bin/run")
    elif what == "symlink-to-file":
        (api / "current").unlink()
        (api / "current").write_text("main.go")
    elif what == "empty-dir":
        (api / "cache").mkdir()
    elif what == "dockerfile":
        (api / "Dockerfile").write_text("FROM base\nCOPY . /srv\n")
    elif what == "dockerignore":
        (api / ".dockerignore").write_text("*.log\n")  # tmp/ is sent now
    elif what == "specific-dockerignore":
        (api / "Dockerfile.dockerignore").write_text("*.log\n")
    elif what == "watched":
        (root / "libs/proto/api.proto").write_text("syntax = 'proto2';\n")
    elif what == "new-watched":
        (root / "libs/proto/more.proto").write_text("")
    else:
        raise AssertionError(what)


INPUT_EDITS = [
    "content",
    "add",
    "delete",
    "rename",
    "exec-bit",
    "exec-bit-cleared",
    "symlink-target",
    "symlink-to-file",
    "empty-dir",
    "dockerfile",
    "dockerignore",
    "specific-dockerignore",
    "watched",
    "new-watched",
]


def neutral(root: Path, what: str) -> None:
    """A change BuildKit never sees for api."""
    if what == "ignored-file":
        (root / "services/api/debug.log").write_text("more log\n")
    elif what == "ignored-dir":
        (root / "services/api/tmp/new").write_text("x")
    elif what == "unwatched":
        (root / "libs/proto/README.md").write_text("edited\n")
    elif what == "elsewhere":
        (root / "docs/unrelated.md").write_text("edited\n")
    elif what == "mtime":
        os.utime(root / "services/api/main.go", (1, 1))
    else:
        raise AssertionError(what)


NEUTRAL_EDITS = ["ignored-file", "ignored-dir", "unwatched", "elsewhere", "mtime"]

SETTING_EDITS = {
    "arg": {"args": {"GOFLAGS": "-race"}},
    "new-arg": {"args": {"GOFLAGS": "-trimpath", "CGO_ENABLED": "0"}},
    "platform": {"platforms": ("linux/amd64", "linux/arm64")},
    "other-platform": {"platforms": ("linux/arm64",)},
    "stage": {"target": None},
    "label": {"labels": {"team": "platform"}},
    "secret": {"secrets": (Sec("netrc"), Sec("npm"))},
    "named-ref": {"contexts": (Ctx("tools", ref="docker-image://busybox:1.36"),)},
    "watch": {"watch": ("libs/proto/**",)},
}


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(st.sampled_from(INPUT_EDITS), min_size=1, max_size=3, unique=True),
    noise=st.lists(st.sampled_from(NEUTRAL_EDITS), max_size=2, unique=True),
    in_git=st.booleans(),
)
def test_any_input_edit_changes_the_version_and_nothing_else_does(
    tmp_path_factory: pytest.TempPathFactory, edits: list[str], noise: list[str], in_git: bool
):
    root = make_tree(tmp_path_factory.mktemp("tree"))
    if in_git:
        commit_all(root)
    before = manifests(root)
    for what in noise:
        neutral(root, what)
    assert versions(root) == {n: m.version for n, m in before.items()}
    for what in edits:
        with contextlib.suppress(FileNotFoundError):  # an earlier edit removed its file
            edit(root, what)
    after = manifests(root)
    assert after["api"].version != before["api"].version, edits
    assert diff_manifests(before["api"], after["api"]) != []
    for other in ("base", "worker", "scheduler"):
        assert after[other].version == before[other].version
    # The same tree read without git gives the same versions.
    assert versions(root, use_git=False) == {n: m.version for n, m in after.items()}


@pytest.mark.parametrize("what", NEUTRAL_EDITS)
def test_what_buildkit_does_not_receive_leaves_the_version(tmp_path: Path, what: str):
    root = make_tree(tmp_path)
    before = versions(root)
    neutral(root, what)
    assert versions(root) == before


@pytest.mark.parametrize("what", list(SETTING_EDITS))
def test_each_setting_is_an_input_of_its_target_only(tmp_path: Path, what: str):
    root = make_tree(tmp_path)
    before = versions(root)
    api = replace(targets(root)["api"], **SETTING_EDITS[what])  # type: ignore[arg-type]
    after = versions(root, tweak={"api": api})
    assert after["api"] != before["api"]
    assert {n: v for n, v in after.items() if n != "api"} == {
        n: v for n, v in before.items() if n != "api"
    }


def test_secret_values_and_order_do_not_matter_only_ids(tmp_path: Path):
    root = make_tree(tmp_path)
    api = targets(root)["api"]
    one = replace(api, secrets=(Sec("a"), Sec("b")))
    two = replace(api, secrets=(Sec("b"), Sec("a")))
    assert versions(root, tweak={"api": one}) == versions(root, tweak={"api": two})


def test_a_change_in_a_shared_named_context_changes_every_user(tmp_path: Path):
    root = make_tree(tmp_path)
    before = manifests(root)
    (root / "libs/shared/lib.py").write_text("X = 2\n")
    after = manifests(root)
    for user in ("worker", "scheduler"):
        assert after[user].version != before[user].version
        assert diff_manifests(before[user], after[user]) == [
            InputChange("context:shared", "lib.py", "content changed")
        ]
    assert after["api"].version == before["api"].version


def test_a_named_context_uses_its_own_dockerignore(tmp_path: Path):
    root = make_tree(tmp_path)
    before = versions(root)
    (root / "libs/shared/tests/test_lib.py").write_text("edited, still ignored\n")
    assert versions(root) == before
    paths = [e.path for e in manifests(root)["worker"].contexts[0].tree.entries]  # type: ignore[union-attr]
    assert "tests/test_lib.py" not in paths and "lib.py" in paths


def test_an_upstream_version_moves_every_target_downstream(tmp_path: Path):
    root = make_tree(tmp_path)
    before = manifests(root)
    (root / "stages/base/Dockerfile").write_text("FROM busybox:1.36\n")
    after = manifests(root)
    assert all(after[n].version != before[n].version for n in after)
    assert diff_manifests(before["worker"], after["worker"]) == [
        InputChange(
            "upstream",
            "base",
            f"version {before['base'].version[:12]} -> {after['base'].version[:12]}",
        )
    ]


def test_untracked_and_git_ignored_files_in_a_context_count_as_buildkit_sends_them(
    tmp_path: Path,
):
    root = make_tree(tmp_path)
    (root / ".gitignore").write_text("services/api/generated/\n")
    commit_all(root)
    before = versions(root)
    (root / "services/api/generated").mkdir()
    (root / "services/api/generated/out.go").write_text("package main\n")
    ignored = versions(root)
    assert ignored["api"] != before["api"]
    (root / "services/api/untracked.go").write_text("package main\n")
    assert versions(root)["api"] not in (before["api"], ignored["api"])


def test_diff_names_files_and_reasons(tmp_path: Path):
    root = make_tree(tmp_path)
    before = manifests(root)["api"]
    edit(root, "rename")
    edit(root, "exec-bit-cleared")
    (root / "services/api/Dockerfile").write_text("FROM base\n")
    api = replace(targets(root)["api"], args={"GOFLAGS": "-race"}, platforms=("linux/arm64",))
    after = manifests(root, tweak={"api": api})["api"]
    assert [str(c) for c in diff_manifests(before, after)] == [
        "dockerfile services/api/Dockerfile: content changed",
        "context Dockerfile: content changed",
        "context app.go: added (file)",
        "context bin/run: exec bit cleared",
        "context current: symlink target main.go -> app.go",
        "context main.go: removed (was file)",
        "arg GOFLAGS: '-trimpath' -> '-race'",
        "platforms: ['linux/amd64'] -> ['linux/arm64']",
    ]
    assert diff_manifests(after, after) == []


def test_a_manifest_survives_json_with_its_version(tmp_path: Path):
    root = make_tree(tmp_path)
    for m in manifests(root).values():
        data = m.to_json()
        back = Manifest.from_json(data)
        assert back == m
        assert data["version"] == back.version == m.version
        assert data["scheme"] == SCHEME


def test_files_git_converts_on_checkout_are_read_not_taken_from_the_index(tmp_path: Path):
    root = make_tree(tmp_path / "repo")
    (root / ".gitattributes").write_text("*.go ident\n")
    (root / "services/api/main.go").write_text("package main // $Id$\n")
    commit_all(root)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert "$Id: " in (clone / "services/api/main.go").read_text()  # expanded on checkout
    assert versions(clone) == versions(clone, use_git=False)


def test_the_real_plan_targets_fit(tmp_path: Path):
    from orchestrator.plan import load_plan

    root = make_tree(tmp_path)
    (root / "buildplan.yaml").write_text(
        "version: 1\nstages:\n  base: {context: stages/base}\nservices:\n"
        "  worker: {context: services/worker, contexts: {shared: libs/shared}}\n"
    )
    plan = load_plan(root / "buildplan.yaml")
    found = compute_manifests(plan.root, plan.targets, {"worker": ["base"]})
    assert found["worker"].contexts[0].tree is not None
    assert dict(found["worker"].upstream) == {"base": found["base"].version}


def test_a_dependency_cycle_is_an_error(tmp_path: Path):
    root = make_tree(tmp_path)
    with pytest.raises(ValueError, match="cycle"):
        compute_manifests(root, targets(root), {"api": ["base"], "base": ["api"]})


def test_an_exec_bit_git_does_not_watch_is_still_seen(tmp_path: Path):
    root = make_tree(tmp_path / "repo")
    commit_all(root)
    git(root, "config", "core.filemode", "false")
    before = versions(root)
    (root / "services/api/main.go").chmod(0o755)
    assert git(root, "status", "--porcelain") == ""  # git itself sees no change
    after = manifests(root)
    assert after["api"].version != before["api"]
    assert ("main.go", "exec") in [(e.path, e.kind) for e in after["api"].context.entries]


@pytest.mark.parametrize(
    ("patterns", "bases"),
    [
        (["libs/proto/**"], ["libs/proto"]),
        (["libs/proto/*.proto", "libs/proto/sub/x", "docs/"], [""]),
        (["libs/proto/*.proto", "libs/proto/sub/x"], ["libs/proto"]),
        (["/tools/gen/*.py", "!tools/gen/skip.py"], ["tools/gen"]),
        (["*.proto"], [""]),
        (["libs/*/api/**"], ["libs"]),
        (["# only a comment"], []),
    ],
)
def test_watch_patterns_are_looked_up_only_under_their_literal_directories(
    patterns: list[str], bases: list[str]
):
    assert watch_bases(patterns) == bases


def test_watch_sees_untracked_files_but_not_ignored_ones(tmp_path: Path):
    root = make_tree(tmp_path)
    (root / ".gitignore").write_text("*.gen.proto\n")
    commit_all(root)
    before = versions(root)
    (root / "libs/proto/out.gen.proto").write_text("generated\n")
    assert versions(root) == before
    (root / "libs/proto/new.proto").write_text("new\n")
    assert versions(root)["api"] != before["api"]


def test_a_manifest_from_json_keeps_its_scheme_and_bases_and_an_older_one_has_no_bases(
    tmp_path: Path,
):
    root = make_tree(tmp_path)
    api = replace(
        manifests(root)["api"],
        scheme=SCHEME - 1,
        bases=(("busybox:latest", "sha256:b1"), ("debian:bookworm-slim", "sha256:d2")),
    )
    data = api.to_json()
    back = Manifest.from_json(data)
    assert back.scheme == SCHEME - 1
    assert back.bases == api.bases
    assert back.version == api.version
    written_before_bases = {k: v for k, v in data.items() if k != "bases"}
    assert Manifest.from_json(written_before_bases).bases == ()
    # The scheme is an input: a manifest of an older scheme never has today's version.
    assert replace(api, scheme=SCHEME).version != api.version


def test_a_named_context_moving_between_an_image_and_a_directory_is_told_both_ways(
    tmp_path: Path,
):
    root = make_tree(tmp_path)
    before = manifests(root)["api"]
    as_directory = replace(
        targets(root)["api"], contexts=(Ctx("tools", path=root / "libs/shared"),)
    )
    after = manifests(root, tweak={"api": as_directory})["api"]
    assert [str(c) for c in diff_manifests(before, after)] == [
        "context:tools: docker-image://busybox:latest -> directory libs/shared"
    ]
    assert [str(c) for c in diff_manifests(after, before)] == [
        "context:tools: directory libs/shared -> docker-image://busybox:latest"
    ]
    none = manifests(root, tweak={"api": replace(as_directory, contexts=())})["api"]
    assert [str(c) for c in diff_manifests(none, after)] == ["context:tools: added"]
    assert [str(c) for c in diff_manifests(after, none)] == ["context:tools: removed"]


def test_compute_versions_is_each_manifests_version(tmp_path: Path):
    root = make_tree(tmp_path)
    expected = versions(root, use_git=False)
    assert compute_versions(root, targets(root), UPSTREAM) == expected
    assert len(set(expected.values())) == len(expected)


def test_diff_describes_each_kind_of_entry_added_removed_or_changed(tmp_path: Path):
    root = make_tree(tmp_path)
    api = root / "services/api"
    (api / "old-dir").mkdir()
    (api / "link-to-dir").symlink_to("bin")
    (api / "becomes-exec").write_text("x\n")
    before = manifests(root)["api"]
    (api / "old-dir").rmdir()
    (api / "bin/run").unlink()  # an executable file removed, so bin/ is empty now
    (api / "tool").write_text("#!/bin/sh\n")
    (api / "tool").chmod(0o755)
    (api / "new-link").symlink_to("main.go")
    (api / "link-to-dir").unlink()
    (api / "link-to-dir").mkdir()
    (api / "becomes-exec").write_text("y\n")
    (api / "becomes-exec").chmod(0o755)
    (api / "current").unlink()
    (api / "current").mkdir()
    after = manifests(root)["api"]
    assert [str(c) for c in diff_manifests(before, after)] == [
        "context becomes-exec: exec bit set, content changed",
        "context bin/run: removed (was executable file)",
        "context current: symlink to main.go -> directory",
        "context link-to-dir: symlink to bin -> directory",
        "context new-link: added (symlink to main.go)",
        "context old-dir: removed (was directory)",
        "context tool: added (executable file)",
    ]


def test_a_versioned_ref_and_a_test_stage_version_follow_the_version():
    version = "3f0c2b8d1e6a97c45b20" + "0" * 44
    assert versioned_ref("orch/api", version) == "orch/api:3f0c2b8d1e6a97c45b20"
    unit = stage_version(version, "unit")
    assert unit == hashlib.sha256(f"{version}\0stage\0unit".encode()).hexdigest()
    assert unit != stage_version(version, "lint") != stage_version("1" + version[1:], "unit")


def _tree(path: str, *entries: FileInput) -> Tree:
    return Tree.of(path, entries)


def test_diff_names_every_kind_of_input_that_changed():
    f = FileInput("a.go", "file", "d1")
    before = Manifest(
        target="api",
        scheme=SCHEME - 1,
        dockerfile=FileInput("services/api/Dockerfile", "file", "df1"),
        context=_tree("services/api", f),
        contexts=(
            NamedInput("gone", ref="docker-image://x:1"),
            NamedInput("img", ref="docker-image://busybox:1"),
            NamedInput("lib", tree=_tree("libs/lib", FileInput("l.py", "file", "l1"))),
            NamedInput("same", tree=_tree("libs/same", f)),
        ),
        watch=_tree(".", FileInput("proto/a.proto", "file", "p1")),
        args=(("A", "1"),),
        platforms=("linux/amd64",),
        stage=None,
        labels=(("team", "core"),),
        secrets=("netrc", "old"),
        upstream=(("base", "b" * 64), ("gone", "g" * 64)),
        bases=(("busybox:latest", "sha256:1"), ("debian:12", ""), ("old:1", "sha256:o")),
    )
    after = Manifest(
        target="api",
        scheme=SCHEME,
        dockerfile=FileInput("services/api/app.Dockerfile", "file", "df2"),
        context=_tree("services/api", f),
        contexts=(
            NamedInput("img", ref="docker-image://busybox:2"),
            NamedInput("lib", tree=_tree("libs/lib", FileInput("l.py", "file", "l2"))),
            NamedInput("new", tree=_tree("libs/new")),
            NamedInput("same", tree=_tree("libs/same", f)),
        ),
        watch=None,
        args=(("A", "1"),),
        platforms=("linux/amd64", "linux/arm64"),
        stage="runtime",
        labels=(("team", "web"), ("tier", "1")),
        secrets=("netrc", "npm"),
        upstream=(("base", "c" * 64), ("new", "n" * 64)),
        bases=(("busybox:latest", "sha256:2"), ("debian:12", "sha256:3"), ("new:1", "sha256:n")),
    )
    assert diff_manifests(before, after) == [
        InputChange("scheme", "", f"orch's version scheme {SCHEME - 1} -> {SCHEME}"),
        InputChange(
            "dockerfile", "services/api/app.Dockerfile", "moved from services/api/Dockerfile"
        ),
        InputChange("dockerfile", "services/api/app.Dockerfile", "content changed"),
        InputChange("context:gone", "", "removed"),
        InputChange("context:img", "", "docker-image://busybox:1 -> docker-image://busybox:2"),
        InputChange("context:lib", "l.py", "content changed"),
        InputChange("context:new", "", "added"),
        InputChange("watch", "proto/a.proto", "removed (was file)"),
        InputChange("label", "team", "'core' -> 'web'"),
        InputChange("label", "tier", "added ('1')"),
        InputChange("platforms", "", "['linux/amd64'] -> ['linux/amd64', 'linux/arm64']"),
        InputChange("target", "", "stage (last) -> runtime"),
        InputChange("secret", "npm", "added"),
        InputChange("secret", "old", "removed"),
        InputChange("upstream", "base", "version bbbbbbbbbbbb -> cccccccccccc"),
        InputChange("upstream", "gone", "removed"),
        InputChange("upstream", "new", "added"),
        InputChange("base image", "busybox:latest", "moved from sha256:1 to sha256:2"),
        InputChange("base image", "debian:12", "moved from (none) to sha256:3"),
        InputChange("base image", "new:1", "added"),
        InputChange("base image", "old:1", "removed"),
    ]
    back = diff_manifests(after, before)
    assert InputChange("target", "", "stage runtime -> (last)") in back
    assert InputChange("base image", "debian:12", "moved from sha256:3 to (none)") in back
    assert diff_manifests(before, before) == []
