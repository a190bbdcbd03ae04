"""Small SVG charts, drawn on the server.

The console ships no JavaScript charting library: pages must work without a CDN and
without a front-end build, and what they chart (a lag series, budgets, burn rates, costs)
is a line or a row of bars. A few dozen lines of SVG do that, render before any script
runs, and carry a text alternative for screen readers (``<title>`` plus a table beside
every chart on its page).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def line(
    points: Sequence[tuple[float, float]],
    *,
    label: str,
    width: int = 640,
    height: int = 160,
    unit: str = "",
) -> Markup:
    """A line of (x, y) points, x as seconds (time), y from 0 to its maximum."""
    pad = 36
    if not points:
        return Markup(f'<p class="muted">{escape(label)}: no samples yet</p>')
    xs = [p[0] for p in points]
    top = max(max(p[1] for p in points), 1.0)
    span = max(xs[-1] - xs[0], 1e-9)

    def at(x: float, y: float) -> str:
        return (
            f"{pad + (x - xs[0]) / span * (width - 2 * pad):.1f},"
            f"{height - pad / 2 - y / top * (height - pad):.1f}"
        )

    path = " ".join(at(x, y) for x, y in points)
    last = points[-1][1]
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
        f'<line x1="{pad}" y1="{height - pad / 2}" x2="{width - pad}" y2="{height - pad / 2}" '
        f'class="axis"/><text x="2" y="{pad / 2 + 4}" class="tick">{top:,.0f}</text>'
        f'<text x="2" y="{height - pad / 2}" class="tick">0</text>'
        f'<polyline points="{path}" class="series" fill="none"/>'
        f'<text x="{width - pad}" y="{pad / 2 + 4}" class="tick" text-anchor="end">'
        f"now {last:,.0f}{escape(unit)}</text></svg>"
    )


def bars(
    items: Sequence[tuple[str, float]],
    *,
    label: str,
    unit: str = "",
    width: int = 640,
    maximum: float | None = None,
    bad_below: float | None = None,
) -> Markup:
    """Horizontal bars, one per (name, value); ``bad_below`` colours values under it."""
    if not items:
        return Markup(f'<p class="muted">{escape(label)}: nothing to show</p>')
    row = 22
    name_w = 220
    top = maximum if maximum is not None else max(max(v for _, v in items), 1e-9)
    height = row * len(items) + 8
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(label)}"><title>{escape(label)}</title>'
    ]
    for i, (name, value) in enumerate(items):
        y = 4 + i * row
        length = max(0.0, min(value, top)) / top * (width - name_w - 90) if top else 0.0
        kind = "bar bad" if bad_below is not None and value < bad_below else "bar"
        parts.append(
            f'<text x="0" y="{y + 14}" class="tick">{escape(name[:34])}</text>'
            f'<rect x="{name_w}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" '
            f'class="{kind}"/><text x="{name_w + length + 6:.1f}" y="{y + 14}" class="tick">'
            f"{value:,.2f}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
