"""The documentation: the site builds with `mkdocs build --strict`, its generated pages hold
every key of the plan's schema and every command, and the README stays short and links only to
pages that exist."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.commands.main import cli
from orchestrator.lint.ids import RULES
from orchestrator.plan.schema import PLAN_SCHEMA
from tests.kit import REPO

README_MAX_LINES = 260


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for the module."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr}"
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def anchors(text: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', text))


def test_the_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    assert "orch:" not in (site / "plan" / "index.html").read_text(encoding="utf-8")


def test_the_plan_page_holds_every_top_level_key_of_the_schema(site):
    built = page(site, "plan")
    ids = anchors(built)
    for key in PLAN_SCHEMA["properties"]:
        assert key in ids, f"no section for the plan key {key!r}"


def test_the_plan_page_holds_every_key_of_a_stage_and_a_service(site):
    ids = anchors(page(site, "plan"))
    top = PLAN_SCHEMA["properties"]
    for section in ("stages", "services"):
        for key in top[section]["additionalProperties"]["properties"]:
            assert "key-" + key.replace("_", "-") in ids, f"no section for {section}.*.{key}"


def test_the_commands_page_holds_every_command(site):
    built = page(site, "commands")
    ids = anchors(built)
    names = list(cli.commands)
    assert names
    for name in names:
        assert f"orch-{name}" in ids, f"no section for `orch {name}`"
        assert f"orch [-f FILE] {name}" in html.unescape(built)


def test_the_commands_page_holds_every_visible_option(site):
    text = html.unescape(re.sub(r"<[^>]+>", "", page(site, "commands")))
    for command in cli.commands.values():
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in text, f"`orch {command.name}` option {opt} is not documented"


def test_the_lint_page_holds_every_rule(site):
    ids = anchors(page(site, "lint"))
    text = page(site, "lint")
    for rule in RULES.values():
        assert rule.id.lower() in ids, f"no section for {rule.id}"
        assert rule.name in text


def test_the_readme_is_short():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def readme_links() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_the_readme_links_only_to_files_that_exist():
    local = [link for link in readme_links() if not re.match(r"[a-z]+:", link)]
    assert any(link.startswith("docs/") for link in local)
    for link in local:
        path = link.split("#", 1)[0]
        assert (REPO / path).is_file(), f"README.md links to {link}, which does not exist"


def test_the_readme_links_to_docs_pages_that_are_in_the_site():
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    for link in readme_links():
        if link.startswith("docs/"):
            name = link.split("#", 1)[0].removeprefix("docs/")
            assert name.endswith(".md"), f"README.md links to {link}, not a page"
            assert re.search(rf":\s*{re.escape(name)}\s*$", nav, re.MULTILINE), (
                f"README.md links to {link}, which is not in mkdocs.yml's nav"
            )
