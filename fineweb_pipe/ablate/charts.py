"""A line chart with a band: one variant's mean over seeds along training, the band its seeds' range.

Inline SVG in the QA report's style (its ``_svg`` frame, grid and axis classes); the lines carry their
colour inline, as the report's stylesheet colours two series and an ablation may have more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from fineweb_pipe.report.charts import _nice_step, _svg
from fineweb_pipe.report.units import compact

COLOURS = ("var(--blue)", "var(--orange)", "#2e8b57", "#8e44ad", "#7f8c8d", "#c0392b")


@dataclass(frozen=True)
class Band:
    """One variant's curve: x values, the mean and the low and high edge of the band at each."""

    name: str
    x: Sequence[float]
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def band_chart(bands: Sequence[Band], *, title: str, x_label: str, y_label: str,
               width: int = 480, height: int = 250) -> Markup:
    """Each band as a shaded range with its mean as a line and dots at the measured points."""
    left, right, top, bottom = 56, 12, 30, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for b in bands for x in b.x] or [0.0]
    ys = [y for b in bands for y in (*b.low, *b.high)] or [0.0]
    x_max = max(xs) or 1.0
    y_low, y_high = min(ys), max(ys)
    pad = (y_high - y_low) * 0.08 or abs(y_high) * 0.05 or 1.0
    y_low, y_high = y_low - pad, y_high + pad
    step = _nice_step(y_high - y_low)
    y_first = math.floor(y_low / step) * step
    y_last = math.ceil(y_high / step) * step

    def px(x: float) -> float:
        return left + plot_w * x / x_max

    def py(y: float) -> float:
        return top + plot_h - plot_h * (y - y_first) / (y_last - y_first)

    body = []
    for i in range(int(round((y_last - y_first) / step)) + 1):
        y = y_first + i * step
        body.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{py(y):.1f}" y2="{py(y):.1f}"/>')
        body.append(f'<text class="axis" x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{escape(f"{y:.4g}")}</text>')
    x_step = _nice_step(x_max)
    for i in range(int(x_max // x_step) + 1):
        body.append(f'<text class="axis" x="{px(i * x_step):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                    f"{escape(compact(i * x_step))}</text>")
    body.append(f'<text class="axis" x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{escape(x_label)}</text>")
    body.append(f'<text class="axis" x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
                f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    body.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    legend_x = float(left)
    for index, band in enumerate(bands):
        paint = colour(index)
        edge = [f"{px(x):.1f},{py(y):.1f}" for x, y in zip(band.x, band.high)]
        edge += [f"{px(x):.1f},{py(y):.1f}" for x, y in reversed(list(zip(band.x, band.low)))]
        body.append(f'<polygon points="{" ".join(edge)}" style="fill: {paint}; opacity: 0.18"/>')
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(band.x, band.mean))
        body.append(f'<polyline points="{line}" style="fill: none; stroke: {paint}; stroke-width: 2"/>')
        for x, y, low, high in zip(band.x, band.mean, band.low, band.high):
            body.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" style="fill: {paint}"><title>'
                        f"{escape(band.name)} at {escape(compact(x))}: {y:.4f} (seeds {low:.4f}–{high:.4f})"
                        "</title></circle>")
        body.append(f'<rect x="{legend_x:.1f}" y="8" width="10" height="10" rx="2" style="fill: {paint}"/>')
        body.append(f'<text class="legend" x="{legend_x + 14:.1f}" y="17">{escape(band.name)}</text>')
        legend_x += 28 + 7 * len(band.name)
    return _svg(width, height, title, body)
