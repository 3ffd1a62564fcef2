"""Copy coverage per model and locale: what lacks reviewed words, and whether it can show."""

from __future__ import annotations

from service.models.card import ModelCard
from service.people.coverage import copy_coverage, reached_in
from tests.service.people.narratives.cases import CASES, narrated

CARD = ModelCard.model_validate(
    {
        "name": "m",
        "version": "3",
        "task": "classification",
        "classes": ["no", "yes"],
        "reason_codes": {
            "DEBT": {
                "phrases": {"raises": "Debt raised it", "lowers": "Debt lowered it"},
                "translations": {"de": {"raises": "Schulden erhöhten", "lowers": "senkten"}},
            }
        },
        "features": [
            {
                "name": "income",
                "label": "Income",
                "phrases": {"raises": "r", "lowers": "l"},
                "translations": {"de": {"label": "Einkommen", "raises": "r", "lowers": "l"}},
            },
            {
                "name": "debt",
                "label": "Debt",
                "code": "DEBT",
                "translations": {"de": {"label": "Schulden"}},
            },
            {"name": "hobby", "phrases": {"raises": "r"}},
            {"name": "age", "protected": True},
        ],
    }
)


def test_gaps_are_listed_per_locale_and_protected_features_never_count() -> None:
    report = copy_coverage(CARD, ["en", "de"])
    en, de = report.locales
    assert en.players == 3
    assert [(g.feature, g.missing) for g in en.gaps] == [("hobby", ("label", "lowers"))]
    assert [(g.feature, g.missing) for g in de.gaps] == [("hobby", ("label", "raises", "lowers"))]
    assert not report.complete
    assert "card only" in report.basis


def test_only_features_seen_among_reasons_make_a_gap_matter_when_a_sample_is_given() -> None:
    report = copy_coverage(CARD, ["en", "de"], reached={"income", "debt"})
    assert report.complete
    assert all(not g.reachable for c in report.locales for g in c.gaps)


def test_reached_in_collects_the_features_behind_reasons() -> None:
    hiring = narrated(CASES["hiring"], counterfactuals=0)
    assert reached_in([hiring]) == {"career_gap_months", "skills_score", "experience_years"}
    report = copy_coverage(CASES["hiring"].card, ["en", "de"], reached=reached_in([hiring]))
    de = report.locales[1]
    assert [(g.feature, g.reachable) for g in de.gaps] == [("career_gap_months", True)]
