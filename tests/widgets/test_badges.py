"""Quality badges: the state is in the words, not only the colour."""

from __future__ import annotations

from tests.widgets.app_pages.fake_api import CASES, explain_one
from widgets.badges import gate_badges, quality_badges, quality_rows


def test_a_clean_explanation_has_passing_badges() -> None:
    e = explain_one(CASES[0], {"method": "auto"})
    labels = [(b.label, b.state) for b in quality_badges(e)]
    assert labels == [
        ("Confidence: high", "ok"),
        ("No human review needed", "ok"),
        ("Additivity residual 0 ≤ 0.01: passed", "ok"),
        ("All reasons use reviewed copy", "ok"),
    ]


def test_failed_gates_review_screening_and_fallback_copy_are_flagged() -> None:
    e = explain_one(CASES[2], {"method": "lime", "locale": "de"})
    e["screening"] = {"suppressed": ["age"], "flagged": ["zip_code"]}
    badges = {b.label: b for b in quality_badges(e)}
    assert badges["Human review required: fidelity r2"].state == "warn"
    assert badges["Local fidelity R² 0.2 ≥ 0.5: failed"].state == "warn"
    assert badges["Protected, kept out of the reasons: age"].state == "info"
    assert badges["Proxy among the reasons: zip_code"].state == "warn"
    assert any(label.endswith("fell back to English copy") for label in badges)
    assert all(b.icon in "✓!·" for b in badges.values())


def test_quality_rows_list_every_figure() -> None:
    e = explain_one(CASES[0], {"method": "lime"})
    assert quality_rows(e) == [
        {"metric": "Additivity residual", "value": 0.0},
        {"metric": "Local fidelity R²", "value": 0.2},
    ]


def test_the_gate_figures_can_wait_for_whoever_wants_them() -> None:
    e = explain_one(CASES[0], {"method": "lime"})
    first = [b.label for b in quality_badges(e, gates=False)]
    assert not [label for label in first if "≤" in label or "≥" in label]
    assert first[:2] == ["Confidence: high", "Human review required: fidelity r2"]
    assert [b.label for b in gate_badges(e)] == [
        "Additivity residual 0 ≤ 0.01: passed",
        "Local fidelity R² 0.2 ≥ 0.5: failed",
    ]
