"""JSON text that every strict parser accepts, whatever bytes the file names held.

On Linux a file name is bytes, and `os.fsdecode` turns each byte that is not UTF-8 (such as
b"\\xfd") into a lone surrogate (U+DCFD). `json.dumps` writes that as the escape `\\udcfd`,
which is not valid JSON: strict parsers (Go's, jq's, many others) reject it or turn it into
U+FFFD, and it cannot be encoded as UTF-8 at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Any code point a UTF-8 encoder refuses: the surrogates, of which `os.fsdecode` makes only
# U+DC80..U+DCFF (one for each byte 0x80..0xFF it could not decode).
_SURROGATE = re.compile("[\ud800-\udfff]")


# Every JSON document orch prints or writes (`plan --json`, `lint --format json`, `matrix`,
# `--report`) starts with `"schema_version": SCHEMA_VERSION`; a change that removes or renames a
# key, or changes what one means, raises it (docs/json.md describes each document).
SCHEMA_VERSION = 1


def versioned(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with `schema_version` first."""
    return {"schema_version": SCHEMA_VERSION, **document}


def _byte_text(match: re.Match[str]) -> str:
    point = ord(match.group())
    if 0xDC80 <= point <= 0xDCFF:
        return f"\\x{point - 0xDC00:02x}"  # the byte os.fsdecode read, as Python writes it
    return f"\\u{point:04x}"


def clean(text: str) -> str:
    """`text` with each surrogate written out as text: U+DC80..U+DCFF as `\\xHH`, the byte it
    stands for (U+DCFD is the four characters `\\xfd`), any other as `\\uHHHH`."""
    return _SURROGATE.sub(_byte_text, text)


def _cleaned(data: Any) -> Any:
    if isinstance(data, str):
        return clean(data)
    if isinstance(data, dict):
        return {clean(k) if isinstance(k, str) else k: _cleaned(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_cleaned(item) for item in data]
    return data


def dumps(data: object, *, indent: int | None = 2) -> str:
    """`json.dumps(data, indent=indent)`, except that no string holds a surrogate: valid JSON
    text, which encodes as UTF-8.

    A byte of a file name that is not UTF-8 is written as the four characters `\\xHH` inside
    the string (so in the JSON text as `\\\\xfd`), the way Python's `repr` of the bytes shows
    it: a person can read the name back, and `os.fsencode` of the name with each `\\xHH`
    turned back into its byte gives the original bytes. A name that already held the text
    `\\xfd` reads the same: the form is for people, not a lossless encoding. Text without
    surrogates comes out exactly as `json.dumps` writes it.
    """
    text = json.dumps(data, indent=indent)
    if "\\ud" not in text:  # json.dumps writes every surrogate as a `\udXXX` escape
        return text
    return json.dumps(_cleaned(data), indent=indent)
