"""`--timeline FILE`: one self-contained HTML page with a picture of the run (inline SVG).

A bar per job on a time axis: from its bake's start to its own end. Inside it, its steps,
those that came from cache told apart from those that ran; before its first step, hatched, the
time it waited on an upstream job of its bake. The critical path is outlined and listed
under the picture. Nothing is fetched: no script, style sheet or font from elsewhere. Every
text from the build is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from orchestrator.report.console import printable
from orchestrator.report.timing import critical_line, critical_path, span_s
from orchestrator.run.results import JobResult, RunOutcome

LABEL_W = 220
PLOT_W = 900
ROW_H = 26
BAR_H = 16
TOP = 40
IDLE_S = 0.2  # a shorter pause between a job's steps is BuildKit's bookkeeping, not a wait
COLOURS = {"ran": "#2f6fde", "cached": "#a8b3c4", "failed": "#d93025", "job": "#e8edf5"}


def _t(text: str) -> str:
    return html.escape(printable(text, 200), quote=True)


def _ticks(total: float) -> list[float]:
    """About eight round ticks over `total` seconds."""
    if total <= 0:
        return [0.0]
    raw = total / 8
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if s >= raw)
    n = int(total // step) + 1
    return [round(i * step, 3) for i in range(n + 1)]


def _idle(r: JobResult) -> list[tuple[float, float]]:
    """The stretches of a job's span before its last step in which none of its own steps ran:
    in a chained bake, the time it waited on an upstream's steps."""
    gaps: list[tuple[float, float]] = []
    cursor = r.started_s or 0.0
    for step in sorted(r.steps, key=lambda s: s.started_s):
        if step.started_s - cursor > IDLE_S:
            gaps.append((cursor, step.started_s))
        cursor = max(cursor, step.ended_s)
    return gaps


def _row(r: JobResult, y: float, x: float, scale: float, critical: bool) -> list[str]:
    parts: list[str] = []
    label = f"{r.key} ({r.status})"
    weight = ' font-weight="bold"' if critical else ""
    parts.append(
        f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 3}" text-anchor="end"{weight}>{_t(label)}</text>'
    )
    if r.started_s is None or r.ended_s is None:
        return parts
    x0, x1 = x + r.started_s * scale, x + r.ended_s * scale
    outline = ' stroke="#f29900" stroke-width="3"' if critical else ' stroke="#8a94a6"'
    title = f"{r.key}: {r.status}, {r.started_s:.1f}-{r.ended_s:.1f} s"
    parts.append(
        f'<rect class="job" x="{x0:.1f}" y="{y}" width="{max(1.0, x1 - x0):.1f}" '
        f'height="{BAR_H}" fill="{COLOURS["job"]}"{outline}><title>{_t(title)}</title></rect>'
    )
    for start, end in _idle(r):
        w = (end - start) * scale
        parts.append(
            f'<rect class="wait" x="{x + start * scale:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{BAR_H}" fill="url(#wait)"><title>'
            f"{_t(f'no step of its own ran for {end - start:.1f} s: waiting on an upstream')}"
            "</title></rect>"
        )
    for s in r.steps:
        kind = (
            "failed" if s.error and "canceled" not in s.error else "cached" if s.cached else "ran"
        )
        sx = x + s.started_s * scale
        sw = max(1.0, (s.ended_s - s.started_s) * scale)
        took = f"{s.name}: {'cached' if s.cached else f'{s.ended_s - s.started_s:.1f} s'}"
        parts.append(
            f'<rect class="step {kind}" x="{sx:.1f}" y="{y + 3}" width="{sw:.1f}" '
            f'height="{BAR_H - 6}" fill="{COLOURS[kind]}"><title>{_t(took)}</title></rect>'
        )
    return parts


def timeline_html(
    outcome: RunOutcome, deps: Mapping[str, Sequence[str]], *, title: str = "orch build"
) -> str:
    """The page for one run."""
    results = outcome.results
    total = max(span_s(results), max((i.ended_s for i in outcome.invocations), default=0.0))
    path = critical_path(results, deps)
    on_path = {s.key for s in path}
    scale = PLOT_W / total if total > 0 else 0.0
    height = TOP + ROW_H * len(results) + 30
    svg: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_W + PLOT_W + 20}" '
        f'height="{height}" font-family="sans-serif" font-size="12">',
        '<defs><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff4d6"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#d9a400" stroke-width="2"/></pattern></defs>',
    ]
    for tick in _ticks(total):
        tx = LABEL_W + tick * scale
        if tx > LABEL_W + PLOT_W + 1:
            break
        svg.append(
            f'<line x1="{tx:.1f}" y1="{TOP - 8}" x2="{tx:.1f}" y2="{height - 24}" '
            'stroke="#e3e6eb"/>'
            f'<text x="{tx:.1f}" y="{TOP - 14}" text-anchor="middle" fill="#555">{tick:g} s</text>'
        )
    for i, r in enumerate(results):
        svg += _row(r, TOP + i * ROW_H, LABEL_W, scale, r.key in on_path)
    svg.append("</svg>")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(outcome.counts().items()))
    line = critical_line(path, total) if path else "nothing ran"
    legend = "".join(
        f'<span class="key"><span class="swatch" style="background:{c}"></span>{w}</span>'
        for c, w in (
            (COLOURS["ran"], "step that ran"),
            (COLOURS["cached"], "step from cache"),
            (COLOURS["failed"], "step that failed"),
            ("#fff4d6", "waiting on an upstream"),
            ("#f29900", "critical path (outlined)"),
        )
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_t(title)}: timeline</title>",
            "<style>body{font-family:sans-serif;margin:16px;color:#202124}"
            ".key{margin-right:14px;white-space:nowrap}.swatch{display:inline-block;width:12px;"
            "height:12px;margin-right:4px;vertical-align:middle;border:1px solid #8a94a6}</style>",
            "</head><body>",
            f"<h1>{_t(title)}</h1>",
            f"<p>{_t(counts)}; {total:.1f} s from the first bake's start to the last end.</p>",
            f'<p id="critical">Critical path: {_t(line)}</p>',
            f"<p>{legend}</p>",
            *svg,
            "</body></html>",
            "",
        ]
    )
