"""The per-model report over stored records: quality distributions, reasons by group,
selection-rate impact ratios with the four-fifths flag."""

from __future__ import annotations

from typing import Any

import pytest

from service.audit import AuditStore
from service.audit.report import model_report
from tests.helpers.audit import add_record


def _record(
    store: AuditStore, *, group: str | None, label: str, codes: list[str], r2: float
) -> None:
    instance = {
        "prediction": {"label": label},
        "quality": {"fidelity_r2": r2, "additivity_residual": "NaN"},
        "reasons": [{"code": c} for c in codes],
    }
    document: dict[str, Any] = {
        "model": {"name": "hire", "version": "1", "domain": "hiring"},
        "input": {"values": [{"group": group}]},
        "response": {"explanations": [instance]},
    }
    add_record(store, model="hire", document=document, decisions=[{"outcome": label}])


def test_report_counts_reasons_by_group_and_flags_impact_ratios(store: AuditStore) -> None:
    # group a: 10 decisions, 8 advance (0.8); b: 10, 5 advance (0.5 -> ratio 0.625);
    # c: 1 decision (under 2% of 21? no: 4.8%) advance; unknown: 1 (sealed value).
    for i in range(10):
        _record(store, group="a", label="advance" if i < 8 else "reject", codes=["SKILL"], r2=0.9)
        _record(store, group="b", label="advance" if i < 5 else "reject", codes=["GAP"], r2=0.4)
    _record(store, group=None, label="advance", codes=["SKILL", "GAP"], r2=0.7)
    report = model_report(store, None, "hire", group_by=["group"], favorable="advance")
    assert report.n_records == report.n_decisions == 21
    assert report.outcomes == {"advance": 14, "reject": 7}
    assert report.reasons == {"SKILL": 11, "GAP": 11}
    assert report.reasons_by_group["group"]["a"] == {"SKILL": 10}
    assert report.reasons_by_group["group"]["unknown"] == {"SKILL": 1, "GAP": 1}
    assert report.group_sizes["group"] == {"a": 10, "b": 10, "unknown": 1}
    r2 = report.quality["fidelity_r2"]
    assert r2.count == 21
    assert r2.min == 0.4
    assert r2.max == 0.9
    assert "additivity_residual" not in report.quality  # only numbers are summarised
    rates = {s.group: s for s in report.selection["group"]}
    assert rates["a"].impact_ratio == 1.0
    assert not rates["a"].four_fifths_flag
    assert rates["b"].impact_ratio == pytest.approx(0.625)
    assert rates["b"].four_fifths_flag
    assert rates["unknown"].impact_ratio is None
    assert rates["unknown"].small_group


def test_non_hiring_models_get_no_selection_rates(store: AuditStore) -> None:
    _record(store, group="a", label="advance", codes=[], r2=1.0)
    report = model_report(store, None, "hire", group_by=["group"], favorable=None, domain="credit")
    assert report.selection == {}
    assert report.rates == {"quality_failed": 0.0, "proxy_flag": 0.0, "review_required": 0.0}
