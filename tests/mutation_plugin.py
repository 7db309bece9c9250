"""A pytest plugin for mutation runs only (pyproject's [tool.mutmut] loads it with -p).

Each mutant runs the property tests that cover it; at their full example counts a survivor
costs seconds. Under mutation each property test runs a fixed, smaller set of examples, the
same for every mutant, so a score does not move between two runs of unchanged code.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

# Enough examples to find some of what the example-based tests miss, few enough for thousands
# of mutants on two shared cores.
MAX_EXAMPLES = 10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if test is None or current is None or not hasattr(test, "hypothesis"):
            continue
        test._hypothesis_internal_use_settings = settings(  # type: ignore[attr-defined]
            current,
            max_examples=min(current.max_examples, MAX_EXAMPLES),
            derandomize=True,
            database=None,
            deadline=None,
        )
