"""`did you mean ...?` hints: never the word the user wrote, never a name orch would reject."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.commands.main import main
from orchestrator.errors import PlanError, did_you_mean
from orchestrator.plan import load_plan, references
from tests.kit import write_tree

DOCKERFILE = "FROM busybox\n"


def _plan_error(root: Path, plan: str, files: dict[str, str] | None = None) -> PlanError:
    write_tree(root, {"buildplan.yaml": plan, "svc/Dockerfile": DOCKERFILE, **(files or {})})
    with pytest.raises(PlanError) as caught:
        load_plan(root / "buildplan.yaml")
    return caught.value


def _suggested(hint: str | None) -> str | None:
    found = re.search(r"(?:did you mean|such as) '([^']*)'", hint or "")
    return found.group(1) if found else None


def test_the_word_itself_is_never_suggested() -> None:
    assert did_you_mean("sérvice", ["sérvice"]) is None
    assert did_you_mean("sérvice", ["sérvice", "service"]) == "did you mean 'service'?"


def test_a_choice_the_caller_rejects_is_never_suggested() -> None:
    def ascii_only(name: str) -> bool:
        return name.isascii()

    assert did_you_mean("sérvice", ["sérvices"], valid=ascii_only) is None
    assert did_you_mean("sérvice", ["sérvices", "servic"], valid=ascii_only) == (
        "did you mean 'servic'?"
    )


def test_a_name_with_an_accent_is_renamed_without_it(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "version: 1\nservices:\n  sérvice: {context: svc}\n")
    assert "bad target name 'sérvice'" in err.message, err.render()
    assert _suggested(err.hint) == "service", err.render()


@pytest.mark.parametrize(
    ("written", "fixed"),
    [
        ('"api\\n"', "api"),  # a trailing newline once passed the schema's `$`
        ('"api\\t"', "api"),
        ('"API"', "api"),
        ('"a\u0301pi"', "api"),  # a combining accent (NFD)
        ('"\u212aelvin"', "kelvin"),  # KELVIN SIGN, which lower-cases to ASCII k
        ('"ﬁle"', "file"),  # a ligature
        ('"api\\u200b"', "api"),  # a zero-width space
    ],
)
def test_names_differing_by_invalid_characters_are_caught_at_the_name(
    tmp_path: Path, written: str, fixed: str
) -> None:
    err = _plan_error(
        tmp_path, f"version: 1\nservices:\n  {written}: {{context: svc}}\n  x: {{context: svc}}\n"
    )
    assert err.message.startswith("bad target name"), err.render()
    assert err.location is not None and err.location.line == 3, err.render()
    assert _suggested(err.hint) == fixed, err.render()


def test_depends_on_an_accented_name_suggests_the_plain_one(tmp_path: Path) -> None:
    err = _plan_error(
        tmp_path,
        "version: 1\nservices:\n  service: {context: svc}\n"
        "  web: {context: svc, depends_on: [sérvice]}\n",
    )
    assert "depends on 'sérvice'" in err.message
    assert _suggested(err.hint) == "service", err.render()


def test_a_directory_named_with_other_code_points_is_shown_with_them(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "sérvice")
    (tmp_path / nfd).mkdir()
    (tmp_path / nfd / "Dockerfile").write_text(DOCKERFILE)
    err = _plan_error(tmp_path, "version: 1\nservices:\n  service: {context: sérvice}\n")
    assert "context 'sérvice' does not exist" in err.message
    # The two print alike, so the hint spells out the code points of both.
    assert "'se\\u0301rvice'" in (err.hint or ""), err.render()
    assert "'s\\xe9rvice'" in (err.hint or ""), err.render()


def test_an_unknown_target_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(
        tmp_path,
        {
            "buildplan.yaml": "version: 1\nservices:\n  service: {context: svc}\n",
            "svc/Dockerfile": DOCKERFILE,
        },
    )
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "sérvice"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'service'?" in err, err


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\0"),
        min_size=1,
        max_size=20,
    )
)
def test_every_suggested_name_is_valid_and_new(name: str) -> None:
    if references.name_problem(name) is None:
        return
    fixed = references.fixed_name(name)
    assert fixed != name
    assert references.name_problem(fixed) is None, (name, fixed)
