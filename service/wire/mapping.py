"""The one mapping between the v1 wire schemas and the engine's domain values.

Faces (API routes, the CLI) turn a request into rows and an ``ExplainSpec`` here, and an
``ExplainResult`` into an ``ExplainResponse``; the audit recorder's document builder stores
the response exactly as this module maps it, so a record and the response a caller got
cannot differ. Nothing below the faces imports this module.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict
from typing import Any

from service.models.card import ModelCard
from service.models.prediction import Prediction
from service.people.coverage import CoverageReport
from service.people.notice import Notice
from service.people.told import Counterfactual, Review, Screening, ShownReason
from service.results import ExplainedInstance, ExplainResult, ExplainSpec, PredictResult
from service.wire import schemas as w

__all__ = [
    "copy_coverage",
    "explain_response",
    "explain_spec",
    "instance_explanation",
    "notice",
    "predict_response",
    "prediction",
    "request_fields",
]


def explain_spec(request: w.ExplainRequest) -> ExplainSpec:
    """Everything the request asks besides its instances."""
    return ExplainSpec(
        method=request.method,
        output=request.output,
        target=request.target,
        options=dict(request.options),
        persona=request.persona,
        locale=request.locale,
        counterfactuals=request.counterfactuals,
        format=request.format,
        widget=request.widget,
        theme=request.theme,
    )


def request_fields(spec: ExplainSpec) -> dict[str, Any]:
    """The request as the wire states it, without instances (what an audit record keeps):
    ``ExplainSpec``'s fields are the explain request's (a test keeps them equal)."""
    fields = asdict(spec)
    fields["options"] = dict(spec.options)
    return fields


def prediction(p: Prediction) -> w.Prediction:
    return w.Prediction(
        label=p.label,
        probabilities=dict(p.probabilities) if p.probabilities is not None else None,
        value=p.value,
    )


def predict_response(result: PredictResult) -> w.PredictResponse:
    return w.PredictResponse(
        model=w.ModelRef(
            name=result.model.name, version=result.model.version, sha256=result.model.sha256
        ),
        predictions=[prediction(p) for p in result.predictions],
    )


def _reason(r: ShownReason) -> w.Reason:
    return w.Reason(
        code=r.code,
        text=r.text,
        features=list(r.features),
        contribution=r.contribution,
        contributions=dict(r.contributions),
        direction=r.direction,
        flags=list(r.flags),
        proxy_for=list(r.proxy_for),
    )


def _counterfactual(c: Counterfactual) -> w.Counterfactual:
    return w.Counterfactual(
        changes=dict(c.changes),
        was=dict(c.was),
        prediction=prediction(c.prediction),
        cost=c.cost,
        text=c.text,
    )


def _screening(s: Screening) -> w.Screening:
    return w.Screening(suppressed=list(s.suppressed), flagged=list(s.flagged))


def _review(r: Review) -> w.Review:
    return w.Review(
        required=r.required,
        why=list(r.why),
        gates=[
            w.QualityGate(
                name=g.name, value=g.value, limit=g.limit, at_least=g.at_least, passed=g.passed
            )
            for g in r.gates
        ],
    )


def notice(n: Notice) -> w.Notice:
    return w.Notice(
        template_version=n.template_version,
        locale=n.locale,
        persona=n.persona,
        domain=n.domain,
        title=n.title,
        lead=n.lead,
        sections=[
            w.NoticeSection(
                kind=s.kind,
                heading=s.heading,
                paragraphs=list(s.paragraphs),
                items=list(s.items),
                table=(
                    w.NoticeTable(
                        columns=list(s.table.columns), rows=[list(r) for r in s.table.rows]
                    )
                    if s.table is not None
                    else None
                ),
            )
            for s in n.sections
        ],
        chart=(
            w.NoticeChart(
                title=n.chart.title,
                alt=n.chart.alt,
                toward=n.chart.toward,
                against=n.chart.against,
                bars=[
                    w.ChartBar(
                        code=b.code, label=b.label, value=b.value, text=b.text, shown=b.shown
                    )
                    for b in n.chart.bars
                ],
                show_values=n.chart.show_values,
                table_caption=n.chart.table_caption,
                columns=list(n.chart.columns),
            )
            if n.chart is not None
            else None
        ),
    )


def _attributions(card: ModelCard, e: ExplainedInstance) -> list[w.Attribution]:
    features = card.features
    out = []
    for j, p in enumerate(card.players):
        value: Any
        if len(p.columns) == 1:
            value = e.given[features[p.columns[0]].name]
        else:
            value = {features[c].name: e.given[features[c].name] for c in p.columns}
        out.append(
            w.Attribution(
                feature=p.name, label=p.label, value=value, attribution=float(e.attributions[j])
            )
        )
    return out


def instance_explanation(card: ModelCard, e: ExplainedInstance) -> w.InstanceExplanation:
    told = e.told
    return w.InstanceExplanation(
        prediction=prediction(e.prediction),
        target=e.target,
        output_value=e.output_value,
        base_value=e.base_value,
        attributions=_attributions(card, e),
        quality=dict(e.quality),
        reasons=[_reason(r) for r in told.reasons],
        narrative=told.narrative,
        confidence=told.confidence,
        confidence_basis=told.confidence_basis,
        screening=_screening(told.screening),
        review=_review(told.review),
        counterfactuals=[_counterfactual(c) for c in told.counterfactuals],
        counterfactual_note=told.counterfactual_note,
        notice=notice(told.notice) if told.notice is not None else None,
    )


# One mapping per result: the recorder's document and the route's response share it.
_RESPONSES: weakref.WeakKeyDictionary[ExplainResult, w.ExplainResponse] = (
    weakref.WeakKeyDictionary()
)


def explain_response(result: ExplainResult) -> w.ExplainResponse:
    """The v1 response of a result; mapped once per result, however often it is asked for."""
    response: w.ExplainResponse | None = _RESPONSES.get(result)
    if response is None:
        response = _RESPONSES[result] = _explain_response(result)
    return response


def _explain_response(result: ExplainResult) -> w.ExplainResponse:
    p = result.provenance
    return w.ExplainResponse(
        id=result.id,
        model=w.ModelRef(
            name=result.model.name, version=result.model.version, sha256=result.model.sha256
        ),
        method=result.method,
        output=result.output,
        provenance=w.Provenance(
            seed=p.seed,
            parameters=dict(p.parameters),
            algorithm=p.algorithm,
            background_sha256=p.background_sha256,
            background_rows=p.background_rows,
            provider=p.provider,
            versions=dict(p.versions),
        ),
        explanations=[instance_explanation(result.card, e) for e in result.instances],
        timing=dict(result.timing),
    )


def copy_coverage(report: CoverageReport) -> w.CopyCoverage:
    """The report as the API returns it (``GET /v1/models/{name}/copy-coverage``)."""
    return w.CopyCoverage(
        model=report.model,
        version=report.version,
        basis=report.basis,
        complete=report.complete,
        locales=[
            w.LocaleCoverage(
                locale=c.locale,
                players=c.players,
                complete=c.complete,
                gaps=[
                    w.CopyGap(feature=g.feature, missing=list(g.missing), reachable=g.reachable)
                    for g in c.gaps
                ],
            )
            for c in report.locales
        ],
    )
