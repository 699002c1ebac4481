"""Building blocks of the report's pages: stylesheet, escaping, tables, figures and the disclaimer.

The stylesheet (shared with the calculator page), HTML escaping, tables and inline-SVG figures, the
disclaimer, and Markdown tables.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from microcalc import DISCLAIMER
from microcalc.reporting import figures

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CSS = """
:root { --blue: #1f4e79; --grey: #6b6b6b; --amber: #f0c36d; --red: #b2182b; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a; line-height: 1.45;
       max-width: 60rem; margin: 0 auto; padding: 1.5rem 1.5rem 4rem; font-size: 15px; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; color: var(--blue); }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--blue);
     color: var(--blue); }
h3 { font-size: 1.08rem; margin: 1.4rem 0 .4rem; }
p, li { max-width: 52rem; }
.sub { color: var(--grey); margin: 0 0 1rem; }
.disclaimer { border-left: 5px solid var(--red); background: #fbeff0; padding: .6rem .9rem; margin: 1rem 0; }
.banner { background: var(--red); color: white; font-weight: bold; font-size: 1.25rem; padding: 1rem 1.2rem;
          margin: 1rem 0; border-radius: 4px; }
.banner span { display: block; font-size: .95rem; font-weight: normal; margin-top: .3rem; }
.banner code { background: rgba(255, 255, 255, .18); color: white; }
.answer { display: flex; gap: 1.5rem; align-items: center; background: #eef3f8; border-radius: 6px;
          padding: 1rem 1.3rem; margin: .8rem 0 1rem; }
.answer .big { font-size: 3rem; font-weight: bold; color: var(--blue); line-height: 1; }
.answer .ci { font-size: 1.05rem; }
.answer .pub { color: #7a5200; }
nav { font-size: .9rem; background: #f5f5f5; padding: .5rem .8rem; border-radius: 4px; }
nav a { margin-right: .9rem; color: var(--blue); text-decoration: none; white-space: nowrap; }
figure { margin: 1rem 0 1.4rem; break-inside: avoid; page-break-inside: avoid; }
figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: .85rem; color: var(--grey); margin-top: .2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .6rem 0 1rem; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e2e2e2; text-align: left; vertical-align: top;
         white-space: nowrap; }
td.wrap { white-space: normal; font-size: .92em; min-width: 14em; }
th { background: #f2f2f2; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { color: var(--red); font-weight: bold; }
.muted { color: var(--grey); }
.prior-only { color: var(--grey); font-style: italic; }
tr.conflict td { color: #9a3b00; font-weight: bold; }
.scroll { overflow-x: auto; max-width: 100%; }
code { font-size: .88em; background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.cols { display: flex; flex-wrap: wrap; gap: 0 3rem; align-items: flex-start; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; }
  .banner, .disclaimer, .answer, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .answer { break-inside: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  table { width: 100%; }
  a { color: inherit; text-decoration: none; }
}
"""


def estimate(mean: float, low: float, high: float) -> str:
    """A log-odds-scale estimate with its interval: '0.70 (0.06 to 1.68)'."""
    return f"{mean:.2f} ({low:.2f} to {high:.2f})"


def escape(text: object) -> str:
    """Text made safe for HTML (quotes too, so it may sit in an attribute)."""
    return html.escape(str(text))


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    numeric: Collection[int] = frozenset(),
    classes: Sequence[str] | None = None,
    wrap: Collection[int] = frozenset(),
) -> str:
    """An HTML table; ``numeric`` columns right-aligned, ``wrap`` columns may wrap; ``classes`` per row."""

    def cell(tag: str, i: int, v: object) -> str:
        klass = "num" if i in numeric else "wrap" if i in wrap else ""
        return f"<{tag}{f' class={klass}' if klass else ''}>{v}</{tag}>"

    head = "".join(cell("th", i, escape(h)) for i, h in enumerate(header))
    body = []
    for k, row in enumerate(rows):
        cls = f" class='{classes[k]}'" if classes and classes[k] else ""
        body.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure_html(fig_id: str, fig: Figure, caption: str) -> str:
    """A figure as inline SVG in a ``<figure>`` with its caption (also the image's alt text)."""
    return (
        f"<figure id='{fig_id}'><img src='{svg_data_uri(fig)}' alt='{escape(caption)}'>"
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def md_inline(text: str) -> str:
    """*word* -> <em>word</em> after escaping (for the shared sentences)."""
    parts = escape(text).split("*")
    return "".join(f"<em>{p}</em>" if i % 2 else p for i, p in enumerate(parts))


def svg_data_uri(fig: Figure) -> str:
    """A figure as a base64 SVG data URI (vector, self-contained, isolated from the page's ids)."""
    svg = figures.to_svg(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def disclaimer_html() -> str:
    """The disclaimer with its first sentence in bold."""
    first, _, rest = DISCLAIMER.partition(":")
    return f"<strong>{escape(first)}:</strong>{escape(rest)}" if rest else f"<strong>{escape(DISCLAIMER)}</strong>"


def plain(text: str) -> str:
    """A shared sentence without its ``*emphasis*`` marks, for plain text."""
    return text.replace("*", "")


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown pipe table; '|' inside cells is escaped."""
    esc = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
