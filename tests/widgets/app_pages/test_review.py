"""The review page: draw a sample, filter it, open a record, replay, annotate, export."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.widgets.app_pages.conftest import OpenPage
from tests.widgets.app_pages.fake_api import CASES, FakeApi

PAGE = "app_pages/review.py"


def _click(at: AppTest, label: str) -> AppTest:
    button = next(b for b in at.button if b.label == label)
    return button.click().run()


def _drawn(open_page: OpenPage, fake: FakeApi) -> AppTest:
    fake.client().explain("loan", CASES, persona="end_user")
    at = open_page(PAGE)
    at.selectbox(key="review.model").set_value("loan").run()
    at.selectbox(key="review.outcome").set_value("declined")
    return _click(at, "Draw sample")


def test_nothing_to_review_before_a_sample_is_drawn(open_page: OpenPage) -> None:
    at = open_page(PAGE)
    assert at.info[0].value == "Draw a sample to start reviewing."


def test_a_sample_is_drawn_with_the_chosen_filters(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    draws = [b for m, p, b in fake.requests if p == "/v1/samples"]
    assert draws == [
        {
            "filters": {"model": "loan", "outcome": "declined"},
            "size": 20,
            "seed": 0,
            "strata": ["outcome", "model_version"],
        }
    ]
    assert at.subheader[0].value.startswith("Sample smp0000")
    items = at.dataframe[0].value
    assert set(items["outcome"]) == {"declined"}
    assert list(items.columns) == [
        "rank",
        "record",
        "created at (UTC)",
        "caller",
        "reference",
        "case",
        "part",
        "outcome",
        "stratum",
        "risk",
    ]
    assert set(items["caller"]) == {"anonymous"}
    assert all(len(when) == 16 for when in items["created at (UTC)"])


def test_the_items_can_be_filtered(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    everything = len(at.dataframe[0].value)
    at.selectbox(key="review.risk").set_value("near_threshold").run()
    narrowed = at.dataframe[0].value
    assert 0 < len(narrowed) < everything
    assert set(narrowed["risk"]) == {"near threshold"}


def test_a_record_shows_outcome_reasons_input_and_provenance(
    open_page: OpenPage, fake: FakeApi
) -> None:
    at = _drawn(open_page, fake)
    assert at.subheader[1].value.startswith("Record rec")
    assert any(m.value.startswith("**Outcome:** declined (") for m in at.markdown)
    reasons = next(m.value for m in at.markdown if m.value.startswith("1. "))
    assert "lowered your chance of approval" in reasons
    frames = [df.value for df in at.dataframe]
    inputs = next(f for f in frames if list(f.columns) == ["feature", "value"])
    assert set(inputs["feature"]) == set(CASES[0])
    provenance = next(f for f in frames if list(f.columns) == ["field", "value"])
    assert {"record sha256", "model sha256", "background sha256", "seed"} <= set(
        provenance["field"]
    )
    assert "Contributions, sorted by size" in at.get("vega_lite_chart")[0].proto.spec


def test_replay_reports_the_result_or_the_refusal(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    _click(at, "Replay this record")
    assert any(m.value.startswith("Replay identical") for m in at.markdown)
    record = next(p for m, p, _ in fake.requests if m == "POST" and p.endswith("/replay"))
    fake.fail(record, 409, "its sensitive values were left out by policy")
    _click(at, "Replay this record")
    assert [w.value for w in at.warning] == [
        "Cannot replay: its sensitive values were left out by policy"
    ]


def test_a_verdict_is_saved_and_listed(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    at.selectbox(key="review.verdict").set_value("unclear_wording")
    at.text_area(key="review.note").input("The second reason reads badly.")
    _click(at, "Save verdict")
    assert at.success[0].value.startswith("Verdict 'unclear_wording' saved by rita")
    body = next(b for m, p, b in fake.requests if p.endswith("/annotations") and m == "POST")
    # No free-text reviewer: the service takes it from the key.
    assert body == {
        "verdict": "unclear_wording",
        "note": "The second reason reads badly.",
        "position": 0,
    }
    listed = next(df.value for df in at.dataframe if "verdict" in df.value.columns)
    assert list(listed["reviewer"]) == ["rita"]


def test_a_verdict_is_signed_off_by_another_key(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    _click(at, "Save verdict")
    _click(at, "Sign off")
    assert [e.value for e in at.error] == [
        "Cannot sign off: a second reviewer, with another key, must sign it off"
    ]
    fake.reviewer = "sam"
    _click(at, "Sign off")
    assert [s.value for s in at.success] == ["Signed off by sam."]
    listed = next(df.value for df in at.dataframe if "verdict" in df.value.columns)
    assert list(listed["kind"]) == ["verdict", "signoff"]
    assert list(listed["signed off by"]) == ["sam", ""]
    assert not [b for b in at.button if b.label == "Sign off"]  # nothing left to sign


def test_a_reference_is_shown_and_searchable(open_page: OpenPage, fake: FakeApi) -> None:
    fake.client().explain("loan", CASES, persona="end_user")
    fake.records[next(iter(fake.records))]["reference"] = "LOAN-42"
    at = open_page(PAGE)
    at.text_input(key="review.reference").input("LOAN-42")
    at = _click(at, "Draw sample")
    draws = [b for m, p, b in fake.requests if p == "/v1/samples" and b is not None]
    assert draws[-1]["filters"]["reference"] == "LOAN-42"
    at.text_input(key="review.search").input("loan-4").run()
    assert set(at.dataframe[0].value["reference"]) == {"LOAN-42"}
    assert any("reference: LOAN-42" in m.value for m in at.markdown)


def test_withheld_text_says_why(open_page: OpenPage, fake: FakeApi) -> None:
    fake.client().explain("loan", CASES, persona="end_user")
    for record in fake.records.values():
        record["sealed"] = "omitted"
        record["sensitive"]["policy"] = "omit"
        for e in record["response"]["explanations"]:
            e["narrative"] = None
    at = open_page(PAGE)
    at = _click(at, "Draw sample")
    texts = [t.value for t in at.text]
    assert "withheld: sensitive-value policy omit" in texts
    assert "None" not in texts


def test_the_sample_is_exported_as_the_api_made_it(open_page: OpenPage, fake: FakeApi) -> None:
    at = _drawn(open_page, fake)
    at.selectbox(key="review.format").set_value("csv").run()
    _click(at, "Prepare export")
    (download,) = at.get("download_button")
    assert download.proto.label == "Download clarion-smp0000.csv"
    exports = [b for _, p, b in fake.requests if p == "/v1/exports"]
    assert exports == [{"format": "csv", "limit": 1000, "sample_id": "smp0000" + "0" * 25}]
    assert any("SHA-256" in c.value for c in at.caption)
