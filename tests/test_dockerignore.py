"""`.dockerignore` read and matched as BuildKit does (moby/patternmatcher, fsutil's walk)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.inputs.dockerignore import (
    DockerIgnore,
    DockerIgnoreError,
    go_clean,
    ignore_file_for,
    load,
    read_patterns,
    walk,
)

# (pattern, path, excluded): patternmatcher's own expectations, through orch's API.
SINGLE = [
    ("**", "file", True),
    ("**/", "file", True),
    ("**", "dir/file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    # Not gitignore: a pattern is anchored at the context root, at every depth.
    ("*.go", "main.go", True),
    ("*.go", "cmd/main.go", False),
    ("node_modules", "web/node_modules/x", False),
    # A directory that matches takes everything under it; a trailing / is cleaned away.
    ("build", "build/out/x.o", True),
    ("build/", "build", True),
    ("/build", "build/x", True),
    ("./build/../build", "build/x", True),
    ("*", "a/b", True),
    ("?", "a", True),
    ("?", "ab", False),
    ("*/", "a", True),
    # A newline is not an end of the path, unlike Python's `$`.
    ("*.txt", "a.txt\n", False),
]


@pytest.mark.parametrize(("pattern", "path", "excluded"), SINGLE)
def test_one_pattern_matches_as_patternmatcher_does(pattern: str, path: str, excluded: bool):
    assert DockerIgnore.from_text(pattern).excludes(path) is excluded


MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3-py3-none-any.whl", False),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "drop", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["!x", "x"], "x", True),
    (["x", "!x"], "x/y", False),
    # The walk carries a parent's result down only for the patterns it evaluated there:
    # `!a` is skipped at `a` (nothing was excluded yet), so it never re-includes `a/c`.
    (["*/c", "!a"], "a/c", True),
    (["*/c", "!a"], "b/c", True),
    (["*/c", "!a/c"], "a/c", False),
]


@pytest.mark.parametrize(("patterns", "path", "excluded"), MULTI)
def test_later_patterns_win_and_exceptions_reinclude(
    patterns: list[str], path: str, excluded: bool
):
    assert DockerIgnore.from_patterns(patterns).excludes(path) is excluded


def test_ignore_file_is_read_as_buildkit_reads_it():
    text = (
        "\ufeff# a comment\n"
        "  # not a comment: a pattern\n"
        "\n"
        "   spaced/   \r\n"
        "/rooted/./dir//\n"
        "!  /kept\n"
        "a/../b\n"
        "/\n"
        "../up\n"
    )
    assert read_patterns(text) == [
        "# not a comment: a pattern",
        "spaced",
        "rooted/dir",
        "!kept",
        "b",
        "/",
        "../up",
    ]


def test_ignore_file_bytes_and_str_read_alike():
    raw = "\ufeffa\n!b\n".encode()
    assert read_patterns(raw) == read_patterns(raw.decode()) == ["a", "!b"]


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [
        ("", "."),
        ("a//b/", "a/b"),
        ("/../a", "/a"),
        ("../../a/..", "../.."),
        ("//a", "/a"),
        ("./", "."),
    ],
)
def test_paths_clean_as_go_cleans_them(path: str, cleaned: str):
    assert go_clean(path) == cleaned


@pytest.mark.parametrize("bad", ["!", "a[", "a\\", "[]", "[a-]", "x[-a]"])
def test_a_pattern_buildkit_rejects_is_an_error(bad: str):
    with pytest.raises(DockerIgnoreError):
        DockerIgnore.from_patterns([bad])


def test_an_excluded_directory_is_pruned_unless_an_exception_reaches_inside():
    assert DockerIgnore.from_patterns(["docs"]).prunes("docs")
    assert not DockerIgnore.from_patterns(["docs", "!docs/keep"]).prunes("docs")
    assert DockerIgnore.from_patterns(["docs", "!other/keep"]).prunes("docs")
    # An exception with a glob character makes fsutil walk every excluded directory.
    assert not DockerIgnore.from_patterns(["docs", "!*.md"]).prunes("docs")
    assert not DockerIgnore.from_patterns(["docs", "!**/keep"]).prunes("docs")


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)


def sent(root: Path, patterns: list[str]) -> list[str]:
    return [e.path for e in walk(root, DockerIgnore.from_patterns(patterns))]


def test_walk_sends_parents_of_reincluded_files_and_nothing_else_below(tmp_path: Path):
    make_tree(
        tmp_path,
        ["docs/a.md", "docs/keep/k.md", "docs/sub/deep/x.md", "docs/empty/", "src/main.go"],
    )
    assert sent(tmp_path, ["docs", "!docs/keep"]) == [
        "docs",
        "docs/keep",
        "docs/keep/k.md",
        "src",
        "src/main.go",
    ]
    assert sent(tmp_path, ["docs", "!**/x.md"]) == [
        "docs",
        "docs/sub",
        "docs/sub/deep",
        "docs/sub/deep/x.md",
        "src",
        "src/main.go",
    ]


def test_walk_keeps_symlinks_as_links_and_does_not_follow_them(tmp_path: Path):
    make_tree(tmp_path, ["real/f"])
    (tmp_path / "link").symlink_to("real")
    (tmp_path / "dangling").symlink_to("nowhere")
    assert sent(tmp_path, []) == ["dangling", "link", "real", "real/f"]


def test_walk_excludes_the_dockerfile_and_ignore_file_when_told(tmp_path: Path):
    make_tree(tmp_path, ["Dockerfile", "app.py"])
    (tmp_path / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
    assert [e.path for e in walk(tmp_path, load(tmp_path, tmp_path / "Dockerfile"))] == ["app.py"]


def test_dockerfile_specific_ignore_file_replaces_the_context_one(tmp_path: Path):
    make_tree(tmp_path, ["ctx/a", "ctx/b", "build/app.Dockerfile"])
    (tmp_path / "ctx/.dockerignore").write_text("a\n")
    dockerfile = tmp_path / "build/app.Dockerfile"
    assert ignore_file_for(tmp_path / "ctx", dockerfile) == tmp_path / "ctx/.dockerignore"
    (tmp_path / "build/app.Dockerfile.dockerignore").write_text("b\n")
    assert ignore_file_for(tmp_path / "ctx", dockerfile) == dockerfile.with_name(
        "app.Dockerfile.dockerignore"
    )
    assert [e.path for e in walk(tmp_path / "ctx", load(tmp_path / "ctx", dockerfile))] == [
        ".dockerignore",
        "a",
    ]
    # A named context has no Dockerfile: only its own .dockerignore counts.
    assert [e.path for e in walk(tmp_path / "ctx", load(tmp_path / "ctx"))] == [
        ".dockerignore",
        "b",
    ]


NAMES = st.sampled_from(["a", "b", "c", "x.md", "k"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map("/".join)
PATTERN = st.one_of(
    PATHS,
    st.sampled_from(["*", "**", "**/x.md", "*/b", "a/**", "?", "[ab]", "**/k", "a*"]),
).flatmap(lambda p: st.sampled_from([p, "!" + p]))


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(files=st.lists(PATHS, min_size=1, max_size=12), patterns=st.lists(PATTERN, max_size=5))
def test_walk_and_excludes_agree(tmp_path_factory: pytest.TempPathFactory, files, patterns):
    """A path is sent when it is not excluded, or when something sent lies under it."""
    root = tmp_path_factory.mktemp("tree")
    created = []
    for rel in files:
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue
        created.append(rel)
    ignore = DockerIgnore.from_patterns(patterns)
    every = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    kept = {p for p in every if not ignore.excludes(p)}
    expected = {p for p in every if p in kept or any(k.startswith(p + "/") for k in kept)}
    assert {e.path for e in walk(root, ignore)} == expected
