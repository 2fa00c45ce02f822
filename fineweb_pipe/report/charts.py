"""Inline SVG charts drawn in Python: bars, horizontal bars, histograms and funnels, no JavaScript.

Every chart is a complete ``<svg>`` element returned as :class:`markupsafe.Markup`, so a template
inserts it as is. Labels often come from the web (languages, drop reasons, tokens), so every piece of
text is escaped here, where the markup is built. Colours and fonts come from the page's CSS classes
(``series-0``, ``axis``, ...), so charts follow the page's look without repeating it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from fineweb_pipe.report.units import compact, count, share, shortened

LABEL_CHARS = 34  # longer labels are cut with an ellipsis; the full text stays in the tooltip
Formatter = Callable[[float], str]


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per category (a run, or documents before/after filtering)."""

    name: str
    values: Sequence[float]


def _nice_step(top: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) so that ``ticks`` steps cover ``top``."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw:
            return factor * power
    raise AssertionError("unreachable: factor 10 always covers raw")


def _cut(label: str) -> str:
    return shortened(label, LABEL_CHARS)


def _svg(width: float, height: float, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'width="{width:.0f}" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    """Colour keys in a row, drawn only when there is more than one series to tell apart."""
    if len(series) < 2:
        return []
    parts = []
    for i, s in enumerate(series):
        parts.append(f'<rect class="series-{i}" x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2"/>')
        parts.append(f'<text class="legend" x="{x + 14:.1f}" y="{y:.1f}">{escape(s.name)}</text>')
        x += 28 + 7 * len(s.name)
    return parts


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
              width: int = 496, height: int = 240) -> Markup:
    """Vertical bars grouped by category, one bar per series, on a zero-based value axis."""
    left, right, top, bottom = 52, 10, 26, 38
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((v for s in series for v in s.values), default=0)
    step = _nice_step(highest)
    y_max = step * max(1, math.ceil(highest / step))
    body = _legend(series, left, 14)
    for i in range(int(round(y_max / step)) + 1):
        y = top + plot_h - plot_h * (i * step) / y_max
        body.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                    f"{escape(compact(i * step))}</text>")
    slot = plot_w / max(1, len(labels))
    bar_w = slot * 0.8 / max(1, len(series))
    label_px = 6.5 * max((len(_cut(label)) for label in labels), default=1) + 10  # 11px text, about 6.5px a glyph
    label_every = max(1, math.ceil(len(labels) * label_px / plot_w))
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / y_max
            body.append(
                f'<rect class="series-{j}" x="{x0 + j * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{max(bar_w - 1, 0.5):.1f}" height="{h:.1f}">'
                f"<title>{escape(label)} · {escape(s.name)}: {escape(count(value))}</title></rect>"
            )
        if i % label_every == 0:
            body.append(f'<text class="axis" x="{left + (i + 0.5) * slot:.1f}" y="{height - bottom + 16}" '
                        f'text-anchor="middle">{escape(_cut(label))}</text>')
    body.append(f'<line class="baseline" x1="{left}" x2="{width - right}" '
                f'y1="{top + plot_h}" y2="{top + plot_h}"/>')
    return _svg(width, height, title, body)


def histogram(edges: Sequence[float], series: Sequence[Series], *, title: str,
              edge_format: Formatter = compact, width: int = 496, height: int = 240) -> Markup:
    """Bars over bins starting at ``edges`` (the last bin is open-ended); empty bins at either end are
    left out, since log-spaced bins up to 10^7 are mostly empty for any one corpus."""
    used = [i for i in range(len(edges)) if any(s.values[i] for s in series)]
    first, last = (used[0], used[-1]) if used else (0, len(edges) - 1)
    labels = []
    for i in range(first, last + 1):
        upper = f"–{edge_format(edges[i + 1])}" if i + 1 < len(edges) else "+"
        labels.append(f"{edge_format(edges[i])}{upper}")
    trimmed = [Series(s.name, list(s.values[first:last + 1])) for s in series]
    return bar_chart(labels, trimmed, title=title, width=width, height=height)


def hbar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
               value_format: Formatter = count, width: int = 640) -> Markup:
    """One row per label with a bar per series: for ranked categories (reasons, languages, tokens)."""
    label_w, value_w, top = 250, 84, 24 if len(series) > 1 else 6
    bar_h, gap = 14, 8
    row_h = bar_h * len(series) + gap
    height = top + row_h * len(labels) + 4
    plot_w = width - label_w - value_w
    highest = max((v for s in series for v in s.values), default=0) or 1
    body = _legend(series, label_w, 14)
    for i, label in enumerate(labels):
        y0 = top + i * row_h
        body.append(f'<text class="label" x="{label_w - 8}" y="{y0 + row_h / 2 + 1:.1f}" text-anchor="end">'
                    f"<title>{escape(label)}</title>{escape(_cut(label))}</text>")
        for j, s in enumerate(series):
            value = s.values[i]
            w = plot_w * value / highest
            y = y0 + j * bar_h
            body.append(f'<rect class="series-{j}" x="{label_w}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
                        f'height="{bar_h - 2}" rx="2"><title>{escape(label)} · {escape(s.name)}: '
                        f"{escape(count(value))}</title></rect>")
            if value or len(series) == 1:  # a row of zeros beside other series' bars is only noise
                body.append(f'<text class="value" x="{label_w + w + 6:.1f}" y="{y + bar_h - 4:.1f}">'
                            f"{escape(value_format(value))}</text>")
    return _svg(width, height, title, body)


@dataclass(frozen=True)
class FunnelRun:
    """A run's documents after each step of a funnel; None where the run has no such step."""

    name: str
    values: Sequence[float | None]


def funnel_chart(steps: Sequence[str], runs: Sequence[FunnelRun], *, title: str, width: int = 880) -> Markup:
    """Documents left after each step as centred bars, one column per run (two runs: side by side), with
    the share each step removed between rows, so the step that removes most stands out. A value of None
    is a step the run does not have: marked absent, and the next step's share is of the last step it has."""
    label_w, top, row_h, bar_h = 170, 30 if len(runs) > 1 else 8, 40, 24
    col_w = (width - label_w) / max(1, len(runs))
    height = top + row_h * len(steps) + 4
    highest = max((v for r in runs for v in r.values if v is not None), default=0) or 1
    body = []
    for c, run in enumerate(runs):
        centre = label_w + c * col_w + col_w / 2
        if len(runs) > 1:
            body.append(f'<text class="legend" x="{centre:.1f}" y="16" text-anchor="middle">'
                        f"{escape(run.name)}</text>")
        previous = None
        for i, value in enumerate(run.values):
            y = top + i * row_h
            if value is None:
                body.append(f'<text class="absent" x="{centre:.1f}" y="{y + bar_h / 2 + 4:.1f}" '
                            f'text-anchor="middle"><title>{escape(steps[i])} · {escape(run.name)}: no such step'
                            "</title>absent</text>")
                continue
            w = max((col_w - 130) * value / highest, 1.0)
            body.append(f'<rect class="series-{c}" x="{centre - w / 2:.1f}" y="{y:.1f}" width="{w:.1f}" '
                        f'height="{bar_h}" rx="3"><title>{escape(steps[i])} · {escape(run.name)}: '
                        f"{escape(count(value))}</title></rect>")
            text = count(value)
            fits = w > 7.5 * len(text) + 12  # 12px bold digits are about 7.5px wide
            text_x, anchor, cls = (centre, "middle", "on-bar") if fits else (centre + w / 2 + 6, "start", "value")
            body.append(f'<text class="{cls}" x="{text_x:.1f}" y="{y + bar_h / 2 + 4:.1f}" '
                        f'text-anchor="{anchor}">{escape(text)}</text>')
            if previous and value < previous:
                # between this bar and the one above, beside the wider of the two: the cut this step made
                edge = centre + (col_w - 130) * previous / highest / 2 + 8
                body.append(f'<text class="removed" x="{edge:.1f}" y="{y - (row_h - bar_h) / 2 + 4:.1f}">'
                            f"−{escape(share(previous - value, previous))}</text>")
            previous = value
    for i, step in enumerate(steps):
        body.append(f'<text class="label" x="{label_w - 10}" y="{top + i * row_h + bar_h / 2 + 4:.1f}" '
                    f'text-anchor="end"><title>{escape(step)}</title>{escape(_cut(step))}</text>')
    return _svg(width, height, title, body)
