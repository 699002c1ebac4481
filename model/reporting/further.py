"""Outputs of other commands that the report links to, and its "Sensitivity and evaluation" section.

The outputs (sensitivity, evaluation, cross-validation, learning curve, literature synthesis) are
found in sub-folders beside the report; the section links them or says how to produce them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from microcalc.reporting.markup import escape

LINKED_SUFFIXES = (".html", ".png", ".csv", ".json", ".md")


EMBEDDED_FOLDERS = ("evaluation", "crossval", "learning_curve")  # their PNG figures are shown inline


@dataclass(frozen=True)
class Further:
    """Output of another command the report links to (or says how to produce)."""

    title: str
    folder: str
    files: tuple[Path, ...]
    how: str
    metrics: dict | None = None
    reading: tuple[str, ...] = ()  # plain-language findings the command wrote, if any


def _read_json(path: Path) -> dict | None:
    """A small JSON summary written by another command, or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def further_outputs(out_dir: Path, fit_path: str | Path | None) -> list[Further]:
    """Sensitivity, evaluation and cross-validation output found beside the report."""
    fit_arg = str(fit_path) if fit_path else "FIT.nc"
    specs = [
        ("Prior sensitivity", "sensitivity", f"microcalc sensitivity {fit_arg} --out {out_dir / 'sensitivity'}"),
        (
            "Out-of-sample evaluation",
            "evaluation",
            f"microcalc evaluate {fit_arg} TEST.csv --out {out_dir / 'evaluation'}",
        ),
        ("Cross-validation", "crossval", f"microcalc crossval --by case --out {out_dir / 'crossval'}"),
        (
            "Value of the literature priors",
            "learning_curve",
            f"microcalc learning-curve --out {out_dir / 'learning_curve'}",
        ),
        (
            "Evidence synthesis of the published series",
            "literature",
            f"microcalc literature --fit {fit_arg} --out {out_dir / 'literature'}",
        ),
    ]
    out = []
    for title, folder, how in specs:
        root = out_dir / folder
        found = [p for p in root.glob("*") if p.suffix in LINKED_SUFFIXES and not p.name.startswith(".")]
        files = tuple(sorted(found, key=lambda p: (p.suffix != ".html", p.name)))  # HTML pages first
        metrics = _read_json(root / "metrics.json")
        summary = _read_json(root / "sensitivity_summary.json") or {}
        reading = summary.get("reading", [])
        reading = tuple([reading] if isinstance(reading, str) else reading)
        out.append(Further(title, folder, files, how, metrics, reading))
    return out


def _embedded_png(path: Path) -> str:
    """A PNG written by another command, embedded so the report stays one self-contained file."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{escape(path.stem)}' style='width:100%;max-width:640px' src='data:image/png;base64,{data}'>"
        f"<figcaption>{escape(path.name)}</figcaption></figure>"
    )


def further_html(items: list[Further], out_dir: Path) -> str:
    """The report's "Sensitivity and evaluation" section in HTML.

    Per other command: links to its pages (paths relative to ``out_dir``), its key metrics and reading,
    and for some the embedded figures; or, when it has not been run, the command that produces it.
    """
    parts = []
    for f in items:
        if f.files:
            pages = [p for p in f.files if p.suffix == ".html"] or list(f.files)
            links = ", ".join(
                f"<a href='{escape(p.relative_to(out_dir).as_posix())}'>{escape(p.name)}</a>" for p in pages
            )
            rest = len(f.files) - len(pages)
            more = f" (and {rest} more files in <code>{escape(f.folder)}/</code>)" if rest else ""
            text = f"<p><strong>{escape(f.title)}</strong>: {links}{more}</p>"
            if f.metrics:
                keys = [
                    k
                    for k in ("n", "auc", "brier", "log_loss", "calibration_slope", "interval_coverage")
                    if isinstance(f.metrics.get(k), (int, float))
                ]
                text += "<p class='muted'>" + escape(", ".join(f"{k} {f.metrics[k]:.3g}" for k in keys)) + "</p>"
            text += "".join(f"<p>{escape(line)}</p>" for line in f.reading)
            if f.folder in EMBEDDED_FOLDERS:
                text += "".join(_embedded_png(p) for p in f.files if p.suffix == ".png")
        else:
            text = (
                f"<p><strong>{escape(f.title)}</strong>: not produced yet. Run <code>{escape(f.how)}</code> "
                "and rebuild this report to link it here.</p>"
            )
        parts.append(text)
    return "".join(parts)
