"""Audit records and review samples, arranged for a reviewer to read. Pure.

``sample_rows`` and ``filter_items`` list and narrow a drawn sample's items;
``record_view`` takes a record (``GET /v1/explanations/{id}``) and the position of
one decision in it and returns what the review page shows: the input, the outcome,
the reasons exactly as they were shown, the explanation behind them, provenance and
hashes. ``replay_headline`` and ``replay_rows`` summarise a replay.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from widgets.population import display_value

__all__ = [
    "RecordView",
    "filter_items",
    "item_label",
    "record_view",
    "replay_headline",
    "replay_rows",
    "sample_rows",
    "withheld",
]


def _words(value: str) -> str:
    return value.replace("_", " ")


def _when(value: Any) -> str:
    """An ISO time as ``2026-12-03 14:05`` (UTC), for a table cell."""
    if not isinstance(value, str):
        return ""
    return value[:16].replace("T", " ")


def sample_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A drawn sample's items as table rows: when, who asked, the caller's reference."""
    return [
        {
            "rank": i["rank"],
            "record": i["record_id"],
            "created at (UTC)": _when(i.get("created_at")),
            "caller": i.get("caller") or "",
            "reference": i.get("reference") or "",
            "case": i["position"],
            "part": i["part"],
            "outcome": display_value(i.get("stratum", {}).get("outcome")),
            "stratum": ", ".join(f"{k}={v}" for k, v in sorted(i.get("stratum", {}).items())),
            "risk": ", ".join(_words(r) for r in i.get("risk", [])) or "none",
        }
        for i in items
    ]


def filter_items(
    items: Sequence[Mapping[str, Any]],
    *,
    part: str | None = None,
    risk: str | None = None,
    outcome: str | None = None,
    reference: str | None = None,
) -> list[Mapping[str, Any]]:
    """Items of one part (stratified/risk), with one risk flag, of one outcome stratum, or
    whose reference contains ``reference`` (case-insensitive)."""
    out = []
    for i in items:
        if reference and reference.casefold() not in str(i.get("reference") or "").casefold():
            continue
        if part and i["part"] != part:
            continue
        if risk and risk not in i.get("risk", []):
            continue
        if outcome and display_value(i.get("stratum", {}).get("outcome")) != outcome:
            continue
        out.append(i)
    return out


def item_label(item: Mapping[str, Any]) -> str:
    """``"#3 · record 1a2b3c4d · case 0 · bad · risk: near threshold"``."""
    outcome = item.get("stratum", {}).get("outcome")
    risk = ", ".join(_words(r) for r in item.get("risk", []))
    parts = [f"#{item['rank']}", f"record {item['record_id'][:8]}", f"case {item['position']}"]
    if outcome is not None:
        parts.append(str(outcome))
    if risk:
        parts.append(f"risk: {risk}")
    return " · ".join(parts)


@dataclass(frozen=True)
class RecordView:
    """One decision of a record, as the review page shows it."""

    title: str
    outcome: str
    inputs: list[dict[str, str]]
    reasons: list[str]
    narrative: str
    explanation: Mapping[str, Any]
    provenance: list[dict[str, str]]
    sealed: str
    reference: str = ""
    page: str | None = None  # the HTML the person was sent (format: html), if kept


def withheld(record: Mapping[str, Any]) -> str:
    """Why text that quotes sensitive values is not shown (never ``None``)."""
    status = record.get("sealed")
    if status == "omitted":
        policy = (record.get("sensitive") or {}).get("policy") or "omit"
        return f"withheld: sensitive-value policy {policy}"
    if status == "sealed":
        return "withheld: sealed, and the service's key cannot open it"
    return "not recorded"


def _cell(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return display_value(value)


def record_view(record: Mapping[str, Any], position: int = 0) -> RecordView:
    """The decision at ``position`` of ``record``: input, outcome, reasons as shown, provenance."""
    response = record["response"]
    explanations = response["explanations"]
    if not 0 <= position < len(explanations):
        raise ValueError(f"record {record['id']} has no case {position}")
    e = explanations[position]
    values = (record.get("input", {}).get("values") or [{}])[position] or {}
    prediction = e.get("prediction", {})
    label = prediction.get("label")
    if label is not None:
        p = (prediction.get("probabilities") or {}).get(label)
        outcome = f"{label}" + (f" ({p:.1%})" if isinstance(p, int | float) else "")
    else:
        outcome = f"value {prediction.get('value')}"
    model = record.get("model", {})
    provenance = record.get("provenance", {})
    rows = [
        ("record", record["id"]),
        ("created at", str(record.get("created_at"))),
        ("caller / channel", f"{record.get('caller')} / {record.get('channel')}"),
        ("reference", record.get("reference") or ""),
        ("purpose", record.get("purpose") or "decision"),
        ("model", f"{model.get('name')} {model.get('version')}"),
        ("model sha256", model.get("sha256", "")),
        ("method", response.get("method", "")),
        ("output space", response.get("output", "")),
        ("seed", provenance.get("seed")),
        ("parameters", provenance.get("parameters", {})),
        ("background sha256", provenance.get("background_sha256", "")),
        ("background rows", provenance.get("background_rows")),
        ("provider", provenance.get("provider", "")),
        ("library versions", provenance.get("versions", {})),
        ("request", record.get("request", {})),
        ("wording", record.get("texts", {})),
        ("input sha256", record.get("input", {}).get("sha256", "")),
        ("record sha256", record.get("record_sha256", "")),
    ]
    narrative = e.get("narrative")
    return RecordView(
        title=f"Record {record['id']}, case {position}",
        outcome=outcome,
        inputs=[{"feature": k, "value": _cell(v)} for k, v in values.items()],
        reasons=[r["text"] for r in e.get("reasons", [])],
        narrative=narrative if isinstance(narrative, str) else withheld(record),
        explanation=e,
        provenance=[{"field": k, "value": _cell(v)} for k, v in rows],
        sealed=str(record.get("sealed", "clear")),
        reference=str(record.get("reference") or ""),
        page=(record.get("shown") or {}).get("page"),
    )


def replay_headline(result: Mapping[str, Any]) -> str:
    """One sentence saying what the replay found."""
    if result.get("identical"):
        return "Replay identical: every value, the model and the libraries are as recorded."
    if result.get("values_identical"):
        return "Values identical, but the environment changed (model or library versions)."
    n = len(result.get("differences", []))
    return f"Replay differs from the record in {n} place(s)."


def replay_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """The differences a replay found, as table rows."""
    return [
        {
            "kind": _words(d["kind"]),
            "where": d.get("path", ""),
            "feature": d.get("feature") or d.get("library") or "",
            "recorded": _cell(d.get("recorded")),
            "replayed": _cell(d.get("replayed")),
        }
        for d in result.get("differences", [])
    ]
