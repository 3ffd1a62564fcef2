"""Preview: what an end user sees for a case (the API's own HTML), beside the analyst's view.

Pick a model and a sample case (or edit the values: every edit re-explains at once),
choose persona, locale and channel. The left column embeds the page the API serves
for exactly this request (``format: html``), byte for byte; the right shows the same
explanation for an analyst: quality badges, waterfall and sorted bars, the reasons.

The state lives in the URL (``widgets.links``), so the address bar is a link to this
very preview; below the views, the same request as curl and Python and an embed
snippet (``widgets.snippets``). Method, seed and quality figures wait in an expander.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from widgets import cases, charts, links, snippets, tables
from widgets.badges import gate_badges, quality_badges, quality_rows
from widgets.session import api_settings, client, fetch, show_badges

# Whose view of the case the left column shows.
HEADINGS = {
    "end_user": "What the end user sees",
    "analyst": "What an analyst is shown",
    "audit": "What an auditor is shown",
}
# Channel -> the widget variant the API renders (None: the plain-text narrative).
CHANNELS: dict[str, str | None] = {
    "Web page: full notice": "notice",
    "In app: reasons only": "reasons",
    "In app: chart": "chart",
    "In app: what could change": "counterfactuals",
    "Email or letter: plain text": None,
}
# Channel -> its name in a link.
CHANNEL_NAMES = {label: widget or "text" for label, widget in CHANNELS.items()}
HEIGHTS = {"notice": 1100, "reasons": 460, "chart": 640, "counterfactuals": 460}

api = client()
st.title("Preview")
st.caption(
    "What an end user will see for one case, exactly as the API serves it, next to what an "
    "analyst sees. Edit any value and the case is explained again (what-if)."
)

models = fetch(("models",), api.list_models, what="list the models")
words = fetch(("vocabulary",), api.vocabulary, what="read the API's vocabulary")
# Persona and locale choices, with the words the pickers show: the API's, not a copy.
PERSONAS = {p: p.replace("_", " ").capitalize() for p in words["personas"]}
LOCALES = {code: words["locale_names"].get(code, code) for code in words["locales"]}
names = [m["name"] for m in models]
link = links.from_query(
    st.query_params.to_dict(),
    models=names,
    personas=list(PERSONAS),
    locales=list(LOCALES),
    channels=list(CHANNEL_NAMES.values()),
)
# The URL is read when the page opens (a shared link); from then on the page writes it.
opening = "preview.opened" not in st.session_state
st.session_state["preview.opened"] = True
if opening:
    channel_by_name = {n: label for label, n in CHANNEL_NAMES.items()}
    for key, value in (
        ("preview.model", link.model),
        ("preview.persona", link.persona),
        ("preview.locale", link.locale),
        ("preview.channel", channel_by_name.get(link.channel or "")),
    ):
        if value is not None:
            st.session_state[key] = value
if names:
    st.session_state.setdefault("preview.model", names[cases.default_model(names)])

top = st.columns([2, 3])
name = top[0].selectbox("Model", names, key="preview.model")
detail = fetch(("model", name), lambda: api.get_model(name), what=f"read model {name}")
samples = fetch(("samples", name), lambda: api.samples(name, 20), what="load sample cases")
predictions = fetch(
    ("predict", name), lambda: api.predict(name, samples), what="score the sample cases"
)
labels = cases.case_labels(predictions, detail)
fields = cases.form_fields(detail)
case_key = f"preview.{name}.case"


def _field_key(field: cases.FormField) -> str:
    return f"preview.{name}.value.{field.name}"


def _widget_value(field: cases.FormField, value: Any) -> Any:
    """A sample value as its input widget holds it (clamped to the card's range)."""
    if field.kind == "choice":
        return value if value in field.options else field.options[0]
    if value is None:
        return field.default()
    value = cases.coerce(field, value)
    if field.kind in ("integer", "number"):
        if field.low is not None:
            value = max(value, type(value)(field.low))
        if field.high is not None:
            value = min(value, type(value)(field.high))
    return value


def _load_case() -> None:
    case = samples[st.session_state[case_key]]
    for field in fields:
        st.session_state[_field_key(field)] = _widget_value(field, case.get(field.name))


if case_key not in st.session_state:
    from_link = opening and link.model in (None, name)
    st.session_state[case_key] = (
        link.case if from_link and link.case is not None and link.case < len(samples) else 0
    )
    _load_case()
    for field in fields if from_link else []:
        edit = link.edits.get(field.name)
        value = None if edit is None else links.parse_value(field, edit)
        if value is not None:
            st.session_state[_field_key(field)] = _widget_value(field, value)
top[1].selectbox(
    "Case", range(len(samples)), format_func=lambda i: labels[i], key=case_key, on_change=_load_case
)

row = st.columns([3, 2, 3, 2])
persona = row[0].radio(
    "Persona",
    list(PERSONAS),
    format_func=PERSONAS.__getitem__,
    horizontal=True,
    key="preview.persona",
)
locale = row[1].radio(
    "Locale",
    list(LOCALES),
    format_func=LOCALES.__getitem__,
    horizontal=True,
    key="preview.locale",
)
channel = row[2].selectbox("Channel", list(CHANNELS), key="preview.channel")
n_counterfactuals = row[3].number_input(
    "Counterfactuals", min_value=0, max_value=3, value=2, step=1, key="preview.counterfactuals"
)

with st.expander("Case values: change any to re-explain (what-if)", expanded=False):
    columns = st.columns(3)
    for i, field in enumerate(fields):
        where = columns[i % 3]
        key = _field_key(field)
        if field.kind == "choice":
            where.selectbox(field.label, field.options, key=key, help=field.help)
        elif field.kind == "flag":
            where.selectbox(
                field.label,
                [0, 1],
                format_func={0: "0 (no)", 1: "1 (yes)"}.__getitem__,
                key=key,
                help=field.help,
            )
        elif field.kind == "integer":
            where.number_input(
                field.label,
                step=1,
                key=key,
                help=field.help,
                min_value=None if field.low is None else int(field.low),
                max_value=None if field.high is None else int(field.high),
            )
        else:
            where.number_input(
                field.label, key=key, help=field.help, min_value=field.low, max_value=field.high
            )

# The page's layout, top to bottom; filled once the case is explained.
outcome = st.container()
user_side, analyst_side = st.columns(2, gap="large")
share = st.container()
details = st.expander("Technical details: method, seed, quality figures, HTML source")
method = details.selectbox("Method", words["methods"], key="preview.method")

case_index = int(st.session_state[case_key])
instance = {f.name: cases.coerce(f, st.session_state[_field_key(f)]) for f in fields}
sample = {
    f.name: cases.coerce(f, _widget_value(f, samples[case_index].get(f.name))) for f in fields
}
query = links.to_query(
    model=name,
    case=case_index,
    persona=persona,
    locale=locale,
    channel=CHANNEL_NAMES[channel],
    edits={k: v for k, v in instance.items() if v != sample[k]},
)
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)

params: dict[str, Any] = {
    "method": method,
    "persona": persona,
    "locale": locale,
    "counterfactuals": int(n_counterfactuals),
}
request_key = (name, json.dumps(instance, sort_keys=True), tuple(sorted(params.items())))
response = fetch(
    ("explain", *request_key),
    lambda: api.explain(name, [instance], **params),
    what="explain the case",
)
explanation = response["explanations"][0]
outcome.metric("Predicted outcome", cases.outcome_text(explanation["prediction"], detail))
widget = CHANNELS[channel]

with user_side:
    st.subheader(HEADINGS.get(persona, f"What the {PERSONAS[persona].lower()} persona sees"))
    html = ""
    if widget is None:
        st.caption("The `narrative` string of the JSON response, as an email or letter carries it.")
        with st.container(border=True):
            st.text(explanation["narrative"])
    else:
        html = fetch(
            ("html", *request_key, widget),
            lambda: api.explain_html(name, instance, widget=widget, theme="light", **params),  # type: ignore[arg-type]
            what="render the end-user widget",
        )
        digest = hashlib.sha256(html.encode()).hexdigest()
        st.caption(
            f"The page the API serves for this request (`format: html`, `widget: {widget}`): "
            f"{len(html.encode()):,} bytes, SHA-256 `{digest[:16]}…`."
        )
        st.download_button(
            "Download the HTML",
            html,
            file_name=f"{name}-{widget}-{locale}.html",
            mime="text/html",
            icon=":material/download:",
        )
        # The served page itself, sized to its content (Streamlit measures an HTML string's
        # height): a fixed height clipped the full notice and padded the short variants.
        st.iframe(
            html, height="content", tab_index=0,
            alt=f"The end-user widget ({widget}) exactly as the API serves it",
        )  # fmt: skip

with analyst_side:
    st.subheader("Analyst view")
    show_badges(quality_badges(explanation, gates=False))
    waterfall, bars, reasons = st.tabs(["Waterfall", "Sorted bars", "Reasons"])
    waterfall.altair_chart(charts.render_waterfall(explanation), width="stretch")
    bars.altair_chart(charts.render_sorted_bar(explanation), width="stretch")
    reason_rows = [
        {
            "code": r["code"],
            "as shown": r["text"],
            "contribution": r["contribution"],
            "direction": r["direction"],
            "flags": ", ".join(r.get("flags", [])),
        }
        for r in explanation["reasons"]
    ]
    reasons.dataframe(tables.table(reason_rows), hide_index=True)
    if explanation.get("counterfactuals"):
        reasons.dataframe(
            tables.table(
                [{"change": c["text"], "cost": c["cost"]} for c in explanation["counterfactuals"]]
            ),
            hide_index=True,
        )

with share:
    st.subheader("Share this preview")
    st.caption(
        "The address in your browser's address bar is a link to this preview as it is now: "
        "model, case, persona, language, channel and your edits."
    )
    body = snippets.explain_body(
        instance,
        method=method,
        persona=persona,
        locale=locale,
        counterfactuals=int(n_counterfactuals),
        widget=widget,
    )
    with_key = api_settings()[1] is not None
    as_curl, as_python, as_embed = st.tabs(
        ["Copy as API request: curl", "Copy as API request: Python", "Embed the widget"]
    )
    as_curl.code(snippets.curl(api.base_url, name, body, with_key=with_key), language="bash")
    as_python.code(snippets.python(api.base_url, name, body, with_key=with_key), language="python")
    if widget is None:
        as_embed.caption(
            "The plain-text channel has no page to embed: send the response's `narrative`."
        )
    else:
        as_embed.caption(
            "Paste into any HTML page: the widget as served for this case, in an `<iframe>`. "
            "For live cases, request `format: html` from your server (the curl above) and "
            "serve the page as it comes."
        )
        title = f"{PERSONAS[persona]} explanation ({widget})"
        as_embed.code(
            snippets.embed(html, title=title, height=HEIGHTS[widget]),
            language="html",
            wrap_lines=True,
        )

with details:
    st.markdown(
        f"Explained with **{response['method']}** in the **{response['output']}** space; "
        f"seed {response['provenance']['seed']}; audit record `{response['id']}`."
    )
    show_badges(gate_badges(explanation))
    st.dataframe(tables.table(quality_rows(explanation)), hide_index=True)
    if html:
        st.caption("HTML source, as served")
        st.code(html, language="html", wrap_lines=True)
