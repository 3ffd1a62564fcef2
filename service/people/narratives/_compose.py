"""Compose a notice: every sentence a persona is shown, decided once.

The notice is the one rendering source: ``render_text`` turns it into the
``narrative`` string and ``widgets`` turn it into HTML, so the two cannot say
different things. Personas:

- ``end_user``: outcome, two to four reasons in words, confidence as a bucket,
  what could change this, scope and rights; no model numbers. When confidence is low
  or a quality gate failed, the review message replaces reasons, chart and options.
  Domain variants: credit adverse-action notice, hiring candidate notice, and a
  clinician-facing health view that lists the inputs behind the estimate.
- ``analyst``: the same decision with numbers: probabilities, contributions, codes,
  flags, confidence basis, quality gates, counterfactual costs.
- ``audit``: the analyst view plus screening (what was kept out and how much it
  weighed), every reason code with its raw contributions, and the template record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.models.card import ModelCard
from service.models.prediction import Prediction
from service.people.confidence import DEFAULT_THRESHOLDS, Confidence, Gate
from service.people.narratives._words import (
    format_number,
    format_percent,
    format_signed,
    outcome_label,
)
from service.people.narratives.templates import TEMPLATE_VERSION, text
from service.people.notice import ChartBar, Notice, NoticeChart, NoticeSection, NoticeTable
from service.people.reasons import ReasonSet, outcome_sign, phrase_sign
from service.people.told import Counterfactual, ShownReason
from service.vocabulary import Persona

__all__ = ["Bar", "Facts", "InputRow", "Persona", "compose", "describe_basis", "domain_of"]

DOMAINS = ("credit", "hiring", "health")
MAX_BARS = 8
# EU member states: a card's jurisdiction falls back to the EU's wording (GDPR) when the
# templates have none of its own.
EU_MEMBERS = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})  # fmt: skip


@dataclass(frozen=True)
class InputRow:
    """One input of the clinician view; contribution toward the outcome (0: unknown)."""

    label: str
    value: str
    typical: str
    contribution: float


@dataclass(frozen=True)
class Bar:
    code: str
    label: str
    value: float  # toward the outcome (regression: toward a higher estimate)


@dataclass(frozen=True)
class Facts:
    """Everything the words depend on, already worded where the card supplies words."""

    card: ModelCard
    persona: Persona
    locale: str
    prediction: Prediction
    target: str
    space: str
    output_value: float
    base_value: float
    reasons: Sequence[ShownReason]
    reason_set: ReasonSet
    confidence: Confidence
    gates: Sequence[Gate]
    review: Sequence[str]
    counterfactuals: Sequence[Counterfactual] | None  # None: not asked for
    counterfactual_note: str | None
    inputs: Sequence[InputRow]
    bars: Sequence[Bar]  # what the chart shows: non-zero, largest first, at most MAX_BARS


def domain_of(card: ModelCard) -> str:
    return card.domain if card.domain in DOMAINS else "general"


def _kind(card: ModelCard, label: str | None) -> str:
    if card.task == "regression":
        return "regression"
    if card.favorable_class is None or label is None:
        return "neutral"
    return "favorable" if label == card.favorable_class else "adverse"


def _and(items: Sequence[str], locale: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {text(locale, 'list.and')} {items[-1]}"


def _p(f: Facts) -> float:
    probabilities = f.prediction.probabilities or {}
    return float(probabilities.get(f.prediction.label or "", 0.0))


def _lead(f: Facts, domain: str, kind: str) -> tuple[str, str]:
    loc, card = f.locale, f.card
    if f.persona != "end_user":
        title = text(loc, f"title.{f.persona}", model=card.name, version=card.version)
        if kind == "regression":
            lead = text(
                loc,
                "lead.analyst.regression",
                value=format_number(f.prediction.value or 0.0, loc),
                space=text(loc, f"space.{f.space}"),
                output=format_number(f.output_value, loc),
                base=format_number(f.base_value, loc),
            )
        else:
            lead = text(
                loc,
                "lead.analyst.classification",
                label=f.prediction.label,
                probability=format_number(round(_p(f), 3), loc),
                target=f.target,
                space=text(loc, f"space.{f.space}"),
                output=format_number(f.output_value, loc),
                base=format_number(f.base_value, loc),
            )
        return title, lead
    title = text(loc, f"title.{domain}")
    # Under review no outcome is announced: a person decides, so "not in your favour"
    # followed by "a person will review it" would contradict itself.
    review = [f"lead.{domain}.review", "lead.general.review"]
    lead = text(
        loc,
        *(review if f.review and domain != "health" else []),
        f"lead.{domain}.{kind}",
        f"lead.{domain}.classification",
        f"lead.general.{kind}",
        outcome=outcome_label(card, f.prediction.label or "", loc),
        probability=format_percent(_p(f), loc),
        value=format_number(float(f"{f.prediction.value or 0.0:.3g}"), loc),
        base=format_number(float(f"{f.base_value:.3g}"), loc),
    )
    return title, lead


def _inputs(f: Facts, *, effect: bool) -> NoticeSection:
    loc = f.locale
    columns = ["inputs.col.input", "inputs.col.value", "inputs.col.typical"]
    columns += ["inputs.col.effect"] if effect else []
    total = sum(abs(r.contribution) for r in f.inputs) or 1.0
    rows = []
    for r in f.inputs:
        row = [r.label, r.value, r.typical]
        if effect:
            small = abs(r.contribution) < 0.02 * total
            word = "little" if small else "raised" if r.contribution > 0 else "lowered"
            row.append(text(loc, f"effect.{word}"))
        rows.append(row)
    return NoticeSection(
        kind="inputs",
        heading=text(loc, "inputs.heading"),
        paragraphs=[text(loc, "inputs.note")],
        table=NoticeTable(columns=[text(loc, c) for c in columns], rows=rows),
    )


def _end_user(f: Facts, domain: str, kind: str) -> list[NoticeSection]:
    loc = f.locale
    sections = []
    if f.review:
        message = text(loc, f"review.end_user.{domain}", "review.end_user")
        sections.append(
            NoticeSection(kind="review", heading=text(loc, "review.heading"), paragraphs=[message])
        )
        if domain == "health":
            sections.append(_inputs(f, effect=False))
    else:
        heading = text(
            loc,
            f"reasons.heading.{domain}.{kind}",
            f"reasons.heading.{domain}",
            "reasons.heading.general",
        )
        sections.append(
            NoticeSection(
                kind="reasons",
                heading=heading,
                items=[r.text for r in f.reasons],
                paragraphs=[] if f.reasons else [text(loc, "reasons.none")],
            )
        )
        if domain == "health":
            sections.append(_inputs(f, effect=True))
        sections.append(
            NoticeSection(
                kind="confidence",
                heading=text(loc, "confidence.heading"),
                paragraphs=[text(loc, f"confidence.{f.confidence.bucket}")],
            )
        )
        if f.counterfactuals:
            sections.append(
                NoticeSection(
                    kind="counterfactuals",
                    heading=text(loc, "cf.heading"),
                    items=[c.text for c in f.counterfactuals],
                    paragraphs=[f.counterfactual_note or ""],
                )
            )
    # The scope sentence speaks of "these factors": under review there are none.
    scope = [f"scope.review.{domain}", "scope.review"] if f.review else ["scope"]
    sections.append(NoticeSection(kind="scope", paragraphs=[text(loc, *scope)]))
    sections.append(
        NoticeSection(
            kind="rights",
            heading=text(loc, f"rights.heading.{domain}", "rights.heading"),
            paragraphs=[text(loc, *rights_keys(domain, f.card.jurisdiction))],
        )
    )
    return sections


def rights_keys(domain: str, jurisdiction: str | None) -> list[str]:
    """The rights paragraph's template keys, most specific first: the card's jurisdiction,
    the EU for a member state, then the domain's wording that names no law."""
    keys = []
    if jurisdiction is not None:
        keys.append(f"rights.{domain}.{jurisdiction}")
        if jurisdiction in EU_MEMBERS:
            keys.append(f"rights.{domain}.EU")
    return [*keys, f"rights.{domain}"]


def describe_basis(confidence: Confidence, locale: str) -> str:
    """How the bucket's thresholds were set: the card's calibration record, else a template."""
    if confidence.calibrated:
        return confidence.basis
    if confidence.probability is None:
        return text(locale, "confidence.basis.regression")
    high, moderate = DEFAULT_THRESHOLDS
    return text(
        locale,
        "confidence.basis.default",
        high=format_number(high, locale),
        moderate=format_number(moderate, locale),
    )


def _analyst(f: Facts, kind: str) -> list[NoticeSection]:
    loc, card = f.locale, f.card
    sections = []
    if f.review:
        why = _and([text(loc, f"why.{w}") for w in f.review], loc)
        sections.append(
            NoticeSection(kind="review", paragraphs=[text(loc, "analyst.review", why=why)])
        )
    if kind == "regression":
        heading = text(loc, "analyst.reasons.heading.regression")
    else:
        outcome = outcome_label(card, f.prediction.label or "", loc)
        heading = text(loc, "analyst.reasons.heading", outcome=outcome)
    items = []
    for r in f.reasons:
        detail = ", ".join(f"{name} {format_signed(v, loc)}" for name, v in r.contributions.items())
        if r.proxy_for:
            flag = text(loc, "analyst.flag.proxy", attributes=", ".join(r.proxy_for))
            detail = f"{detail}; {flag}"
        items.append(text(loc, "analyst.reason", code=r.code, text=r.text, detail=detail))
    sections.append(
        NoticeSection(
            kind="reasons",
            heading=heading,
            items=items,
            paragraphs=[] if items else [text(loc, "reasons.none")],
        )
    )
    if f.reason_set.screening.flagged:
        flagged = [
            f"{name} ({text(loc, 'analyst.proxy_of', attributes=', '.join(r.proxy_for))})"
            for r in f.reasons
            for name in r.features
            if name in f.reason_set.screening.flagged
        ]
        sections.append(
            NoticeSection(
                kind="flags", paragraphs=[text(loc, "analyst.flagged", features="; ".join(flagged))]
            )
        )
    bucket = text(loc, f"bucket.{f.confidence.bucket}")
    if f.confidence.probability is None:
        confidence = text(
            loc,
            "analyst.confidence.regression",
            bucket=bucket,
            basis=describe_basis(f.confidence, loc),
        )
    else:
        p = format_number(round(f.confidence.probability, 3), loc)
        confidence = text(
            loc,
            "analyst.confidence",
            bucket=bucket,
            probability=p,
            basis=describe_basis(f.confidence, loc),
        )
    sections.append(
        NoticeSection(
            kind="confidence", heading=text(loc, "confidence.heading"), paragraphs=[confidence]
        )
    )
    gates = [
        text(
            loc,
            "analyst.gate",
            name=g.name,
            value=format_number(g.value, loc) if g.value else "0",
            op="\u2265" if g.at_least else "\u2264",
            limit=format_number(g.limit, loc) if g.limit else "0",
            status=text(loc, "gate.passed" if g.passed else "gate.failed"),
        )
        for g in f.gates
    ]
    sections.append(
        NoticeSection(
            kind="quality",
            heading=text(loc, "analyst.quality.heading"),
            items=gates,
            paragraphs=[] if gates else [text(loc, "analyst.gate.none")],
        )
    )
    if f.counterfactuals is not None:
        sections.append(
            NoticeSection(
                kind="counterfactuals",
                heading=text(loc, "cf.heading"),
                items=[c.text for c in f.counterfactuals],
                paragraphs=[f.counterfactual_note or ""],
            )
        )
    return sections


def _audit(f: Facts) -> list[NoticeSection]:
    loc, screening = f.locale, f.reason_set.screening
    paragraphs = [
        text(loc, "audit.suppressed", features=", ".join(screening.suppressed))
        if screening.suppressed
        else text(loc, "audit.suppressed.none")
    ]
    protected = f.reason_set.suppressed_contributions
    if protected:
        weights = ", ".join(f"{n} {format_signed(v, loc)}" for n, v in protected.items())
        paragraphs.append(text(loc, "audit.protected", features=weights))
    rows = [
        [
            r.code,
            ", ".join(r.features),
            format_signed(r.contribution, loc),
            ", ".join(f"{n} {format_signed(v, loc)}" for n, v in r.contributions.items()),
        ]
        for r in f.reason_set.ranked
    ]
    columns = ["audit.col.code", "audit.col.features", "audit.col.contribution", "audit.col.raw"]
    record = text(
        loc,
        "audit.record",
        version=TEMPLATE_VERSION,
        locale=loc,
        persona=f.persona,
        space=text(loc, f"space.{f.space}"),
        target=f.target,
        max_reasons=f.card.max_reasons,
    )
    return [
        NoticeSection(
            kind="screening", heading=text(loc, "audit.screening.heading"), paragraphs=paragraphs
        ),
        NoticeSection(
            kind="codes",
            heading=text(loc, "audit.codes.heading"),
            table=NoticeTable(columns=[text(loc, c) for c in columns], rows=rows),
        ),
        NoticeSection(
            kind="record", heading=text(loc, "audit.record.heading"), paragraphs=[record]
        ),
    ]


def _chart(f: Facts, kind: str) -> NoticeChart | None:
    bars = f.bars
    if not bars or (f.persona == "end_user" and f.review):
        return None
    loc = f.locale
    suffix = ".regression" if kind == "regression" else ""
    top = max(bars, key=lambda b: b.value if kind != "regression" else abs(b.value))
    columns = ["chart.col.factor", "chart.col.effect"]
    columns += ["chart.col.value"] if f.persona != "end_user" else []
    return NoticeChart(
        title=text(loc, "chart.title"),
        alt=text(loc, f"chart.alt{suffix}", n=len(bars), top=top.label),
        toward=text(loc, f"chart.toward{suffix}"),
        against=text(loc, f"chart.against{suffix}"),
        bars=[
            ChartBar(
                code=b.code,
                label=b.label,
                value=b.value,
                text=text(loc, f"bar.{'toward' if b.value > 0 else 'against'}{suffix}"),
                shown=format_signed(b.value, loc) if f.persona != "end_user" else "",
            )
            for b in bars
        ],
        show_values=f.persona != "end_user",
        table_caption=text(loc, "chart.table_caption"),
        columns=[text(loc, c) for c in columns],
        toward_raises=kind == "regression"
        or (outcome_sign(f.card, f.target, f.prediction.label) or 1.0)
        * phrase_sign(f.card, f.target)
        > 0,
    )


def compose(f: Facts) -> Notice:
    """The notice for one explained instance, in ``f.locale`` for ``f.persona``."""
    domain = domain_of(f.card)
    kind = _kind(f.card, f.prediction.label)
    title, lead = _lead(f, domain, kind)
    if f.persona == "end_user":
        sections = _end_user(f, domain, kind)
    else:
        sections = _analyst(f, kind)
        if f.persona == "audit":
            sections += _audit(f)
    return Notice(
        template_version=TEMPLATE_VERSION,
        locale=f.locale,
        persona=f.persona,
        domain=domain,
        title=title,
        lead=lead,
        sections=sections,
        chart=_chart(f, kind),
    )
