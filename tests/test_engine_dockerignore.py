"""The files BuildKit really receives, against what orchestrator.inputs.dockerignore says it sends.

A probe build copies each context into an image and lists it with `find`; the listing is
exported as a local file, so no image is left behind. All contexts of one case go in one
build, and all cases in one bake invocation.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.inputs.dockerignore import load, walk

pytestmark = pytest.mark.engine

# Named directory contexts: each reads only its own .dockerignore.
NAMED: dict[str, dict[str, str]] = {
    "negate": {
        ".dockerignore": "docs\n!docs/README.md\n*.tmp\n!important.tmp\n",
        "docs/README.md": "",
        "docs/other.md": "",
        "docs/sub/x.md": "",
        "a.tmp": "",
        "important.tmp": "",
        "sub/a.tmp": "",
        "keep": "",
    },
    "globstar": {
        ".dockerignore": "**/*.log\n!**/keep.log\n**/cache\n",
        "a.log": "",
        "d/b.log": "",
        "d/e/keep.log": "",
        "d/cache/x": "",
        "cache/y": "",
        "d/cachefile": "",
    },
    "classes": {
        ".dockerignore": "x/**/z\n[ab]?.c\n!b1.c\nq\\*\n",
        "x/z": "",
        "x/y/w/z": "",
        "x/zz": "",
        "a1.c": "",
        "b1.c": "",
        "c1.c": "",
        "a12.c": "",
        "q*": "",
        "qq": "",
    },
    "rooted": {
        ".dockerignore": "/top\n/dir/\nsub/*.txt\n*.md\n",
        "top": "",
        "sub/top": "",
        "dir/x": "",
        "sub/dir/x": "",
        "sub/a.txt": "",
        "sub/deep/a.txt": "",
        "r.md": "",
        "sub/r.md": "",
    },
    # `!a` is not evaluated at `a` (nothing was excluded yet), so it cannot save `a/c`.
    "walkorder": {".dockerignore": "*/c\n!a\n", "a/c": "", "a/d": "", "b/c": ""},
    "dirs": {
        ".dockerignore": "build\n!build/keep\nempty*\n  # x\n.dockerignore\n",
        "build/out": "",
        "build/keep/k": "",
        "build/deeper/keep": "",
        "# x": "",
        "# y": "",
        "emptyfile": "",
    },
    "none": {"a": "", "b/c": ""},
}

PROBE = """\
FROM busybox:latest AS probe
{copies}
RUN cd /ctx && find . -mindepth 1 | sort > /list
FROM scratch
COPY --from=probe /list /list
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def probe_dockerfile(names: list[str]) -> str:
    copies = ["COPY . /ctx/main"] + [f"COPY --from={n} . /ctx/{n}" for n in names]
    return PROBE.format(copies="\n".join(copies))


def expected(context: Path, dockerfile: Path | None, label: str) -> set[str]:
    return {f"./{label}"} | {
        f"./{label}/{e.path}" for e in walk(context, load(context, dockerfile))
    }


def test_buildkit_sends_exactly_what_dockerignore_walk_says(tmp_path: Path):
    cases: dict[str, tuple[Path, Path, dict[str, Path]]] = {}

    # 1. A Dockerfile-specific ignore file beside the Dockerfile (outside the context) wins
    #    over the context's .dockerignore; named contexts use their own.
    one = tmp_path / "one"
    named: dict[str, Path] = {}
    for name, files in NAMED.items():
        write(one / name, files)
        (one / name / "empty").mkdir(exist_ok=True)
        named[name] = one / name
    (one / "dirs" / "sym").symlink_to("build")
    (one / "dirs" / "dangling").symlink_to("nowhere")
    write(
        one / "ctx",
        {
            ".dockerignore": "kept-by-specific\n",
            "kept-by-specific": "",
            "secret.env": "",
            "src/app.py": "",
            "src/app_test.py": "",
            "app.Dockerfile": "",
        },
    )
    write(one / "build", {"app.Dockerfile.dockerignore": "*.env\n**/*_test.py\napp.Dockerfile\n"})
    (one / "build/app.Dockerfile").write_text(probe_dockerfile(list(NAMED)))
    cases["one"] = (one / "ctx", one / "build/app.Dockerfile", named)

    # 2. Only the context's .dockerignore; it may exclude itself and the Dockerfile.
    two = tmp_path / "two"
    write(
        two,
        {
            ".dockerignore": (
                "# comment\n/Dockerfile\n.dockerignore\n**/node_modules\n!web/node_modules/keep\n"
            ),
            "web/node_modules/a/b": "",
            "web/node_modules/keep/k": "",
            "node_modules/x": "",
            "web/index.js": "",
        },
    )
    (two / "Dockerfile").write_text(probe_dockerfile([]))
    cases["two"] = (two, two / "Dockerfile", {})

    # 3. An empty Dockerfile-specific ignore file next to a non-empty .dockerignore.
    three = tmp_path / "three"
    write(three, {".dockerignore": "drop\n", "drop": "", "keep": "", "Dockerfile.dockerignore": ""})
    (three / "Dockerfile").write_text(probe_dockerfile([]))
    cases["three"] = (three, three / "Dockerfile", {})

    out = tmp_path / "out"
    bake = {
        "target": {
            name: {
                "context": str(context),
                "dockerfile": str(dockerfile),
                "contexts": {n: str(p) for n, p in ctxs.items()},
                "output": [f"type=local,dest={out / name}"],
            }
            for name, (context, dockerfile, ctxs) in cases.items()
        },
        "group": {"default": {"targets": list(cases)}},
    }
    bake_file = tmp_path / "probe.json"
    bake_file.write_text(json.dumps(bake))
    proc = subprocess.run(
        ["docker", "buildx", "bake", "--progress=plain", "-f", str(bake_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # buildx 0.2x asks for entitlements to read the contexts and write the outputs that lie
        # outside its working directory, as this probe's do.
        env={**os.environ, "BUILDX_BAKE_ENTITLEMENTS_FS": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    for name, (context, dockerfile, ctxs) in cases.items():
        got = set((out / name / "list").read_text().split("\n")) - {""}
        want = expected(context, dockerfile, "main")
        for label, path in ctxs.items():
            want |= expected(path, None, label)
        assert sorted(got - want) == [] and sorted(want - got) == [], name
