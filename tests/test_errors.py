"""Finding orch's own error inside a task group's exceptions, for the CLI to report as itself."""

from __future__ import annotations

from orchestrator.errors import EngineError, orch_error_in


def test_the_first_orch_error_is_found_in_nested_groups() -> None:
    engine = EngineError("the Docker Engine is not answering")
    group = BaseExceptionGroup("run", [ValueError("x"), BaseExceptionGroup("inner", [engine])])
    assert orch_error_in(group) is engine


def test_a_group_without_an_orch_error_gives_none() -> None:
    assert orch_error_in(BaseExceptionGroup("run", [ValueError("x"), KeyError("y")])) is None
