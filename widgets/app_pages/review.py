"""Review: draw a sample of recorded decisions, read each record, annotate it, export.

Samples, records, replays, verdicts and exports are the service's own (``/v1/samples``,
``/v1/explanations``, ``/v1/exports``); this page only puts them in front of a reviewer.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from widgets import charts, records
from widgets.client import ClientError
from widgets.session import client, fetch

ANY = "(any)"
STRATA = ["outcome", "model_version", "method", "confidence_bucket"]
TRISTATE = {ANY: None, "yes": True, "no": False}

api = client()
st.title("Review")
st.caption(
    "Draw a reproducible sample of recorded decisions (stratified, plus a risk-weighted "
    "oversample), open each record, replay it, record a verdict, and export the sample."
)

# 1. The sample
models = fetch(("models",), api.list_models, what="list the models")
words = fetch(("vocabulary",), api.vocabulary, what="read the API's vocabulary")
names = [m["name"] for m in models]
model = st.selectbox("Model", [ANY, *names], key="review.model")
classes: list[str] = []
if model != ANY:
    classes = (
        fetch(("model", model), lambda: api.get_model(model), what="read the model").get("classes")
        or []
    )
with st.form("review.draw"):
    row = st.columns(5)
    outcome = row[0].selectbox("Outcome", [ANY, *classes], key="review.outcome")
    quality_failed = row[1].selectbox("Quality gate failed", list(TRISTATE), key="review.qf")
    proxy_flag = row[2].selectbox("Proxy among reasons", list(TRISTATE), key="review.proxy")
    size = row[3].number_input("Size", min_value=1, max_value=10_000, value=20, key="review.size")
    seed = row[4].number_input("Seed", min_value=0, value=0, key="review.seed")
    strata = st.multiselect("Strata", STRATA, default=STRATA[:2], key="review.strata")
    wanted_reference = st.text_input(
        "Reference (exact)", key="review.reference", help="The caller's business reference."
    )
    drawn = st.form_submit_button("Draw sample", type="primary")
if drawn:
    st.session_state.pop("review.export", None)
    filters = {
        "model": None if model == ANY else model,
        "outcome": None if outcome == ANY else outcome,
        "quality_failed": TRISTATE[quality_failed],
        "proxy_flag": TRISTATE[proxy_flag],
        "reference": wanted_reference.strip() or None,
    }
    st.session_state["review.sample"] = fetch(
        None,
        lambda: api.draw_sample(filters=filters, size=int(size), seed=int(seed), strata=strata),
        what="draw the sample",
    )

sample = st.session_state.get("review.sample")
if sample is None:
    st.info("Draw a sample to start reviewing.")
    st.stop()
sample_id: str = sample["id"]

st.subheader(f"Sample {sample_id}")
st.caption(
    f"{len(sample['items'])} items from {sample['frame_size']} decisions; seed {sample['seed']}; "
    f"frame SHA-256 `{sample['frame_sha256'][:16]}…`, "
    f"items SHA-256 `{sample['items_sha256'][:16]}…`."
)
if not sample["items"]:
    st.warning("No recorded decision matches these filters.")
    st.stop()
narrow = st.columns(4)
part = narrow[0].selectbox("Part", [ANY, "stratified", "risk"], key="review.part")
risk = narrow[1].selectbox("Risk flag", [ANY, *words["risk_flags"]], key="review.risk")
outcomes = sorted({r["outcome"] for r in records.sample_rows(sample["items"])})
shown_outcome = narrow[2].selectbox("Outcome shown", [ANY, *outcomes], key="review.shown_outcome")
search = narrow[3].text_input("Reference contains", key="review.search")
items = records.filter_items(
    sample["items"],
    part=None if part == ANY else part,
    risk=None if risk == ANY else risk,
    outcome=None if shown_outcome == ANY else shown_outcome,
    reference=search.strip() or None,
)
st.dataframe(pd.DataFrame(records.sample_rows(items)), hide_index=True)
if not items:
    st.info("No item matches this filter.")
    st.stop()

# 2. One record
index = st.selectbox(
    "Open record",
    range(len(items)),
    format_func=lambda i: records.item_label(items[i]),
    key="review.item",
)
item = items[min(index, len(items) - 1)]
record_id, position = item["record_id"], item["position"]
record = fetch(
    ("record", record_id), lambda: api.get_explanation(record_id), what="read the record"
)
view = records.record_view(record, position)
st.subheader(view.title)
st.markdown(
    f"**Outcome:** {view.outcome} · sensitive values: {view.sealed}"
    + (f" · reference: {view.reference}" if view.reference else "")
)
shown, attributions, inputs, provenance, replay = st.tabs(
    ["Reasons as shown", "Attributions", "Input", "Provenance", "Replay"]
)
with shown:
    st.markdown(
        "\n".join(f"{i}. {text}" for i, text in enumerate(view.reasons, 1)) or "No reasons."
    )
    with st.expander("The whole text the person was given"):
        st.text(view.narrative)
    if view.page is not None:
        with st.expander("The page as sent (HTML)"):
            st.code(view.page, language="html")
attributions.altair_chart(charts.render_sorted_bar(view.explanation), width="stretch")
inputs.dataframe(pd.DataFrame(view.inputs), hide_index=True)
provenance.dataframe(pd.DataFrame(view.provenance), hide_index=True)
with replay:
    if st.button("Replay this record", key="review.replay"):
        try:
            result = api.replay(record_id)
        except ClientError as exc:
            st.session_state["review.replayed"] = (record_id, None, exc.message)
        else:
            st.session_state["review.replayed"] = (record_id, result, None)
    replayed = st.session_state.get("review.replayed")
    if replayed and replayed[0] == record_id:
        _, result, error = replayed
        if error is not None:
            st.warning(f"Cannot replay: {error}")
        else:
            st.write(records.replay_headline(result))
            if result["differences"]:
                st.dataframe(pd.DataFrame(records.replay_rows(result)), hide_index=True)

# 3. Verdicts
st.subheader("Verdicts")
st.caption(
    "Verdicts and sign-offs are made as the API key this workspace uses: the service takes "
    "the reviewer from the key. A sign-off needs another reviewer's key than the verdict's."
)
with st.form("review.annotate", clear_on_submit=True):
    verdict = st.selectbox(
        "Verdict",
        words["verdicts"],
        format_func=lambda v: v.replace("_", " "),
        key="review.verdict",
    )
    note = st.text_area("Note", key="review.note")
    saved = st.form_submit_button("Save verdict")
if saved:
    annotation = fetch(
        None,
        lambda: api.annotate(record_id, verdict=verdict, note=note, position=position),
        what="save the verdict",
    )
    st.success(
        f"Verdict '{annotation['verdict']}' saved by {annotation['reviewer']} "
        f"for record {record_id[:8]}."
    )
if (signed := st.session_state.pop("review.signed", None)) is not None:
    st.success(signed)
verdicts = fetch(None, lambda: api.annotations(record_id), what="list the verdicts")
if verdicts:
    signers = {a["id"]: a["reviewer"] for a in verdicts if a["kind"] == "signoff"}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": a["created_at"],
                    "kind": a["kind"],
                    "verdict": a["verdict"],
                    "reviewer": a["reviewer"],
                    "note": a["note"],
                    "case": a["position"],
                    "current": a["current"],
                    "signed off by": signers.get(a.get("signed_off_by") or "", ""),
                }
                for a in verdicts
            ]
        ),
        hide_index=True,
    )
    open_verdicts = [
        a for a in verdicts if a["kind"] == "verdict" and a["current"] and not a["signed_off_by"]
    ]
    if open_verdicts:
        labels = {
            a["id"]: f"{a['verdict']} by {a['reviewer']} ({a['created_at'][:16]})"
            for a in open_verdicts
        }
        with st.form("review.signoff", clear_on_submit=True):
            # Options are verdict ids: a verdict signed off meanwhile is no longer offered.
            chosen = st.selectbox(
                "Verdict to sign off", list(labels), format_func=labels.__getitem__
            )
            signoff_note = st.text_input("Sign-off note", key="review.signoff_note")
            signing = st.form_submit_button("Sign off")
        if signing and chosen is not None:
            try:
                done = api.sign_off(record_id, chosen, note=signoff_note)
            except ClientError as exc:
                st.error(f"Cannot sign off: {exc.message}")
            else:
                st.session_state["review.signed"] = f"Signed off by {done['reviewer']}."
                st.rerun()
else:
    st.caption("No verdict on this record yet.")

# 4. Export
st.subheader("Export")
cells = st.columns([2, 2, 3])
export_format = cells[0].selectbox(
    "Format",
    ["zip", "jsonl", "csv"],
    key="review.format",
    help="zip: records, listing, case packets and a manifest of hashes.",
)
if cells[1].button("Prepare export", key="review.prepare"):
    st.session_state["review.export"] = fetch(
        None,
        lambda: api.export(sample_id=sample_id, format=export_format),  # type: ignore[arg-type]
        what="export the sample",
    )
export = st.session_state.get("review.export")
if export is not None:
    cells[2].download_button(
        f"Download {export.filename}",
        export.content,
        file_name=export.filename,
        mime=export.media_type,
        key="review.download",
    )
    st.caption(f"{len(export.content):,} bytes; SHA-256 `{export.sha256}` (as the API stamped it).")
