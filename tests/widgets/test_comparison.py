"""Runs of one case across methods and seeds, and the tables made from them."""

from __future__ import annotations

import pytest

from tests.widgets.app_pages.fake_api import CASES, FakeApi
from widgets.comparison import (
    Run,
    agreement_rows,
    parse_seeds,
    pick_reference,
    quality_rows,
    run_comparison,
    stability_rows,
)


def test_seeds_are_parsed_or_refused_in_words() -> None:
    assert parse_seeds("0, 1 2,1") == [0, 1, 2]
    with pytest.raises(ValueError, match="whole numbers; got 'x'"):
        parse_seeds("1, x")
    with pytest.raises(ValueError, match="0 or more; got -1"):
        parse_seeds("-1")
    with pytest.raises(ValueError, match="at least one seed"):
        parse_seeds(" , ")


def test_exact_methods_run_once_and_refusals_are_kept() -> None:
    api = FakeApi().client()
    runs = run_comparison(
        api, "loan", CASES[0], ["tree_shap", "lime"], [0, 1], output="probability"
    )
    assert [r.name for r in runs] == ["tree_shap", "lime seed 0", "lime seed 1"]
    assert runs[0].error == "tree_shap needs output 'raw' for this model"
    assert pick_reference(runs) is runs[1]
    assert quality_rows(runs)[0]["status"].startswith("refused: tree_shap")


def test_agreement_is_measured_against_the_exact_reference() -> None:
    api = FakeApi().client()
    runs = run_comparison(api, "loan", CASES[0], ["lime", "tree_shap"], [0, 1], output="raw")
    reference = pick_reference(runs)
    assert reference is not None
    assert reference.method == "tree_shap"
    rows = agreement_rows(runs, reference, 3)
    assert [r["run"] for r in rows] == ["lime seed 0", "lime seed 1"]
    assert all(r["top-3 overlap"] == 1.0 for r in rows)
    (stability,) = stability_rows(runs, 3)
    assert (stability["method"], stability["seeds"]) == ("lime", 2)


def test_no_reference_without_a_successful_run() -> None:
    assert pick_reference([Run("lime", 0, error="no")]) is None
    assert stability_rows([Run("lime", 0, {"a": 1.0})], 1) == []
