"""The preview page: the API's own widget HTML beside the analyst view; what-if re-explains."""

from __future__ import annotations

import base64
import json
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.widgets.app_pages.conftest import OpenPage
from tests.widgets.app_pages.fake_api import CASES, FakeApi

PAGE = "app_pages/preview.py"


def _embedded(at: AppTest) -> str:
    (frame,) = at.get("iframe")
    src: str = frame.proto.src
    prefix, _, payload = src.partition("base64,")
    assert prefix.startswith("data:text/html")
    return base64.b64decode(payload).decode()


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
