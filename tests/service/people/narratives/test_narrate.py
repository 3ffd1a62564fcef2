"""Narration behaviour: what each persona is shown, in which words, and what the JSON says."""

from __future__ import annotations

import dataclasses

import pytest

from service.people.narratives import TEMPLATE_VERSION, Locale, render_text
from tests.service.people.narratives.cases import CASES, explained, narrated


def test_reasons_texts_are_the_notices_reason_items() -> None:
    e = narrated(CASES["credit"])
    assert e.notice is not None
    (section,) = [s for s in e.notice.sections if s.kind == "reasons"]
    assert section.items == [r.text for r in e.reasons]
    told = explained(CASES["credit"]).told
    assert told.notice is not None
    assert e.narrative == render_text(told.notice)
    assert e.notice.template_version == TEMPLATE_VERSION
    assert e.notice.locale == "en"


def test_the_credit_notice_states_principal_reasons_without_the_protected_one() -> None:
    e = narrated(CASES["credit"])
    assert [r.code for r in e.reasons] == ["DEBT", "INCOME", "GUARANTOR", "EMPLOY"]
    assert e.reasons[0].features == ["debt_ratio", "open_loans"]
    assert e.reasons[0].contributions == {"debt_ratio": 0.09, "open_loans": 0.04}
    assert e.screening.suppressed == ["age"]
    assert "Age" not in e.narrative
    assert "Principal reasons for this result" in e.narrative
    assert e.confidence == "high"
    assert not e.review.required


def test_the_proxy_is_shown_and_flagged() -> None:
    e = narrated(CASES["hiring"])
    gap = e.reasons[0]
    assert gap.code == "GAP"
    assert gap.flags == ["proxy"]
    assert gap.proxy_for == ["gender"]
    assert e.screening.flagged == ["career_gap_months"]
    assert e.screening.suppressed == ["gender"]
    analyst = narrated(CASES["hiring"], "analyst")
    assert "Flagged for review: career_gap_months (proxy for gender)." in analyst.narrative


def test_german_uses_the_cards_translations_and_flags_what_falls_back() -> None:
    e = narrated(CASES["hiring"], locale="de")
    assert (
        e.reasons[1].text
        == "Ihr Ergebnis im Kompetenztest hat Ihre Chance auf ein Gespräch gesenkt"
    )
    assert e.reasons[1].flags == []
    gap = e.reasons[0]  # the card has no German copy for it
    assert gap.flags == ["proxy", "untranslated", "generic_copy"]
    assert gap.text.startswith("Career gap: hat den Modellwert")
    assert e.notice is not None
    assert e.notice.locale == "de"
    assert "Zu Ihrer Bewerbung" in e.narrative


def test_low_fidelity_replaces_the_reason_list_with_the_review_message_for_end_users() -> None:
    e = narrated(CASES["credit_review"])
    assert e.review.required
    assert e.review.why == ["fidelity_r2"]
    assert e.notice is not None
    kinds = [s.kind for s in e.notice.sections]
    assert kinds == ["review", "scope", "rights"]
    assert e.notice.chart is None
    assert "A person will review your case" in e.narrative
    assert e.reasons  # the JSON still carries them, for the reviewer
    analyst = narrated(CASES["credit_review"], "analyst")
    assert "Review required: LIME fidelity." in analyst.narrative
    assert "Principal reasons" in analyst.narrative


@pytest.mark.parametrize("locale", ["en", "de"])
def test_the_review_notice_does_not_contradict_itself(locale: Locale) -> None:
    # Issue 16, defect 6: "not in your favour", then "a person will review it before a
    # decision is made", then "These factors explain this one result" with no factors.
    e = narrated(CASES["credit_review"], locale=locale)
    assert e.notice is not None
    said = e.narrative
    for contradiction in (
        "not in your favour",
        "These factors",
        "nicht zu Ihren Gunsten",
        "Diese Faktoren",
    ):
        assert contradiction not in said, contradiction
    assert e.notice.lead.endswith(
        "No decision has been made yet."
        if locale == "en"
        else "Eine Entscheidung ist noch nicht gefallen."
    )
    # Without review, the same case says its outcome and explains its factors.
    plain = narrated(CASES["credit"], locale=locale)
    assert ("not in your favour" if locale == "en" else "nicht zu Ihren Gunsten") in (
        plain.narrative
    )


def _rights(card_update: dict[str, object], locale: Locale = "en") -> str:
    case = CASES["credit"]
    card = case.card.model_copy(update=card_update)
    e = narrated(dataclasses.replace(case, card=card), locale=locale)
    assert e.notice is not None
    (rights,) = [s for s in e.notice.sections if s.kind == "rights"]
    return " ".join(rights.paragraphs)


def test_the_rights_paragraph_follows_the_cards_jurisdiction() -> None:
    # Issue 16, defect 7: FCRA's "free copy within 60 days" only for US cards.
    assert "60 days" in _rights({"jurisdiction": "US"})
    assert "60 days" not in _rights({})
    assert "GDPR" not in _rights({})
    eu = _rights({"jurisdiction": "EU"})
    assert "GDPR Article 22" in eu
    assert "GDPR Article 15" in eu
    assert "60 days" not in eu
    assert "BDSG" not in eu
    de = _rights({"jurisdiction": "DE"})
    assert "BDSG" in de
    assert "GDPR Article 22" in de
    assert "60 days" not in de
    assert _rights({"jurisdiction": "FR"}) == eu  # a member state without its own wording
    german = _rights({"jurisdiction": "DE"}, "de")
    assert "Art. 22 DSGVO" in german
    assert "Bundesdatenschutzgesetz (BDSG)" in german
    assert "60 Tagen" not in german


def test_counterfactuals_come_with_the_not_a_guarantee_note() -> None:
    e = narrated(CASES["credit"], counterfactuals=2)
    assert e.counterfactuals
    assert len(e.counterfactuals) <= 2
    cf = e.counterfactuals[0]
    assert set(cf.changes) == set(cf.was)
    assert cf.prediction.label == "approved"
    assert e.counterfactual_note is not None
    assert "not a guarantee" in e.counterfactual_note


@pytest.mark.parametrize(
    ("case", "note"),
    [
        ("health", "None of this model's inputs is marked as something a person can change"),
        ("health_regression", "classification models only"),
    ],
)
def test_an_explicit_note_says_why_there_are_no_counterfactuals(case: str, note: str) -> None:
    e = narrated(CASES[case])
    assert e.counterfactuals == []
    assert e.counterfactual_note is not None
    assert note in e.counterfactual_note


def test_no_counterfactual_note_unless_asked() -> None:
    e = narrated(CASES["credit"], counterfactuals=0)
    assert e.counterfactuals == []
    assert e.counterfactual_note is None


def test_end_users_see_no_model_numbers() -> None:
    e = narrated(CASES["credit"])
    assert "0.93" not in e.narrative
    assert e.notice is not None
    assert e.notice.chart is not None
    assert not e.notice.chart.show_values


def test_the_clinician_view_lists_the_inputs_with_typical_ranges() -> None:
    e = narrated(CASES["health"])
    assert e.notice is not None
    (inputs,) = [s for s in e.notice.sections if s.kind == "inputs"]
    assert inputs.table is not None
    assert inputs.table.columns == ["Input", "Value", "Typical range", "Effect on the estimate"]
    assert inputs.table.rows[0][:2] == ["Worst concave points", "0.210"]
    assert "with a probability of over 95%" in e.narrative
