"""The four example bundles, narrated: reasons and a narrative in English and German,
counterfactuals or an explicit "none" for classifiers, protected features never a
reason, and hiring_screen's planted proxy flagged whenever it is among the reasons
(checked over all 100 background rows, through the engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.engine import Engine
from service.models.instances import decode_row
from service.models.registry import ModelRegistry
from service.people.coverage import copy_coverage, reached_in
from service.wire import mapping
from service.wire.schemas import ExplainRequest, ExplainResponse
from tests.support import make_settings

MODELS = Path(__file__).resolve().parents[2] / "models"
BUNDLES = ("german_credit", "breast_cancer", "hiring_screen", "diabetes_progression")
TITLES = {
    "credit": ("About your credit application", "Zu Ihrem Kreditantrag"),
    "hiring": ("About your job application", "Zu Ihrer Bewerbung"),
    "health": ("Model estimate for clinical review", "Modellschätzung zur klinischen Prüfung"),
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    settings = make_settings(MODELS)
    registry = ModelRegistry(settings)
    registry.load_all()
    assert not registry.refused, registry.refused
    return Engine(registry, settings)


def _rows(engine: Engine, name: str, n: int) -> list[dict[str, Any]]:
    model = engine.registry.get(name)
    return [decode_row(model.bundle.card, x) for x in model.bundle.background[:n]]


def _explain(engine: Engine, name: str, rows: list[dict[str, Any]], **body: Any) -> ExplainResponse:
    """Explained in raw (margin) space unless asked otherwise: exact tree SHAP for the two
    tree models, seconds faster than sampling probability-space values for 100 rows."""
    request = ExplainRequest(instances=rows, **{"output": "raw", **body})
    result = engine.explain(name, request.instances, mapping.explain_spec(request))
    return mapping.explain_response(result)


@pytest.mark.parametrize("name", BUNDLES)
def test_reasons_and_a_narrative_in_both_locales(engine: Engine, name: str) -> None:
    card = engine.registry.get(name).bundle.card
    rows = _rows(engine, name, 5)
    for i, locale in enumerate(("en", "de")):
        response = _explain(engine, name, rows, locale=locale, output=None)
        for e in response.explanations:
            assert e.reasons, e.narrative
            assert len(e.reasons) <= card.max_reasons
            assert e.notice is not None
            assert e.notice.locale == locale
            assert e.narrative.startswith(TITLES[card.domain][i])
            protected = {f.name for f in card.features if f.protected}
            assert not {f for r in e.reasons for f in r.features} & protected


@pytest.mark.parametrize("name", ["german_credit", "breast_cancer", "hiring_screen"])
def test_classifiers_get_verified_counterfactuals_or_an_explicit_none(
    engine: Engine, name: str
) -> None:
    card = engine.registry.get(name).bundle.card
    actionable = {
        f.name
        for f in card.features
        if f.actionability == "actionable" and not f.protected and not f.proxy_for
    }
    rows = _rows(engine, name, 20)
    response = _explain(engine, name, rows, counterfactuals=3)
    found = 0
    for row, e in zip(rows, response.explanations, strict=True):
        assert e.counterfactual_note, "a note always comes with counterfactuals asked for"
        if not e.counterfactuals:
            continue
        found += 1
        changed = [{**row, **cf.changes} for cf in e.counterfactuals]
        # Re-scored through the public predict path: the card validates every new value.
        again = engine.predict(name, changed).predictions
        for cf, prediction in zip(e.counterfactuals, again, strict=True):
            assert set(cf.changes) <= actionable
            assert prediction.label != e.prediction.label
            assert prediction.label == card.favorable_class or card.favorable_class is None
            assert prediction.label == cf.prediction.label
    if actionable:
        assert found > 0, f"{name}: no counterfactual for any of 20 rows"
    else:
        assert found == 0


def test_hiring_screens_proxy_is_flagged_whenever_it_is_a_reason(engine: Engine) -> None:
    rows = _rows(engine, "hiring_screen", 100)
    assert len(rows) == 100
    response = _explain(engine, "hiring_screen", rows, persona="audit")
    appearances = 0
    for e in response.explanations:
        for reason in e.reasons:
            assert "gender" not in reason.features
            if "career_gap_months" in reason.features:
                appearances += 1
                assert "proxy" in reason.flags
                assert reason.proxy_for == ["gender"]
                assert "career_gap_months" in e.screening.flagged
                assert "proxy for gender" in e.narrative
    assert appearances > 0, "the planted proxy never reached the reasons: nothing was checked"


def test_german_credits_protected_attributes_are_kept_out(engine: Engine) -> None:
    rows = _rows(engine, "german_credit", 100)
    response = _explain(engine, "german_credit", rows)
    protected = {"age", "personal_status_sex", "foreign_worker"}
    suppressed = set()
    for e in response.explanations:
        assert not {f for r in e.reasons for f in r.features} & protected
        suppressed |= set(e.screening.suppressed)
    assert suppressed <= protected
    assert suppressed, "no protected attribute would ever have ranked: screening untested"


@pytest.mark.parametrize("name", BUNDLES)
def test_copy_coverage_is_reported_per_locale(engine: Engine, name: str) -> None:
    card = engine.registry.get(name).bundle.card
    rows = _rows(engine, name, 30)
    reached = reached_in(_explain(engine, name, rows).explanations)
    report = copy_coverage(card, ["en", "de"], reached=reached)
    en, de = report.locales
    assert reached
    # The example cards carry English and German copy for every feature, so no gap at all
    # (card_copy.de.yaml; the build refuses a feature without German words).
    assert not en.gaps, en.gaps
    assert not de.gaps, de.gaps


def test_german_credits_advice_respects_the_cards_controls(engine: Engine) -> None:
    # Issue 16, defect 5: "Checking account balance: no checking account" (close your
    # account) was the advice for declined applicants; the card now rules it out, and
    # the amount, duration and instalment burden may only go down.
    card = engine.registry.get("german_credit").bundle.card
    assert card.feature("checking_account").never_suggest == ("no checking account",)
    assert card.jurisdiction == "DE"
    rows = _rows(engine, "german_credit", 100)
    response = _explain(engine, "german_credit", rows, counterfactuals=3)
    seen = 0
    for row, e in zip(rows, response.explanations, strict=True):
        for cf in e.counterfactuals or []:
            seen += 1
            changes = cf.changes
            assert changes.get("checking_account") != "no checking account", e.narrative
            assert changes.get("savings") != "unknown or no savings account", e.narrative
            for name in ("credit_amount", "duration_months", "installment_rate"):
                if name in changes:
                    assert changes[name] < row[name], (name, row[name], changes[name])
    assert seen > 0, "no counterfactual for any of 100 rows: nothing was checked"


@pytest.mark.parametrize("name", BUNDLES)
def test_the_response_mapping_writes_what_people_are_told_as_plain_values(
    engine: Engine, name: str
) -> None:
    # ``mapping`` turns the domain's dataclasses into JSON values in one pass through
    # orjson; ``_plain`` is the straightforward walk. Both must give the same values, in
    # the same key order, for every part an instance carries (counterfactuals included).
    from service.people.narratives import PERSONAS
    from service.wire.mapping import _instance, _plain

    rows = _rows(engine, name, 3)
    for persona in PERSONAS:
        spec = mapping.explain_spec(
            ExplainRequest.model_validate(
                {"instances": rows, "persona": persona, "counterfactuals": 2, "locale": "de"}
            )
        )
        result = engine.explain(name, rows, spec, record=False)
        for e in result.instances:
            told = e.told
            mapped = _instance(result.card, e)
            expected = {
                "prediction": _plain(e.prediction),
                "reasons": _plain(told.reasons),
                "screening": _plain(told.screening),
                "review": _plain(told.review),
                "counterfactuals": _plain(told.counterfactuals),
                "notice": _plain(told.notice),
            }
            for key, value in expected.items():
                assert mapped[key] == value, (persona, key)
                assert list(_keys(mapped[key])) == list(_keys(value)), (persona, key)


def _keys(value: Any) -> Any:
    """Every key in ``value``, depth first, in order."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)
