"""`orch init`: a first plan for a tree's Dockerfiles, that orch reads, never over a file."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from orchestrator.commands.main import main
from orchestrator.plan import load_plan
from orchestrator.plan.scaffold import discover, names
from tests.kit import write_tree

TREE = {
    "stages/base/Dockerfile": "FROM busybox\n",
    "services/api/Dockerfile": "FROM base AS test\nRUN true\nFROM base\nCOPY . /src\n",
    "services/web/Dockerfile": "FROM base\nCOPY --from=assets /a /a\n",
    "Dockerfile.tools": "FROM busybox\n",
    "services/web/node_modules/left-pad/index.js": "x\n",
    "node_modules/dep/Dockerfile": "FROM scratch\n",  # a dependency's, never a target
    ".git/Dockerfile": "FROM scratch\n",
    "generated/Dockerfile": "FROM scratch\n",
    ".gitignore": "generated/\n",
}


@pytest.fixture
def tree(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "shop"
    write_tree(root, TREE)
    monkeypatch.chdir(root)
    return root


def test_the_tree_s_dockerfiles_are_found_but_not_those_of_dependencies_or_ignored_ones(tree):
    found = discover(tree, (tree / ".gitignore").read_text().splitlines())
    assert found == [
        PurePosixPath("Dockerfile.tools"),
        PurePosixPath("services/api/Dockerfile"),
        PurePosixPath("services/web/Dockerfile"),
        PurePosixPath("stages/base/Dockerfile"),
    ]


def test_names_come_from_directories_and_collisions_take_the_one_above():
    got = names(
        [
            PurePosixPath("services/api/Dockerfile"),
            PurePosixPath("tools/api/Dockerfile"),
            PurePosixPath("Dockerfile"),
            PurePosixPath("services/api/Dockerfile.worker"),
            PurePosixPath("Web App/Dockerfile"),
        ],
        top="shop",
    )
    assert [f.name for f in got] == ["services-api", "tools-api", "shop", "api-worker", "web-app"]
    assert got[3].dockerfile == "Dockerfile.worker" and got[3].context == "services/api"


def test_init_writes_a_plan_orch_reads_with_stages_services_and_tests(tree, capsys):
    assert main(["init"]) == 0
    err = capsys.readouterr().err
    assert "wrote buildplan.yaml and buildplan.schema.json: 1 stage, 3 services" in err
    text = (tree / "buildplan.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=buildplan.schema.json\n")
    plan = load_plan(tree / "buildplan.yaml")
    assert [n for n, t in plan.targets.items() if t.kind == "stage"] == ["base"]
    assert sorted(plan.services) == ["api", "tools", "web"]
    assert plan.targets["api"].tests == ("test",)
    assert plan.targets["tools"].dockerfile == tree / "Dockerfile.tools"
    assert plan.targets["api"].image == "shop/api"
    data = yaml.safe_load(text)
    assert data["defaults"] == {"image": "shop/{name}"}
    # Where to look, as comments above the target:
    web_block = text[text.index("  # ", text.index("services:")) : text.index("  web:")]
    assert "`assets` (line 2 of its Dockerfile) names no target" in web_block
    assert "orch lint OL108" in web_block and "node_modules" in web_block
    assert (tree / "buildplan.schema.json").is_file()


def test_init_never_replaces_a_plan_or_a_schema(tree, capsys):
    (tree / "buildplan.schema.json").write_text("mine\n")
    assert main(["init"]) == 0
    assert (tree / "buildplan.schema.json").read_text() == "mine\n"
    assert "wrote buildplan.yaml:" in capsys.readouterr().err
    before = (tree / "buildplan.yaml").read_text()
    assert main(["init"]) == 2
    assert "buildplan.yaml is there already: orch init never replaces a file" in (
        capsys.readouterr().err
    )
    assert (tree / "buildplan.yaml").read_text() == before


def test_a_link_where_the_plan_would_go_is_left_alone(tree, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere.yaml"
    (tree / "buildplan.yaml").symlink_to(elsewhere)  # dangling: nothing there yet
    assert main(["init"]) == 2
    assert not elsewhere.exists()


def test_no_dockerfile_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 2
    assert "no Dockerfile under this directory" in capsys.readouterr().err
