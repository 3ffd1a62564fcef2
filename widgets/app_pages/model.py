"""Model overview: global importance, dependence, reason frequency and copy coverage.

All of it from a sample of the model's own cases explained through the API, plus the
service's report on the decisions it has recorded.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from widgets import cases, charts, coverage, population, tables
from widgets.client import ClientError
from widgets.session import client, fetch

api = client()
st.title("Model overview")
st.caption(
    "How the model uses its features over a sample of cases, which reasons people are given "
    "and how often, and whether every reason has reviewed words in every language."
)

models = fetch(("models",), api.list_models, what="list the models")
words = fetch(("vocabulary",), api.vocabulary, what="read the API's vocabulary")
row = st.columns([3, 2, 2, 2, 2])
names = [m["name"] for m in models]
name = row[0].selectbox("Model", names, index=cases.default_model(names), key="model.model")
size = int(
    row[1].number_input("Cases", min_value=5, max_value=100, value=40, step=5, key="model.size")
)
method = row[2].selectbox("Method", words["methods"], key="model.method")
output = row[3].radio(
    "Output space",
    words["output_spaces"],
    key="model.output",
    help="raw (the margin) lets tree SHAP run exactly and fast on any tree ensemble.",
)
locale = row[4].radio("Reasons in", words["locales"], horizontal=True, key="model.locale")

detail = fetch(("model", name), lambda: api.get_model(name), what=f"read model {name}")
samples = fetch(("samples", name, size), lambda: api.samples(name, size), what="load cases")
target = population.population_target(detail)  # one target for every case in the views
with st.spinner(f"Explaining {len(samples)} cases…"):
    response = fetch(
        ("population", name, size, method, output, locale, target),
        lambda: api.explain(
            name,
            samples,
            method=method,
            output=output,
            persona="analyst",
            locale=locale,
            target=target,
        ),
        what="explain the sample",
    )
explanations = response["explanations"]
frame = population.long_frame(detail, response)
st.caption(
    f"{len(samples)} cases from the model's background, explained with {response['method']} "
    f"in the {response['output']} space"
    + (f", every case toward {target!r}." if target is not None else ".")
)

importance, dependence, reasons, copy = st.tabs(
    ["Global importance", "Dependence", "Reason frequency", "Copy coverage"]
)
with importance:
    st.altair_chart(charts.render_global_importance(frame), width="stretch")
    st.altair_chart(charts.render_beeswarm(frame), width="stretch")

with dependence:
    players = list(dict.fromkeys(frame["feature"]))
    player_labels = dict(zip(frame["feature"], frame["label"], strict=True))
    feature = st.selectbox(
        "Feature", players, format_func=player_labels.__getitem__, key=f"model.{name}.feature"
    )
    st.altair_chart(charts.render_dependence(frame, feature), width="stretch")

with reasons:
    counts = population.reason_counts(explanations)
    if counts:
        st.altair_chart(charts.render_reason_frequency(counts), width="stretch")
    else:
        st.info("No case in the sample was given a reason.")
    groupable = [f for f in detail["features"] if f.get("type") in ("categorical", "binary")]
    groupable.sort(key=lambda f: not f.get("protected"))
    if groupable and counts:
        group_labels = {f["name"]: f.get("label") or f["name"] for f in groupable}
        group = st.selectbox(
            "By group of", list(group_labels), key=f"model.{name}.group",
            format_func=group_labels.__getitem__,
        )  # fmt: skip
        table = population.reasons_by_group(explanations, samples, group)
        heat = charts.render_reasons_by_group(table, group=group_labels[group])
        st.altair_chart(heat, width="stretch")
        st.dataframe(tables.table(table), hide_index=True)
    with st.expander("Decisions the service has recorded (audit report)"):
        try:
            report = api.model_report(name)
        except ClientError as exc:
            st.info(f"No report: {exc.message}")
        else:
            st.write(
                f"{report['n_decisions']} decisions in {report['n_records']} records; "
                f"outcomes {report['outcomes']}."
            )
            st.dataframe(
                pd.DataFrame([{"code": c, "decisions": n} for c, n in report["reasons"].items()]),
                hide_index=True,
            )

with copy:
    labels = {f["name"]: f.get("label") or f["name"] for f in detail["features"]}
    labels |= (detail.get("card") or {}).get("groups") or {}
    summary, gaps = coverage.coverage_tables(
        api.copy_coverage(name), labels, coverage.reached_in(explanations)
    )
    st.dataframe(pd.DataFrame(summary), hide_index=True)
    st.caption(
        "The service's copy-coverage report. A gap matters when the feature reached the "
        "reasons of a case in this sample. Protected features are never shown, so they "
        "need no copy."
    )
    if gaps:
        st.dataframe(pd.DataFrame(gaps), hide_index=True)
    seen = coverage.observed_fallbacks(explanations)
    st.write(
        f"In this sample ({locale}): {seen['reasons']} reasons shown, {seen['untranslated']} "
        f"fell back to English, {seen['generic_copy']} used generic wording."
    )
