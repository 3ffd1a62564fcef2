"""The model page: global importance, beeswarm, dependence, reason frequency, copy coverage."""

from __future__ import annotations

import json
import re
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.widgets.app_pages.conftest import OpenPage
from tests.widgets.app_pages.fake_api import FakeApi

PAGE = "app_pages/model.py"


def _specs(at: AppTest) -> dict[str, dict[str, Any]]:
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    return {s["title"]: s for s in specs}


def test_a_sample_is_explained_once_for_every_view(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    explains = [b for _, p, b in fake.requests if p.endswith("/explain")]
    assert len(explains) == 1
    body = explains[0]
    assert body is not None
    assert len(body["instances"]) == 40
    assert (body["method"], body["output"], body["persona"]) == ("auto", "raw", "analyst")
    assert body["target"] == "approved"  # one target for every case (issue 16, defect 11)
    specs = _specs(at)
    assert set(specs) == {
        "Global importance over 40 cases",
        "Beeswarm over 40 cases",
        "Dependence: Monthly income",
        "Reason frequency",
        "Reasons by Employment",
    }
    assert specs["Global importance over 40 cases"]["description"].endswith(
        "matters most on average."
    )
    assert "coloured by the feature's value" in specs["Beeswarm over 40 cases"]["description"]


def test_dependence_follows_the_chosen_feature(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    at.selectbox(key="model.loan.feature").set_value("employment").run()
    spec = _specs(at)["Dependence: Employment"]
    assert spec["layer"][0]["encoding"]["x"]["field"] == "value"
    assert spec["layer"][0]["encoding"]["x"]["type"] == "nominal"
    assert spec["description"].startswith("Scatter plot of the categorical feature Employment")


def test_reasons_by_group_and_the_recorded_report(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    at.selectbox(key="model.loan.group").set_value("employment").run()
    table = next(df.value for df in at.dataframe if "share" in df.value.columns)
    assert set(table["group"]) <= {"unemployed", "part_time", "full_time"}
    assert (table["share"] <= 1).all()
    report = next(m.value for m in at.markdown if "decisions in" in m.value)
    assert re.match(r"\d+ decisions in \d+ records; outcomes", report)


def test_copy_coverage_per_locale(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    summary = next(df.value for df in at.dataframe if "locale" in df.value.columns)
    rows = summary.set_index("locale").to_dict("index")
    assert rows["en"]["players"] == 4  # age is protected: never shown, needs no copy
    assert rows["en"]["gaps"] == 1  # employment has a label but no phrases
    assert rows["de"]["gaps"] == 3  # only income is translated
    assert not rows["de"]["complete"]
    assert any("fell back to English" in m.value for m in at.markdown)


def test_a_smaller_sample_asks_for_fewer_cases(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    at.number_input(key="model.size").set_value(10).run()
    sizes = [len(b["instances"]) for _, p, b in fake.requests if p.endswith("/explain") and b]
    assert sizes == [40, 10]
    assert "Global importance over 10 cases" in _specs(at)


def test_a_categorical_dependence_plot_keeps_its_height_and_titles(open_page: OpenPage) -> None:
    # Issue 16, defect 2: rotated labels and a fitted height squeezed the plot to a line.
    at = open_page(PAGE)
    at.selectbox(key="model.loan.feature").set_value("employment").run()
    spec = _specs(at)["Dependence: Employment"]
    assert spec["autosize"]["type"] == "fit-x"
    assert spec["height"] >= 240
    x = spec["layer"][0]["encoding"]["x"]
    assert (x["axis"]["title"], x["axis"]["labelAngle"]) == ("Employment", 0)
    assert x["sort"] == ["unemployed", "part_time", "full_time"]
