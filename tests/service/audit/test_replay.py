"""Comparing a replay with its record: bitwise floats, exact texts, and what changed."""

from __future__ import annotations

import copy
from typing import Any

from service.audit.replay import compare

RESPONSE: dict[str, Any] = {
    "id": "a" * 32,
    "model": {"name": "m", "version": "1", "sha256": "1" * 64},
    "method": "kernel_shap",
    "output": "probability",
    "provenance": {
        "seed": 3,
        "parameters": {"nsamples": 64},
        "background_sha256": "2" * 64,
        "versions": {"shap": "0.51.0", "numpy": "2.3.0"},
    },
    "explanations": [
        {
            "prediction": {"label": "declined", "probabilities": {"declined": 0.7}},
            "base_value": 0.5,
            "attributions": [
                {"feature": "income", "attribution": 0.125},
                {"feature": "debt", "attribution": -0.0},
            ],
            "reasons": [{"code": "DEBT", "text": "Your debt lowered your chance"}],
        }
    ],
    "timing": {"total_ms": 12.5},
}


def _changed(**edits: Any) -> dict[str, Any]:
    out = copy.deepcopy(RESPONSE)
    for path, value in edits.items():
        place: Any = out
        steps = path.split("__")
        for step in steps[:-1]:
            place = place[int(step)] if step.isdigit() else place[step]
        place[steps[-1]] = value
    return out


def test_identical_apart_from_id_and_timing() -> None:
    other = _changed(id="b" * 32, timing={"total_ms": 99.0})
    assert compare(RESPONSE, other) == []


def test_a_float_one_ulp_away_is_a_difference_named_by_feature() -> None:
    bumped = _changed(explanations__0__attributions__0__attribution=0.12500000000000003)
    (d,) = compare(RESPONSE, bumped)
    assert d.kind == "value"
    assert d.feature == "income"
    assert d.path == "explanations[0].attributions[income].attribution"
    assert (d.recorded, d.replayed) == (0.125, 0.12500000000000003)


def test_negative_zero_differs_from_zero_bitwise() -> None:
    (d,) = compare(RESPONSE, _changed(explanations__0__attributions__1__attribution=0.0))
    assert d.feature == "debt"


def test_texts_must_match_exactly() -> None:
    changed = _changed(explanations__0__reasons__0__text="Your debt lowered your chances")
    (d,) = compare(RESPONSE, changed)
    assert d.path == "explanations[0].reasons[DEBT].text"


def test_a_changed_model_and_library_are_reported_as_such() -> None:
    other = _changed(
        model={"name": "m", "version": "1", "sha256": "9" * 64},
        provenance__versions={"shap": "0.52.0", "numpy": "2.3.0", "lime": "0.2.0.1"},
    )
    kinds = [(d.kind, d.library) for d in compare(RESPONSE, other)]
    assert kinds == [
        ("model_changed", None),
        ("library_version", "lime"),
        ("library_version", "shap"),
    ]


def test_structure_changes_are_reported() -> None:
    other = _changed(method="lime")
    other["explanations"].append(copy.deepcopy(other["explanations"][0]))
    kinds = sorted(d.kind for d in compare(RESPONSE, other))
    assert kinds == ["structure", "value"]


def test_ints_and_floats_are_not_mixed_up() -> None:
    assert compare({"a": 1}, {"a": 1.0})[0].kind == "value"
    assert compare({"a": True}, {"a": 1})[0].kind == "value"
