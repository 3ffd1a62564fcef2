"""The preview page: the API's own widget HTML beside the analyst view; what-if re-explains."""

from __future__ import annotations

import ast
import html
import json
import re
import shlex
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.widgets.app_pages.conftest import ENTRYPOINT, OpenPage
from tests.widgets.app_pages.fake_api import CASES, FakeApi
from widgets.session import CLIENT_KEY

PAGE = "app_pages/preview.py"


def _embedded(at: AppTest) -> str:
    (frame,) = at.get("iframe")
    # The served page itself (srcdoc), so that Streamlit can size the frame to it.
    assert not frame.proto.src
    srcdoc: str = frame.proto.srcdoc
    return srcdoc


def _last_explain(fake: FakeApi, *, html: bool) -> dict[str, Any]:
    bodies = [
        b
        for m, p, b in fake.requests
        if p == "/v1/models/loan/explain" and b is not None and (b.get("format") == "html") == html
    ]
    return bodies[-1]


def _specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def test_the_widget_is_exactly_the_html_the_api_served(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    assert _embedded(at) == fake.html_served[-1]
    body = _last_explain(fake, html=True)
    assert body["instances"] == [CASES[0]]
    assert (body["persona"], body["locale"], body["widget"]) == ("end_user", "en", "notice")
    assert 'data-persona="end_user"' in _embedded(at)
    (frame,) = at.get("iframe")
    assert frame.proto.alt == "The end-user widget (notice) exactly as the API serves it"
    assert at.metric[0].value == "declined (adverse outcome), 100%"


def test_a_declined_case_in_german_then_as_an_analyst(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    case = at.selectbox(key="preview.loan.case")
    assert case.options[2].startswith("Case 3: declined (adverse outcome)")
    case.select(2).run()
    at.radio(key="preview.locale").set_value("de").run()
    html = _embedded(at)
    assert "Zu Ihrem Kreditantrag" in html
    assert html.startswith('<!doctype html><html lang="de">')
    assert _last_explain(fake, html=True)["instances"] == [CASES[2]]

    at.radio(key="preview.persona").set_value("analyst").run()
    html = _embedded(at)
    assert 'data-persona="analyst"' in html
    assert "Erklärung für Analysten" in html
    assert html == fake.html_served[-1]


def test_editing_a_value_explains_the_case_again(open_page: OpenPage, fake: FakeApi) -> None:
    at = open_page(PAGE)
    at.selectbox(key="preview.loan.case").select(2).run()
    assert at.metric[0].value.startswith("declined")
    income = at.number_input(key="preview.loan.value.income")
    assert (income.min, income.max) == (0.0, 500.0)
    income.set_value(400.0).run()
    assert at.metric[0].value.startswith("approved")
    assert _last_explain(fake, html=False)["instances"][0]["income"] == 400.0
    employment = at.selectbox(key="preview.loan.value.employment")
    assert employment.options == ["unemployed", "part_time", "full_time"]
    debt = at.number_input(key="preview.loan.value.debt")
    assert (debt.value, debt.step) == (60, 1)


def test_the_analyst_view_has_badges_and_charts_with_text_alternatives(
    open_page: OpenPage,
) -> None:
    at = open_page(PAGE)
    badges = " ".join(m.value for m in at.markdown)
    assert "Confidence: high" in badges
    assert "Additivity residual 0 ≤ 0.01: passed" in badges
    specs = _specs(at)
    assert [s["title"] for s in specs] == [
        "Waterfall: from the average case to this case",
        "Contributions, sorted by size",
    ]
    assert specs[0]["description"].startswith("Waterfall chart of how the features moved")
    assert "Outstanding debt" in specs[1]["description"]


def test_the_plain_text_channel_shows_the_narrative(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    at.selectbox(key="preview.channel").set_value("Email or letter: plain text").run()
    assert not at.get("iframe")
    assert at.text[0].value.startswith("About your credit application\nOutcome: declined")


def test_an_api_error_is_shown_in_the_apis_words(open_page: OpenPage, fake: FakeApi) -> None:
    fake.fail("/v1/models/loan/explain", 503, "the audit store is unavailable")
    at = open_page(PAGE)
    assert [e.value for e in at.error] == [
        "Could not explain the case: the audit store is unavailable"
    ]


# Issue 16, defect 9: the Preview state lives in the URL, and the request can be shared.


def _open_link(fake: FakeApi, query: dict[str, str]) -> AppTest:
    """Open the workspace at a shared link (its query parameters) with the fake API."""
    at = AppTest.from_file(str(ENTRYPOINT), default_timeout=30)
    at.session_state[CLIENT_KEY] = fake.client()
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _nodes(block: Any, *, into_expanders: bool = True) -> list[Any]:
    """Every element under ``block``, depth first; optionally not those inside expanders."""
    found = []
    for child in getattr(block, "children", {}).values():
        if child.type == "expander" and not into_expanders:
            continue
        found.append(child)
        found += _nodes(child, into_expanders=into_expanders)
    return found


def test_the_preview_state_is_written_to_the_url(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    assert at.query_params == {
        "model": "loan",
        "case": "1",
        "persona": "end_user",
        "locale": "en",
        "channel": "notice",
    }
    at.selectbox(key="preview.loan.case").select(2).run()
    at.radio(key="preview.locale").set_value("de").run()
    at.selectbox(key="preview.channel").set_value("In app: reasons only").run()
    at.number_input(key="preview.loan.value.income").set_value(400.0).run()
    at.selectbox(key="preview.loan.value.employment").set_value("full_time").run()
    assert at.query_params == {
        "model": "loan",
        "case": "3",
        "persona": "end_user",
        "locale": "de",
        "channel": "reasons",
        "edit.income": "400",
        "edit.employment": "full_time",
    }
    # Back to the sample's own value: no longer an edit.
    at.number_input(key="preview.loan.value.income").set_value(90.0).run()
    assert "edit.income" not in at.query_params


def test_a_shared_link_opens_the_same_preview(fake: FakeApi) -> None:
    at = _open_link(
        fake,
        {
            "model": "loan",
            "case": "3",
            "persona": "analyst",
            "locale": "de",
            "channel": "reasons",
            "edit.income": "400",
            "edit.employment": "full_time",
            "edit.debt": "9999",  # out of the card's range: dropped
            "edit.nope": "1",  # no such feature: dropped
        },
    )
    assert at.selectbox(key="preview.loan.case").value == 2
    assert at.radio(key="preview.persona").value == "analyst"
    assert at.radio(key="preview.locale").value == "de"
    assert at.selectbox(key="preview.channel").value == "In app: reasons only"
    body = _last_explain(fake, html=True)
    assert body["instances"] == [CASES[2] | {"income": 400.0, "employment": "full_time"}]
    assert (body["persona"], body["locale"], body["widget"]) == ("analyst", "de", "reasons")
    assert "Erklärung für Analysten" in _embedded(at)
    assert at.query_params["edit.income"] == "400"
    assert "edit.debt" not in at.query_params


def test_a_stale_link_still_opens_the_page(fake: FakeApi) -> None:
    at = _open_link(fake, {"model": "gone", "case": "99", "persona": "x", "channel": "fax"})
    assert at.selectbox(key="preview.model").value == "loan"
    assert at.selectbox(key="preview.loan.case").value == 0
    assert at.query_params["persona"] == "end_user"


def test_the_request_can_be_copied_as_curl_or_python_and_embedded(
    open_page: OpenPage, fake: FakeApi
) -> None:
    at = open_page(PAGE)
    at.selectbox(key="preview.loan.case").select(2).run()
    code = {c.language: c.value for c in at.code if c.language in ("bash", "python")}
    served = _last_explain(fake, html=True)
    # The snippet is the product app's call: a decision, not the workspace's own preview.
    assert served["purpose"] == "preview"
    sent = {k: v for k, v in served.items() if k not in ("options", "purpose")}

    words = shlex.split(code["bash"].replace("\\\n", " "))
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    assert words[4] == "http://clarion.test/v1/models/loan/explain"
    assert json.loads(words[words.index("--data") + 1]) == sent
    assert "Authorization" not in code["bash"]  # the workspace has no key: none is needed

    tree = ast.parse(code["python"])
    assigned = next(n for n in tree.body if isinstance(n, ast.Assign))
    assert ast.literal_eval(assigned.value) == sent

    embed = next(c.value for c in at.code if c.value.startswith("<iframe"))
    srcdoc = re.search(r'srcdoc="([^"]*)"', embed)
    assert srcdoc is not None
    assert html.unescape(srcdoc.group(1)) == fake.html_served[-1]


def test_download_sits_in_view_and_jargon_waits_in_an_expander(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    first_screen = _nodes(at.main, into_expanders=False)
    assert "download_button" in [n.type for n in first_screen]
    text = " ".join(str(getattr(n, "value", "")) for n in first_screen if n.type == "markdown")
    for word in ("seed", "Additivity", "Sampling error", "tree_shap"):
        assert word not in text
    assert "Method" not in [getattr(n, "label", None) for n in first_screen]

    (details,) = [e for e in at.expander if e.label.startswith("Technical details")]
    inside = _nodes(details)
    assert "preview.method" in [getattr(n, "key", None) for n in inside]
    seen = " ".join(str(getattr(n, "value", "")) for n in inside if n.type == "markdown")
    assert "seed 0" in seen
    assert "Additivity residual 0 ≤ 0.01: passed" in seen


def test_the_column_heading_follows_the_persona(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    assert "What the end user sees" in [h.value for h in at.subheader]
    at.radio(key="preview.persona").set_value("audit").run()
    headings = [h.value for h in at.subheader]
    assert "What the end user sees" not in headings
    assert "What an auditor is shown" in headings


def test_the_credit_demo_is_the_default_model_on_every_page(fake: FakeApi) -> None:
    fake.names = ["breast_cancer", "german_credit", "loan"]
    at = _open_link(fake, {})
    assert at.selectbox(key="preview.model").value == "german_credit"
    assert _explained_models(fake) == {"german_credit"}
    for page, key in (
        ("app_pages/compare.py", "compare.model"),
        ("app_pages/model.py", "model.model"),
    ):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key=key).value == "german_credit"
    fake.names = ["breast_cancer", "loan"]
    assert _open_link(fake, {}).selectbox(key="preview.model").value == "breast_cancer"


def _explained_models(fake: FakeApi) -> set[str]:
    return {p.split("/")[3] for _, p, _ in fake.requests if p.endswith("/explain")}
