"""Copy coverage from the card as the API serves it, and the fallbacks users actually got."""

from __future__ import annotations

from typing import Any

from tests.widgets.app_pages.fake_api import CASES, FakeApi, explain_one
from widgets.coverage import copy_gaps, coverage_summary, observed_fallbacks, reached_in


def _detail() -> dict[str, Any]:
    return FakeApi().client().get_model("loan")


def test_gaps_per_locale_leave_protected_features_out() -> None:
    gaps = copy_gaps(_detail(), ["en", "de"])
    found = {(g.locale, g.player): g.missing for g in gaps}
    assert found == {
        ("en", "employment"): ("raises", "lowers"),
        ("de", "debt"): ("label", "raises", "lowers"),
        ("de", "employment"): ("label", "raises", "lowers"),
        ("de", "has_guarantor"): ("label", "raises", "lowers"),
    }
    assert all(g.reachable for g in gaps)


def test_a_gap_matters_only_if_the_feature_reached_the_reasons() -> None:
    gaps = copy_gaps(_detail(), ["de"], reached={"debt"})
    assert {g.player: g.reachable for g in gaps} == {
        "debt": True,
        "employment": False,
        "has_guarantor": False,
    }
    summary = coverage_summary(_detail(), ["en", "de"], gaps)
    assert summary == [
        {
            "locale": "en",
            "players": 4,
            "with reviewed copy": 4,
            "gaps": 0,
            "gaps that matter": 0,
            "complete": True,
        },
        {
            "locale": "de",
            "players": 4,
            "with reviewed copy": 1,
            "gaps": 3,
            "gaps that matter": 1,
            "complete": False,
        },
    ]


def test_shared_reason_codes_and_groups_count() -> None:
    detail = {
        "players": ["a", "colour"],
        "features": [
            {"name": "a", "label": "A", "code": "SHARED", "phrases": {}},
            {"name": "red", "group": "colour", "phrases": {"raises": "r", "lowers": "l"}},
            {"name": "blue", "group": "colour", "phrases": {}},
        ],
        "card": {
            "groups": {"colour": "Colour"},
            "reason_codes": {
                "SHARED": {
                    "phrases": {"raises": "up", "lowers": "down"},
                    "translations": {"de": {"raises": "hoch"}},
                }
            },
        },
    }
    gaps = {(g.locale, g.player): g.missing for g in copy_gaps(detail, ["en", "de"])}
    assert gaps == {
        ("de", "a"): ("label", "lowers"),
        ("de", "colour"): ("label", "raises", "lowers"),
    }


def test_what_users_were_shown() -> None:
    explanations = [explain_one(x, {"locale": "de"}) for x in CASES]
    seen = observed_fallbacks(explanations)
    assert seen["reasons"] == sum(len(e["reasons"]) for e in explanations)
    assert 0 < seen["untranslated"] < seen["reasons"]
    assert seen["generic_copy"] == 0
    assert reached_in(explanations) <= {"income", "debt", "employment", "has_guarantor"}
