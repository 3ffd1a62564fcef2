"""Two journeys through the workspace in headless Chromium, against a real service.

A designer previews a declined credit case in German and switches persona; a reviewer, on
a fresh install (no encryption key configured), draws a sample, reads and replays a
record, records a verdict, signs off another reviewer's and downloads the export.
Each step leaves a screenshot in ``artifacts/screenshots/``. Waits are bounded (45 s per
step, see the ``page`` fixture) and every expectation names what it waited for.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser


def _expect(locator: Any) -> Any:
    from playwright.sync_api import expect

    return expect(locator)


def settle(page: Any) -> None:
    """Wait until the app is connected, its script has finished and nothing is stale."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    _expect(page.locator("[data-testid='stSkeleton']")).to_have_count(0)
    _expect(page.locator("[data-stale='true']")).to_have_count(0)


def shot(page: Any, name: str, *, show: Any = None) -> None:
    """A screenshot of the viewport, scrolled to ``show`` (a locator) if given."""
    settle(page)
    if show is not None:
        show.evaluate("el => el.scrollIntoView({block: 'start'})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def choose(page: Any, label: str, option: str | re.Pattern[str]) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).first.click()


def _first_declined(api_url: str) -> tuple[int, dict[str, Any]]:
    base = f"{api_url}/v1/models/german_credit"
    cases = httpx.get(f"{base}/samples", params={"limit": 20}).json()["instances"]
    predictions = httpx.post(f"{base}/predict", json={"instances": cases}).json()["predictions"]
    index = next(i for i, p in enumerate(predictions) if p["label"] == "bad")
    return index, cases[index]


def test_a_designer_previews_a_declined_credit_case_in_german(
    page: Any, ui_url: str, api_url: str
) -> None:
    index, case = _first_declined(api_url)
    page.goto(ui_url)
    _expect(page.get_by_role("heading", name="Preview", exact=True)).to_be_visible()
    shot(page, "designer-01-preview")

    choose(page, "Model", "german_credit")
    # The case list follows the model only once the page has run again: wait for it.
    case_box = page.get_by_role("combobox", name="Case", exact=True)
    _expect(case_box).to_have_value(re.compile(r"^Case 1: (bad|good) "))
    choose(page, "Case", re.compile(rf"^Case {index + 1}: bad \(adverse outcome\)"))
    frame = page.frame_locator("iframe[title^='The end-user widget']")
    widget = frame.locator("article.notice")
    _expect(page.get_by_test_id("stMetricValue").first).to_contain_text("bad (adverse outcome)")
    _expect(widget).to_have_attribute("lang", "en")
    _expect(widget).to_have_attribute("data-persona", "end_user")
    shot(page, "designer-02-declined-case-english")

    # The locale by keyboard: focus the chosen radio button, move with an arrow key.
    page.get_by_role("radio", name="English", exact=True).focus()
    page.keyboard.press("ArrowRight")
    _expect(page.get_by_role("radio", name="Deutsch", exact=True)).to_be_checked()
    _expect(widget).to_have_attribute("lang", "de")
    _expect(widget.locator("h1")).to_have_text("Zu Ihrem Kreditantrag")
    _expect(widget.get_by_text("Hauptgründe für dieses Ergebnis")).to_be_visible()
    # Exactly the page the API serves to product apps for this request, byte for byte.
    body = {"instances": [case], "method": "auto", "persona": "end_user", "locale": "de",
            "counterfactuals": 2, "options": {}, "format": "html", "widget": "notice",
            "theme": "light"}  # fmt: skip
    served = httpx.post(f"{api_url}/v1/models/german_credit/explain", json=body, timeout=60)
    digest = hashlib.sha256(served.content).hexdigest()
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="SHA-256")
    _expect(caption).to_contain_text(f"{len(served.content):,} bytes, SHA-256 {digest[:16]}")
    chart = page.locator("[role='graphics-document']").first
    _expect(chart).to_have_attribute("aria-label", re.compile(r"^Waterfall chart of how"))
    shot(page, "designer-03-german")

    page.get_by_text("Analyst", exact=True).click()
    _expect(widget).to_have_attribute("data-persona", "analyst")
    _expect(widget.locator("h1")).not_to_have_text("Zu Ihrem Kreditantrag")
    _expect(widget.locator("h1")).to_contain_text("Analyseansicht")
    shot(page, "designer-04-analyst-german")


def test_a_reviewer_draws_a_sample_annotates_signs_off_and_exports(
    page: Any, fresh_install: dict[str, str]
) -> None:
    """On a fresh install (no encryption key configured), as bob: replay identically, read
    what the customer was told and the reference, sign off alice's verdict (never his own),
    export; preview traffic stays out of the sample."""
    api_url, ui_url = fresh_install["api_url"], fresh_install["ui_url"]
    as_app = {"Authorization": f"Bearer {fresh_install['app']}"}
    as_alice = {"Authorization": f"Bearer {fresh_install['alice']}"}
    base = f"{api_url}/v1/models/german_credit"
    cases = httpx.get(f"{base}/samples", params={"limit": 6}, headers=as_app).json()["instances"]
    for i, case in enumerate(cases):
        body = {"instances": [case], "reference": f"APP-{i:04d}"}
        explained = httpx.post(f"{base}/explain", json=body, headers=as_app, timeout=60)
        assert explained.status_code == 200, explained.text
    preview = httpx.post(
        f"{base}/explain",
        json={"instances": cases[:1], "purpose": "preview"},
        headers=as_app,
        timeout=60,
    ).json()["id"]

    # Straight to the Review page: this workspace's key is a reviewer's, not an app's.
    page.goto(f"{ui_url}/review")
    settle(page)
    _expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible(timeout=45_000)
    choose(page, "Model", "german_credit")
    # The outcomes offered follow the model once the page has run again: wait for that.
    page.get_by_role("combobox", name="Outcome", exact=True).click()
    _expect(page.get_by_role("option", name="bad", exact=True)).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Draw sample").click()
    sample = page.get_by_role("heading", name=re.compile(r"^Sample \w+$"))
    _expect(sample).to_be_visible()
    record = page.get_by_role("heading", name=re.compile(r"^Record \w+, case \d+$"))
    _expect(record).to_be_visible()
    record_id = re.fullmatch(r"Record (\w+), case \d+", record.inner_text().strip())
    assert record_id is not None
    _expect(page.get_by_text(re.compile(r"reference: APP-\d{4}"))).to_be_visible()
    shot(page, "reviewer-01-sample")
    shot(page, "reviewer-02-record", show=record)

    # What the customer was told, as they got it (sealed with the key the install made).
    page.get_by_text("The whole text the person was given").click()
    told = page.get_by_test_id("stText").first
    _expect(told).not_to_be_empty()
    _expect(told).not_to_have_text(re.compile(r"^(None|withheld.*)$"))

    # Alice gives a verdict through the API; the page shows it at its next run.
    alice = httpx.post(
        f"{api_url}/v1/explanations/{record_id[1]}/annotations",
        json={"verdict": "proxy", "note": "age drives this decline"},
        headers=as_alice,
    )
    assert alice.status_code == 201, alice.text
    assert alice.json()["reviewer"] == "alice"

    page.get_by_role("tab", name="Replay").click()
    page.get_by_role("button", name="Replay this record").click()
    replayed = page.get_by_text("Replay identical: every value")
    _expect(replayed).to_be_visible()
    shot(page, "reviewer-03-replayed", show=replayed)

    choose(page, "Verdict", "unclear wording")
    page.get_by_role("textbox", name="Note", exact=True).fill("The second reason reads badly.")
    page.get_by_role("button", name="Save verdict").click()
    _expect(page.get_by_text("Verdict 'unclear_wording' saved by bob")).to_be_visible()
    verdicts = page.get_by_role("heading", name="Verdicts", exact=True)
    shot(page, "reviewer-04-verdict", show=verdicts)

    # Four eyes: bob cannot sign off his own verdict, but can sign off alice's.
    choose(page, "Verdict to sign off", re.compile(r"^unclear_wording by bob"))
    page.get_by_role("button", name="Sign off").click()
    _expect(page.get_by_text(re.compile(r"^Cannot sign off: key \w+ \(bob\) gave"))).to_be_visible()
    choose(page, "Verdict to sign off", re.compile(r"^proxy by alice"))
    page.get_by_role("button", name="Sign off").click()
    signed = page.get_by_text("Signed off by bob.")
    _expect(signed).to_be_visible()
    shot(page, "reviewer-05-signed-off", show=verdicts)

    page.get_by_role("button", name="Prepare export").click()
    download_button = page.get_by_test_id("stDownloadButton").get_by_role("button")
    _expect(download_button).to_contain_text(re.compile(r"Download clarion-export-\w+\.zip"))
    with page.expect_download() as info:
        download_button.click()
    content = info.value.path().read_bytes()
    stamped = page.get_by_test_id("stCaptionContainer").filter(has_text="as the API stamped it")
    _expect(stamped).to_contain_text(hashlib.sha256(content).hexdigest())
    shot(page, "reviewer-06-exported", show=stamped)

    archive = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(archive.read("manifest.json"))
    for name, sha in manifest["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == sha, name
    listing = list(csv.DictReader(io.StringIO(archive.read("listing.csv").decode())))
    annotated = [row for row in listing if row["record_id"] == record_id[1]]
    assert annotated, f"record {record_id[1]} is not in the export"
    assert {"proxy", "unclear_wording"} <= set(annotated[0]["current_verdicts"].split(";"))
    assert annotated[0]["signed_off"] == "True"
    assert annotated[0]["reference"].startswith("APP-")
    assert preview not in {row["record_id"] for row in listing}
    packet = archive.read(f"cases/{record_id[1]}.html").decode()
    assert "by bob" in packet
    assert "Printed" in packet


# Issue 16: the designer's shared link, the sorted chart, and the phone-width widget.
_MEASURE_CHART = """svg => [...svg.querySelectorAll('text')].map(t => {
  const r = t.getBoundingClientRect(), s = svg.getBoundingClientRect();
  return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize),
          height: r.height, left: r.left - s.left, right: s.right - r.right};
})"""


def test_a_designer_opens_a_shared_link_straight_into_a_german_declined_case(
    page: Any, ui_url: str, api_url: str
) -> None:
    index, _ = _first_declined(api_url)
    link = (
        f"{ui_url}/?model=german_credit&case={index + 1}&persona=end_user&locale=de&channel=notice"
    )
    page.goto(link)
    _expect(page.get_by_role("heading", name="Preview", exact=True)).to_be_visible(timeout=45_000)
    settle(page)
    frame = page.frame_locator("iframe[title^='The end-user widget']")
    widget = frame.locator("article.notice")
    _expect(page.get_by_test_id("stMetricValue").first).to_contain_text("bad (adverse outcome)")
    _expect(widget).to_have_attribute("lang", "de")
    _expect(widget.locator("h1")).to_have_text("Zu Ihrem Kreditantrag")
    _expect(page.get_by_role("radio", name="Deutsch", exact=True)).to_be_checked()
    # German wording for a German card (jurisdiction: DE): GDPR and BDSG, never FCRA's.
    rights = widget.locator("section", has_text="Ihre Möglichkeiten")
    _expect(rights).to_contain_text("Art. 22 DSGVO")
    _expect(rights).to_contain_text("BDSG")
    _expect(rights).not_to_contain_text("60 Tagen")
    # Advice a bank can give: never "close your checking account".
    _expect(widget).not_to_contain_text("kein Girokonto (derzeit")
    # The end-user chart's principal factors are sorted, largest first.
    bars = widget.locator("svg.bars rect.bar.toward")
    _expect(bars.first).to_be_visible()
    widths = bars.evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    assert widths == sorted(widths, reverse=True), widths
    # The frame is as tall as the notice: nothing clipped, no padding below it.
    iframe = page.locator("iframe[title^='The end-user widget']")
    shot(page, "designer-05-shared-link-german", show=iframe)
    content = frame.locator("html").evaluate("el => el.scrollHeight")
    height = iframe.evaluate("el => el.getBoundingClientRect().height")
    assert content - 2 <= height <= content + 40, (content, height)
    # The analyst's sorted bars: largest first, in the Vega-Lite spec's explicit order.
    page.get_by_role("tab", name="Sorted bars").click()
    sorted_bars = page.locator("[role='graphics-document'][aria-label*='largest first']")
    _expect(sorted_bars).to_have_count(1)
    shot(page, "designer-06-sorted-bars")


@pytest.mark.parametrize("width", [375, 1024])
def test_the_widget_chart_is_readable_on_a_phone_and_a_desktop(
    browser: Any, api_url: str, width: int
) -> None:
    _, case = _first_declined(api_url)
    body = {"instances": [case], "locale": "de", "format": "html", "widget": "notice",
            "theme": "light", "counterfactuals": 2}  # fmt: skip
    served = httpx.post(f"{api_url}/v1/models/german_credit/explain", json=body, timeout=60)
    assert served.status_code == 200, served.text
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.set_content(served.text)
        texts = page.locator("svg.bars").evaluate(_MEASURE_CHART)
        assert texts
        for t in texts:
            assert t["size"] >= 12, (width, t)
            assert t["height"] >= 12, (width, t)
            assert min(t["left"], t["right"]) >= -0.5, (width, t)  # clipped
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"widget-de-{width}px.png"), full_page=True)
    finally:
        context.close()
