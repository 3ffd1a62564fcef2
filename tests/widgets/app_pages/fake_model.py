"""The fake API's one model, ``loan``: a logistic score explained by its linear contributions.

Five features (one protected); the contributions are exact in the raw (logit) space and
rescaled to stay additive in probability space; sampling methods add a seeded wobble of
up to 10% to each, so their explanations differ a little from the exact one and from
each other. ``explain_one`` builds one instance explanation with reasons, screening,
review gates and a notice in the persona and locale asked for; ``explain_html`` is the
small page the fake serves for ``format: html``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

__all__ = ["CASES", "FEATURES", "VERSIONS", "explain_html", "explain_one", "prediction_of"]

Json = dict[str, Any]
EMPLOYMENT = ["unemployed", "part_time", "full_time"]
FEATURES: list[Json] = [
    {
        "name": "income",
        "label": "Monthly income",
        "type": "numeric",
        "range": [0, 500],
        "unit": "kEUR",
        "description": "Net monthly income.",
        "code": "INCOME",
        "phrases": {"raises": "Your income raised your chance", "lowers": "Your income lowered it"},
        "translations": {
            "de": {
                "label": "Monatseinkommen",
                "raises": "Ihr Einkommen half",
                "lowers": "Ihr Einkommen schadete",
            }
        },
    },
    {
        "name": "debt",
        "label": "Outstanding debt",
        "type": "integer",
        "range": [0, 200],
        "code": "DEBT",
        "phrases": {"raises": "Your debt helped", "lowers": "Your debt hurt"},
        "translations": {},
    },
    {
        "name": "employment",
        "label": "Employment",
        "type": "categorical",
        "categories": EMPLOYMENT,
        "code": "EMPL",
        "phrases": {},
        "translations": {},
    },
    {
        "name": "has_guarantor",
        "label": "Guarantor",
        "type": "binary",
        "code": "GUAR",
        "phrases": {"raises": "A guarantor helped", "lowers": "No guarantor hurt"},
        "translations": {},
    },
    {
        "name": "age",
        "label": "Age",
        "type": "integer",
        "range": [18, 100],
        "protected": True,
        "sensitive": True,
        "code": "AGE",
        "phrases": {},
        "translations": {},
    },
]
WEIGHTS = {"income": 0.02, "debt": -0.03, "employment": 0.8, "has_guarantor": 1.0, "age": 0.004}
MEANS = {"income": 120.0, "debt": 40.0, "employment": 1.0, "has_guarantor": 0.5, "age": 40.0}
CASES: list[Json] = [
    {"income": 40.0, "debt": 120, "employment": "unemployed", "has_guarantor": 0, "age": 30},
    {"income": 250.0, "debt": 10, "employment": "full_time", "has_guarantor": 1, "age": 52},
    {"income": 90.0, "debt": 60, "employment": "part_time", "has_guarantor": 0, "age": 41},
    {"income": 160.0, "debt": 30, "employment": "full_time", "has_guarantor": 0, "age": 35},
]
TITLES = {
    ("end_user", "en"): "About your credit application",
    ("end_user", "de"): "Zu Ihrem Kreditantrag",
    ("analyst", "en"): "Explanation for analysts",
    ("analyst", "de"): "Erklärung für Analysten",
    ("audit", "en"): "Audit view",
    ("audit", "de"): "Prüfansicht",
}
VERSIONS = {"clarion": "0.1.0", "onnxruntime": "1.32.0"}


def _numeric(name: str, value: Any) -> float:
    return float(EMPLOYMENT.index(value)) if name == "employment" else float(value)


def _score(x: Json) -> float:
    return sum(WEIGHTS[f] * (_numeric(f, x[f]) - MEANS[f]) for f in WEIGHTS) - 0.2


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def prediction_of(x: Json) -> Json:
    p = _sigmoid(_score(x))
    label = "approved" if p >= 0.5 else "declined"
    return {"label": label, "probabilities": {"declined": 1 - p, "approved": p}, "value": None}


def _wobble(method: str, seed: int, feature: str) -> float:
    if method in ("tree_shap", "exact_shap", "auto"):
        return 1.0
    digest = hashlib.sha256(f"{method}:{seed}:{feature}".encode()).digest()
    return 1 + (digest[0] / 255 - 0.5) * 0.2


def explain_one(x: Json, body: Json) -> Json:
    """One instance explanation: linear contributions toward ``approved``, reasons, notice."""
    method, locale = body.get("method", "auto"), body.get("locale", "en")
    persona, seed = body.get("persona", "end_user"), int(body.get("options", {}).get("seed", 0))
    prediction = prediction_of(x)
    base_z = _score(MEANS | {"employment": "part_time"})
    raw = {
        f: WEIGHTS[f] * (_numeric(f, x[f]) - MEANS[f]) * _wobble(method, seed, f) for f in WEIGHTS
    }
    base, output = base_z, base_z + sum(raw.values())
    if body.get("output", "probability") == "probability":
        scale = (_sigmoid(output) - _sigmoid(base)) / (output - base) if output != base else 0.0
        raw = {f: v * scale for f, v in raw.items()}
        base, output = _sigmoid(base), _sigmoid(base) + sum(raw.values())
    labels = {f["name"]: f["label"] for f in FEATURES}
    sign = 1.0 if prediction["label"] == "approved" else -1.0
    ranked = sorted(raw, key=lambda f: -sign * raw[f])
    suppressed = [f for f in ranked[:3] if f == "age" and sign * raw[f] > 0]
    chosen = [f for f in ranked if f != "age" and sign * raw[f] > 0][:3]
    reasons: list[Json] = []
    for f in chosen:
        direction = "raises" if raw[f] > 0 else "lowers"
        flags = ["untranslated"] if locale == "de" and f != "income" else []
        text = f"{labels[f]} {'raised' if raw[f] > 0 else 'lowered'} your chance of approval"
        if locale == "de":
            text = f"{labels[f]}: hat das Ergebnis beeinflusst"
        reasons.append(
            {
                "code": f.upper(),
                "text": text,
                "features": [f],
                "contribution": raw[f],
                "contributions": {f: raw[f]},
                "direction": direction,
                "flags": flags,
                "proxy_for": [],
            }
        )
    title = TITLES[(persona, locale)]
    n_cf = int(body.get("counterfactuals", 0))
    counterfactuals = []
    if n_cf and prediction["label"] == "declined":
        changed = x | {"debt": 0, "has_guarantor": 1}
        counterfactuals.append(
            {
                "changes": {"debt": 0, "has_guarantor": 1},
                "was": {"debt": x["debt"], "has_guarantor": x["has_guarantor"]},
                "prediction": prediction_of(changed),
                "cost": 2.0,
                "text": "No debt and a guarantor: likely approved.",
            }
        )
    p = max(prediction["probabilities"].values())
    confidence = "high" if p >= 0.85 else "moderate" if p >= 0.65 else "low"
    gates = [
        {
            "name": "additivity_residual",
            "value": 0.0,
            "limit": 0.01,
            "at_least": False,
            "passed": True,
        }
    ]
    if method in ("lime",):
        gates.append(
            {"name": "fidelity_r2", "value": 0.2, "limit": 0.5, "at_least": True, "passed": False}
        )
    failed = [g["name"] for g in gates if not g["passed"]]
    why = (["low_confidence"] if confidence == "low" else []) + failed
    lines = [title, f"Outcome: {prediction['label']}", *[r["text"] for r in reasons]]
    return {
        "prediction": prediction,
        "target": "approved",
        "output_value": output,
        "base_value": base,
        "attributions": [
            {"feature": f, "label": labels[f], "value": x[f], "attribution": raw[f]} for f in raw
        ],
        "quality": {"additivity_residual": 0.0}
        | ({"fidelity_r2": 0.2} if method == "lime" else {}),
        "reasons": reasons,
        "narrative": "\n".join(lines),
        "confidence": confidence,
        "confidence_basis": "default thresholds",
        "screening": {"suppressed": suppressed, "flagged": []},
        "review": {"required": bool(why), "why": why, "gates": gates},
        "counterfactuals": counterfactuals,
        "counterfactual_note": "Not a guarantee." if n_cf else None,
        "notice": {
            "template_version": "1.0.0",
            "locale": locale,
            "persona": persona,
            "domain": "credit",
            "title": title,
            "lead": f"Outcome: {prediction['label']}",
            "sections": [
                {
                    "kind": "reasons",
                    "heading": "Reasons",
                    "paragraphs": [],
                    "items": [r["text"] for r in reasons],
                    "table": None,
                }
            ],
            "chart": None,
        },
    }


def explain_html(explanation: Json, widget: str) -> str:
    """The page the fake serves for ``format: html``: small, but it names persona and locale."""
    notice = explanation["notice"]
    items = "".join(f"<li>{r['text']}</li>" for r in explanation["reasons"])
    return (
        f'<!doctype html><html lang="{notice["locale"]}"><head><meta charset="utf-8">'
        f'<title>{notice["title"]}</title></head><body><main class="clarion">'
        f'<article class="notice" data-persona="{notice["persona"]}" data-widget="{widget}">'
        f"<h1>{notice['title']}</h1><p>{notice['lead']}</p><ol>{items}</ol></article>"
        "</main></body></html>"
    )
