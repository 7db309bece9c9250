"""`.orch/history.json`: last run's durations, the scheduler's weights."""

from __future__ import annotations

import json

import pytest

from orchestrator.run import history


def test_a_missing_file_is_an_empty_history(tmp_path):
    assert history.load(tmp_path / ".orch/history.json") == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "not json at all",
        "[1, 2, 3]",
        '"api"',
        "42",
        "null",
    ],
)
def test_a_corrupt_or_odd_file_is_an_empty_history(tmp_path, text):
    path = tmp_path / "history.json"
    path.write_text(text)
    assert history.load(path) == {}


def test_a_file_that_is_not_utf8_is_an_empty_history(tmp_path):
    path = tmp_path / "history.json"
    path.write_bytes(b"\xff\xfe{\x00")
    assert history.load(path) == {}


def test_a_directory_in_place_of_the_file_is_an_empty_history(tmp_path):
    path = tmp_path / "history.json"
    path.mkdir()
    assert history.load(path) == {}


def test_entries_that_are_not_durations_are_dropped(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(
        json.dumps({"api": 12.5, "base": 3, "bad": "slow", "neg": -1.0, "none": None, "l": [1]})
    )
    assert history.load(path) == {"api": 12.5, "base": 3.0}


def test_update_creates_the_file_and_its_directory(tmp_path):
    path = tmp_path / ".orch/history.json"
    history.update(path, {"api": 1.5})
    assert history.load(path) == {"api": 1.5}


def test_update_merges_new_durations_into_the_old_ones(tmp_path):
    path = tmp_path / "history.json"
    history.update(path, {"api": 10.0, "base": 4.0})
    history.update(path, {"api": 12.0, "worker": 2.0})
    assert history.load(path) == {"api": 12.0, "base": 4.0, "worker": 2.0}


def test_update_rounds_to_milliseconds(tmp_path):
    path = tmp_path / "history.json"
    history.update(path, {"api": 1.23456789, "base": 0.0004})
    assert json.loads(path.read_text()) == {"api": 1.235, "base": 0.0}


def test_update_replaces_a_corrupt_file(tmp_path):
    path = tmp_path / "history.json"
    path.write_text("{ truncated")
    history.update(path, {"api": 2.0})
    assert history.load(path) == {"api": 2.0}


def test_the_file_is_sorted_json_a_person_can_read(tmp_path):
    path = tmp_path / "history.json"
    history.update(path, {"worker": 1.0, "api": 2.0, "base": 3.0})
    text = path.read_text()
    assert list(json.loads(text)) == ["api", "base", "worker"]
    assert text.endswith("}\n")
    assert "\n  " in text  # indented


def test_update_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "history.json"
    for i in range(3):
        history.update(path, {f"job{i}": float(i)})
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "history.json"
    history.update(path, {"api": 1.0})
    before = path.read_text()
    with pytest.raises(TypeError):
        history.write_json_atomic(path, {"api": object()})
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


def test_durations_per_builder_are_read_from_job_at_builder_keys():
    durations = {
        "api": 12.0,
        "api@big-box": 3.0,
        "api@default": 12.0,
        "worker:unit@node2": 4.5,  # a test stage's job key
        "@node2": 1.0,  # no job
        "api@": 1.0,  # no builder
    }
    assert history.by_builder(durations) == {
        "api": {"big-box": 3.0, "default": 12.0},
        "worker:unit": {"node2": 4.5},
    }
    assert history.by_builder({"api": 12.0}) == {}
