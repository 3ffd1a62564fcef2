"""Compare: one case explained by each method and seed, how far they agree, and their quality."""

from __future__ import annotations

import streamlit as st

from widgets import cases, charts, comparison, tables
from widgets.session import client, fetch

api = client()
st.title("Compare methods")
st.caption(
    "The same case explained by each method (sampling methods under several seeds). "
    "Agreement with a reference run: top-k overlap, sign agreement among the top k, and rank "
    "correlation of all contributions (Spearman, Kendall). Each run keeps its own quality "
    "figures; a refusal is shown in the API's words."
)

models = fetch(("models",), api.list_models, what="list the models")
words = fetch(("vocabulary",), api.vocabulary, what="read the API's vocabulary")
top = st.columns(2)
names = [m["name"] for m in models]
name = top[0].selectbox("Model", names, index=cases.default_model(names), key="compare.model")
detail = fetch(("model", name), lambda: api.get_model(name), what=f"read model {name}")
samples = fetch(("samples", name), lambda: api.samples(name, 20), what="load sample cases")
predictions = fetch(
    ("predict", name), lambda: api.predict(name, samples), what="score the sample cases"
)
labels = cases.case_labels(predictions, detail)
case = top[1].selectbox(
    "Case", range(len(samples)), format_func=lambda i: labels[i], key=f"compare.{name}.case"
)

explainers: dict[str, str] = detail["explainers"]
available = [m for m, status in explainers.items() if status == "available"]
for method, status in explainers.items():
    if status != "available":
        st.caption(f"{method}: {status}")

with st.form("compare.form"):
    row = st.columns([4, 2, 2, 2])
    methods = row[0].multiselect("Methods", available, default=available, key="compare.methods")
    seeds_text = row[1].text_input(
        "Seeds", value="0, 1", key="compare.seeds", help="For sampling methods."
    )
    output = row[2].radio(
        "Output space",
        words["output_spaces"],
        key="compare.output",
        help="raw: the margin, where tree SHAP is exact for any number of features.",
    )
    n_players = len(detail["players"])
    k = int(
        row[3].number_input(
            "Top k", min_value=1, max_value=n_players, value=min(5, n_players), key="compare.k"
        )
    )
    submitted = st.form_submit_button("Compare", type="primary")

if submitted:
    try:
        seeds = comparison.parse_seeds(seeds_text)
    except ValueError as exc:
        st.error(str(exc))
        st.stop()
    with st.spinner("Explaining the case with each method…"):
        runs = comparison.run_comparison(api, name, samples[case], methods, seeds, output=output)
    st.session_state["compare.result"] = (name, case, k, runs)

result = st.session_state.get("compare.result")
if result is None or result[:2] != (name, case):
    st.info("Choose methods and seeds, then press Compare.")
    st.stop()
_, _, k, runs = result
good = [r for r in runs if r.ok]
if not good:
    st.error("No method could explain this case; see the refusals below.")
    st.dataframe(tables.table(comparison.quality_rows(runs)), hide_index=True)
    st.stop()

default = comparison.pick_reference(runs)
names = [r.name for r in good]
reference_name = st.selectbox(
    "Reference run",
    names,
    index=names.index(default.name) if default else 0,
    key="compare.reference",
)
reference = next(r for r in good if r.name == reference_name)
labels_by_feature = {a: a for a in reference.attributions}
labels_by_feature.update({f["name"]: f.get("label") or f["name"] for f in detail["features"]})

st.altair_chart(
    charts.render_method_comparison(
        {r.name: r.attributions for r in [reference, *[g for g in good if g is not reference]]},
        labels=labels_by_feature,
    ),
    width="stretch",
)
st.subheader(f"Agreement with {reference.name}")
st.dataframe(tables.table(comparison.agreement_rows(runs, reference, k)), hide_index=True)
st.subheader("Stability across seeds")
stability = comparison.stability_rows(runs, k)
if stability:
    st.dataframe(tables.table(stability), hide_index=True)
else:
    st.caption("Give two or more seeds to measure how stable each sampling method is.")
st.subheader("Each run's own quality figures")
st.dataframe(tables.table(comparison.quality_rows(runs)), hide_index=True)
