"""Each target's own account of a chained bake, on the real engine: when it was built, whether
its step failed (once), and which cached steps were its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.kit import monorepo, orch_build

pytestmark = pytest.mark.engine

BUSYBOX = "FROM busybox:latest\n"
# base -> tool -> api, and web on base: one chained bake of four.
CHAIN = (
    "stages:\n  base: {context: base}\n  tool: {context: tool}\n"
    "services:\n  api: {context: api}\n  web: {context: web}\n"
)
_LINE = re.compile(r"^\[\s*(?P<at>[\d.]+)s\] (?P<key>\S+): (?P<status>\S+)", re.M)


def said(out: str, key: str, status: str) -> float:
    """When the progress said `key: status`, in seconds from the run's start."""
    for m in _LINE.finditer(out):
        if (m.group("key"), m.group("status")) == (key, status):
            return float(m.group("at"))
    raise AssertionError(f"no `{key}: {status}` in:\n{out}")


def test_an_upstream_is_built_when_its_image_is_exported_not_when_the_bake_ends(
    tmp_path: Path, image_prefix: str
) -> None:
    plan = "stages:\n  base: {context: base}\nservices:\n  slow: {context: slow}\n"
    root = monorepo(
        tmp_path,
        image_prefix,
        plan,
        {
            "base/Dockerfile": BUSYBOX + f"RUN echo {image_prefix} > /base.txt\n",
            "slow/Dockerfile": "FROM base\nRUN sleep 6 && cat /base.txt > /slow.txt\n",
        },
    )
    code, out, report = orch_build(root)
    assert code == 0, out
    (bake,) = report["invocations"]  # one chained bake of both
    assert sorted(bake["jobs"]) == ["base", "slow"]
    base, slow = report["targets"]["base"], report["targets"]["slow"]
    assert base["ended_s"] is not None and slow["ended_s"] is not None
    assert slow["ended_s"] - base["ended_s"] >= 5.0, report
    assert base["duration_s"] < slow["duration_s"] - 5.0
    # The progress says so as it happens, not when the bake ends.
    assert said(out, "slow", "built") - said(out, "base", "built") >= 5.0, out
    assert any("RUN echo" in s["name"] for s in base["steps"])
    assert not any("RUN echo" in s["name"] for s in slow["steps"])


def test_a_failing_step_fails_once_and_only_what_it_stopped_runs_again(
    tmp_path: Path, image_prefix: str
) -> None:
    plan = (
        "stages:\n  base: {context: base}\n"
        "services:\n  svc: {context: svc}\n  quick: {context: quick}\n  broken: {context: broken}\n"
    )
    root = monorepo(
        tmp_path,
        image_prefix,
        plan,
        {
            "base/Dockerfile": BUSYBOX + f"RUN echo {image_prefix} > /base.txt\n",
            "quick/Dockerfile": "FROM base\nRUN echo quick > /q\n",
            "svc/Dockerfile": "FROM base\nRUN sleep 4 && echo svc > /svc.txt\n",
            "broken/Dockerfile": (
                "FROM base\n# a comment\nRUN sleep 1 && echo fail-$RANDOM && false\n"
            ),
        },
    )
    code, out, report = orch_build(root)
    assert code == 1, out
    targets = report["targets"]
    assert {k: v["status"] for k, v in targets.items()} == {
        "base": "built",
        "svc": "built",
        "quick": "built",
        "broken": "failed",
    }
    broken = targets["broken"]
    assert [a["outcome"] for a in broken["attempts"]] == ["failed"], broken["attempts"]
    assert re.fullmatch(
        r"\[\d/2\] RUN sleep 1 && echo fail-\$RANDOM && false", broken["failed_step"]
    )
    assert broken["failed_line"] == 3
    # base and quick were done before the failure: built once, by the first bake.
    for name in ("base", "quick"):
        assert [a["outcome"] for a in targets[name]["attempts"]] == ["built"], targets[name]
    # svc was cut off mid-step: it alone ran again.
    assert [a["outcome"] for a in targets["svc"]["attempts"]] == [
        "stopped by a sibling's failure",
        "built",
    ]
    assert len(report["invocations"]) == 2 and report["invocations"][1]["jobs"] == ["svc"]
    # The terminal shows BuildKit's excerpt of the Dockerfile, the failing line marked.
    assert re.search(r"^\s+3 \| >>> RUN sleep 1 && echo fail-\$RANDOM && false$", out, re.M), out


def test_a_warm_rebuild_counts_each_targets_cached_steps_as_its_own(
    tmp_path: Path, image_prefix: str
) -> None:
    root = monorepo(
        tmp_path,
        image_prefix,
        CHAIN,
        {
            "base/Dockerfile": BUSYBOX + f"RUN echo {image_prefix} > /b\nRUN echo two > /b2\n",
            "tool/Dockerfile": "FROM base\nRUN echo tool > /t\n",
            "api/Dockerfile": "FROM tool\nRUN echo api > /a\n",
            "web/Dockerfile": "FROM base\nRUN echo web > /w\n",
        },
    )
    code, out, _ = orch_build(root)
    assert code == 0, out
    code, out, report = orch_build(root, "--force")
    assert code == 0, out
    (bake,) = report["invocations"]
    assert len(bake["jobs"]) == 4
    cached = {k: v["cached_steps"] for k, v in report["targets"].items()}
    # Each target's own RUNs, not a shared vertex counted under another (the FROM of a local
    # image is resolved, not a cache hit).
    assert cached == {"base": 2, "tool": 1, "api": 1, "web": 1}, cached
    log = (root / report["targets"]["base"]["log"]).read_text()
    assert "RUN echo two > /b2" in log


def test_a_run_gives_its_trace_timeline_critical_path_and_plain_build_output(
    tmp_path: Path, image_prefix: str
) -> None:
    import json

    root = monorepo(
        tmp_path,
        image_prefix,
        CHAIN,
        {
            "base/Dockerfile": BUSYBOX + f"RUN echo {image_prefix} > /b\n",
            "tool/Dockerfile": "FROM base\nRUN sleep 2 && echo tool-says-hello\n",
            "api/Dockerfile": "FROM tool\nRUN sleep 1 && echo api > /a\n",
            "web/Dockerfile": "FROM base\nRUN echo web > /w\n",
        },
    )
    trace, page = tmp_path / "run.trace.json", tmp_path / "run.html"
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    env["GITHUB_OUTPUT"] = str(output)
    code, out, report = orch_build(
        root, "--trace", str(trace), "--timeline", str(page), "--progress", "plain", env=env
    )
    assert code == 0, out
    # plain: each target's build output, prefixed with its name.
    assert re.search(r"^tool \|   tool-says-hello$", out, re.M), out
    assert re.search(r"^api \| \[\d/2\] RUN sleep 1 && echo api > /a$", out, re.M), out
    events = json.loads(trace.read_text())["traceEvents"]
    jobs = {e["name"]: e for e in events if e.get("cat") == "job"}
    assert sorted(jobs) == ["api", "base", "tool", "web"]
    steps = [e for e in events if e.get("cat", "").startswith("step")]
    tool_run = next(e for e in steps if "echo tool-says-hello" in e["name"])
    assert tool_run["tid"] == jobs["tool"]["tid"] and tool_run["dur"] >= 1_500_000
    assert jobs["base"]["ts"] + jobs["base"]["dur"] < jobs["api"]["ts"] + jobs["api"]["dur"]
    html = page.read_text()
    assert html.count('class="job"') == 4 and "<script" not in html
    line = re.search(r"Critical path: (base .*)</p>", html)
    assert line is not None and " → tool " in line.group(1) and " → api " in line.group(1)
    said = summary.read_text()
    assert "Critical path: base" in said and "tool" in said.split("Critical path:")[1]
    assert report["targets"]["api"]["ended_s"] == max(
        t["ended_s"] for t in report["targets"].values()
    )
