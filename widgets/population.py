"""A sample of explanations as one long table: the data behind the model-level views.

``long_frame`` turns an ``ExplainResponse`` over many cases into one row per case and
player (feature, or group of one-hot columns) with its value, where that value sits
in the feature's range (0 low .. 1 high, for the beeswarm's colour) and its
attribution. ``reason_counts`` and ``reasons_by_group`` count the reason codes the
cases gave, overall and per group of a chosen feature. Pure: no Streamlit, no network.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "display_value",
    "long_frame",
    "population_target",
    "reason_counts",
    "reasons_by_group",
]


def display_value(value: Any) -> str:
    """A value as a person reads it; for a one-hot group, the column that is set."""
    if isinstance(value, Mapping):
        on = [str(k) for k, v in value.items() if v]
        return ", ".join(on) if on else "none"
    if value is None:
        return "missing"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _jitter(case: int, feature: str) -> float:
    """A deterministic offset in [-0.8, 0.8] so that dots of one row do not overlap."""
    return (zlib.crc32(f"{case}:{feature}".encode()) % 1601) / 1000 - 0.8


def _position(feature: Mapping[str, Any] | None, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, Mapping):
        keys = list(value)
        on = [i for i, k in enumerate(keys) if value[k]]
        return on[0] / (len(keys) - 1) if on and len(keys) > 1 else 0.5
    categories = (feature or {}).get("categories")
    if categories:
        names = [str(c) for c in categories]
        if str(value) in names and len(names) > 1:
            return names.index(str(value)) / (len(names) - 1)
        return 0.5
    if isinstance(value, bool | int | float) and hi > lo:
        return (float(value) - lo) / (hi - lo)
    return 0.5


def population_target(detail: Mapping[str, Any]) -> str | None:
    """The one class a population view explains every case toward.

    Without it the service explains a multiclass model toward each row's predicted class,
    so signs would flip from row to row and one plot would mix several targets. Binary
    models: the card's ``positive_class`` (the service defaults it to the second class,
    as scikit-learn and shap do); otherwise the first class. Regressors: None.
    """
    classes = list(detail.get("classes") or [])
    if not classes:
        return None
    positive = detail.get("positive_class")
    if positive in classes:
        return str(positive)
    return str(classes[1] if len(classes) == 2 else classes[0])


def long_frame(detail: Mapping[str, Any], response: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (case, player) of an explain response over a sample.

    Columns: ``case`` (0-based), ``feature`` (player name), ``label``, ``value`` (text),
    ``numeric`` (the value as a float, or NaN for categories and groups), ``position``
    (0..1 within the sample's range or the category list), ``jitter`` and ``attribution``.
    """
    features = {f["name"]: f for f in detail.get("features", [])}
    rows: list[dict[str, Any]] = []
    for case, explanation in enumerate(response["explanations"]):
        for a in explanation["attributions"]:
            value = a["value"]
            meta = features.get(a["feature"])
            is_number = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and not (meta or {}).get("categories")
            )
            rows.append(
                {
                    "case": case,
                    "feature": a["feature"],
                    "label": a["label"],
                    "raw": value,
                    "value": display_value(value),
                    "numeric": float(value) if is_number else float("nan"),
                    "attribution": float(a["attribution"]),
                    "jitter": _jitter(case, a["feature"]),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=["case", "feature", "label", "raw", "value", "numeric", "attribution", "jitter"],
    )
    positions = []
    for row in frame.itertuples():
        column = frame.loc[frame["feature"] == row.feature, "numeric"]
        lo, hi = (float(column.min()), float(column.max())) if column.notna().any() else (0, 1)
        positions.append(_position(features.get(str(row.feature)), row.raw, lo, hi))
    return frame.assign(position=positions).drop(columns=["raw"])


def reason_counts(explanations: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Reason code -> number of cases that gave it (a case counts once per code)."""
    counts: Counter[str] = Counter()
    for e in explanations:
        counts.update({r["code"] for r in e.get("reasons", [])})
    return dict(counts)


def reasons_by_group(
    explanations: Sequence[Mapping[str, Any]],
    instances: Sequence[Mapping[str, Any]],
    feature: str,
) -> pd.DataFrame:
    """Reason-code counts per value of ``feature``, with each code's share of the group's cases.

    Columns: ``group``, ``code``, ``count``, ``cases`` (in the group), ``share``.
    """
    if len(explanations) != len(instances):
        raise ValueError(
            f"{len(explanations)} explanations for {len(instances)} instances: they must match"
        )
    sizes: Counter[str] = Counter()
    counts: Counter[tuple[str, str]] = Counter()
    for e, x in zip(explanations, instances, strict=True):
        group = display_value(x.get(feature))
        sizes[group] += 1
        for code in {r["code"] for r in e.get("reasons", [])}:
            counts[(group, code)] += 1
    rows = [
        {
            "group": g,
            "code": c,
            "count": n,
            "cases": sizes[g],
            "share": n / sizes[g],
        }
        for (g, c), n in sorted(counts.items())
    ]
    return pd.DataFrame(rows, columns=["group", "code", "count", "cases", "share"])
