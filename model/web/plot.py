"""The calculator's picture of one lesion's posterior: a histogram of P(malignant) draws as inline SVG.

Drawn by hand (no matplotlib) so that it costs well under a millisecond, scales with the page and
uses the page's font. Colours are the report's (:mod:`microcalc.reporting.figures`): the posterior in dark
blue, the published range as an amber band, the 2% BI-RADS 3 ceiling as a red dashed line.
"""

from __future__ import annotations

import html

import numpy as np

from microcalc.reporting.figures import OBSERVED, POSTERIOR, PUBLISHED

WIDTH, HEIGHT = 480, 184  # SVG user units; the page scales the picture to its column
LEFT, RIGHT, TOP, BOTTOM = 18, 22, 26, 42
BINS = 40
NICE_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25)


def x_range(draws: np.ndarray, band: tuple[float, float] | None = None) -> float:
    """Upper end of the probability axis: past the 99.5th percentile of the draws, rounded up to a tick step.

    Also past the published band, and at most 1. A benign finding's draws near 1% are then not squeezed
    against zero.
    """
    top = float(np.quantile(draws, 0.995)) if draws.size else 1.0
    if band is not None:
        top = max(top, band[1] if band[1] < 1 else band[0] * 1.25)
    top = min(1.0, max(top * 1.1, 0.02))
    step = tick_step(top)
    return min(1.0, float(np.ceil(top / step - 1e-9) * step))


def tick_step(top: float, ticks: int = 5) -> float:
    """The smallest 'nice' step that puts at most ``ticks`` intervals on [0, top]."""
    return next((s for s in NICE_STEPS if top / s <= ticks + 1e-9), 0.25)


def tick_label(p: float) -> str:
    """An axis tick as a percentage without trailing zeros: '0%', '0.5%', '20%'."""
    return f"{round(100 * p, 6):g}%"


def posterior_svg(
    draws: np.ndarray,
    mean: float,
    lower: float,
    upper: float,
    band: tuple[float, float] | None = None,
    threshold: float = 0.02,
    label: str = "",
) -> str:
    """Histogram of the draws with the mean, the credible interval, the published band and the 2% line.

    ``band`` is the published range of the lesion's main finding (None: none shown); ``label`` the
    accessible description read by screen readers.
    """
    draws = np.asarray(draws, dtype=float).ravel()
    top = x_range(draws, band)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x = lambda p: LEFT + plot_w * min(max(p, 0.0), top) / top  # noqa: E731
    counts, edges = np.histogram(np.clip(draws, 0.0, top), bins=BINS, range=(0.0, top))
    tallest = max(int(counts.max()) if counts.size else 0, 1)
    base = TOP + plot_h
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {WIDTH} {HEIGHT}' role='img' "
        f"class='posterior-plot' aria-label='{html.escape(label)}'>"
    ]
    if band is not None:
        lo, hi = x(band[0]), x(band[1])
        parts.append(
            f"<rect class='band' x='{lo:.1f}' y='{TOP}' width='{max(hi - lo, 1.5):.1f}' height='{plot_h}' "
            f"fill='{PUBLISHED}' fill-opacity='0.45'><title>published range</title></rect>"
        )
    bar_w = plot_w / BINS
    for count, left in zip(counts, edges[:-1]):
        if count:
            h = plot_h * count / tallest
            parts.append(
                f"<rect class='bar' x='{x(left):.1f}' y='{base - h:.1f}' width='{bar_w * 0.92:.1f}' "
                f"height='{h:.1f}' fill='{POSTERIOR}' fill-opacity='0.8'/>"
            )
    if threshold <= top:
        parts.append(
            f"<line class='threshold' x1='{x(threshold):.1f}' x2='{x(threshold):.1f}' y1='{TOP - 6}' "
            f"y2='{base}' stroke='{OBSERVED}' stroke-dasharray='4 3' stroke-width='1.3'/>"
            f"<text x='{x(threshold) + 3:.1f}' y='{TOP - 8}' font-size='11' fill='{OBSERVED}'>2%</text>"
        )
    y_ci = TOP - 12
    parts.append(
        f"<line class='ci' x1='{x(lower):.1f}' x2='{x(upper):.1f}' y1='{y_ci}' y2='{y_ci}' "
        f"stroke='{POSTERIOR}' stroke-width='2.5'/>"
        f"<circle class='mean' cx='{x(mean):.1f}' cy='{y_ci}' r='4' fill='white' stroke='{POSTERIOR}' "
        "stroke-width='2'/>"
    )
    parts.append(f"<line x1='{LEFT}' x2='{LEFT + plot_w}' y1='{base}' y2='{base}' stroke='#6b6b6b'/>")
    step = tick_step(top)
    for tick in np.arange(0.0, top + step / 2, step):
        parts.append(
            f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{base}' y2='{base + 4}' stroke='#6b6b6b'/>"
            f"<text x='{x(tick):.1f}' y='{base + 17}' font-size='12' text-anchor='middle' "
            f"fill='#1a1a1a'>{tick_label(float(tick))}</text>"
        )
    parts.append(
        f"<text x='{LEFT + plot_w / 2:.1f}' y='{HEIGHT - 4}' font-size='11' text-anchor='middle' "
        "fill='#6b6b6b'>probability of malignancy</text></svg>"
    )
    return "".join(parts)
