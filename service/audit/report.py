"""The per-model report: quality distributions, reason frequencies, selection-rate ratios.

Computed over a model's records in a time window (at most ``MAX_RECORDS``, newest
first): the distribution of every per-explanation quality metric; how often each
reason code was given, overall and per group of a group attribute (the card's
protected categorical or binary features, or the ones asked for) where the record
has the attribute (sensitive values need the encryption key; missing ones count as
``unknown``); and, for hiring models, the selection rate of each group, its impact
ratio against the highest rate, and the four-fifths flag (ratio below 0.8; 29 CFR
1607.4(D)). Groups under 2% of decisions are reported but left out of the ratio, as
NYC Local Law 144's bias audits do.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import case, func, select

from service.audit.crypto import Sealer
from service.audit.documents import reveal
from service.audit.filters import RecordFilter
from service.audit.schemas import MetricSummary, ModelReport, SelectionRate
from service.audit.store import AuditStore
from service.audit.tables import Decision, ExplanationRecord

__all__ = ["MAX_RECORDS", "model_report"]

MAX_RECORDS = 50_000
FOUR_FIFTHS = 0.8
SMALL_GROUP = 0.02


def _summary(values: list[float]) -> MetricSummary:
    a = np.asarray(values, dtype=np.float64)
    return MetricSummary(
        count=int(a.size),
        mean=float(a.mean()),
        min=float(a.min()),
        p50=float(np.percentile(a, 50)),
        p90=float(np.percentile(a, 90)),
        max=float(a.max()),
    )


def _selection(groups: dict[str, list[bool]], total: int) -> list[SelectionRate]:
    rates = {g: sum(v) / len(v) for g, v in groups.items() if v}
    eligible = [rates[g] for g in rates if g != "unknown" and len(groups[g]) >= SMALL_GROUP * total]
    best = max(eligible, default=0.0)
    out = []
    for g in sorted(rates):
        small = len(groups[g]) < SMALL_GROUP * total or g == "unknown"
        ratio = rates[g] / best if best > 0 and not small else None
        out.append(
            SelectionRate(
                group=g,
                count=len(groups[g]),
                selected=sum(groups[g]),
                rate=rates[g],
                impact_ratio=ratio,
                four_fifths_flag=ratio is not None and ratio < FOUR_FIFTHS,
                small_group=small,
            )
        )
    return out


def model_report(
    store: AuditStore,
    sealer: Sealer | None,
    model: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    group_by: Sequence[str] = (),
    favorable: str | None = None,
    domain: str | None = None,
) -> ModelReport:
    """The report over ``model``'s records; ``favorable``: the selected outcome (hiring)."""
    where = RecordFilter(model=model, version=version, since=since, until=until)
    r = ExplanationRecord
    query = (
        select(r)
        .where(*where.record_clauses())
        .order_by(r.created_at.desc(), r.id.desc())
        .limit(MAX_RECORDS)
    )
    flag_names = ("quality_failed", "proxy_flag", "review_required")
    counts = select(
        func.count(),
        *(func.sum(case((getattr(Decision, f), 1), else_=0)) for f in flag_names),
    ).join(r, r.id == Decision.record_id)
    with store.reading() as session:
        records = list(session.scalars(query))
        total, *flagged = session.execute(counts.where(*where.record_clauses())).one()
    notes: list[str] = []
    if len(records) == MAX_RECORDS:
        notes.append(f"only the newest {MAX_RECORDS} records are included")
    quality: dict[str, list[float]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    by_group: dict[str, dict[str, Counter[str]]] = {a: defaultdict(Counter) for a in group_by}
    selected: dict[str, dict[str, list[bool]]] = {a: defaultdict(list) for a in group_by}
    sizes: dict[str, Counter[str]] = {a: Counter() for a in group_by}
    outcomes: Counter[str] = Counter()
    n_decisions = 0
    sealed = 0
    for record in records:
        revealed = reveal(record, sealer)
        sealed += revealed.status in ("sealed", "omitted")
        doc = revealed.document
        domain = domain or doc["model"].get("domain")
        values = doc["input"]["values"]
        for i, instance in enumerate(doc["response"].get("explanations") or []):
            n_decisions += 1
            label = (instance.get("prediction") or {}).get("label")
            outcomes[str(label)] += 1
            for name, v in (instance.get("quality") or {}).items():
                if isinstance(v, int | float):
                    quality[name].append(float(v))
            codes = {str(x.get("code")) for x in instance.get("reasons") or [] if x.get("code")}
            reasons.update(codes)
            for attribute in group_by:
                value: Any = values[i].get(attribute) if i < len(values) else None
                group = "unknown" if value is None else str(value)
                by_group[attribute][group].update(codes)
                sizes[attribute][group] += 1
                selected[attribute][group].append(favorable is not None and label == favorable)
    if sealed and group_by:
        notes.append(f"{sealed} record(s) have sealed or omitted sensitive values: 'unknown'")
    flags = {
        name: float(n or 0) / total if total else 0.0
        for name, n in zip(flag_names, flagged, strict=True)
    }
    hiring = domain == "hiring" and favorable is not None
    if domain == "hiring" and favorable is None:
        notes.append("no favorable class known: selection rates are not computed")
    return ModelReport(
        model=model,
        versions=sorted({x.model_version for x in records}),
        since=since,
        until=until,
        n_records=len(records),
        n_decisions=n_decisions,
        outcomes=dict(outcomes),
        quality={k: _summary(v) for k, v in sorted(quality.items())},
        rates=flags,
        reasons=dict(reasons.most_common()),
        reasons_by_group={
            a: {g: dict(c.most_common()) for g, c in sorted(groups.items())}
            for a, groups in by_group.items()
        },
        group_sizes={a: dict(sorted(c.items())) for a, c in sizes.items()},
        selection={a: _selection(selected[a], n_decisions) for a in group_by} if hiring else {},
        notes=notes,
    )
