"""Synthetic narration cases, one per domain, with fixed attributions and a small model.

Each case has a card (with German copy where a reviewer would have written it, and
gaps on purpose elsewhere), a background, one canonical row, hand-set attributions
and a deterministic ``predict`` (a logistic or linear function of the canonical row),
so that golden files depend on the narration code only, never on an explainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from service.models.card import ModelCard
from service.models.instances import decode_row
from service.models.prediction import prediction_of
from service.people.narratives import Locale, Persona, narrate
from service.results import ExplainedInstance
from service.wire import mapping
from service.wire.schemas import InstanceExplanation

__all__ = ["CASES", "Case", "narrated"]

Predict = Callable[[NDArray[np.float64]], NDArray[np.float64]]


@dataclass(frozen=True)
class Case:
    name: str
    card: ModelCard
    background: NDArray[np.float64]
    x: NDArray[np.float64]
    attributions: tuple[float, ...]  # per player, toward the target
    predict: Predict
    quality: dict[str, float]
    target: str | None = None


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)


def _binary(w: list[float], b: float) -> Predict:
    """P(second class) = sigmoid(X w + b); returns (n, 2)."""
    weights = np.asarray(w)

    def predict(X: NDArray[np.float64]) -> NDArray[np.float64]:
        p = _sigmoid(np.asarray(X) @ weights + b)
        return np.column_stack([1 - p, p])

    return predict


CREDIT = ModelCard.model_validate(
    {
        "name": "demo_credit",
        "version": "2.0",
        "task": "classification",
        "domain": "credit",
        "classes": ["approved", "declined"],
        "positive_class": "declined",
        "favorable_class": "approved",
        "max_reasons": 4,
        "outcome_labels": {
            "en": {"approved": "approved", "declined": "declined"},
            "de": {"approved": "genehmigt", "declined": "abgelehnt"},
        },
        "reason_codes": {
            "DEBT": {
                "label": "Existing debt",
                "phrases": {
                    "raises": "Your existing debt raised the estimated risk",
                    "lowers": "Your existing debt lowered the estimated risk",
                },
                "translations": {
                    "de": {
                        "label": "Bestehende Schulden",
                        "raises": "Ihre bestehenden Schulden haben das geschätzte Risiko erhöht",
                        "lowers": "Ihre bestehenden Schulden haben das geschätzte Risiko gesenkt",
                    }
                },
            }
        },
        "features": [
            {
                "name": "income",
                "label": "Monthly income",
                "unit": "EUR",
                "format": ",.0f",
                "range": [0, 20000],
                "code": "INCOME",
                "phrases": {
                    "raises": "Your income raised the estimated risk",
                    "lowers": "Your income lowered the estimated risk",
                },
                "translations": {
                    "de": {
                        "label": "Monatliches Einkommen",
                        "raises": "Ihr Einkommen hat das geschätzte Risiko erhöht",
                        "lowers": "Ihr Einkommen hat das geschätzte Risiko gesenkt",
                    }
                },
            },
            {
                "name": "debt_ratio",
                "label": "Debt-to-income ratio",
                "format": ".0%",
                "range": [0, 2],
                "code": "DEBT",
                "translations": {"de": {"label": "Schuldenquote"}},
            },
            {
                "name": "open_loans",
                "label": "Open loans",
                "type": "integer",
                "range": [0, 10],
                "code": "DEBT",
                "translations": {"de": {"label": "Offene Kredite"}},
            },
            {
                "name": "employment",
                "label": "Employment",
                "type": "categorical",
                "categories": ["unemployed", "part_time", "full_time"],
                "actionability": "hard_to_change",
                "code": "EMPLOY",
                "phrases": {
                    "raises": "Your employment status raised the estimated risk",
                    "lowers": "Your employment status lowered the estimated risk",
                },
                "translations": {
                    "de": {
                        "label": "Beschäftigung",
                        "raises": "Ihr Beschäftigungsstatus hat das geschätzte Risiko erhöht",
                        "lowers": "Ihr Beschäftigungsstatus hat das geschätzte Risiko gesenkt",
                        "categories": {
                            "unemployed": "ohne Beschäftigung",
                            "part_time": "Teilzeit",
                            "full_time": "Vollzeit",
                        },
                    }
                },
            },
            {
                "name": "age",
                "label": "Age",
                "type": "integer",
                "unit": "years",
                "range": [18, 100],
                "actionability": "immutable",
                "protected": True,
                "code": "AGE",
            },
            {
                "name": "has_guarantor",
                "label": "Guarantor",
                "type": "binary",
                "code": "GUARANTOR",
                "phrases": {
                    "raises": "Not having a guarantor raised the estimated risk",
                    "lowers": "Having a guarantor lowered the estimated risk",
                },
                "translations": {
                    "de": {
                        "label": "Bürge",
                        "raises": "Dass kein Bürge vorhanden ist, hat das geschätzte Risiko erhöht",
                        "lowers": "Ein Bürge hat das geschätzte Risiko gesenkt",
                    }
                },
            },
            {
                "name": "postcode_area",
                "label": "Postcode area",
                "type": "categorical",
                "categories": ["north", "south", "east", "west"],
                "actionability": "immutable",
                "proxy_for": "national origin",
                "code": "AREA",
                "phrases": {
                    "raises": "Your postcode area raised the estimated risk",
                    "lowers": "Your postcode area lowered the estimated risk",
                },
                "translations": {
                    "de": {
                        "label": "Postleitzahlgebiet",
                        "raises": "Ihr Postleitzahlgebiet hat das geschätzte Risiko erhöht",
                        "lowers": "Ihr Postleitzahlgebiet hat das geschätzte Risiko gesenkt",
                    }
                },
            },
        ],
    }
)


def _credit_background() -> NDArray[np.float64]:
    rng = np.random.default_rng(1)
    n = 60
    return np.column_stack(
        [
            np.round(rng.uniform(800, 9000, n), -1),
            np.round(rng.uniform(0.05, 1.2, n), 2),
            rng.integers(0, 6, n),
            rng.integers(0, 3, n),
            rng.integers(18, 80, n),
            rng.integers(0, 2, n),
            rng.integers(0, 4, n),
        ]
    ).astype(np.float64)


# declined risk: lower with income and guarantor, higher with debt, loans and area "east".
_CREDIT_PREDICT = _binary([-0.0006, 2.5, 0.35, -0.4, -0.01, -1.2, 0.15], 0.9)


HIRING = ModelCard.model_validate(
    {
        "name": "demo_hiring",
        "version": "1.3",
        "task": "classification",
        "domain": "hiring",
        "classes": ["reject", "advance"],
        "positive_class": "advance",
        "favorable_class": "advance",
        "max_reasons": 3,
        "outcome_labels": {
            "en": {"reject": "not invited to interview", "advance": "invited to interview"},
            "de": {"reject": "nicht zum Gespräch eingeladen", "advance": "zum Gespräch eingeladen"},
        },
        "features": [
            {
                "name": "skills_score",
                "label": "Skills test score",
                "unit": "points",
                "range": [0, 100],
                "code": "SKILLS",
                "phrases": {
                    "raises": "Your skills test score raised your chance of an interview",
                    "lowers": "Your skills test score lowered your chance of an interview",
                },
                "translations": {
                    "de": {
                        "label": "Ergebnis im Kompetenztest",
                        "unit": "Punkte",
                        "raises": "Ihr Ergebnis im Kompetenztest hat Ihre Chance auf ein "
                        "Gespräch erhöht",
                        "lowers": "Ihr Ergebnis im Kompetenztest hat Ihre Chance auf ein "
                        "Gespräch gesenkt",
                    }
                },
            },
            {
                "name": "experience_years",
                "label": "Relevant experience",
                "unit": "years",
                "range": [0, 50],
                "actionability": "hard_to_change",
                "code": "EXPERIENCE",
                "phrases": {
                    "raises": "Your relevant experience raised your chance of an interview",
                    "lowers": "Your relevant experience lowered your chance of an interview",
                },
                "translations": {
                    "de": {
                        "label": "Einschlägige Berufserfahrung",
                        "unit": "Jahre",
                        "raises": "Ihre einschlägige Berufserfahrung hat Ihre Chance auf ein "
                        "Gespräch erhöht",
                        "lowers": "Ihre einschlägige Berufserfahrung hat Ihre Chance auf ein "
                        "Gespräch gesenkt",
                    }
                },
            },
            {
                "name": "certifications",
                "label": "Certifications",
                "type": "integer",
                "range": [0, 10],
                "code": "CERTS",
                "phrases": {
                    "raises": "Your certifications raised your chance of an interview",
                    "lowers": "Your certifications lowered your chance of an interview",
                },
                "translations": {
                    "de": {
                        "label": "Zertifikate",
                        "raises": "Ihre Zertifikate haben Ihre Chance auf ein Gespräch erhöht",
                        "lowers": "Ihre Zertifikate haben Ihre Chance auf ein Gespräch gesenkt",
                    }
                },
            },
            {
                "name": "career_gap_months",
                "label": "Career gap",
                "unit": "months",
                "range": [0, 240],
                "actionability": "immutable",
                "proxy_for": "gender",
                "code": "GAP",
                "phrases": {
                    "raises": "Gaps in your employment history raised your chance of an interview",
                    "lowers": "Gaps in your employment history lowered your chance of an interview",
                },
            },
            {
                "name": "gender",
                "label": "Gender",
                "type": "categorical",
                "categories": ["female", "male"],
                "actionability": "immutable",
                "protected": True,
                "code": "GENDER",
            },
        ],
    }
)


def _hiring_background() -> NDArray[np.float64]:
    rng = np.random.default_rng(2)
    n = 60
    return np.column_stack(
        [
            np.round(rng.uniform(30, 100, n), 1),
            np.round(rng.uniform(0, 20, n), 1),
            rng.integers(0, 6, n),
            np.round(rng.uniform(0, 36, n)),
            rng.integers(0, 2, n),
        ]
    ).astype(np.float64)


_HIRING_PREDICT = _binary([0.08, 0.1, 0.3, -0.05, 0.6], -6.0)


CANCER = ModelCard.model_validate(
    {
        "name": "demo_cancer",
        "version": "0.9",
        "task": "classification",
        "domain": "health",
        "classes": ["malignant", "benign"],
        "positive_class": "malignant",
        "outcome_labels": {"de": {"malignant": "bösartig", "benign": "gutartig"}},
        "features": [
            {
                "name": "radius",
                "label": "Mean radius",
                "unit": "mm",
                "range": [5, 30],
                "actionability": "immutable",
                "code": "RADIUS",
                "phrases": {
                    "raises": "The mean radius raised the estimated probability of malignancy",
                    "lowers": "The mean radius lowered the estimated probability of malignancy",
                },
                "translations": {
                    "de": {
                        "label": "Mittlerer Radius",
                        "raises": "Der mittlere Radius hat die geschätzte Wahrscheinlichkeit "
                        "einer Bösartigkeit erhöht",
                        "lowers": "Der mittlere Radius hat die geschätzte Wahrscheinlichkeit "
                        "einer Bösartigkeit gesenkt",
                    }
                },
            },
            {
                "name": "concave_points",
                "label": "Worst concave points",
                "format": ".3f",
                "range": [0, 0.5],
                "actionability": "immutable",
                "code": "CONCAVE",
                "phrases": {
                    "raises": "The worst concave points raised the estimated probability of "
                    "malignancy",
                    "lowers": "The worst concave points lowered the estimated probability of "
                    "malignancy",
                },
            },
            {
                "name": "texture",
                "label": "Mean texture",
                "range": [5, 45],
                "actionability": "immutable",
                "code": "TEXTURE",
            },
            {
                "name": "symmetry",
                "label": "Mean symmetry",
                "format": ".3f",
                "range": [0, 1],
                "actionability": "hard_to_change",
                "code": "SYMMETRY",
            },
        ],
    }
)


def _cancer_background() -> NDArray[np.float64]:
    rng = np.random.default_rng(3)
    n = 60
    return np.column_stack(
        [
            np.round(rng.uniform(7, 25, n), 2),
            np.round(rng.uniform(0.0, 0.3, n), 3),
            np.round(rng.uniform(10, 35, n), 2),
            np.round(rng.uniform(0.1, 0.3, n), 3),
        ]
    ).astype(np.float64)


def _cancer_predict(X: NDArray[np.float64]) -> NDArray[np.float64]:
    p = _sigmoid(np.asarray(X) @ np.array([0.35, 20.0, 0.08, 2.0]) - 9.0)
    return np.column_stack([p, 1 - p])  # classes: malignant, benign


PROGRESSION = ModelCard.model_validate(
    {
        "name": "demo_progression",
        "version": "1.0",
        "task": "regression",
        "domain": "health",
        "features": [
            {
                "name": "bmi",
                "label": "Body mass index",
                "unit": "kg/m²",
                "range": [10, 70],
                "code": "BMI",
                "phrases": {
                    "raises": "The body mass index raised the predicted progression",
                    "lowers": "The body mass index lowered the predicted progression",
                },
                "translations": {
                    "de": {
                        "label": "Body-Mass-Index",
                        "raises": "Der Body-Mass-Index hat die vorhergesagte Progression erhöht",
                        "lowers": "Der Body-Mass-Index hat die vorhergesagte Progression gesenkt",
                    }
                },
            },
            {
                "name": "bp",
                "label": "Blood pressure",
                "unit": "mm Hg",
                "range": [40, 200],
                "code": "BP",
                "phrases": {
                    "raises": "The blood pressure raised the predicted progression",
                    "lowers": "The blood pressure lowered the predicted progression",
                },
                "translations": {"de": {"label": "Blutdruck"}},
            },
            {
                "name": "glucose",
                "label": "Blood sugar",
                "unit": "mg/dL",
                "range": [40, 250],
                "code": "GLUCOSE",
            },
            {
                "name": "age",
                "label": "Age",
                "type": "integer",
                "unit": "years",
                "range": [18, 100],
                "actionability": "immutable",
                "code": "AGE",
                "phrases": {
                    "raises": "The patient's age raised the predicted progression",
                    "lowers": "The patient's age lowered the predicted progression",
                },
            },
        ],
    }
)


def _progression_background() -> NDArray[np.float64]:
    rng = np.random.default_rng(4)
    n = 60
    return np.column_stack(
        [
            np.round(rng.uniform(18, 40, n), 1),
            np.round(rng.uniform(70, 130, n)),
            np.round(rng.uniform(70, 130, n)),
            rng.integers(20, 80, n),
        ]
    ).astype(np.float64)


def _progression_predict(X: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.asarray(X) @ np.array([6.0, 0.8, 0.5, 0.3]) - 120.0).reshape(-1, 1)


GENERAL = ModelCard.model_validate(
    {
        "name": "demo_general",
        "version": "0.1",
        "task": "classification",
        "classes": ["low", "medium", "high"],
        "groups": {"colour": "Colour"},
        "features": [
            {"name": "a", "range": [-5, 5]},
            {"name": "b", "label": "Second measure", "range": [-5, 5]},
            {"name": "colour_red", "type": "binary", "group": "colour"},
            {"name": "colour_green", "type": "binary", "group": "colour"},
            {"name": "colour_blue", "type": "binary", "group": "colour"},
        ],
    }
)


def _general_background() -> NDArray[np.float64]:
    rng = np.random.default_rng(5)
    n = 60
    colour = np.eye(3)[rng.integers(0, 3, n)]
    return np.column_stack(
        [np.round(rng.uniform(-3, 3, n), 2), np.round(rng.uniform(-3, 3, n), 2), colour]
    ).astype(np.float64)


def _general_predict(X: NDArray[np.float64]) -> NDArray[np.float64]:
    X = np.asarray(X)
    score = X[:, 0] + 0.5 * X[:, 1] + X[:, 2:] @ np.array([-1.0, 0.0, 1.0])
    logits = np.column_stack([-score, np.zeros(len(X)), score])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


CASES: dict[str, Case] = {
    "credit": Case(
        "credit",
        CREDIT,
        _credit_background(),
        np.array([2400.0, 0.85, 3, 0, 24, 0, 2]),
        (0.12, 0.09, 0.04, 0.05, 0.10, 0.06, 0.03),
        _CREDIT_PREDICT,
        {"additivity_residual": 0.0},
    ),
    "hiring": Case(
        "hiring",
        HIRING,
        _hiring_background(),
        np.array([55.0, 3.0, 1, 24, 0]),
        (-0.08, -0.05, -0.03, -0.11, -0.09),
        _HIRING_PREDICT,
        {"additivity_residual": 1e-12},
    ),
    "health": Case(
        "health",
        CANCER,
        _cancer_background(),
        np.array([19.5, 0.21, 24.0, 0.19]),
        (0.18, 0.22, 0.04, -0.01),
        _cancer_predict,
        {"additivity_residual": 0.0},
    ),
    "health_regression": Case(
        "health_regression",
        PROGRESSION,
        _progression_background(),
        np.array([33.4, 112.0, 95.0, 61]),
        (38.0, 12.5, -6.0, 4.2),
        _progression_predict,
        {"additivity_residual": 0.0},
    ),
    "general": Case(
        "general",
        GENERAL,
        _general_background(),
        np.array([1.2, -0.4, 0, 0, 1]),
        (0.21, -0.05, 0.17),
        _general_predict,
        {"sampling_error": 0.002, "additivity_residual": 0.0},
    ),
    # A LIME explanation whose surrogate fits badly: the end user sees the review message.
    "credit_review": Case(
        "credit_review",
        CREDIT,
        _credit_background(),
        np.array([2400.0, 0.85, 3, 0, 24, 0, 2]),
        (0.12, 0.09, 0.04, 0.05, 0.10, 0.06, 0.03),
        _CREDIT_PREDICT,
        {"fidelity_r2": 0.21, "local_prediction_error": 0.02},
    ),
}


def explained(
    case: Case, persona: Persona = "end_user", locale: Locale = "en", counterfactuals: int = 3
) -> ExplainedInstance:
    """The case narrated as the engine does it: numbers in, what a person is told out."""
    card = case.card
    y = case.predict(case.x[None, :])[0]
    given = decode_row(card, case.x)
    prediction = prediction_of(card, y)
    if card.task == "regression":
        target, output = "value", float(y[0])
    else:
        classes = card.classes or ()
        if case.target is not None:
            target = case.target
        elif len(classes) == 2 and card.positive_class:
            target = card.positive_class
        else:
            target = prediction.label or classes[0]
        output = (prediction.probabilities or {})[target]
    phi = np.array(case.attributions, dtype=np.float64)
    base = output - float(sum(case.attributions))
    told = narrate(
        card,
        case.x,
        given,
        phi,
        prediction=prediction,
        target=target,
        output_value=output,
        base_value=base,
        quality=dict(case.quality),
        background=case.background,
        predict=case.predict,
        output_space="probability" if card.task == "classification" else "raw",
        persona=persona,
        locale=locale,
        counterfactuals=counterfactuals,
    )
    return ExplainedInstance(
        prediction=prediction,
        target=target,
        output_value=output,
        base_value=base,
        attributions=phi,
        quality=dict(case.quality),
        given=given,
        told=told,
    )


def narrated(
    case: Case, persona: Persona = "end_user", locale: Locale = "en", counterfactuals: int = 3
) -> InstanceExplanation:
    """The case as the API returns it (``service.wire.mapping``)."""
    return mapping.instance_explanation(
        case.card, explained(case, persona, locale, counterfactuals)
    )
