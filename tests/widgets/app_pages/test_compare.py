"""The compare page: each method and seed on one case, agreement, stability, refusals."""

from __future__ import annotations

import json

import pandas as pd
from streamlit import dataframe_util

from tests.widgets.app_pages.conftest import OpenPage
from tests.widgets.app_pages.fake_api import FakeApi

PAGE = "app_pages/compare.py"


def test_nothing_runs_until_compare_is_pressed(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    assert not [p for _, p, _ in fake.requests if p.endswith("/explain")]
    assert at.multiselect(key="compare.methods").value == [
        "tree_shap",
        "kernel_shap",
        "permutation_shap",
        "lime",
    ]
    assert any("exact_shap: unavailable: not in the fake" in c.value for c in at.caption)
    assert at.info[0].value.startswith("Choose methods and seeds")


def test_methods_and_seeds_are_compared_with_agreement_measures(
    open_page: OpenPage, fake: FakeApi
) -> None:
    at = open_page(PAGE)
    at.radio(key="compare.output").set_value("raw")
    at.text_input(key="compare.seeds").input("0, 1")
    at.button[0].click().run()
    assert not at.exception
    calls = [
        (b["method"], b["options"]) for _, p, b in fake.requests if p.endswith("/explain") and b
    ]
    assert calls == [
        ("tree_shap", {}),
        ("kernel_shap", {"seed": 0}),
        ("kernel_shap", {"seed": 1}),
        ("permutation_shap", {"seed": 0}),
        ("permutation_shap", {"seed": 1}),
        ("lime", {"seed": 0}),
        ("lime", {"seed": 1}),
    ]
    assert at.selectbox(key="compare.reference").value == "tree_shap"
    agreement, stability, quality = (df.value for df in at.dataframe)
    assert list(agreement["run"]) == [
        "kernel_shap seed 0",
        "kernel_shap seed 1",
        "permutation_shap seed 0",
        "permutation_shap seed 1",
        "lime seed 0",
        "lime seed 1",
    ]
    assert set(agreement.columns) == {
        "run",
        "top-5 overlap",
        "sign agreement",
        "Spearman rho",
        "Kendall tau",
    }
    # The fake's sampling methods only wobble magnitudes by up to 10%: signs never flip.
    assert (agreement["sign agreement"] >= 0.8).all()
    assert list(stability["method"]) == ["kernel_shap", "permutation_shap", "lime"]
    assert list(quality["status"]) == ["ok"] * 7
    assert pd.notna(quality.loc[quality["run"] == "lime seed 0", "fidelity_r2"]).all()
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["description"].startswith("Dot plot of the 5 largest contributions")


def test_a_refused_method_is_listed_in_the_apis_words(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    at.multiselect(key="compare.methods").set_value(["tree_shap", "lime"])
    at.radio(key="compare.output").set_value("probability")
    at.text_input(key="compare.seeds").input("3")
    at.button[0].click().run()
    quality = at.dataframe[-1].value
    assert list(quality["status"]) == ["refused: tree_shap needs output 'raw' for this model", "ok"]
    assert at.selectbox(key="compare.reference").value == "lime seed 3"


def test_bad_seeds_are_refused_with_a_message(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    at.text_input(key="compare.seeds").input("one, two")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["seeds must be whole numbers; got 'one'"]


def test_the_tables_show_blanks_and_rounded_numbers(open_page: OpenPage) -> None:
    # Issue 16, defect 10: "None" for a figure a method lacks, residuals to 16 decimals.
    at = open_page(PAGE)
    at.radio(key="compare.output").set_value("raw")
    at.button[0].click().run()
    quality = at.dataframe[-1]
    assert quality.value["fidelity_r2"].isna().any()  # the data keep their missing values
    shown = dataframe_util.convert_arrow_bytes_to_pandas_df(
        quality.proto.arrow_data.styler.display_values
    )
    tree = shown[shown["run"] == "tree_shap"].iloc[0]
    assert tree["fidelity_r2"] == ""
    assert tree["ms"] == "1.5"
    for table in at.dataframe:
        cells = dataframe_util.convert_arrow_bytes_to_pandas_df(
            table.proto.arrow_data.styler.display_values
        )
        text = cells.to_string()
        assert "None" not in text
        assert "nan" not in text
