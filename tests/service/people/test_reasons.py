"""Principal reasons: grouping by code, ordering, screening, and the protected-never-a-reason
property over generated cards (hypothesis)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.html import render_page
from service.models.card import ModelCard
from service.models.instances import decode_row
from service.models.prediction import Prediction
from service.people.narratives import narrate
from service.people.reasons import (
    outcome_sign,
    phrase_class,
    phrase_sign,
    players_info,
    select_reasons,
)
from service.results import ExplainedInstance


def _card(features: list[dict[str, Any]], **extra: Any) -> ModelCard:
    base: dict[str, Any] = {
        "name": "m",
        "version": "1",
        "task": "classification",
        "classes": ["no", "yes"],
        "positive_class": "yes",
    }
    return ModelCard.model_validate({**base, **extra, "features": features})


CARD = _card(
    [
        {"name": "income", "code": "INCOME"},
        {"name": "debt", "code": "DEBT"},
        {"name": "loans", "type": "integer", "code": "DEBT"},
        {"name": "age", "type": "integer", "protected": True, "code": "AGE"},
        {"name": "postcode", "proxy_for": "ethnicity", "code": "AREA"},
        {"name": "tiny", "code": "TINY"},
    ],
    max_reasons=3,
)


def test_codes_sum_their_features_and_keep_raw_contributions() -> None:
    phi = np.array([0.10, 0.08, 0.05, 0.0, 0.02, 0.001])
    result = select_reasons(CARD, phi, toward=1.0)
    debt = result.reasons[0]
    assert debt.code == "DEBT"
    assert debt.features == ("debt", "loans")
    assert debt.contribution == pytest.approx(0.13)
    assert dict(debt.contributions) == {"debt": 0.08, "loans": 0.05}
    assert [r.code for r in result.reasons] == ["DEBT", "INCOME", "AREA"]


def test_reasons_point_toward_the_outcome_and_flip_with_it() -> None:
    phi = np.array([0.10, -0.08, -0.05, 0.0, 0.02, 0.0])
    toward_yes = select_reasons(CARD, phi, toward=1.0)
    toward_no = select_reasons(CARD, phi, toward=-1.0)
    assert [r.code for r in toward_yes.reasons] == ["INCOME", "AREA"]
    assert [r.code for r in toward_no.reasons] == ["DEBT"]
    assert toward_no.reasons[0].contribution == pytest.approx(0.13)
    assert toward_no.reasons[0].direction == "lowers"  # it lowered P(yes), the phrases' score


def test_at_most_max_reasons_from_the_card_or_the_caller() -> None:
    phi = np.array([0.5, 0.4, 0.3, 0.0, 0.2, 0.1])
    assert len(select_reasons(CARD, phi, toward=1.0).reasons) == 3
    assert len(select_reasons(CARD, phi, toward=1.0, max_reasons=1).reasons) == 1


def test_negligible_codes_are_not_principal_reasons() -> None:
    phi = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.005])
    assert [r.code for r in select_reasons(CARD, phi, toward=1.0).reasons] == ["INCOME"]


def test_protected_features_are_suppressed_and_reported_only_when_they_would_rank() -> None:
    phi = np.array([0.10, 0.0, 0.0, 0.30, 0.02, 0.0])
    result = select_reasons(CARD, phi, toward=1.0)
    assert all("age" not in r.features for r in result.reasons)
    assert all(r.code != "AGE" for r in result.ranked)
    assert result.screening.suppressed == ("age",)
    assert result.suppressed_contributions == {"age": pytest.approx(0.30)}
    quiet = select_reasons(CARD, np.array([0.10, 0.09, 0.08, -0.3, 0.07, 0.0]), toward=1.0)
    assert quiet.screening.suppressed == ()


def test_proxies_are_shown_and_flagged() -> None:
    phi = np.array([0.01, 0.0, 0.0, 0.0, 0.2, 0.0])
    result = select_reasons(CARD, phi, toward=1.0)
    assert result.reasons[0].code == "AREA"
    assert result.reasons[0].proxy_for == ("ethnicity",)
    assert result.screening.flagged == ("postcode",)


def test_regression_ranks_by_magnitude_in_both_directions() -> None:
    card = ModelCard.model_validate(
        {
            "name": "r",
            "version": "1",
            "task": "regression",
            "features": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        }
    )
    result = select_reasons(card, np.array([2.0, -5.0, 1.0]), toward=None)
    assert [(r.code, r.direction) for r in result.reasons] == [
        ("b", "lowers"),
        ("a", "raises"),
        ("c", "raises"),
    ]
    assert outcome_sign(card, "value", None) is None


def test_a_group_takes_its_first_columns_code_and_any_columns_protection() -> None:
    card = _card(
        [
            {"name": "x", "code": "X"},
            {"name": "g_a", "type": "binary", "group": "g", "code": "G"},
            {"name": "g_b", "type": "binary", "group": "g", "code": "G"},
            {"name": "h_a", "type": "binary", "group": "h", "code": "H"},
            {"name": "h_b", "type": "binary", "group": "h", "protected": True, "code": "HP"},
        ]
    )
    info = {p.name: p for p in players_info(card)}
    assert info["g"].code == "G"
    assert not info["g"].protected
    assert info["h"].protected
    result = select_reasons(card, np.array([0.1, 0.2, 0.9]), toward=1.0)
    assert [r.features for r in result.reasons] == [("g",), ("x",)]
    assert result.screening.suppressed == ("h",)


def test_phrase_direction_follows_the_positive_class() -> None:
    assert phrase_sign(CARD, "yes") == 1.0
    assert phrase_sign(CARD, "no") == -1.0
    assert phrase_class(CARD, "no") == "yes"
    assert outcome_sign(CARD, "yes", "no") == -1.0


# -- property: no generated card ever shows a protected feature as a reason -----------------

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,12}", fullmatch=True)


@st.composite
def cards_and_rows(draw: st.DrawFn) -> tuple[ModelCard, np.ndarray, str, str]:
    codes = {f"{kind}C{i}" for kind in "PU" for i in (1, 2, 3)}
    names = draw(
        st.lists(
            NAMES.filter(lambda n: n not in codes and n != "grp"),
            min_size=1,
            max_size=9,
            unique_by=str.lower,
        )
    )
    features: list[dict[str, Any]] = []
    pool = ["C1", "C2", "C3", None]
    for i, name in enumerate(names):
        protected = draw(st.booleans())
        code = draw(st.sampled_from(pool))
        feature: dict[str, Any] = {
            "name": name,
            # A unique token per feature, so its absence from the text can be checked.
            "label": f"Qz{i}{draw(st.text('abcdefgh', min_size=0, max_size=6))}Zq",
            "protected": protected,
            # Cards may not share a code between protected and unprotected features.
            "code": None if code is None else ("P" if protected else "U") + code,
            "phrases": {"raises": f"Qz{i}Zq raised it", "lowers": f"Qz{i}Zq lowered it"},
        }
        if draw(st.booleans()):
            feature["proxy_for"] = "something"
        features.append(feature)
    if len(features) >= 3 and draw(st.booleans()):
        group = features[-2:]  # the last two columns form a one-hot group
        shielded = any(f["protected"] for f in group)
        for f in group:
            f["type"], f["group"] = "binary", "grp"
            if f["code"] is not None:  # the group is protected if any column is
                f["code"] = ("P" if shielded else "U") + f["code"][1:]
    card = _card(features, max_reasons=draw(st.integers(1, 10)))
    weights = draw(
        st.lists(
            st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
            min_size=len(card.players),
            max_size=len(card.players),
        )
    )
    predicted = draw(st.sampled_from(["no", "yes"]))
    target = draw(st.sampled_from(["no", "yes"]))
    return card, np.asarray(weights), predicted, target


def _explained(card: ModelCard, phi: np.ndarray, predicted: str, target: str, persona: Any) -> Any:
    """The instance through the engine's narration step, as the engine builds it."""
    p_yes = 0.9 if predicted == "yes" else 0.1
    prediction = Prediction(label=predicted, probabilities={"no": 1 - p_yes, "yes": p_yes})
    output = p_yes if target == "yes" else 1 - p_yes
    x = np.zeros(len(card.features))
    told = narrate(
        card,
        x,
        decode_row(card, x),
        np.asarray(phi, dtype=np.float64),
        prediction=prediction,
        target=target,
        output_value=output,
        base_value=0.5,
        quality={},
        background=np.zeros((2, len(card.features))),
        predict=lambda X: np.tile([0.5, 0.5], (len(X), 1)),
        output_space="probability",
        persona=persona,
    )
    return ExplainedInstance(
        prediction=prediction,
        target=target,
        output_value=output,
        base_value=0.5,
        attributions=np.asarray(phi, dtype=np.float64),
        quality={},
        given=decode_row(card, x),
        told=told,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cards_and_rows())
def test_no_generated_card_ever_shows_a_protected_feature_as_a_reason(
    case: tuple[ModelCard, np.ndarray, str, str],
) -> None:
    card, phi, predicted, target = case
    protected = {p.name for p in players_info(card) if p.protected}
    protected_codes = {p.code for p in players_info(card) if p.protected}
    result = select_reasons(card, phi, toward=outcome_sign(card, target, predicted))
    for reason in (*result.reasons, *result.ranked):
        assert not set(reason.features) & protected
        assert reason.code not in protected_codes
    assert set(result.screening.suppressed) <= protected

    # And through the whole narration: no reason, text, chart bar or HTML names one.
    tokens = [f"Qz{i}" for i, f in enumerate(card.features) if _in_protected_group(card, f.name)]
    for persona in ("end_user", "analyst", "audit"):
        e = _explained(card, phi, predicted, target, persona)
        assert not {f for r in e.reasons for f in r.features} & protected
        assert e.notice is not None
        chart = [b.label for b in e.notice.chart.bars] if e.notice.chart else []
        shown = " ".join([*(r.text for r in e.reasons), *chart])
        if persona == "end_user":
            shown += e.told.narrative + render_page([e])
        for token in tokens:  # at most nine features: "Qz1" is never part of another token
            assert token not in shown, (token, shown)


def _in_protected_group(card: ModelCard, name: str) -> bool:
    return any(
        p.protected and any(card.features[c].name == name for c in p.columns)
        for p in players_info(card)
    )
