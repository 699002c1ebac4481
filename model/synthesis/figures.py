"""Forest plots of the studies table: per finding, each level's studies, pooled rate and new-study interval.

Rates are drawn on a logit axis labelled in percent. Per study: observed rate with its 95% Jeffreys
interval (open marker for a restricted sample, whose rate the synthesis shifts). Per level: the
pooled rate (median study, 95% credible interval; diamond) and the predictive interval for a new study
(90% thick, 95% thin). Pooled rows (a union of levels) are listed in their own section with the
synthesis' 90% interval for a new study's pooled rate. For morphology, Rominger 2012's pooled rates
(a separate check, not data) are marked x.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import beta

from microcalc.io.atomic import atomic_path
from microcalc.synthesis import meta
from microcalc.synthesis._numerics import logit

# Rominger et al. 2012 pooled rates (95% CI): a separate check, never data (it overlaps tabled series).
ROMINGER_2012: dict[str, tuple[float, float, float]] = {
    "coarse_heterogeneous": (0.13, 0.07, 0.20),
    "amorphous": (0.27, 0.21, 0.33),
    "fine_pleomorphic": (0.50, 0.43, 0.58),
    "fine_linear": (0.78, 0.68, 0.86),
    "punctate": (0.09, 0.06, 0.13),
}
_TICKS = (0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.995)
_SHORT = {
    "fine_pleomorphic": "FP",
    "fine_linear": "FL",
    "coarse_heterogeneous": "CH",
    "amorphous": "amorph.",
    "fine_pleomorphic_or_fine_linear": "FP or FL",
    "typically_malignant_pooled": "typ. malignant",
    "indeterminate_pooled": "indeterminate",
}
_CLIP = (logit(0.002), logit(0.998))
_TITLES = {
    "overall": "Published biopsy series: overall malignancy rate",
    "morphology": "Published biopsy series by morphology",
    "distribution": "Published biopsy series by distribution",
    "birads": "Published biopsy series by BI-RADS category",
}


def jeffreys_interval(malignant: int, total: int, mass: float = 0.95) -> tuple[float, float]:
    """Jeffreys interval of a binomial rate (Beta(y + 1/2, n - y + 1/2) quantiles; 0 or 1 at the edges)."""
    a = (1.0 - mass) / 2.0
    lo = 0.0 if malignant == 0 else float(beta.ppf(a, malignant + 0.5, total - malignant + 0.5))
    hi = 1.0 if malignant == total else float(beta.ppf(1 - a, malignant + 0.5, total - malignant + 0.5))
    return lo, hi


def _x(p):
    return np.clip(logit(np.clip(p, 1e-6, 1 - 1e-6)), *_CLIP)


def _new_study_pooled_interval(syn: meta.Synthesis, row, mass: float = 0.9) -> tuple[float, float] | None:
    """Interval of a new study's true pooled rate (no binomial noise) for a pooled row's union.

    The study-level shift is included when the row's sample is restricted.
    """
    units = tuple((row.finding, lvl) for lvl in row.units)
    if any(u not in syn.posteriors for u in units):
        return None
    shift = syn.shifts.get(row.restriction[:2], (0.0, 0.0)) if row.restriction is not None else (0.0, 0.0)
    mus, taus, w = syn.draws_for(units)
    p = meta.pooled_rate(mus, taus, [wt for _, wt in row.components], meta.Z_COARSE, shift)
    masses = (w[:, None] * np.exp(meta.LOG_ZC_WEIGHTS)[None, :]).ravel()
    order = np.argsort(p.ravel())
    cdf = np.cumsum(masses[order])
    cdf /= cdf[-1]
    q = np.interp([(1 - mass) / 2, (1 + mass) / 2], cdf, p.ravel()[order])
    return float(q[0]), float(q[1])


def forest_plot(syn: meta.Synthesis, summaries: dict, finding: str, path: str | Path, title: str | None = None) -> Path:
    """Draw the forest plot of one finding (overall, morphology, distribution or birads) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = [u for u in summaries if u[0] == finding]
    order = {
        lvl: i for i, lvl in enumerate(meta.st.MODEL_LEVELS.get(finding, ()) + meta.st.GROUP_UNITS.get(finding, ()))
    }
    units.sort(key=lambda u: order.get(u[1], 99))
    lines: list[tuple] = []  # (kind, label, payload)
    for u in units:
        post = syn.posteriors[u]
        s = summaries[u]
        plain = len({r.study_id for r in post.rows if not r.pooled})
        extra = f", + {len(post.pooled_rows)} pooled rows" if post.pooled_rows else ""
        lines.append(
            ("header", f"{u[1]}  ({plain} stud{'y' if plain == 1 else 'ies'}, {post.lesions} lesions{extra})", None)
        )
        for r in sorted((r for r in post.rows if not r.pooled), key=lambda r: -r.total):
            tag = f"  [within {r.restriction[1]}]" if r.restriction is not None else ""
            lines.append(("study", f"{r.study_id}  {r.malignant}/{r.total}{tag}", r))
        lines.append(("pooled", f"pooled: {s.pooled_rate:.0%}, tau {s.tau:.2f}", s))
        lines.append(("predictive", f"new study 90%: {s.predictive_lower_90:.0%}-{s.predictive_upper_90:.0%}", s))
        if finding == "morphology" and u[1] in ROMINGER_2012:
            lines.append(("rominger", "Rominger 2012 (check, not data)", ROMINGER_2012[u[1]]))
    pooled_rows = [r for r in syn.rows if r.pooled and r.finding == finding]
    if pooled_rows:
        lines.append(("header", "pooled rows (lesion-weighted sums of levels)", None))
        for r in pooled_rows:
            comp = " + ".join(f"{w:.2f} {_SHORT.get(lvl, lvl)}" for lvl, w in r.components)
            tag = f"  [within {r.restriction[1]}]" if r.restriction is not None else ""
            lines.append(
                ("pooledrow", f"{r.study_id} {_SHORT.get(r.level, r.level)} {r.malignant}/{r.total} = {comp}{tag}", r)
            )

    height = 0.9 + 0.24 * len(lines)
    fig, ax = plt.subplots(figsize=(11.0, height + 0.3))
    y = len(lines)
    labels, ys = [], []
    for kind, label, payload in lines:
        y -= 1
        labels.append(label)
        ys.append(y)
        if kind == "header":
            ax.axhline(y - 0.5 + 1, color="0.85", lw=0.6)
        elif kind == "study":
            r = payload
            lo, hi = jeffreys_interval(r.malignant, r.total)
            ax.plot([_x(lo), _x(hi)], [y, y], color="0.3", lw=1.2)
            ax.plot(
                _x(r.observed),
                y,
                "s",
                ms=3 + 4 * np.sqrt(r.total / 1000),
                mfc="white" if r.restriction is not None else "0.2",
                mec="0.2",
            )
        elif kind == "pooled":
            s = payload
            xs = _x(np.array([s.pooled_lower_95, s.pooled_rate, s.pooled_upper_95, s.pooled_rate]))
            ax.fill(xs, [y, y + 0.3, y, y - 0.3], color="tab:blue")
        elif kind == "predictive":
            s = payload
            ax.plot([_x(s.predictive_lower_95), _x(s.predictive_upper_95)], [y, y], color="tab:orange", lw=1.2)
            ax.plot(
                [_x(s.predictive_lower_90), _x(s.predictive_upper_90)],
                [y, y],
                color="tab:orange",
                lw=4,
                solid_capstyle="butt",
            )
        elif kind == "rominger":
            rate, lo, hi = payload
            ax.plot([_x(lo), _x(hi)], [y, y], color="tab:red", lw=1.0)
            ax.plot(_x(rate), y, "x", color="tab:red", ms=6)
        elif kind == "pooledrow":
            r = payload
            lo, hi = jeffreys_interval(r.malignant, r.total)
            ax.plot([_x(lo), _x(hi)], [y, y], color="0.3", lw=1.2)
            ax.plot(_x(r.observed), y, "D", ms=4, mfc="white" if r.restriction is not None else "0.2", mec="0.2")
            band = _new_study_pooled_interval(syn, r)
            if band is not None:
                ax.plot([_x(band[0]), _x(band[1])], [y - 0.28, y - 0.28], color="tab:orange", lw=2, alpha=0.7)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=7.5)
    for tick, (kind, _, _) in zip(ax.get_yticklabels(), lines):
        if kind == "header":
            tick.set_fontweight("bold")
    ax.set_xticks(_x(np.array(_TICKS)))
    ax.set_xticklabels([f"{t:.1%}" if t < 0.01 or t > 0.99 else f"{t:.0%}" for t in _TICKS], fontsize=7.5)
    ax.set_xlim(*_CLIP)
    ax.set_ylim(-0.8, len(lines) - 0.2)
    ax.grid(axis="x", color="0.92", lw=0.6)
    ax.set_xlabel(
        "malignancy rate (logit axis). Squares: studies, 95% Jeffreys (open: restricted sample).\n"
        "Diamond: pooled rate, 95%. Orange: new study, 90% (thick) / 95%.",
        fontsize=7.5,
    )
    ax.set_title(title or _TITLES.get(finding, finding), fontsize=10)
    # fixed margins (tight_layout measures every label: a second per figure on a slow machine)
    longest = max(len(label) for label in labels)
    fig.subplots_adjust(
        left=min(0.035 + 0.0054 * longest, 0.5),
        right=0.98,
        top=1 - 0.45 / fig.get_figheight(),
        bottom=0.75 / fig.get_figheight(),
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


__all__ = ["forest_plot", "jeffreys_interval", "ROMINGER_2012"]
