"""What orch prints fits the terminal: names, images and versions whole, no line too wide."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from orchestrator.project import load_project
from orchestrator.report.planview import plan_table
from tests.kit import project_of

REPO = Path(__file__).resolve().parent.parent


def shown(project, names, versions, statuses=None, *, width: int, wide: bool = False) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system=None)
    plan_table(project, names, versions, statuses, wide=wide, console=console)
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 120])
def test_the_example_plan_fits_the_terminal_with_every_value_whole(width):
    project = load_project(REPO / "buildplan.yaml")
    names = list(project.graph.order)
    versions = {n: f"{i:x}" * 64 for i, n in enumerate(names)}
    text = shown(project, names, versions, width=width)
    assert all(len(line) <= width for line in text.splitlines()), text
    for name in names:
        t = project.plan.targets[name]
        assert name in text.split() and t.first_tag in text.split()
        assert versions[name][:20] in text.split()  # the short version, whole
    table = all(" image " in line for line in text.splitlines()[1:2])
    assert table == (width >= 120)  # the table where it fits, else a block per target


def test_long_names_and_reasons_under_since_go_on_lines_of_their_own(tmp_path):
    long = "payments-reconciliation-eu-wk1"  # its image fits 80 columns only on its own
    project = project_of(
        tmp_path,
        f"defaults:\n  image: registry.example.com:5000/platform/{{name}}\n"
        f"services:\n  {long}: {{context: svc}}\n",
        {"svc/Dockerfile": "FROM busybox\n"},
    )
    why = "svc/src/some/deeply/nested/module/file_with_a_long_name.py changed (and 3 more)"
    text = shown(project, [long], {long: "a" * 64}, {long: ("pending", why)}, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert f"registry.example.com:5000/platform/{long}:latest" in text.split()
    assert long in text.split()
    assert "svc/src/some/deeply/nested/module/file_with_a_long_name.py" in text.split()


def test_wide_keeps_one_table_whatever_the_width(tmp_path):
    project = load_project(REPO / "buildplan.yaml")
    names = list(project.graph.order)
    text = shown(project, names, {}, width=80, wide=True)
    rows = [line.split() for line in text.splitlines() if line[:1].isdigit()]
    assert [row[1] for row in rows if row[1] in names] == names  # a row each, in build order
