"""Review samples: stratified at random plus a risk-weighted oversample, re-drawable forever.

The frame is every *decision* (one explained instance) that the sample's filters
find, up to ``until`` (pinned to the moment of drawing when not given, so that
records added later do not change a re-draw). Two parts:

- stratified: decisions grouped by the ``strata`` fields (outcome, model version,
  method, confidence bucket, or a cohort field ``feature:<name>``); ``size`` is shared
  out in proportion to group sizes (largest remainder), and each group contributes
  its decisions with the smallest random keys;
- risk-weighted: from the rest, ``oversample`` decisions drawn without replacement
  with probability proportional to their risk weight (the sum of the weights of their
  flags: low confidence, near the decision threshold, failed quality gate, proxy
  reason), by Efraimidis-Spirakis keys; decisions with no flag are not drawn.

Random keys are SHA-256 of (seed, record id, position): no library's random stream
is involved, so the same definition and seed over the same records give the same
sample on any machine, in any year. The definition, seed, time, frame hash and the
chosen decisions are stored.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.audit._canonical import canonical_json, sha256_json
from service.audit.schemas import RedrawOut, SampleItemOut, SampleOut, SampleRequest
from service.audit.store import AuditStore
from service.audit.tables import Decision, ExplanationRecord, Sample, SampleItem
from service.errors import InvalidInput, NotFound

__all__ = ["MAX_FRAME", "Unit", "draw", "draw_sample", "get_sample", "redraw_sample"]

MAX_FRAME = 200_000
_PLAIN_STRATA = {"outcome", "model_version", "method", "confidence_bucket"}


@dataclass(frozen=True)
class Unit:
    """One decision in a sampling frame."""

    record_id: str
    position: int
    stratum: tuple[tuple[str, Any], ...]
    flags: tuple[str, ...]


def _uniform(seed: int, salt: str, unit: Unit) -> float:
    """A uniform number in (0, 1) fixed by the seed and the decision."""
    digest = hashlib.sha256(f"{salt}|{seed}|{unit.record_id}|{unit.position}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def _allocate(counts: dict[str, int], size: int) -> dict[str, int]:
    """Share ``size`` among groups in proportion to ``counts`` (largest remainder)."""
    total = sum(counts.values())
    if size >= total:
        return dict(counts)
    exact = {k: size * n / total for k, n in counts.items()}
    share = {k: math.floor(v) for k, v in exact.items()}
    left = size - sum(share.values())
    for k in sorted(counts, key=lambda k: (share[k] - exact[k], k))[:left]:
        share[k] += 1
    return share


def draw(
    units: Sequence[Unit], *, size: int, oversample: int, weights: dict[str, float], seed: int
) -> list[tuple[Unit, str]]:
    """The sample: (unit, part) in order, stratified part first. Pure and deterministic."""
    groups: dict[str, list[Unit]] = defaultdict(list)
    for unit in sorted(units, key=lambda u: (u.record_id, u.position)):
        groups[canonical_json(unit.stratum)].append(unit)
    share = _allocate({k: len(v) for k, v in groups.items()}, size)
    picked: list[tuple[Unit, str]] = []
    for key in sorted(groups):
        ranked = sorted(groups[key], key=lambda u: _uniform(seed, "stratified", u))
        picked += [(u, "stratified") for u in ranked[: share[key]]]
    chosen = {(u.record_id, u.position) for u, _ in picked}
    keyed = []
    for u in units:
        weight = sum(weights.get(f, 0.0) for f in u.flags)
        if weight > 0 and (u.record_id, u.position) not in chosen:
            keyed.append((math.log(_uniform(seed, "risk", u)) / weight, u))
    keyed.sort(key=lambda t: (-t[0], t[1].record_id, t[1].position))
    return picked + [(u, "risk") for _, u in keyed[:oversample]]


def _flags(row: Any, request: SampleRequest) -> tuple[str, ...]:
    flags = []
    if row.confidence is not None and row.confidence < request.risk.low_confidence_below:
        flags.append("low_confidence")
    if row.margin is not None and row.margin < request.risk.near_threshold_within:
        flags.append("near_threshold")
    if row.quality_failed:
        flags.append("quality_failed")
    if row.proxy_flag:
        flags.append("proxy_flag")
    return tuple(flags)


def _stratum_value(row: Any, field: str) -> Any:
    if field.startswith("feature:"):
        return row.features.get(field.removeprefix("feature:"))
    return getattr(row, field)


def _frame(store: AuditStore, request: SampleRequest) -> list[Unit]:
    for field in request.strata:
        if field not in _PLAIN_STRATA and not field.startswith("feature:"):
            raise InvalidInput(
                f"unknown stratum {field!r}: use {sorted(_PLAIN_STRATA)} or feature:<name>",
                details={"field": "strata", "problem": "unknown stratum"},
            )
    d, r = Decision, ExplanationRecord
    query = (
        select(
            d.record_id,
            d.position,
            d.outcome,
            d.confidence,
            d.margin,
            d.confidence_bucket,
            d.quality_failed,
            d.proxy_flag,
            d.features,
            r.model_version,
            r.method,
        )
        .join(r, r.id == d.record_id)
        .where(*request.filters.to_filter().decision_clauses())
        .limit(MAX_FRAME + 1)
    )
    with store.reading() as session:
        rows = list(session.execute(query))
    if len(rows) > MAX_FRAME:
        raise InvalidInput(
            f"the filters find more than {MAX_FRAME} decisions; narrow them (model, time range)",
            details={"field": "filters", "problem": "frame too large"},
        )
    for field in request.strata:
        name = field.removeprefix("feature:")
        if field.startswith("feature:") and rows and all(name not in x.features for x in rows):
            raise InvalidInput(
                f"cohort field {name!r} is not recorded in clear (unknown or sensitive)",
                details={"field": "strata", "problem": "unknown cohort field"},
            )
    return [
        Unit(
            record_id=x.record_id,
            position=x.position,
            stratum=tuple((f, _stratum_value(x, f)) for f in request.strata),
            flags=_flags(x, request),
        )
        for x in rows
    ]


def _items(picks: list[tuple[Unit, str]]) -> list[SampleItemOut]:
    return [
        SampleItemOut(
            rank=i,
            record_id=u.record_id,
            position=u.position,
            part=part,
            stratum=dict(u.stratum),
            risk=list(u.flags),
        )
        for i, (u, part) in enumerate(picks)
    ]


def _hashes(units: Sequence[Unit], items: Sequence[SampleItemOut]) -> tuple[str, str]:
    frame = sorted(f"{u.record_id}:{u.position}" for u in units)
    chosen = [[i.record_id, i.position, i.part] for i in items]
    return sha256_json(frame), sha256_json(chosen)


def _pinned(request: SampleRequest, now: datetime) -> SampleRequest:
    filters = request.filters
    if filters.until is None:
        filters = filters.model_copy(update={"until": now})
    oversample = request.size // 5 if request.oversample is None else request.oversample
    return request.model_copy(update={"filters": filters, "oversample": oversample})


def _run(
    store: AuditStore, request: SampleRequest, seed: int
) -> tuple[list[Unit], list[SampleItemOut]]:
    units = _frame(store, request)
    picks = draw(
        units,
        size=request.size,
        oversample=request.oversample or 0,
        weights={str(k): v for k, v in request.risk.weights.items()},
        seed=seed,
    )
    return units, _items(picks)


def draw_sample(store: AuditStore, request: SampleRequest, *, created_by: str) -> SampleOut:
    """Draw a sample and store its definition, seed, frame hash and items."""
    now = datetime.now(UTC)
    seed = request.seed if request.seed is not None else secrets.randbits(62)
    definition = _pinned(request, now).model_copy(update={"seed": None})
    units, items = _run(store, definition, seed)
    frame_sha, items_sha = _hashes(units, items)
    sample = Sample(
        id=uuid.uuid4().hex,
        created_at=now,
        created_by=created_by,
        definition=definition.model_dump(mode="json", exclude={"seed"}),
        seed=seed,
        frame_size=len(units),
        frame_sha256=frame_sha,
        items_sha256=items_sha,
    )
    with store.writing() as session:
        session.add(sample)
        session.flush()
        session.add_all(
            SampleItem(
                sample_id=sample.id,
                rank=i.rank,
                record_id=i.record_id,
                position=i.position,
                part=i.part,
                stratum=i.stratum,
                risk=i.risk,
            )
            for i in items
        )
    return _out(store, sample, items)


def _with_records(store: AuditStore, items: list[SampleItemOut]) -> list[SampleItemOut]:
    """Items with their record's time, caller and reference (not part of any hash)."""
    ids = sorted({i.record_id for i in items})
    found: dict[str, tuple[datetime, str, str | None]] = {}
    r = ExplanationRecord
    with store.reading() as session:
        for start in range(0, len(ids), 500):
            rows = session.execute(
                select(r.id, r.created_at, r.caller, r.reference).where(
                    r.id.in_(ids[start : start + 500])
                )
            )
            found |= {rid: (when, caller, ref) for rid, when, caller, ref in rows}
    out = []
    for i in items:
        got = found.get(i.record_id)
        keys = ("created_at", "caller", "reference")
        out.append(i.model_copy(update=dict(zip(keys, got, strict=True))) if got else i)
    return out


def _out(store: AuditStore, sample: Sample, items: list[SampleItemOut]) -> SampleOut:
    items = _with_records(store, items)
    return SampleOut(
        id=sample.id,
        created_at=sample.created_at,
        created_by=sample.created_by,
        definition=sample.definition,
        seed=sample.seed,
        frame_size=sample.frame_size,
        frame_sha256=sample.frame_sha256,
        items_sha256=sample.items_sha256,
        items=items,
    )


def _load(store: AuditStore, sample_id: str) -> tuple[Sample, list[SampleItemOut]]:
    with store.reading() as session:
        sample = session.get(Sample, sample_id)
        if sample is None:
            raise NotFound(
                f"no sample {sample_id!r}", details={"field": "id", "problem": "unknown sample"}
            )
        rows = session.scalars(
            select(SampleItem).where(SampleItem.sample_id == sample_id).order_by(SampleItem.rank)
        )
        items = [
            SampleItemOut(
                rank=x.rank,
                record_id=x.record_id,
                position=x.position,
                part=x.part,
                stratum=x.stratum,
                risk=x.risk,
            )
            for x in rows
        ]
    return sample, items


def get_sample(store: AuditStore, sample_id: str) -> SampleOut:
    return _out(store, *_load(store, sample_id))


def redraw_sample(store: AuditStore, sample_id: str) -> RedrawOut:
    """Draw again from the stored definition and seed; say whether the same sample came out."""
    sample, _ = _load(store, sample_id)
    definition = SampleRequest.model_validate(sample.definition)
    units, items = _run(store, definition, sample.seed)
    frame_sha, items_sha = _hashes(units, items)
    return RedrawOut(
        sample_id=sample_id,
        identical=items_sha == sample.items_sha256 and frame_sha == sample.frame_sha256,
        frame_size=len(units),
        frame_sha256=frame_sha,
        items_sha256=items_sha,
        items=_with_records(store, items),
    )
