"""Analyst charts as pure Altair renderers: waterfall, sorted bars, beeswarm, dependence, more.

Each ``render_*`` takes API data (an instance explanation, or the long frame built by
``widgets.population``) and returns an Altair chart; none calls Streamlit. Every chart
carries a text alternative in its ``description`` (Vega-Lite turns it into the
``aria-label`` of the ``graphics-document``) that states the takeaway, not the data.

Colour: the diverging pair is the widgets' own orange/blue (Okabe-Ito hues, darkened to
reach 3:1 on white), distinct under the common colour-vision deficiencies; the sign is
never shown by colour alone: bars sit left or right of a zero rule and carry a signed
number, and the legend says "raises"/"lowers" in words. Axis labels get a raised
``labelLimit`` (Altair truncates long feature labels otherwise).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd

from widgets.palette import LIGHT

__all__ = [
    "DIRECTION_SCALE",
    "LABEL_LIMIT",
    "METHOD_COLOURS",
    "render_beeswarm",
    "render_dependence",
    "render_global_importance",
    "render_method_comparison",
    "render_reason_frequency",
    "render_reasons_by_group",
    "render_sorted_bar",
    "render_waterfall",
]

LABEL_LIMIT = 420
RAISES, LOWERS = "raises", "lowers"
DIRECTION_SCALE = alt.Scale(
    domain=[RAISES, LOWERS],
    range=[LIGHT["raises"], LIGHT["lowers"]],
)
# Okabe-Ito, for up to eight methods; shapes repeat the distinction.
METHOD_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"]
_NEUTRAL = LIGHT["border"]
# Below the plot, so that long feature labels leave the bars room in a narrow column.
_LEGEND = alt.Legend(orient="bottom")
# Where a bar's value is written: past its end, on the side the bar points to.
_VALUE_ENDS: tuple[tuple[str, int, Literal["left", "right"]], ...] = (
    (RAISES, 4, "left"),
    (LOWERS, -4, "right"),
)


def _fmt(value: float) -> str:
    return f"{value:+.3g}"


def _direction(value: float) -> str:
    return RAISES if value >= 0 else LOWERS


def _attributions(explanation: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(label, attribution) pairs, largest |attribution| first."""
    pairs = [(str(a["label"]), float(a["attribution"])) for a in explanation["attributions"]]
    return sorted(pairs, key=lambda p: -abs(p[1]))


def _label_axis(title: str | None = None) -> alt.Axis:
    return alt.Axis(title=title, labelLimit=LABEL_LIMIT)


def render_waterfall(explanation: Mapping[str, Any], *, max_features: int = 10) -> alt.LayerChart:
    """From the base value (the average case) to this case's output, one step per feature.

    The ``max_features - 1`` largest contributions get their own step; the rest are
    summed into one "other features" step, so the steps always add up to the output.
    """
    target = str(explanation["target"])
    base, output = float(explanation["base_value"]), float(explanation["output_value"])
    pairs = _attributions(explanation)
    if len(pairs) > max_features:
        rest = pairs[max_features - 1 :]
        pairs = [
            *pairs[: max_features - 1],
            (f"{len(rest)} other features", sum(v for _, v in rest)),
        ]
    rows: list[dict[str, Any]] = [
        {
            "step": "Average case (base value)",
            "start": base,
            "end": base,
            "kind": "total",
            "text": f"{base:.3g}",
        },
    ]
    level = base
    for label, value in pairs:
        rows.append(
            {
                "step": label,
                "start": level,
                "end": level + value,
                "kind": _direction(value),
                "text": _fmt(value),
            }
        )
        level += value
    rows.append(
        {
            "step": "This case (output)",
            "start": output,
            "end": output,
            "kind": "total",
            "text": f"{output:.3g}",
        }
    )
    frame = pd.DataFrame(rows)
    frame["delta"] = frame["end"] - frame["start"]
    frame["tip"] = frame[["start", "end"]].max(axis=1)
    # An explicit list: Vega-Lite drops a sort by field on a layered chart's shared domain.
    y = alt.Y("step:N", sort=list(dict.fromkeys(frame["step"])), axis=_label_axis())
    steps = frame[frame["kind"] != "total"]
    totals = frame[frame["kind"] == "total"]
    bars = (
        alt.Chart(steps)
        .mark_bar()
        .encode(
            y=y,
            x=alt.X("start:Q", title=f"Model output for {target!r}", scale=alt.Scale(zero=False)),
            x2="end:Q",
            color=alt.Color(
                "kind:N", scale=DIRECTION_SCALE, title=f"Effect on {target!r}", legend=_LEGEND
            ),
            tooltip=["step", alt.Tooltip("delta:Q", format="+.4f")],
        )
    )
    marks = (
        alt.Chart(totals)
        .mark_tick(thickness=3, color=LIGHT["fg"])
        .encode(y=y, x="end:Q", tooltip=["step", alt.Tooltip("end:Q", format=".4f")])
    )
    labels = (
        alt.Chart(frame)
        .mark_text(align="left", dx=4, color=LIGHT["fg"])
        .encode(y=y, x="tip:Q", text="text:N")
    )
    first = pairs[0] if pairs else ("no feature", 0.0)
    verb = "raised" if first[1] >= 0 else "lowered"
    description = (
        f"Waterfall chart of how the features moved the model output for {target!r} from the "
        f"average case ({base:.3g}) to this case ({output:.3g}); {first[0]} {verb} it most "
        f"({_fmt(first[1])})."
    )
    return alt.LayerChart(layer=[bars, marks, labels]).properties(
        title="Waterfall: from the average case to this case", description=description
    )


def render_sorted_bar(
    explanation: Mapping[str, Any], *, max_features: int | None = None
) -> alt.LayerChart:
    """Every attribution as a horizontal bar, sorted by size, either side of a zero rule.

    Each bar's signed value is written at its end: right of a bar that raises the
    output, left of one that lowers it.
    """
    target = str(explanation["target"])
    pairs = _attributions(explanation)[:max_features]
    frame = pd.DataFrame(
        {
            "feature": [p[0] for p in pairs],
            "attribution": [p[1] for p in pairs],
            "direction": [_direction(p[1]) for p in pairs],
            "text": [_fmt(p[1]) for p in pairs],
        }
    )
    # An explicit list in every layer: Vega-Lite drops a sort by field on the shared
    # domain of a layered chart and falls back to alphabetical order.
    y = alt.Y("feature:N", sort=list(dict.fromkeys(frame["feature"])), axis=_label_axis())
    # Pixels of room past the longest bars for the values written at their ends.
    x = alt.X(
        "attribution:Q",
        title=f"Contribution to the output for {target!r}",
        scale=alt.Scale(padding=56),
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=y,
            x=x,
            color=alt.Color(
                "direction:N", scale=DIRECTION_SCALE, title=f"Effect on {target!r}", legend=_LEGEND
            ),
            tooltip=["feature", alt.Tooltip("attribution:Q", format="+.4f")],
        )
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color=_NEUTRAL).encode(x="zero:Q")
    ends = [
        alt.Chart(frame[frame["direction"] == direction])
        .mark_text(dx=dx, align=align, color=LIGHT["fg"])
        .encode(y=y, x=x, text="text:N")
        for direction, dx, align in _VALUE_ENDS
    ]
    up = [p for p in pairs if p[1] > 0]
    down = [p for p in pairs if p[1] < 0]
    parts = [f"Bar chart of {len(pairs)} feature contributions toward {target!r}, largest first"]
    if up:
        parts.append(f"{up[0][0]} raised it most ({_fmt(up[0][1])})")
    if down:
        parts.append(f"{down[0][0]} lowered it most ({_fmt(down[0][1])})")
    return alt.LayerChart(layer=[bars, zero, *ends]).properties(
        title="Contributions, sorted by size", description="; ".join(parts) + "."
    )


def _order(frame: pd.DataFrame, max_features: int) -> list[str]:
    mean_abs = frame.assign(abs=frame["attribution"].abs()).groupby("label")["abs"].mean()
    return list(mean_abs.sort_values(ascending=False).index[:max_features])


def render_global_importance(frame: pd.DataFrame, *, max_features: int = 15) -> alt.Chart:
    """Mean |attribution| per feature over a sample (``frame`` from ``population.long_frame``)."""
    order = _order(frame, max_features)
    data = (
        frame[frame["label"].isin(order)]
        .assign(abs=lambda f: f["attribution"].abs())
        .groupby("label", as_index=False)
        .agg(mean_abs=("abs", "mean"))
    )
    n_cases = frame["case"].nunique()
    top = order[0] if order else "no feature"
    chart: alt.Chart = (
        alt.Chart(data)
        .mark_bar(color=LIGHT["lowers"])
        .encode(
            y=alt.Y("label:N", sort=order, axis=_label_axis()),
            x=alt.X("mean_abs:Q", title="Mean |contribution| over the sample"),
            tooltip=["label", alt.Tooltip("mean_abs:Q", format=".4f")],
        )
        .properties(
            title=f"Global importance over {n_cases} cases",
            description=f"Bar chart of the mean absolute contribution of each feature over "
            f"{n_cases} cases; {top} matters most on average.",
        )
    )
    return chart


def render_beeswarm(frame: pd.DataFrame, *, max_features: int = 15) -> alt.Chart:
    """One dot per case and feature: contribution across, feature value as colour.

    Colour runs blue (low value, or first category) to orange (high, or last); the
    vertical jitter is precomputed in ``frame`` so the chart is deterministic.
    """
    order = _order(frame, max_features)
    data = frame[frame["label"].isin(order)]
    n_cases = frame["case"].nunique()
    chart: alt.Chart = (
        alt.Chart(data)
        .mark_circle(size=36, opacity=0.8)
        .encode(
            y=alt.Y("label:N", sort=order, axis=_label_axis()),
            yOffset=alt.YOffset("jitter:Q", scale=alt.Scale(domain=[-1, 1])),
            x=alt.X("attribution:Q", title="Contribution (each dot is one case)"),
            color=alt.Color(
                "position:Q",
                scale=alt.Scale(scheme="blueorange", domain=[0, 1]),
                title="Feature value (low → high)",
            ),
            tooltip=["case", "label", "value", alt.Tooltip("attribution:Q", format="+.4f")],
        )
        .properties(
            height=alt.Step(30),
            title=f"Beeswarm over {n_cases} cases",
            description=f"Beeswarm plot: for each of the {len(order)} most important features, "
            f"one dot per case at its contribution, coloured by the feature's value from low "
            f"(blue) to high (orange); {order[0] if order else 'no feature'} spreads widest.",
        )
    )
    return chart


def _wrap_expr(values: Sequence[str], width: int) -> str:
    """A Vega ``labelExpr`` that writes each long label on several lines of ``width``."""
    lines = {v: textwrap.wrap(v, width) or [v] for v in values}
    wrapped = {v: ls for v, ls in lines.items() if len(ls) > 1}
    if not wrapped:
        return "datum.label"
    table = ", ".join(f"{json.dumps(v)}: {json.dumps(ls)}" for v, ls in wrapped.items())
    return f"{{{table}}}[datum.value] || datum.label"


def render_dependence(frame: pd.DataFrame, feature: str, *, height: int = 320) -> alt.LayerChart:
    """The feature's value against its contribution, one dot per case.

    A categorical feature gets one column per category, in the card's order, with
    horizontal labels wrapped onto lines and a little sideways jitter. ``height`` is the
    plot's own: the chart fits its width only, and axes and titles add to the height.
    (Fitted to a fixed height, as Streamlit fits charts by default, rotated long labels
    and a long axis title once squeezed the plot to a flat line and pushed out the title.)
    """
    data = frame[frame["feature"] == feature].assign(
        direction=lambda f: [_direction(v) for v in f["attribution"]]
    )
    if data.empty:
        raise ValueError(f"no rows for feature {feature!r}")
    label = str(data["label"].iloc[0])
    numeric = bool(data["numeric"].notna().all())
    dots = alt.Chart(data).mark_point(filled=True, size=50)
    if numeric:
        dots = dots.encode(x=alt.X("numeric:Q", title=label, scale=alt.Scale(zero=False)))
    else:
        order = list(data.sort_values(["position", "value"])["value"].drop_duplicates())
        axis = alt.Axis(
            title=label,
            labelAngle=0,
            labelLimit=LABEL_LIMIT,
            labelExpr=_wrap_expr(order, 18),
            labelOverlap=False,
        )
        dots = dots.encode(
            x=alt.X("value:N", sort=order, axis=axis),
            xOffset=alt.XOffset("jitter:Q", scale=alt.Scale(domain=[-1.6, 1.6])),
        )
    dots = dots.encode(
        y=alt.Y("attribution:Q", title="Contribution"),
        color=alt.Color("direction:N", scale=DIRECTION_SCALE, title="Effect"),
        shape=alt.Shape("direction:N", title="Effect"),
        tooltip=["case", "value", alt.Tooltip("attribution:Q", format="+.4f")],
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color=_NEUTRAL).encode(y="zero:Q")
    kind = "numeric" if numeric else "categorical"
    return alt.LayerChart(layer=[dots, zero]).properties(
        height=height,
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        title=f"Dependence: {label}",
        description=f"Scatter plot of the {kind} feature {label} against its contribution over "
        f"{len(data)} cases; dots above the zero line raised the output, below lowered it.",
    )


def render_method_comparison(
    runs: Mapping[str, Mapping[str, float]], *, labels: Mapping[str, str], max_features: int = 10
) -> alt.Chart:
    """Attributions of one case by several methods (or seeds): a dot per run and feature.

    ``runs`` maps a run name (``"kernel_shap seed 1"``) to ``{feature: attribution}``;
    features are ordered by the first run's |attribution|. Colour and shape both tell
    the runs apart.
    """
    if not runs:
        raise ValueError("render_method_comparison needs at least one run")
    first = next(iter(runs.values()))
    order = sorted(first, key=lambda f: -abs(first[f]))[:max_features]
    rows = [
        {"run": name, "feature": labels.get(f, f), "attribution": values[f]}
        for name, values in runs.items()
        for f in order
        if f in values
    ]
    names = list(runs)
    chart: alt.Chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_point(filled=True, size=70)
        .encode(
            y=alt.Y("feature:N", sort=[labels.get(f, f) for f in order], axis=_label_axis()),
            x=alt.X("attribution:Q", title="Contribution"),
            color=alt.Color("run:N", scale=alt.Scale(domain=names, range=METHOD_COLOURS)),
            shape=alt.Shape("run:N", scale=alt.Scale(domain=names)),
            tooltip=["run", "feature", alt.Tooltip("attribution:Q", format="+.4f")],
        )
        .properties(
            title="The same case, explained by each run",
            description=f"Dot plot of the {len(order)} largest contributions of this case as "
            f"{len(names)} runs ({', '.join(names)}) computed them; dots that sit together "
            "mean the runs agree.",
        )
    )
    return chart


def render_reason_frequency(counts: Mapping[str, int], *, what: str = "cases") -> alt.Chart:
    """How often each reason code was given, most frequent first."""
    order = sorted(counts, key=lambda c: (-counts[c], c))
    frame = pd.DataFrame({"code": order, "count": [counts[c] for c in order]})
    top = f"{order[0]} is given most often ({counts[order[0]]})" if order else "no reasons"
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar(color=LIGHT["lowers"])
        .encode(
            y=alt.Y("code:N", sort=order, axis=_label_axis("Reason code")),
            x=alt.X("count:Q", title=f"{what.capitalize()} giving the reason"),
            tooltip=["code", "count"],
        )
        .properties(
            title="Reason frequency",
            description=f"Bar chart of how many {what} gave each of {len(order)} reason "
            f"codes; {top}.",
        )
    )
    return chart


def render_reasons_by_group(table: pd.DataFrame, *, group: str) -> alt.LayerChart:
    """A heat map of reason-code shares per group, each cell labelled with its share.

    ``table`` has columns ``group``, ``code``, ``count`` and ``share`` (of the group's cases).
    """
    codes: Sequence[str] = (
        table.groupby("code")["count"].sum().sort_values(ascending=False).index.tolist()
    )
    base = alt.Chart(table).encode(
        y=alt.Y("code:N", sort=list(codes), axis=_label_axis("Reason code")),
        x=alt.X(
            "group:N",
            title=group,
            axis=alt.Axis(labelLimit=LABEL_LIMIT, labelAngle=-25, labelOverlap=False),
        ),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Share"),
        tooltip=["group", "code", "count", alt.Tooltip("share:Q", format=".0%")],
    )
    text = base.mark_text().encode(
        text=alt.Text("share:Q", format=".0%"),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("black")),
    )
    return alt.LayerChart(layer=[cells, text]).properties(
        title=f"Reasons by {group}",
        description=f"Heat map of the share of cases in each {group} group that gave each "
        "reason code, with the share written in every cell.",
    )
