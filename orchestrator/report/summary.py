"""What a run tells its user: the `--report` document and the summary printed at the end."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.ci.testcases import LISTED_CASES
from orchestrator.jsontext import versioned
from orchestrator.plan.sizes import change_text, size_text
from orchestrator.report.console import StatusView, printable
from orchestrator.run.results import DONE, JobResult, RunOutcome


def document(outcome: RunOutcome) -> dict[str, object]:
    """The `--report` JSON: the run's verdict and one entry per job, in build order."""
    targets: dict[str, object] = {}
    for r in outcome.results:
        entry: dict[str, object] = {
            "status": r.status,
            "duration_s": None if r.duration_s is None else round(r.duration_s, 3),
            "version": r.version,
            "image": r.image,
            "versioned_image": r.versioned_image,
            "digest": r.digest,
            "size_bytes": r.size_bytes,
            "platform_sizes": dict(r.platform_sizes),
            "uncompressed_bytes": r.uncompressed_bytes,
            "previous_size_bytes": r.previous_size_bytes,
            "log": r.log,
            "cached_steps": r.cached_steps,
            "warnings": list(r.warnings),
            "builder": r.builder,
            "platform_builders": dict(r.platform_builders),
            "attempts": [
                {
                    "builder": a.builder or None,
                    "outcome": a.outcome,
                    "duration_s": round(a.duration_s, 3),
                    "error": a.error,
                }
                for a in r.attempts
            ],
            "started_s": None if r.started_s is None else round(r.started_s, 3),
            "ended_s": None if r.ended_s is None else round(r.ended_s, 3),
            "steps": [
                {
                    "name": s.name,
                    "started_s": round(s.started_s, 3),
                    "ended_s": round(s.ended_s, 3),
                    "cached": s.cached,
                }
                for s in r.steps
            ],
        }
        entry["tests"] = None
        if r.reports is not None:
            entry["tests"] = {
                **r.reports.counts.as_json(),
                "reports": r.reports_dir,
                "cached": r.reports_cached,
                "failing": [
                    {
                        "name": c.title,
                        "message": c.message,
                        "file": c.file,
                        "line": c.line,
                    }
                    for c in r.reports.failing[:LISTED_CASES]
                ],
                "problems": list(r.reports.problems),
            }
        failed = r.status == "failed"
        entry["failed_step"] = r.failed_step if failed else None
        entry["failed_line"] = r.failed_line if failed else None
        entry["error"] = r.error if failed else None
        entry["reason"] = r.error if not failed and r.error else None
        targets[r.key] = entry
    return versioned(
        {
            "ok": outcome.ok,
            "interrupted": outcome.interrupted,
            "engine_gone": outcome.engine_gone,
            "lost_builders": [b or None for b in outcome.lost_builders],
            "published": outcome.published,
            "targets": targets,
            "invocations": [
                {
                    "jobs": list(i.jobs),
                    "started_s": round(i.started_s, 3),
                    "ended_s": round(i.ended_s, 3),
                    "bake_file": i.bake_file,
                    "builder": i.builder or None,
                }
                for i in outcome.invocations
            ],
            "warnings": list(outcome.warnings),
        }
    )


def summary(view: StatusView, outcome: RunOutcome) -> None:
    """Failures with their failing step and last lines, warnings, built images, then totals."""
    for r in outcome.results:
        if r.status != "failed":
            continue
        view.print("")
        at = f" at {printable(r.failed_step)}" if r.failed_step else ""
        view.print(f"✗ {r.key} failed{at}")
        if r.error:
            view.print(f"  {printable(r.error)}")
        if r.reports is not None:
            for line in failing_cases(r):
                view.print(f"  {line}")
        for line in r.excerpt:  # BuildKit's lines of the Dockerfile, the failing one marked
            view.print(f"  {printable(line)}")
        for line in r.tail:
            view.print(f"  | {printable(line)}")
        if r.log:
            view.print(f"  full log: {r.log}")
    for r in outcome.results:
        if len(r.attempts) > 1:
            tries = "; ".join(
                f"{a.builder or 'default'}: {a.outcome}"
                + (f" ({printable(a.error)})" if a.error else "")
                for a in r.attempts
            )
            view.print(f"↻ {r.key}: {len(r.attempts)} attempts: {tries}")
    if outcome.lost_builders:
        gone = ", ".join(b or "default" for b in outcome.lost_builders)
        builders = "builder" if len(outcome.lost_builders) == 1 else "builders"
        cut = [r.key for r in outcome.results if r.error and r.error.startswith("cut off")]
        view.print("")
        if outcome.engine_gone:
            view.print(
                f"✗ the engine went away ({builders} {gone}); "
                f"cut off: {', '.join(cut) or 'nothing'}"
            )
        else:
            went = "went" if len(outcome.lost_builders) == 1 else "each went"
            view.print(f"! {builders} {gone} {went} away; what it was building was built elsewhere")
    if outcome.published is not None:
        view.print("")
        view.print(_publishing(outcome))
    reported = [r for r in outcome.results if r.reports is not None and r.status != "failed"]
    if reported:
        view.print("")
        for r in reported:
            assert r.reports is not None
            cached = " (cached)" if r.reports_cached else ""
            view.print(f"✓ {r.key}: {r.reports.verdict()}{cached}")
    warnings = [f"{r.key}: {w}" for r in outcome.results for w in r.warnings]
    warnings += [f"{r.key}: {p}" for r in outcome.results if r.reports for p in r.reports.problems]
    warnings += list(outcome.warnings)
    if warnings:
        view.print("")
        for w in warnings:
            view.print(f"warning: {printable(w)}")
    built = [r for r in outcome.results if r.status == "built" and (r.image or r.versioned_image)]
    if built:
        built_table(view, built)
    words = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts().items()))
    verdict = "interrupted" if outcome.interrupted else ("ok" if outcome.ok else "FAILED")
    view.print(f"{'test' if outcome.test else 'build'} {verdict}: {words}")


def failing_cases(r: JobResult, limit: int = LISTED_CASES) -> list[str]:
    """A line per failing case of a reported test stage, the first `limit`, then a count."""
    assert r.reports is not None
    failing = r.reports.failing
    lines = []
    for case in failing[:limit]:
        where = f" ({case.place})" if case.place else ""
        lines.append(printable(f"✗ {case.title}{where}: {case.headline}", 300))
    if len(failing) > limit:
        lines.append(f"… and {len(failing) - limit} more failing cases")
    if r.reports_dir:
        lines.append(f"reports: {r.reports_dir}")
    return lines


def _publishing(outcome: RunOutcome) -> str:
    """What `--push` did with the plan's tags."""
    if outcome.published:
        return "published: every target's plan tags point at what this run built or found"
    if not outcome.interrupted and all(r.status in DONE for r in outcome.results):
        return (
            "not all published: the tags in the warnings below could not be moved; "
            "run again to move them"
        )
    return (
        "not published: the plan's tags were left where they were, since not every "
        "target succeeded (the versioned images that built are in the registry)"
    )


def _size_with_change(now: int | None, before: int | None) -> str:
    change = change_text(now, before)
    return size_text(now) + (f" ({change})" if change and change != "same" else "")


def built_table(view: StatusView, built: Sequence[JobResult]) -> None:
    """A row per built image: every name and reference whole, no line wider than the
    terminal. When the images do not fit beside the rest, they follow the table, each on a
    line of its own (under its target's name when even that is too narrow)."""
    from rich.table import Table

    pool = any(r.builder for r in built)
    rows = [
        [
            r.key,
            r.image or r.versioned_image or "",
            _size_with_change(r.size_bytes, r.previous_size_bytes),
            f"{r.duration_s or 0.0:.1f}s",
            str(r.cached_steps),
            *([_builders_text(r)] if pool else []),
        ]
        for r in built
    ]
    heads = ["target", "image", "size", "time", "cached steps", *(["builder"] if pool else [])]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    width = view.console.width
    beside = sum(widths) + 2 * (len(widths) - 1) <= width
    keep = [i for i in range(len(heads)) if beside or i != 1]
    table = Table(box=None, show_header=True, pad_edge=False)
    for i in keep:
        table.add_column(heads[i], no_wrap=True, min_width=widths[i])
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    with view.console.capture() as captured:  # each line without its last cell's padding
        view.console.print(table)
    for line in captured.get().splitlines():
        view.print(line.rstrip())
    for r in built:
        if r.platform_sizes or r.platform_builders:
            platforms = dict.fromkeys([*r.platform_sizes, *r.platform_builders])
            each = ", ".join(_platform_text(r, p) for p in platforms)
            view.print(f"  {r.key} by platform: {each}")
    if beside:
        return
    view.print("images:")
    name_w = widths[0]
    for row in rows:
        line = f"  {row[0]:<{name_w}}  {row[1]}"
        if len(line) <= width:
            view.print(line)
        else:
            view.print(f"  {row[0]}")
            view.print(f"    {row[1]}")


def _platform_text(r: JobResult, platform: str) -> str:
    """`linux/arm64 3.1 MB on node2`: a platform's size and, split over a pool, its builder."""
    size = r.platform_sizes.get(platform)
    builder = r.platform_builders.get(platform)
    return (
        platform
        + (f" {size_text(size)}" if size is not None else "")
        + (f" on {builder}" if builder else "")
    )


def _builders_text(r: JobResult) -> str:
    """Where a target was built: its builder, or those of its platforms (`default+node2`)."""
    if r.platform_builders:
        return "+".join(dict.fromkeys(r.platform_builders.values()))
    return r.builder or "default"
