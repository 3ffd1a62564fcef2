"""A sample of explanations as one long table, and reason counts overall and by group."""

from __future__ import annotations

import math

import pytest

from tests.widgets.app_pages.fake_api import CASES, FEATURES, explain_one
from widgets.population import display_value, long_frame, reason_counts, reasons_by_group


def _response() -> dict[str, object]:
    return {"explanations": [explain_one(x, {"output": "raw"}) for x in CASES]}


def test_one_row_per_case_and_player_with_positions_in_range() -> None:
    frame = long_frame({"features": FEATURES}, _response())
    assert len(frame) == len(CASES) * len(FEATURES)
    assert list(frame.columns) == [
        "case",
        "feature",
        "label",
        "value",
        "numeric",
        "attribution",
        "jitter",
        "position",
    ]
    assert frame["position"].between(0, 1).all()
    assert frame["jitter"].between(-0.8, 0.8).all()
    employment = frame[frame["feature"] == "employment"]
    assert employment["numeric"].isna().all()
    assert list(employment["position"]) == [0.0, 1.0, 0.5, 1.0]
    income = frame[frame["feature"] == "income"]
    assert list(income["position"]) == pytest.approx([0.0, 1.0, 50 / 210, 120 / 210])


def test_values_read_as_people_write_them() -> None:
    assert display_value(3.0) == "3"
    assert display_value(None) == "missing"
    assert display_value({"red": 0, "blue": 1}) == "blue"
    assert display_value({"red": 0}) == "none"


def test_reasons_are_counted_once_per_case_and_per_group() -> None:
    explanations = _response()["explanations"]
    assert isinstance(explanations, list)
    counts = reason_counts(explanations)
    assert sum(counts.values()) == sum(len({r["code"] for r in e["reasons"]}) for e in explanations)
    table = reasons_by_group(explanations, CASES, "employment")
    assert set(table["group"]) == {"unemployed", "part_time", "full_time"}
    full = table[table["group"] == "full_time"]
    assert (full["cases"] == 2).all()
    assert all(math.isclose(s, c / 2) for s, c in zip(full["share"], full["count"], strict=True))
    with pytest.raises(ValueError, match="must match"):
        reasons_by_group(explanations, CASES[:1], "employment")


def test_population_views_explain_every_case_toward_one_target() -> None:
    # Issue 16, defect 11: without a target a model was explained toward each row's
    # predicted class, so one dependence plot mixed two targets (an X shape).
    from widgets.population import population_target

    assert population_target({"classes": ["good", "bad"], "positive_class": "bad"}) == "bad"
    assert population_target({"classes": ["no", "yes"], "positive_class": None}) == "yes"
    assert population_target({"classes": ["a", "b", "c"]}) == "a"
    assert population_target({"classes": None}) is None
