"""The audit API's wire contract: records, replays, samples, annotations, holds, keys, reports.

Like ``service.wire.schemas``, field names are a promise: fields may be added, never renamed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.audit.filters import TIME_BOUND, RecordFilter, UtcDatetime
from service.vocabulary import VERDICTS, RiskFlag, Verdict

__all__ = [
    "VERDICTS",
    "AnnotationList",
    "AnnotationOut",
    "AnnotationRequest",
    "Difference",
    "ExportRequest",
    "Filters",
    "HoldList",
    "HoldOut",
    "HoldRequest",
    "KeyCreate",
    "KeyCreated",
    "KeyList",
    "KeyOut",
    "MetricSummary",
    "ModelReport",
    "RecordDetail",
    "RecordList",
    "RecordSummary",
    "RedrawOut",
    "ReplayResult",
    "RiskSpec",
    "SampleItemOut",
    "SampleOut",
    "SampleRequest",
    "SelectionRate",
    "SignOffRequest",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filters(_In):
    """Which records (or decisions): every field optional, times inclusive."""

    model: str | None = None
    version: str | None = None
    since: UtcDatetime | None = Field(default=None, description=TIME_BOUND)
    until: UtcDatetime | None = Field(default=None, description=TIME_BOUND)
    outcome: str | None = Field(default=None, description="Predicted label, e.g. `declined`.")
    method: str | None = None
    quality_failed: bool | None = Field(default=None, description="A quality gate failed.")
    proxy_flag: bool | None = Field(default=None, description="A proxy feature was a reason.")
    caller: str | None = Field(default=None, description="API key id of the caller.")
    reference: str | None = Field(
        default=None, max_length=200, description="The caller's business reference."
    )
    purpose: Literal["decision", "preview"] = Field(
        default="decision",
        description="`decision` (the default) or `preview`: the workspace's own explanations.",
    )

    def to_filter(self) -> RecordFilter:
        return RecordFilter(**self.model_dump())


class ModelRefOut(BaseModel):
    """The model a record was made with: name, version and ONNX file hash."""

    name: str
    version: str
    sha256: str


class RecordSummary(BaseModel):
    """One explanation record in brief."""

    id: str
    created_at: datetime
    caller: str
    channel: str
    model: ModelRefOut
    method: str
    output: str
    n_instances: int
    outcomes: list[str | None]
    quality_failed: bool
    proxy_flag: bool
    review_required: bool
    record_sha256: str
    reference: str | None = Field(default=None, description="The caller's business reference.")
    purpose: Literal["decision", "preview"] = "decision"


class RecordList(BaseModel):
    """A page of explanation records, newest first."""

    explanations: list[RecordSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class RecordDetail(BaseModel):
    """The whole record: the stored document, with sealed values restored when the key allows."""

    id: str
    created_at: datetime
    request_id: str | None
    caller: str
    channel: str
    model: dict[str, Any] = Field(description="name, version, sha256 (of the ONNX file), task.")
    runtime: dict[str, Any] = Field(description="ONNX Runtime version and provider, Python.")
    request: dict[str, Any] = Field(description="The request as received, without instances.")
    input: dict[str, Any] = Field(description="Canonical rows (card order), values, sha256.")
    provenance: dict[str, Any] = Field(description="Method parameters, seed, background hash.")
    response: dict[str, Any] = Field(description="The explanation exactly as returned.")
    texts: dict[str, Any] = Field(description="Template version and locale of the wording.")
    widgets: dict[str, str] = Field(description="SHA-256 of each rendered widget, by path.")
    sensitive: dict[str, Any]
    sealed: Literal["clear", "opened", "sealed", "omitted"] = Field(
        description="`clear`: nothing redacted; `opened`: sensitive values decrypted; "
        "`sealed`: they stay encrypted (no key); `omitted`: left out by policy."
    )
    record_sha256: str = Field(description="SHA-256 of the stored document's canonical JSON.")
    sealed_sha256: str | None
    schema_version: int
    reference: str | None = Field(default=None, description="The caller's business reference.")
    purpose: Literal["decision", "preview"] = "decision"
    shown: dict[str, Any] = Field(
        default_factory=dict,
        description="What the person was sent besides the JSON: `page`, the HTML of a "
        "`format: html` request (null when withheld; see `sensitive`).",
    )


class Difference(BaseModel):
    """One way a replayed explanation differs from its record."""

    kind: Literal["value", "structure", "model_changed", "library_version", "background_changed"]
    path: str
    feature: str | None = None
    library: str | None = None
    recorded: Any = None
    replayed: Any = None


class ReplayResult(BaseModel):
    """A record's explanation recomputed, and every difference from the record."""

    record_id: str
    identical: bool = Field(description="Values, model and libraries all as recorded.")
    values_identical: bool = Field(description="Every number bitwise equal, every text equal.")
    model_changed: bool
    versions_changed: bool
    differences: list[Difference]
    replayed_at: datetime


def _default_weights() -> dict[RiskFlag, float]:
    return {"low_confidence": 1.0, "near_threshold": 1.0, "quality_failed": 2.0, "proxy_flag": 2.0}


class RiskSpec(_In):
    """How a review sample weighs risky records: thresholds and weights per flag."""

    low_confidence_below: float = Field(default=0.65, ge=0, le=1)
    near_threshold_within: float = Field(
        default=0.1, ge=0, le=1, description="Top-two probability margin counted as near."
    )
    weights: dict[RiskFlag, float] = Field(
        default_factory=_default_weights,
        description="Weight of each risk flag; a decision's weight is the sum of its flags'.",
    )


class SampleRequest(_In):
    """A new review sample: which records, how many, stratified how."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"filters": {"model": "german_credit", "outcome": "bad"}, "size": 50, "seed": 7}
            ]
        },
    )

    filters: Filters = Field(default_factory=Filters)
    size: int = Field(default=50, ge=1, le=10_000, description="Stratified random part.")
    strata: list[str] = Field(
        default_factory=lambda: ["outcome", "model_version"],
        description="`outcome`, `model_version`, `method`, `confidence_bucket`, or "
        "`feature:<name>` for a cohort field.",
    )
    oversample: int | None = Field(
        default=None, ge=0, le=10_000, description="Risk-weighted part; default size // 5."
    )
    risk: RiskSpec = Field(default_factory=RiskSpec)
    seed: int | None = Field(default=None, ge=0, le=2**62, description="Default: drawn at random.")


class SampleItemOut(BaseModel):
    """One record drawn into a review sample, with its stratum and rank."""

    rank: int
    record_id: str
    position: int
    part: Literal["stratified", "risk"]
    stratum: dict[str, Any]
    risk: list[str]
    created_at: datetime | None = Field(default=None, description="When the record was made.")
    caller: str | None = Field(default=None, description="API key id that asked for it.")
    reference: str | None = Field(default=None, description="The caller's business reference.")


class SampleOut(BaseModel):
    """A review sample: its seed, frame and the records drawn."""

    id: str
    created_at: datetime
    created_by: str
    definition: dict[str, Any] = Field(description="The request, with `filters.until` pinned.")
    seed: int
    frame_size: int = Field(description="Decisions the sample was drawn from.")
    frame_sha256: str
    items_sha256: str
    items: list[SampleItemOut]


class RedrawOut(BaseModel):
    """A review sample drawn again from its recorded seed, compared with the original."""

    sample_id: str
    identical: bool
    frame_size: int
    frame_sha256: str
    items_sha256: str
    items: list[SampleItemOut]


class AnnotationRequest(_In):
    """A new annotation: a verdict and a note about a record."""

    verdict: Verdict
    note: str = Field(default="", max_length=10_000)
    position: int | None = Field(default=None, ge=0, description="Which instance, if several.")
    supersedes: str | None = Field(
        default=None, description="Id of an earlier verdict this one corrects."
    )


class SignOffRequest(_In):
    """A second reviewer's sign-off: by the key that calls, which must not be the verdict's."""

    note: str = Field(default="", max_length=10_000)


class AnnotationOut(BaseModel):
    """A reviewer's annotation of a record (append-only)."""

    id: str
    record_id: str
    position: int | None
    kind: Literal["verdict", "signoff"]
    verdict: str | None
    note: str
    reviewer: str = Field(
        description="Who: the API key's name (else its id); free text on annotations made "
        "before reviewers were taken from keys."
    )
    caller: str = Field(description="The API key id that made the annotation.")
    created_at: datetime
    record_sha256: str
    supersedes: str | None
    signs_off: str | None
    superseded_by: str | None = None
    signed_off_by: str | None = Field(default=None, description="Id of the sign-off, if any.")
    current: bool = Field(description="A verdict nobody has superseded (sign-offs: true).")


class AnnotationList(BaseModel):
    """The annotations of a record, oldest first."""

    annotations: list[AnnotationOut]


class HoldRequest(_In):
    """A new legal hold over records a filter finds."""

    reason: str = Field(min_length=1, max_length=2_000)


class HoldOut(BaseModel):
    """A legal hold: which records it keeps from deletion, and why."""

    id: str
    record_id: str | None
    model_name: str | None
    reason: str
    created_at: datetime
    created_by: str
    released_at: datetime | None
    released_by: str | None


class HoldList(BaseModel):
    """Legal holds, active and released."""

    holds: list[HoldOut]


class ExportRequest(_In):
    """Which records to export (a sample's or a filter's) and in what format."""

    sample_id: str | None = Field(default=None, description="Export a sample's records...")
    filters: Filters | None = Field(default=None, description="...or the records a filter finds.")
    format: Literal["zip", "jsonl", "csv", "parquet"] = Field(
        default="zip",
        description="`zip`: records.jsonl, listing.csv, one HTML case packet per record and "
        "manifest.json with the SHA-256 of each; `jsonl` (manifest as the last line); `csv`: "
        "the listing, one row per decision; `parquet`: the same listing, typed.",
    )
    limit: int = Field(default=1_000, ge=1, le=10_000)


class KeyCreate(_In):
    """A new API key: its role and a name."""

    role: Literal["app", "reviewer", "admin"]
    name: str | None = Field(default=None, max_length=128)


class KeyOut(BaseModel):
    """An API key's id, role, name and state, never its secret."""

    id: str
    role: str
    name: str | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A created API key; the secret is shown this once."""

    key: str = Field(description="The key itself, shown once: it is stored only as a hash.")


class KeyList(BaseModel):
    """API keys, without their secrets."""

    keys: list[KeyOut]


class MetricSummary(BaseModel):
    """Count, mean and quantiles of one measure over records."""

    count: int
    mean: float
    min: float
    p50: float
    p90: float
    max: float


class SelectionRate(BaseModel):
    """How often one group got the favourable outcome, against the best group."""

    group: str
    count: int
    selected: int
    rate: float
    impact_ratio: float | None
    four_fifths_flag: bool = Field(description="Impact ratio below 0.8.")
    small_group: bool = Field(description="Under 2% of the decisions (excluded from the ratio).")


class ModelReport(BaseModel):
    """A model's explanations over a period: counts, quality, selection rates."""

    model: str
    versions: list[str]
    since: datetime | None
    until: datetime | None
    n_records: int
    n_decisions: int
    outcomes: dict[str, int]
    quality: dict[str, MetricSummary]
    rates: dict[str, float] = Field(
        description="Share of decisions (all in the window) with quality_failed, proxy_flag, "
        "review_required."
    )
    reasons: dict[str, int] = Field(description="Reason code -> decisions giving it.")
    reasons_by_group: dict[str, dict[str, dict[str, int]]] = Field(
        description="Group attribute -> group -> reason code -> count."
    )
    group_sizes: dict[str, dict[str, int]] = Field(
        description="Group attribute -> group -> decisions."
    )
    selection: dict[str, list[SelectionRate]] = Field(
        description="Hiring models: selection rate and impact ratio per group attribute."
    )
    notes: list[str]
