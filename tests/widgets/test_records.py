"""Records and samples arranged for a reviewer."""

from __future__ import annotations

import pytest

from tests.widgets.app_pages.fake_api import CASES, FakeApi
from widgets.records import (
    filter_items,
    item_label,
    record_view,
    replay_headline,
    replay_rows,
    sample_rows,
)


def _sample() -> tuple[FakeApi, dict[str, object]]:
    fake = FakeApi()
    api = fake.client()
    api.explain("loan", CASES)
    return fake, api.draw_sample(filters={"model": "loan"}, size=3)


def test_sample_items_become_rows_and_filter() -> None:
    _, sample = _sample()
    items = sample["items"]
    assert isinstance(items, list)
    rows = sample_rows(items)
    assert [r["part"] for r in rows] == ["stratified"] * 3 + ["risk"]
    assert rows[1]["risk"] == "near threshold"
    assert len(filter_items(items, part="risk")) == 1
    assert len(filter_items(items, risk="near_threshold")) == 2
    assert {r["outcome"] for r in sample_rows(filter_items(items, outcome="declined"))} == {
        "declined"
    }
    assert item_label(items[1]).startswith("#1 · record rec00000 · case 1 · approved · risk: near")


def test_a_record_view_has_everything_a_reviewer_reads() -> None:
    fake, _ = _sample()
    record = fake.client().get_explanation(next(iter(fake.records)))
    view = record_view(record, 2)
    assert view.title.endswith("case 2")
    assert view.outcome.startswith("declined (")
    assert {r["feature"]: r["value"] for r in view.inputs}["employment"] == "part_time"
    assert view.reasons == [r["text"] for r in view.explanation["reasons"]]
    fields = {r["field"]: r["value"] for r in view.provenance}
    assert fields["record sha256"] == record["record_sha256"]
    assert fields["library versions"].startswith('{"clarion"')
    with pytest.raises(ValueError, match="has no case 9"):
        record_view(record, 9)


def test_replay_summaries() -> None:
    assert replay_headline({"identical": True}).startswith("Replay identical")
    changed = {"identical": False, "values_identical": True, "differences": []}
    assert replay_headline(changed).startswith("Values identical")
    differs = {
        "identical": False,
        "values_identical": False,
        "differences": [
            {
                "kind": "library_version",
                "path": "versions.shap",
                "library": "shap",
                "recorded": "0.50",
                "replayed": "0.51",
            }
        ],
    }
    assert replay_headline(differs) == "Replay differs from the record in 1 place(s)."
    assert replay_rows(differs) == [
        {
            "kind": "library version",
            "where": "versions.shap",
            "feature": "shap",
            "recorded": "0.50",
            "replayed": "0.51",
        }
    ]
