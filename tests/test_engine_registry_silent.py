"""A registry that accepts connections and never answers, on the real engine: orch stops within
its probe's bound, exit 3, naming the registry and what it was doing, instead of waiting on it
(imagetools forever, BuildKit 10-20 s per target with an error about something else)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from orchestrator.engine.registry import PROBE_TIMEOUT_S
from tests.kit import monorepo, run_orch
from tests.silent_registry import silent_registry

pytestmark = pytest.mark.engine

BOUND_S = PROBE_TIMEOUT_S + 5.0  # the probe, and the rest of a run that fails early


def _build(root: Path, *args: str) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = run_orch(root, "build", *args, env={"CI": "true"}, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    ("where", "doing"),
    [
        ("base image", "looking up {host}/base:1 in its registry"),
        ("cache", "before building svc"),
        ("push", "looking up {host}/"),  # the up-to-date look-up comes first
        ("image context", "looking up {host}/ctx:1 in its registry"),
    ],
)
def test_a_silent_registry_fails_the_run_in_seconds_naming_it(
    tmp_path: Path, image_prefix: str, where: str, doing: str
) -> None:
    with silent_registry() as host:
        dockerfile = f"FROM busybox:latest\nRUN echo {uuid.uuid4().hex}\n"
        svc = "{context: svc}"
        defaults = ""
        if where == "base image":
            dockerfile = f"FROM {host}/base:1\n"
        elif where == "cache":
            cache = f"type=registry,ref={host}/cache:{{name}}"
            defaults = f'  cache:\n    from: ["{cache}"]\n    to: ["{cache},mode=max"]\n'
        elif where == "push":
            defaults = f"  registry: {host}\n"
        else:
            svc = f"{{context: svc, contexts: {{ctx: 'docker-image://{host}/ctx:1'}}}}"
            dockerfile += "COPY --from=ctx /x /x\n"
        root = monorepo(
            tmp_path,
            image_prefix,
            defaults + f"services:\n  svc: {svc}\n",
            {"svc/Dockerfile": dockerfile},
        )
        code, out, took = _build(root)
    assert code == 3, out
    assert f"the registry {host} did not answer within {PROBE_TIMEOUT_S:g} s" in out, out
    assert doing.format(host=host) in out, out
    assert "Traceback" not in out
    assert took < BOUND_S, f"{where}: orch took {took:.1f} s to fail (bound {BOUND_S:.0f} s)"
    print(f"{where}: exit 3 after {took:.1f} s")
