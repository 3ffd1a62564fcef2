"""Analyst charts: valid Vega-Lite, the numbers they draw, text alternatives, palette, labels."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from service.html.theme import PALETTES, contrast_ratio
from tests.widgets.app_pages.fake_api import CASES, explain_one
from widgets import charts
from widgets.population import long_frame

LONG_LABEL = "Checking account balance at this bank, in Deutsche Mark"


def _explanation(n_features: int = 4) -> dict[str, Any]:
    attributions: list[dict[str, Any]] = [
        {"feature": f"f{i}", "label": f"Feature {i}", "value": i, "attribution": v}
        for i, v in enumerate([0.30, -0.20, 0.05, -0.01, 0.002, 0.001][:n_features])
    ]
    attributions[0]["label"] = LONG_LABEL
    total = sum(a["attribution"] for a in attributions)
    return {
        "target": "bad",
        "base_value": 0.3,
        "output_value": 0.3 + total,
        "attributions": attributions,
    }


def _data(spec: dict[str, Any], layer: int) -> list[dict[str, Any]]:
    name = spec["layer"][layer]["data"]["name"]
    rows: list[dict[str, Any]] = spec["datasets"][name]
    return rows


def test_the_waterfall_steps_add_up_from_base_to_output() -> None:
    e = _explanation()
    spec = charts.render_waterfall(e).to_dict()
    steps = _data(spec, 0)
    assert [s["step"] for s in steps] == [LONG_LABEL, "Feature 1", "Feature 2", "Feature 3"]
    assert steps[0]["start"] == pytest.approx(0.3)
    assert steps[-1]["end"] == pytest.approx(e["output_value"], abs=1e-12)
    assert [s["text"] for s in steps] == ["+0.3", "-0.2", "+0.05", "-0.01"]
    totals = _data(spec, 1)
    assert [t["step"] for t in totals] == ["Average case (base value)", "This case (output)"]


def test_the_waterfall_gathers_the_smallest_features() -> None:
    spec = charts.render_waterfall(_explanation(6), max_features=4).to_dict()
    steps = _data(spec, 0)
    assert [s["step"] for s in steps][-1] == "3 other features"
    assert steps[-1]["end"] == pytest.approx(0.3 + 0.30 - 0.20 + 0.05 - 0.01 + 0.002 + 0.001)


def test_every_chart_says_its_takeaway_in_words() -> None:
    spec = charts.render_waterfall(_explanation()).to_dict()
    assert spec["description"] == (
        "Waterfall chart of how the features moved the model output for 'bad' from the "
        f"average case (0.3) to this case (0.44); {LONG_LABEL} raised it most (+0.3)."
    )
    bar = charts.render_sorted_bar(_explanation()).to_dict()
    assert bar["description"] == (
        "Bar chart of 4 feature contributions toward 'bad', largest first; "
        f"{LONG_LABEL} raised it most (+0.3); Feature 1 lowered it most (-0.2)."
    )


def test_the_palette_is_the_widgets_orange_and_blue_and_readable_on_white() -> None:
    spec = charts.render_sorted_bar(_explanation()).to_dict()
    scale = spec["layer"][0]["encoding"]["color"]["scale"]
    assert scale == {
        "domain": ["raises", "lowers"],
        "range": [PALETTES["light"]["raises"], PALETTES["light"]["lowers"]],
    }
    for colour in scale["range"]:
        assert contrast_ratio(colour, "#FFFFFF") >= 3.0


def test_sign_is_shown_by_text_and_position_too() -> None:
    spec = charts.render_sorted_bar(_explanation()).to_dict()
    bars = _data(spec, 0)
    assert [b["text"] for b in bars] == ["+0.3", "-0.2", "+0.05", "-0.01"]
    assert [b["direction"] for b in bars] == ["raises", "lowers", "raises", "lowers"]
    assert spec["layer"][1]["mark"]["type"] == "rule"  # the zero line


def test_long_labels_are_not_truncated() -> None:
    for chart in (
        charts.render_waterfall(_explanation()),
        charts.render_sorted_bar(_explanation()),
    ):
        y = chart.to_dict()["layer"][0]["encoding"]["y"]
        assert y["axis"]["labelLimit"] >= 7 * len(LONG_LABEL)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    from tests.widgets.app_pages.fake_api import FEATURES

    body = {"method": "auto", "output": "raw", "persona": "analyst"}
    response = {"explanations": [explain_one(x, body) for x in CASES * 5]}
    return long_frame({"features": FEATURES}, response)


def test_global_importance_ranks_by_mean_absolute_contribution(frame: pd.DataFrame) -> None:
    spec = charts.render_global_importance(frame).to_dict()
    order = spec["encoding"]["y"]["sort"]
    means = frame.assign(a=frame["attribution"].abs()).groupby("label")["a"].mean()
    assert order == list(means.sort_values(ascending=False).index)
    assert spec["description"].startswith("Bar chart of the mean absolute contribution")
    assert f"{order[0]} matters most" in spec["description"]


def test_the_beeswarm_is_deterministic_and_coloured_low_to_high(frame: pd.DataFrame) -> None:
    first = charts.render_beeswarm(frame).to_dict()
    assert first == charts.render_beeswarm(frame).to_dict()
    colour = first["encoding"]["color"]
    assert colour["scale"] == {"scheme": "blueorange", "domain": [0, 1]}
    assert first["encoding"]["yOffset"]["field"] == "jitter"


def test_dependence_uses_a_numeric_axis_only_for_numbers(frame: pd.DataFrame) -> None:
    numeric = charts.render_dependence(frame, "income").to_dict()
    assert numeric["layer"][0]["encoding"]["x"]["field"] == "numeric"
    categorical = charts.render_dependence(frame, "employment").to_dict()
    assert categorical["layer"][0]["encoding"]["x"]["type"] == "nominal"
    assert categorical["layer"][0]["encoding"]["shape"]["field"] == "direction"
    with pytest.raises(ValueError, match="no rows for feature 'nope'"):
        charts.render_dependence(frame, "nope")


def test_method_comparison_tells_runs_apart_by_colour_and_shape() -> None:
    runs = {"tree_shap": {"a": 0.5, "b": -0.2}, "lime seed 0": {"a": 0.4, "b": -0.1}}
    spec = charts.render_method_comparison(runs, labels={"a": "A", "b": "B"}).to_dict()
    assert spec["encoding"]["shape"]["field"] == "run"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["tree_shap", "lime seed 0"]
    assert spec["encoding"]["y"]["sort"] == ["A", "B"]
    with pytest.raises(ValueError, match="at least one run"):
        charts.render_method_comparison({}, labels={})


def test_reason_frequency_overall_and_by_group() -> None:
    spec = charts.render_reason_frequency({"DEBT": 3, "INCOME": 7}).to_dict()
    assert spec["encoding"]["y"]["sort"] == ["INCOME", "DEBT"]
    assert spec["description"].endswith("INCOME is given most often (7).")
    table = pd.DataFrame(
        [
            {"group": "x", "code": "A", "count": 2, "share": 1.0},
            {"group": "y", "code": "A", "count": 1, "share": 0.5},
        ]
    )
    heat = charts.render_reasons_by_group(table, group="housing").to_dict()
    assert heat["layer"][1]["mark"]["type"] == "text"  # each cell says its share in words
    assert heat["description"].startswith("Heat map of the share of cases in each housing group")


# Issue 16, defect 1: sorted by size, with each value written at its bar's end.


def _unsorted_by_name() -> dict[str, Any]:
    """Contributions whose order by size is not their alphabetical order."""
    values = {"Age": 0.254, "Checking account": 0.494, "Housing": -0.0816, "Loan amount": 1.41}
    attributions = [
        {"feature": label.lower(), "label": label, "value": 1, "attribution": v}
        for label, v in values.items()
    ]
    return {
        "target": "bad",
        "base_value": 0.0,
        "output_value": sum(values.values()),
        "attributions": attributions,
    }


def _y_sorts(spec: dict[str, Any]) -> list[Any]:
    return [layer["encoding"]["y"]["sort"] for layer in spec["layer"] if "y" in layer["encoding"]]


def test_sorted_bars_name_their_order_in_every_layer() -> None:
    spec = charts.render_sorted_bar(_unsorted_by_name()).to_dict()
    order = ["Loan amount", "Checking account", "Age", "Housing"]
    # A sort by field is dropped on a layered chart's shared domain (alphabetical then).
    assert _y_sorts(spec) == [order, order, order]


def test_the_waterfall_names_its_order_in_every_layer() -> None:
    spec = charts.render_waterfall(_unsorted_by_name()).to_dict()
    order = [
        "Average case (base value)",
        "Loan amount",
        "Checking account",
        "Age",
        "Housing",
        "This case (output)",
    ]
    assert _y_sorts(spec) == [order, order, order]


def test_sorted_bar_values_sit_at_the_bar_ends() -> None:
    spec = charts.render_sorted_bar(_unsorted_by_name()).to_dict()
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    right, left = texts
    assert right["encoding"]["x"]["field"] == left["encoding"]["x"]["field"] == "attribution"
    assert (right["mark"]["align"], left["mark"]["align"]) == ("left", "right")
    assert right["mark"]["dx"] > 0 > left["mark"]["dx"]
    assert [r["text"] for r in spec["datasets"][right["data"]["name"]]] == [
        "+1.41",
        "+0.494",
        "+0.254",
    ]
    assert [r["text"] for r in spec["datasets"][left["data"]["name"]]] == ["-0.0816"]
    assert spec["layer"][0]["encoding"]["x"]["scale"]["padding"] > 0  # room for the values


# Issue 16, defect 2: the categorical dependence plot was squeezed to a flat line.

CHECKING = [
    "< 0 DM",
    "0 to < 200 DM",
    ">= 200 DM or salary paid in for 1+ year",
    "no checking account",
]


def _checking_frame() -> pd.DataFrame:
    detail = {
        "features": [
            {
                "name": "checking",
                "label": "Checking account balance",
                "type": "categorical",
                "categories": CHECKING,
            }
        ]
    }
    values = [CHECKING[3], CHECKING[0], CHECKING[2], CHECKING[1], CHECKING[3]]
    effects = [-0.8, 0.66, -0.05, 0.34, -1.3]
    response = {
        "explanations": [
            {
                "attributions": [
                    {
                        "feature": "checking",
                        "label": "Checking account balance",
                        "value": v,
                        "attribution": a,
                    }
                ]
            }
            for v, a in zip(values, effects, strict=True)
        ]
    }
    return long_frame(detail, response)


def test_categorical_dependence_keeps_its_height_title_and_readable_labels() -> None:
    spec = charts.render_dependence(_checking_frame(), "checking").to_dict()
    dots = spec["layer"][0]
    x = dots["encoding"]["x"]
    # Horizontal labels, long ones on several lines; the axis says what it is.
    assert x["axis"]["labelAngle"] == 0
    assert x["axis"]["title"] == "Checking account balance"
    assert x["sort"] == CHECKING  # the card's order, not the alphabet
    assert '">= 200 DM or salary paid in for 1+ year": [' in x["axis"]["labelExpr"]
    # The plot has a height of its own; only the width is fitted to the column.
    assert spec["height"] >= 240
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
    assert spec["title"] == "Dependence: Checking account balance"
    rows = spec["datasets"][dots["data"]["name"]]
    assert [r["attribution"] for r in rows] == [-0.8, 0.66, -0.05, 0.34, -1.3]
    assert dots["encoding"]["xOffset"]["field"] == "jitter"  # dots of one category spread


def test_short_category_labels_are_left_as_they_are() -> None:
    frame = _checking_frame().assign(value=lambda f: f["value"].str[:5])
    spec = charts.render_dependence(frame, "checking").to_dict()
    assert spec["layer"][0]["encoding"]["x"]["axis"]["labelExpr"] == "datum.label"
