"""JSON text with file names whose bytes are not UTF-8: valid for strict parsers."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import jsontext
from orchestrator.lint.findings import finding
from orchestrator.lint.formats import Report, as_json

ODD = os.fsdecode(b"svc/caf\xe9/\xfd.txt")  # 'svc/caf\udce9/\udcfd.txt' on Linux


def strict_loads(text: str) -> object:
    """What a strict parser reads: UTF-8 bytes, and no lone surrogate escape in them."""
    data = json.loads(text.encode("utf-8"))
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # a lone surrogate would raise
    return data


def test_a_byte_that_is_not_utf8_is_written_as_its_hex_text() -> None:
    text = jsontext.dumps({"path": ODD, ODD: [ODD, (ODD, 1)]})
    assert "\\ud" not in text
    assert strict_loads(text) == {
        "path": "svc/caf\\xe9/\\xfd.txt",
        "svc/caf\\xe9/\\xfd.txt": ["svc/caf\\xe9/\\xfd.txt", ["svc/caf\\xe9/\\xfd.txt", 1]],
    }
    assert '"svc/caf\\\\xe9/\\\\xfd.txt"' in text  # the backslash escaped, as JSON writes it


def test_a_surrogate_os_fsdecode_never_makes_is_written_as_its_code_point() -> None:
    assert strict_loads(jsontext.dumps(["a\ud800b", "\udc7f"])) == ["a\\ud800b", "\\udc7f"]


def test_text_without_surrogates_is_what_json_dumps_writes() -> None:
    data = {"a": ["x", "caf\u00e9", "\U0001f480", 1, 2.5, None, True], "b": {"c": "\\xfd"}}
    assert jsontext.dumps(data) == json.dumps(data, indent=2)
    assert jsontext.dumps(data, indent=None) == json.dumps(data)


# st.text() never holds a surrogate, so strings are built from characters, surrogates among them.
_SURROGATES = st.sampled_from(["\udcfd", "\udc80", "\udcff", "\ud800", "\udfff"])
_STRINGS = st.lists(st.characters() | _SURROGATES).map("".join)


@pytest.mark.slow
@given(st.recursive(_STRINGS, lambda inner: st.lists(inner) | st.dictionaries(_STRINGS, inner)))
def test_any_document_is_valid_json_and_unchanged_when_it_can_be(data: object) -> None:
    text = jsontext.dumps(data)
    strict_loads(text)
    try:
        json.dumps(data).encode("utf-8")
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return
    assert text == json.dumps(data, indent=2)


def test_lint_json_names_a_file_with_odd_bytes_in_valid_json() -> None:
    found = finding("OL101", "svc", f"{ODD}/Dockerfile", (1, 1), "m", "w", "f")
    doc = strict_loads(as_json(Report(findings=[found], files=1, targets=1, hadolint=None)))
    assert isinstance(doc, dict)
    assert doc["findings"][0]["file"] == "svc/caf\\xe9/\\xfd.txt/Dockerfile"
