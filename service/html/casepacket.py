"""The HTML case packet: one record as a reviewer or examiner reads it.

Self-contained (inline CSS, no scripts, fonts or links to fetch), printable, and
stamped: it shows the record's hash and the SHA-256 of the data it displays (the
record document and its annotations, as canonical JSON, computed by the audit trail
that owns them), so a packet can be checked against the store years later. Signs are
written in words, never shown by colour alone; numbers are rounded for people (the
record keeps them whole); attributions come largest first; quality gates and screening
are tables; text that was withheld says why. Copy and layout are in
``templates/casepacket.html.j2`` and ``templates/casepacket.css``; this module only
picks out the values the template shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.html._templates import render
from service.html._types import Annotation

__all__ = ["render_case_packet", "withheld_reason"]


@dataclass(frozen=True)
class _Attribution:
    label: str
    value: Any
    phi: float  # toward the explained output
    width: int  # the bar, in percent of the largest magnitude


@dataclass(frozen=True)
class _Decision:
    """One explained instance of the record, as its part of the packet shows it."""

    instance: Mapping[str, Any]
    prediction: Mapping[str, Any]
    outcome: Any
    given: Mapping[str, Any] | None  # the input as given (sealed values are None)
    shown: list[str]
    attributions: list[_Attribution]  # largest magnitude first
    quality: Mapping[str, Any]
    probabilities: list[tuple[str, float]]  # largest first
    gates: list[Mapping[str, Any]]
    review: Mapping[str, Any]
    screening: Mapping[str, Any]


def withheld_reason(status: str, policy: Any) -> str:
    """Why text quoting sensitive values is not in the packet (never a bare ``None``)."""
    if status == "omitted":
        return f"withheld: sensitive-value policy {policy or 'omit'}"
    return "withheld: sealed (the configured encryption key cannot open it)"


def _shown_text(instance: Mapping[str, Any]) -> list[str]:
    """The words a person was shown: notice lead and sections, narrative, reasons."""
    out: list[str] = []
    notice = instance.get("notice")
    if isinstance(notice, Mapping):
        out += [str(notice.get(k)) for k in ("title", "lead") if notice.get(k)]
        for section in notice.get("sections") or []:
            out += [str(p) for p in section.get("paragraphs") or []]
            out += [f"• {i}" for i in section.get("items") or []]
    narrative = instance.get("narrative")
    if isinstance(narrative, str):
        out.append(narrative)
    if not out:
        out = [str(r.get("text")) for r in instance.get("reasons") or [] if r.get("text")]
    return out


def _decision(
    instance: Mapping[str, Any], given: Mapping[str, Any] | None, withheld: str | None
) -> _Decision:
    prediction = instance.get("prediction") or {}
    attributions = instance.get("attributions") or []
    scale = max((abs(a.get("attribution") or 0.0) for a in attributions), default=0.0) or 1.0
    bars = []
    for a in attributions:
        phi = float(a.get("attribution") or 0.0)
        label = str(a.get("label") or a.get("feature"))
        bars.append(_Attribution(label, a.get("value"), phi, round(100 * abs(phi) / scale)))
    bars.sort(key=lambda b: -abs(b.phi))  # stable: equal sizes keep card order
    probabilities = prediction.get("probabilities") or {}
    ranked = sorted(
        ((str(k), float(v)) for k, v in probabilities.items() if isinstance(v, int | float)),
        key=lambda kv: -kv[1],
    )
    review = instance.get("review") or {}
    shown = _shown_text(instance)
    if not shown and withheld is not None:
        shown = [withheld]
    return _Decision(
        instance=instance,
        prediction=prediction,
        outcome=prediction.get("label") or prediction.get("value"),
        given=given,
        shown=shown,
        attributions=bars,
        quality=instance.get("quality") or {},
        probabilities=ranked,
        gates=[g for g in review.get("gates") or [] if isinstance(g, Mapping)],
        review=review,
        screening=instance.get("screening") or {},
    )


def render_case_packet(
    document: Mapping[str, Any],
    annotations: Sequence[Annotation],
    *,
    record_sha256: str,
    packet_sha256: str,
    status: str,
    printed_at: datetime | None = None,
    printed_by: str | None = None,
) -> str:
    """One record as self-contained HTML.

    ``document``: the record as JSON (``RecordDetail``); ``packet_sha256``: the SHA-256
    of what the packet shows, which the caller computes from the same document and
    annotations; ``printed_at``/``printed_by``: when and for whom (the API key's name)
    this copy was made.
    """
    response = document.get("response") or {}
    given = document.get("input") or {}
    values = given.get("values") or []
    sensitive = document.get("sensitive") or {}
    withheld = (
        withheld_reason(status, sensitive.get("policy"))
        if status in ("omitted", "sealed")
        else None
    )
    decisions = [
        _decision(instance, values[i] if i < len(values) else None, withheld)
        for i, instance in enumerate(response.get("explanations") or [])
    ]
    by_id = {getattr(a, "id", None): a for a in annotations}
    signers = {
        a.signed_off_by: by_id[a.signed_off_by].reviewer
        for a in annotations
        if a.signed_off_by is not None and a.signed_off_by in by_id
    }
    shown = document.get("shown") or {}
    page = shown.get("page")
    return render(
        "casepacket.html.j2",
        document=document,
        response=response,
        provenance=response.get("provenance") or {},
        model=document.get("model") or {},
        given=given,
        decisions=decisions,
        annotations=annotations,
        record_sha256=record_sha256,
        packet_sha256=packet_sha256,
        status=status,
        signers=signers,
        page=page,
        page_withheld=withheld if "page" in shown and page is None else None,
        printed_at=printed_at.isoformat(timespec="seconds") if printed_at else None,
        printed_by=printed_by,
    )
