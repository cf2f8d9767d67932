"""Inline SVG charts (no script, no external library): score trends and vitals with the
protocol's threshold lines. Pure functions: values in, markup out."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    colour: str


@dataclass(frozen=True)
class Threshold:
    label: str
    value: float
    colour: str = "#b00020"


def line_chart(
    labels: list[str],
    series: list[Series],
    thresholds: list[Threshold] = (),  # type: ignore[assignment]
    *,
    title: str,
    width: int = 640,
    height: int = 220,
) -> str:
    """A labelled line chart. ``role="img"`` and a <title> give screen readers a summary;
    the numbers are also in a table next to each chart."""
    pad_left, pad_right, pad_top, pad_bottom = 44, 130, 30, 28
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    numbers = [v for s in series for v in s.values if v is not None]
    numbers += [t.value for t in thresholds]
    low, high = (min(numbers), max(numbers)) if numbers else (0.0, 1.0)
    if high == low:
        high = low + 1
    span = high - low
    low, high = low - span * 0.08, high + span * 0.08

    def x(i: int) -> float:
        return pad_left + (plot_w * i / (len(labels) - 1) if len(labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return pad_top + plot_h * (1 - (v - low) / (high - low))

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{pad_left}" y="{pad_top}" width="{plot_w}" height="{plot_h}" '
        'fill="#ffffff" stroke="#767676"/>',
    ]
    for tick in range(5):
        value = low + (high - low) * tick / 4
        out.append(
            f'<text x="{pad_left - 6}" y="{y(value) + 4:.1f}" font-size="11" '
            f'text-anchor="end" fill="#333">{value:.0f}</text>'
        )
    merged: dict[float, Threshold] = {}
    for t in thresholds:  # two limits at one value share one line and one label
        if t.value in merged:
            first = merged[t.value]
            name = first.label.rsplit(" ", 1)[0] + " / " + t.label
            merged[t.value] = Threshold(name, t.value, first.colour)
        else:
            merged[t.value] = t
    for t in merged.values():
        out.append(
            f'<line x1="{pad_left}" x2="{pad_left + plot_w}" y1="{y(t.value):.1f}" '
            f'y2="{y(t.value):.1f}" stroke="{t.colour}" stroke-dasharray="6 4"/>'
            f'<text x="{pad_left + plot_w + 4}" y="{y(t.value) + 4:.1f}" font-size="11" '
            f'fill="{t.colour}">{escape(t.label)}</text>'
        )
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            out.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" font-size="11" text-anchor="middle" '
                f'fill="#333">{escape(label)}</text>'
            )
    for n, s in enumerate(series):
        points = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            out.append(
                f'<polyline fill="none" stroke="{s.colour}" stroke-width="2" points="{path}"/>'
            )
        for px, py in points:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{s.colour}"/>')
        # The legend runs along the top, clear of the threshold labels on the right.
        out.append(
            f'<rect x="{pad_left + 110 * n}" y="8" width="10" height="10" fill="{s.colour}"/>'
            f'<text x="{pad_left + 110 * n + 14}" y="17" font-size="11" '
            f'fill="#1a1a1a">{escape(s.name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
