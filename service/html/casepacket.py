"""The HTML case packet: one record as a reviewer or examiner reads it.

Self-contained (inline CSS, no scripts, fonts or links to fetch), printable, and
stamped: it shows the record's hash and the SHA-256 of the data it displays (the
record document and its annotations, as canonical JSON), so a packet can be checked
against the store years later. Signs are written in words, never shown by colour alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from service.audit._canonical import sha256_json
from service.audit.schemas import AnnotationOut

__all__ = ["packet_sha256", "render_case_packet"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a1a1a;margin:2rem;
max-width:62rem;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #bbb;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.7rem;background:#4b4b8f}.bar.neg{background:#a0522d}
code{font-size:.85rem;word-break:break-all}.stamp{border:2px solid #333;padding:.5rem 1rem}
.muted{color:#555}
"""


def packet_sha256(document: Mapping[str, Any], annotations: Sequence[AnnotationOut]) -> str:
    """SHA-256 of what a packet shows: the document and annotations as canonical JSON."""
    return sha256_json(
        {"document": document, "annotations": [a.model_dump(mode="json") for a in annotations]}
    )


def _cell(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, float):
        return escape(f"{value:.6g}")
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value, sort_keys=True))}</code>"
    return escape(str(value))


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><caption>{escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _pairs(caption: str, pairs: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td>{_cell(v)}</td></tr>' for k, v in pairs
    )
    return f"<table><caption>{escape(caption)}</caption>{rows}</table>"


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


def _instance(i: int, instance: Mapping[str, Any], values: Mapping[str, Any] | None) -> str:
    prediction = instance.get("prediction") or {}
    outcome = prediction.get("label") or prediction.get("value")
    parts = [f"<h2>Decision {i + 1}: {_cell(outcome)}</h2>"]
    parts.append(
        _pairs(
            "Outcome",
            [
                ("Predicted", outcome),
                ("Probabilities", prediction.get("probabilities")),
                ("Explained output", instance.get("target")),
                ("Output value", instance.get("output_value")),
                ("Base value", instance.get("base_value")),
                ("Confidence", instance.get("confidence")),
                ("Review", instance.get("review")),
                ("Screening", instance.get("screening")),
            ],
        )
    )
    if values is not None:
        rows = [
            [escape(k), _cell(v) if v is not None else "sealed or missing"]
            for k, v in values.items()
        ]
        parts.append(_table("Input as given", ["Feature", "Value"], rows))
    shown = _shown_text(instance)
    if shown:
        parts.append("<h3>Reasons as shown</h3><ul>")
        parts += [f"<li>{escape(t)}</li>" for t in shown]
        parts.append("</ul>")
    attributions = instance.get("attributions") or []
    scale = max((abs(a.get("attribution") or 0.0) for a in attributions), default=0.0) or 1.0
    rows = []
    for a in attributions:
        phi = float(a.get("attribution") or 0.0)
        width = round(100 * abs(phi) / scale)
        sign = "raises" if phi > 0 else "lowers" if phi < 0 else "no effect"
        bar = f'<span class="bar{" neg" if phi < 0 else ""}" style="width:{width}%"></span>'
        rows.append(
            [
                escape(str(a.get("label") or a.get("feature"))),
                _cell(a.get("value")),
                f'<span class="num">{phi:+.6g}</span>',
                escape(sign),
                bar,
            ]
        )
    parts.append(
        _table(
            "Attributions (toward the explained output)",
            ["Feature", "Value", "Attribution", "Direction", "Size"],
            rows,
        )
    )
    quality = instance.get("quality") or {}
    parts.append(
        _table("Quality", ["Metric", "Value"], [[escape(k), _cell(v)] for k, v in quality.items()])
    )
    return "".join(parts)


def render_case_packet(
    document: Mapping[str, Any],
    annotations: Sequence[AnnotationOut],
    *,
    record_sha256: str,
    status: str,
) -> str:
    """One record as self-contained HTML."""
    response = document.get("response") or {}
    provenance = response.get("provenance") or {}
    model = document.get("model") or {}
    values = (document.get("input") or {}).get("values") or []
    body = [
        f"<h1>Case packet: explanation record <code>{escape(str(document.get('id')))}</code></h1>"
    ]
    body.append(
        _pairs(
            "Record",
            [
                ("Created (UTC)", document.get("created_at")),
                ("Model", f"{model.get('name')} {model.get('version')}"),
                ("Model SHA-256", model.get("sha256")),
                ("Caller (API key id)", document.get("caller")),
                ("Channel", document.get("channel")),
                ("Request id", document.get("request_id")),
                ("Sensitive values", status),
            ],
        )
    )
    for i, instance in enumerate(response.get("explanations") or []):
        body.append(_instance(i, instance, values[i] if i < len(values) else None))
    body.append("<h2>Provenance</h2>")
    body.append(
        _pairs(
            "How the explanation was computed",
            [
                ("Method", response.get("method")),
                ("Output space", response.get("output")),
                ("Seed", provenance.get("seed")),
                ("Algorithm", provenance.get("algorithm")),
                ("Parameters", provenance.get("parameters")),
                ("Background SHA-256", provenance.get("background_sha256")),
                ("Background rows", provenance.get("background_rows")),
                ("Execution provider", provenance.get("provider")),
                ("Library versions", provenance.get("versions")),
                ("Runtime", document.get("runtime")),
                ("Wording (template, locale)", document.get("texts")),
                ("Widget SHA-256", document.get("widgets")),
                ("Input SHA-256", (document.get("input") or {}).get("sha256")),
            ],
        )
    )
    rows = [
        [
            _cell(a.created_at.isoformat()),
            escape(a.reviewer),
            escape(a.kind),
            _cell(a.verdict),
            escape(a.note),
            _cell(a.supersedes),
            _cell(a.signed_off_by),
            "current" if a.current else f"superseded by {escape(a.superseded_by or '')}",
        ]
        for a in annotations
    ]
    body.append("<h2>Annotations</h2>")
    body.append(
        _table(
            "Reviewer verdicts and sign-offs (append-only)",
            [
                "Time (UTC)",
                "Reviewer",
                "Kind",
                "Verdict",
                "Note",
                "Supersedes",
                "Signed off",
                "Status",
            ],
            rows,
        )
        if rows
        else "<p>No annotations.</p>"
    )
    body.append(
        '<div class="stamp"><p><strong>Record SHA-256</strong> '
        f"<code>{escape(record_sha256)}</code></p><p><strong>Packet content SHA-256</strong> "
        f"<code>{packet_sha256(document, annotations)}</code> (canonical JSON of the record "
        "document and its annotations shown here)</p></div>"
    )
    title = escape(f"Case packet {document.get('id')}")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
    )
