"""The case packet: a golden page, escaping, and inputs read by attribute only."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from service.html.casepacket import render_case_packet
from tests.golden.check import assert_golden

HOSTILE = "<script>alert('x')</script> & \"q\""
RECORD_SHA256 = "a" * 64
PACKET_SHA256 = "b" * 64


@dataclass(frozen=True)
class FakeAnnotation:
    """An annotation as a frozen dataclass: the packet needs only these attributes."""

    id: str
    created_at: datetime
    reviewer: str
    kind: str
    verdict: str | None
    note: str
    supersedes: str | None
    signed_off_by: str | None
    superseded_by: str | None
    current: bool


DOCUMENT: dict[str, Any] = {
    "id": "rec-1",
    "created_at": "2025-03-01T09:30:00+00:00",
    "model": {"name": "tiny_credit", "version": "1.0", "sha256": "c" * 64},
    "caller": "key-7",
    "channel": "api",
    "request_id": None,
    "reference": "LOAN-2025-0042",
    "purpose": "decision",
    "response": {
        "method": "exact_shap",
        "output": "probability",
        "provenance": {
            "seed": 0,
            "algorithm": None,
            "parameters": {"seed": 0, "max_players": 12},
            "background_sha256": "d" * 64,
            "background_rows": 30,
            "provider": "CPUExecutionProvider",
            "versions": {"clarion": "0.1.0", "shap": "0.51.0"},
        },
        "explanations": [
            {
                "prediction": {
                    "label": "declined",
                    "probabilities": {"approved": 0.2123456789, "declined": 0.7876543211},
                },
                "target": "declined",
                "output_value": 0.8123456789,
                "base_value": 0.5,
                "confidence": "high",
                "review": {
                    "required": True,
                    "why": ["fidelity_r2"],
                    "gates": [
                        {
                            "name": "additivity_residual",
                            "value": 1.5e-17,
                            "limit": 1e-6,
                            "at_least": False,
                            "passed": True,
                        },
                        {
                            "name": "fidelity_r2",
                            "value": 0.1234567,
                            "limit": 0.5,
                            "at_least": True,
                            "passed": False,
                        },
                    ],
                },
                "screening": {"suppressed": ["age"], "flagged": ["postcode"]},
                "attributions": [
                    {
                        "feature": "debt",
                        "label": "Existing debt",
                        "value": 90.0,
                        "attribution": 0.25,
                    },
                    {"feature": "income", "label": None, "value": 20.0, "attribution": -0.0625},
                    {"feature": "employment", "value": "unemployed", "attribution": 0.0},
                ],
                "quality": {"additivity_residual": 1.5e-17, "seconds": 2},
                "notice": {
                    "title": "Your application",
                    "lead": "We could not approve it.",
                    "sections": [
                        {"paragraphs": ["The main reasons:"], "items": ["Your debt", ""]},
                        {"paragraphs": [], "items": []},
                    ],
                },
                "narrative": "Your application was declined.",
            },
            {
                "prediction": {"value": 3.25},
                "target": "value",
                "attributions": [],
                "reasons": [{"text": "Debt raised it"}, {"text": ""}],
            },
        ],
    },
    "input": {"sha256": "e" * 64, "values": [{"debt": 90.0, "income": None, "tags": [1, 2]}]},
    "runtime": {"python": "3.11.7"},
    "texts": {"locale": "en", "template_version": "1.0.0"},
    "widgets": {"page": "f" * 64},
    "shown": {"page": "<!DOCTYPE html><p>Your application</p>"},
    "sealed": "revealed",
}

ANNOTATIONS = [
    FakeAnnotation(
        id="ann-1",
        created_at=datetime(2025, 3, 2, 10, 0, tzinfo=UTC),
        reviewer="alice",
        kind="verdict",
        verdict="inaccurate",
        note="debt dominates oddly",
        supersedes=None,
        signed_off_by="sig-1",
        superseded_by="ann-3",
        current=False,
    ),
    FakeAnnotation(
        id="sig-1",
        created_at=datetime(2025, 3, 2, 11, 0, tzinfo=UTC),
        reviewer="bob",
        kind="signoff",
        verdict=None,
        note="",
        supersedes=None,
        signed_off_by=None,
        superseded_by=None,
        current=True,
    ),
    FakeAnnotation(
        id="ann-3",
        created_at=datetime(2025, 3, 3, 8, 15, 30, 250000, tzinfo=UTC),
        reviewer="alice",
        kind="verdict",
        verdict="ok",
        note="on second look, fine",
        supersedes="ann-1",
        signed_off_by=None,
        superseded_by=None,
        current=True,
    ),
]


def _packet(document: dict[str, Any], annotations: list[FakeAnnotation]) -> str:
    return render_case_packet(
        document,
        annotations,
        record_sha256=RECORD_SHA256,
        packet_sha256=PACKET_SHA256,
        status=str(document.get("sealed")),
        printed_at=datetime(2025, 4, 1, 12, 0, tzinfo=UTC),
        printed_by="carol",
    )


def test_the_case_packet_matches_its_golden_page() -> None:
    assert_golden("casepacket/record.html", _packet(DOCUMENT, ANNOTATIONS) + "\n")


def test_a_packet_without_annotations_says_so() -> None:
    page = _packet(DOCUMENT, [])
    assert "<h2>Annotations</h2><p>No annotations.</p>" in page
    assert f"<code>{PACKET_SHA256}</code>" in page
    assert f"<code>{RECORD_SHA256}</code>" in page


def test_an_empty_document_still_renders() -> None:
    page = _packet({}, [])
    assert "<title>Case packet None</title>" in page
    assert "Decision" not in page


def test_hostile_text_in_a_record_is_escaped() -> None:
    document = copy.deepcopy(DOCUMENT)
    document["id"] = HOSTILE
    instance = document["response"]["explanations"][0]
    instance["prediction"]["label"] = HOSTILE
    instance["attributions"][0]["label"] = HOSTILE
    instance["notice"]["sections"][0]["items"] = [HOSTILE]
    instance["quality"] = {HOSTILE: HOSTILE}
    document["input"]["values"] = [{HOSTILE: HOSTILE, "nested": {"k": HOSTILE}}]
    notes = [replace(a, reviewer=HOSTILE, note=HOSTILE, verdict=HOSTILE) for a in ANNOTATIONS]
    page = _packet(document, notes)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;" in page
    # JSON values are escaped too (inside <code>), quotes and all.
    assert "<code>{&quot;k&quot;: &quot;&lt;script&gt;" in page


def test_a_packet_is_for_people() -> None:
    page = _packet(DOCUMENT, ANNOTATIONS)
    assert "LOAN-2025-0042" in page
    assert "Printed</strong> 2025-04-01T12:00:00+00:00 (UTC) by carol" in page
    assert "<td>by bob</td>" in page  # the signer, not the sign-off's id
    assert "78.8 %" in page
    assert "0.7876543211" not in page
    # Largest attribution first, whatever the card order.
    bars = page[page.index("largest first") :]
    assert bars.index("Existing debt") < bars.index("income") < bars.index("employment")
    assert "<td>fidelity_r2</td>" in page
    assert "FAILED" in page
    assert "postcode" in page
    assert "&lt;p&gt;Your application&lt;/p&gt;" in page  # the page as sent, as text


def test_withheld_text_says_why_never_none() -> None:
    document = copy.deepcopy(DOCUMENT)
    instance = document["response"]["explanations"][0]
    instance["notice"] = instance["narrative"] = None
    document["shown"] = {"page": None}
    document["sensitive"] = {"policy": "omit"}
    page = render_case_packet(document, [], record_sha256="a", packet_sha256="b", status="omitted")
    assert page.count("withheld: sensitive-value policy omit") == 2
    assert ">None<" not in page
