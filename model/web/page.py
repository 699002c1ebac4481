"""The calculator page: ``page.html`` (bundled package data) filled in once per server start.

The page is one self-contained HTML file: CSS, JavaScript and pictures are inline, nothing is loaded
from elsewhere, so it works offline (the server's Content-Security-Policy forbids anything else).
Its look is the report's: :data:`microcalc.reporting.markup.CSS` is included as it is, with a few rules for
the form added in the template. The form is built here from the schema's vocabularies, so it offers
exactly the words the CLI accepts; every field starts blank (= not recorded).
"""

from __future__ import annotations

import html
import json
from importlib import resources

from microcalc import DISCLAIMER
from microcalc.io import schema
from microcalc.reporting.markup import CSS, disclaimer_html
from microcalc.web.case import LABELS, Model, default_population

FIELD_HINTS: dict[str, str] = {
    "calc_count": "whole number, 1 or more",
    "age": "years",
}
# The findings in the form's order: (column, its words) for a choice, (column, None) for a number.
FINDING_FIELDS: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("distribution", schema.DISTRIBUTION),
    ("birads", schema.BIRADS),
    ("cluster_density", schema.CLUSTER_DENSITY),
    ("size_variability", schema.SIZE_VARIABILITY),
    ("calc_count", None),
    ("change", schema.CHANGE),
    ("breast_density", schema.BREAST_DENSITY),
    ("age", None),
)
YES_NO_LABELS: dict[str, str] = {
    "brca": "BRCA1/2 carrier",
    "tp53": "TP53 carrier",
    "family_history": "Family history of breast cancer",
    "postmenopausal": "Postmenopausal",
    "hrt": "Hormone therapy (HRT)",
}
OPTION_LABELS: dict[str, dict[str, str]] = {
    "birads": {
        "0": "0 (incomplete)",
        "1": "1 (negative)",
        "2": "2 (benign)",
        "3": "3 (probably benign)",
        "4": "4 (not subdivided)",
        "4A": "4A (low suspicion)",
        "4B": "4B (moderate suspicion)",
        "4C": "4C (high suspicion)",
        "5": "5 (highly suggestive)",
    },
    "breast_density": {
        "a": "a (almost entirely fatty)",
        "b": "b (scattered fibroglandular)",
        "c": "c (heterogeneously dense)",
        "d": "d (extremely dense)",
    },
}
NOT_RECORDED = "not recorded"


def _e(text: object) -> str:
    return html.escape(str(text))


def words(value: str) -> str:
    """A vocabulary word as text: underscores become spaces."""
    return value.replace("_", " ")


def prior_tag(column: str, model: Model) -> str:
    """A grey 'prior only' tag for an input whose effect the training data did not inform."""
    if column not in model.prior_only:
        return ""
    return (
        " <span class='tag' title='No training lesion recorded this: its effect is the literature prior'>"
        "prior only</span>"
    )


def select_html(column: str, options: tuple[str, ...], model: Model, label: str | None = None) -> str:
    """A labelled <select> whose first, default option is blank (not recorded)."""
    names = OPTION_LABELS.get(column, {})
    items = "".join(f"<option value='{_e(v)}'>{_e(names.get(v, words(v)))}</option>" for v in options)
    return (
        f"<label class='field' for='f-{column}'><span>{_e(label or LABELS.get(column, words(column)))}"
        f"{prior_tag(column, model)}</span><select id='f-{column}' data-field='{column}'>"
        f"<option value=''>{NOT_RECORDED}</option>{items}</select></label>"
    )


def text_html(column: str, model: Model) -> str:
    """A labelled text box for a number (the server validates it, with the CLI's message)."""
    hint = FIELD_HINTS.get(column, "")
    return (
        f"<label class='field' for='f-{column}'><span>{_e(LABELS.get(column, words(column)))}"
        f"{prior_tag(column, model)} <small class='muted'>{_e(hint)}</small></span>"
        f"<input id='f-{column}' data-field='{column}' type='text' inputmode='numeric' autocomplete='off' "
        f"placeholder='{NOT_RECORDED}'></label>"
    )


def morphology_html(model: Model) -> str:
    """Checkboxes for the morphology words (several allowed), in the atlas's two groups."""

    def group(title: str, items: tuple[str, ...]) -> str:
        boxes = "".join(
            f"<label class='check'><input type='checkbox' name='morphology' value='{_e(w)}'> {_e(words(w))}</label>"
            for w in items
        )
        return f"<div class='words'><div class='muted group'>{_e(title)}</div>{boxes}</div>"

    return (
        f"<fieldset id='f-morphology'><legend>Morphology <small class='muted'>several allowed; none ticked = "
        f"not recorded</small></legend>{group('suspicious', schema.MORPHOLOGY_SUSPICIOUS)}"
        f"{group('typically benign', schema.MORPHOLOGY_BENIGN)}</fieldset>"
    )


def form_html(model: Model) -> str:
    """The case form: morphology, the other findings, risk factors and the population."""
    findings = "".join(
        text_html(c, model) if options is None else select_html(c, options, model) for c, options in FINDING_FIELDS
    )
    risks = "".join(select_html(c, ("yes", "no"), model, label) for c, label in YES_NO_LABELS.items())
    default = default_population(model.populations)
    populations = "".join(
        f"<option value='{_e(p.key)}'{' selected' if p == default else ''}>{_e(p.label)}</option>"
        for p in model.populations
    )
    return (
        f"{morphology_html(model)}"
        f"<fieldset><legend>Findings</legend><div class='grid'>{findings}</div></fieldset>"
        f"<fieldset><legend>Risk factors</legend><div class='grid'>{risks}</div></fieldset>"
        f"<fieldset><legend>Population</legend><label class='field wide' for='f-population'>"
        f"<span>Where the woman is screened</span><select id='f-population'>{populations}</select></label>"
        "<p class='muted small'>The clinical population is a new clinical biopsy series drawn from the published "
        "studies, with unrecorded findings completed from a clinical case mix; a new DDSM-like site averages over "
        "the spread between the training sites (DDSM is enriched for cancer); a training site uses that site's own "
        "effect.</p></fieldset>"
        "<p><button type='reset' id='clear'>Clear all</button></p>"
    )


def lower_first(label: str) -> str:
    """'Family history' -> 'family history'; a label starting with an acronym ('BRCA1/2 carrier') is kept."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def prior_only_sentence(model: Model) -> str:
    """Which inputs are informed by priors alone, as the report words it."""
    if not model.prior_only:
        return "Every input was recorded in the training data."
    order = list(LABELS)
    columns = sorted(model.prior_only, key=lambda c: order.index(c) if c in order else len(order))
    names = ", ".join(lower_first(LABELS.get(c, words(c))) for c in columns)
    return (
        f"Informed by priors alone: {names}. No training lesion recorded them, so their effects are the "
        "literature priors, unchanged by data (marked “prior only”)."
    )


def banner_html(fit) -> str:
    """The red NOT CONVERGED banner of the report, or nothing."""
    conv = fit.convergence
    if conv.ok:
        return ""
    return (
        "<div class='banner' id='not-converged'>NOT CONVERGED: do not use these numbers."
        f"<span>{_e('; '.join(conv.problems()))}. Refit with more draws and tuning steps "
        "(<code>microcalc fit --draws 2000 --tune 2000</code>) and serve that fit.</span></div>"
    )


def script_json(value: object) -> str:
    """JSON safe inside a <script> element (no '</script>' or comment openers can appear)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fill(template: str, values: dict[str, str]) -> str:
    """Replace each ``{{NAME}}`` in the template; every placeholder must be given and used."""
    for name, value in values.items():
        marker = "{{" + name + "}}"
        if marker not in template:
            raise KeyError(f"page template has no {marker}")
        template = template.replace(marker, value)
    if "{{" in template:
        raise KeyError(f"page template placeholder not filled: {template[template.index('{{') :][:40]}")
    return template


def template() -> str:
    """The page's HTML template (``page.html`` in the package)."""
    return resources.files("microcalc.web").joinpath("page.html").read_text(encoding="utf-8")


def render_page(fit, model: Model, ci: float, max_upload_bytes: int | None = None) -> str:
    """The calculator page for this fit (the same bytes for every request)."""
    import microcalc
    from microcalc.web.limits import MAX_UPLOAD_BYTES

    summary = fit.data_summary or {}
    notes: list[str] = getattr(fit, "notes", list)()
    config = {"ci": ci, "maxUploadBytes": max_upload_bytes or MAX_UPLOAD_BYTES, "disclaimer": DISCLAIMER}
    return fill(
        template(),
        {
            "CSS": CSS,
            "VERSION": _e(microcalc.__version__),
            "LESIONS": _e(summary.get("lesions", "?")),
            "PRIORS": _e(fit.priors.name),
            "BANNER": banner_html(fit),
            "DISCLAIMER": disclaimer_html(),
            "FORM": form_html(model),
            "CI": f"{100 * ci:.0f}%",
            "PRIOR_ONLY": _e(prior_only_sentence(model)),
            "DIAGNOSTICS": _e(fit.convergence.text()),
            "NOTES": "".join(f"<p class='muted'>{_e(n)}</p>" for n in notes),
            "CONFIG": script_json(config),
        },
    )
