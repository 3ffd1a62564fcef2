"""A built bundle and how it is written: ``model.onnx``, ``card.yaml``, ``background.csv``
and ``README.md`` (a short model card in Markdown) in ``<out>/<name>/``.

The card is validated with the service's own schema before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray
from pydantic import ValidationError

from service.models.card import ConfidenceSpec, ModelCard

from .common import (
    CARD_VERSION,
    CONFIDENCE_MIN_ROWS,
    CONFIDENCE_TARGETS,
    N_BACKGROUND,
    BuildError,
    tidy,
)
from .spec import Feat, Spec, copy_file

__all__ = ["Built", "background_csv", "render_card", "render_readme", "write_bundle"]

METRIC_LABELS = {
    "accuracy": "accuracy (argmax)",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "r2": "R²",
    "mae": "mean absolute error",
    "target_std": "standard deviation of the target (for scale)",
}


@dataclass
class Built:
    """A trained, converted and verified bundle, ready to be written.

    ``held_out_confidence``: (n_test,) the predicted class's probability on the held-out
    rows, for the README's bucket counts (classifiers only).
    """

    spec: Spec
    onnx_bytes: bytes
    background: pd.DataFrame
    metrics: dict[str, float]
    max_diff: float
    tolerance: float
    model_summary: str
    n_train: int
    n_test: int
    extra_readme: str = ""
    confidence: ConfidenceSpec | None = None
    held_out_confidence: NDArray[np.float64] | None = None


def background_csv(background: pd.DataFrame, features: Sequence[Feat]) -> str:
    """Header = feature names in card order; labels for categoricals; plain numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in features])
    for row in background[[f.name for f in features]].itertuples(index=False):
        cells = []
        for f, value in zip(features, row, strict=True):
            if f.type == "categorical":
                cells.append(str(value))
            elif f.type in ("integer", "binary"):
                cells.append(str(int(value)))
            else:
                cells.append(repr(tidy(float(value))))
        writer.writerow(cells)
    return buffer.getvalue()


def render_card(built: Built) -> str:
    """card.yaml's text; raises BuildError if the service would refuse the card."""
    confidence = built.confidence.model_dump(mode="json") if built.confidence else None
    card = built.spec.card(confidence)
    try:
        ModelCard.model_validate(card)
    except ValidationError as exc:
        raise BuildError(f"{built.spec.name}: the card is invalid: {exc}") from exc
    return yaml.safe_dump(card, sort_keys=False, allow_unicode=True, width=100)


def _feature_table(spec: Spec) -> str:
    rows = ["| feature | label | type | values | actionability | flags |", "|---" * 6 + "|"]
    for f in spec.features:
        if f.categories:
            values = f"{len(f.categories)} categories"
        elif f.range:
            values = f"{tidy(f.range[0])} to {tidy(f.range[1])}" + (f" {f.unit}" if f.unit else "")
        else:
            values = "0 / 1"
        flags = [
            "protected" if f.protected else "",
            f"proxy for `{f.proxy_for}`" if f.proxy_for else "",
            "sensitive" if f.sensitive else "",
        ]
        flag_text = ", ".join(x for x in flags if x) or "-"
        rows.append(
            f"| `{f.name}` | {f.label} | {f.type} | {values} | {f.actionability} | {flag_text} |"
        )
    return "\n".join(rows) + "\n"


def _confidence_section(built: Built) -> str:
    """How the card's confidence buckets were calibrated, and what they hold."""
    spec, conf = built.confidence, built.held_out_confidence
    if spec is None or conf is None:
        return ""
    buckets = (
        ("high", f"≥ {spec.high:.4f}", conf >= spec.high),
        ("moderate", f"≥ {spec.moderate:.4f}", (conf >= spec.moderate) & (conf < spec.high)),
        ("low", f"< {spec.moderate:.4f}", conf < spec.moderate),
    )
    rows = "\n".join(
        f"| {name} | {rule} | {int(mask.sum())} | "
        + (f"{spec.observed[name]:.4f}" if name in spec.observed else "-")
        + " |"
        for name, rule, mask in buckets
    )
    return (
        "## Confidence buckets\n\n"
        "The card's `confidence` section was written by "
        "`service.people.confidence.calibrate_buckets` from the "
        f"{built.n_test} held-out rows above (labelled, never trained on), using ONNX "
        "Runtime's probabilities from `model.onnx`. Confidence is the predicted class's "
        "probability. The high threshold is the lowest one above which the held-out "
        f"predictions are right at least {CONFIDENCE_TARGETS['high']:.0%} of the time; the "
        "moderate threshold is the lowest one at which the rows between it and the high "
        f"threshold, on their own, are right at least {CONFIDENCE_TARGETS['moderate']:.0%} "
        f"of the time; each over at least {CONFIDENCE_MIN_ROWS} rows. A bucket whose "
        "threshold equals the next one up is empty. The "
        "accuracies below are measured on the same rows that set the thresholds, so they are "
        "optimistic at the margins.\n\n"
        "| bucket | predicted-class probability | held-out rows | observed accuracy |\n"
        f"|---|---|---|---|\n{rows}\n\n"
    )


def render_readme(built: Built) -> str:
    """The bundle's model card in Markdown, from its spec and the measured numbers."""
    spec = built.spec
    sha = hashlib.sha256(built.onnx_bytes).hexdigest()
    versions = ", ".join(
        f"{p} {importlib.metadata.version(p)}"
        for p in ("scikit-learn", "lightgbm", "skl2onnx", "onnxmltools", "onnx", "onnxruntime")
    )
    task = (
        f"classification, classes {list(spec.classes)}, positive class `{spec.positive_class}`"
        if spec.classes
        else "regression"
    )
    metrics = "\n".join(f"| {METRIC_LABELS[k]} | {v:.4f} |" for k, v in built.metrics.items())
    limits = "\n".join(f"- {item}" for item in spec.limitations)
    stratified = ", stratified by label" if spec.classes else ""
    extra = f"{built.extra_readme}\n" if built.extra_readme else ""
    copy_files = " and ".join(
        f"`models/{copy_file(code)}`" for code in ("en", *(loc.code for loc in spec.locales))
    )
    locales = ", ".join(("en", *(loc.code for loc in spec.locales)))
    return (
        f"# {spec.name}\n\n{spec.description}\n\n"
        f"- Task: {task}; domain: {spec.domain}; card version {CARD_VERSION}.\n"
        f"- `model.onnx`: {len(built.onnx_bytes):,} bytes, sha256 `{sha}`.\n"
        f"- Generated by `python models/build.py --only {spec.name}` with {versions}; the "
        f"words come from {copy_files} (card copy in: {locales}). Do not edit the bundle "
        "by hand.\n\n"
        f"## Data source and licence\n\n{spec.source}\n\n"
        f"## Intended use\n\n{spec.intended_use}\n\n"
        f"## Model\n\n{built.model_summary}\n\n"
        f"Split: {built.n_train} training and {built.n_test} held-out rows (seeded"
        f"{stratified}). `background.csv`: {N_BACKGROUND} training rows drawn with a fixed "
        "seed.\n\n"
        f"## Held-out metrics\n\n| metric | value |\n|---|---|\n{metrics}\n\n"
        "ONNX Runtime against the original model on the held-out rows: max absolute "
        f"difference {built.max_diff:.2e} (the build fails above {built.tolerance:g}).\n\n"
        f"{_confidence_section(built)}"
        f"{extra}"
        f"## Features\n\n{_feature_table(spec)}\n"
        "Descriptions, units, reason codes, phrases and their translations are in "
        "`card.yaml`.\n\n"
        f"## Known limitations\n\n{limits}\n"
    )


def write_bundle(built: Built, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the four files into ``out_dir/<name>/``; returns that folder."""
    texts = {
        "card.yaml": render_card(built),
        "background.csv": background_csv(built.background, built.spec.features),
        "README.md": render_readme(built),
    }
    bundle = out_dir / built.spec.name
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "model.onnx").write_bytes(built.onnx_bytes)
    for filename, text in texts.items():
        (bundle / filename).write_text(text, encoding="utf-8", newline="\n")
    return bundle
