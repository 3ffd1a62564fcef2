"""The service's copy-coverage report laid out for the workspace, and the fallbacks users got."""

from __future__ import annotations

from tests.widgets.app_pages.fake_api import CASES, FakeApi, explain_one
from widgets.coverage import coverage_tables, observed_fallbacks, reached_in

LABELS = {"debt": "Debt", "employment": "Employment"}


def test_the_report_becomes_a_summary_and_gap_rows() -> None:
    report = FakeApi().client().copy_coverage("loan")
    summary, gaps = coverage_tables(report, LABELS, seen={"debt"})
    assert summary == [
        {
            "locale": "en",
            "players": 4,
            "with reviewed copy": 3,
            "gaps": 1,
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
    assert {(g["locale"], g["feature"]): (g["missing"], g["matters"]) for g in gaps} == {
        ("en", "Employment"): ("raises, lowers", "no"),
        ("de", "Debt"): ("label, raises, lowers", "yes"),
        ("de", "Employment"): ("label, raises, lowers", "no"),
        ("de", "has_guarantor"): ("label, raises, lowers", "no"),
    }


def test_nothing_matters_when_nothing_was_seen() -> None:
    summary, _ = coverage_tables(FakeApi().client().copy_coverage("loan"), {}, seen=set())
    assert all(row["complete"] for row in summary)


def test_what_users_were_shown() -> None:
    explanations = [explain_one(x, {"locale": "de"}) for x in CASES]
    seen = observed_fallbacks(explanations)
    assert seen["reasons"] == sum(len(e["reasons"]) for e in explanations)
    assert 0 < seen["untranslated"] < seen["reasons"]
    assert seen["generic_copy"] == 0
    assert reached_in(explanations) <= {"income", "debt", "employment", "has_guarantor"}
