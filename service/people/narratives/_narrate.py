"""The narration step: reasons, confidence, review, counterfactuals and the notice for one
explained instance. The engine calls ``narrate`` once per instance, after explaining, with
the instance's attributions as numbers and its values decoded once.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.models.card import ModelCard, derived
from service.models.instances import decode_row, decode_value
from service.models.prediction import Prediction, prediction_of
from service.people.confidence import check_quality, rate, review_reasons
from service.people.counterfactuals import Predict, Search, find_counterfactuals
from service.people.narratives._compose import (
    MAX_BARS,
    Bar,
    Facts,
    InputRow,
    Persona,
    compose,
    describe_basis,
)
from service.people.narratives._text import render_text
from service.people.narratives._words import (
    feature_label,
    format_number,
    format_range,
    format_value,
    outcome_label,
    player_label,
    player_value,
    reason_text,
)
from service.people.narratives.templates import text
from service.people.reasons import (
    PlayerInfo,
    Reason,
    ReasonSet,
    outcome_sign,
    phrase_class,
    phrase_sign,
    players_info,
)
from service.people.reasons import select_reasons as _select
from service.people.told import (
    Counterfactual,
    QualityGate,
    Review,
    Screening,
    ShownReason,
    Told,
)
from service.vocabulary import Locale

__all__ = ["Locale", "narrate"]


def _lead_player(card: ModelCard, reason: Reason) -> PlayerInfo:
    by_name = derived(card, "players_by_name", lambda: {p.name: p for p in players_info(card)})
    return by_name[reason.features[0]]


def _code_label(card: ModelCard, reason: Reason, loc: str) -> str:
    """A reason code's label on the chart: its shared label when several players carry
    it, else its lead player's. Worded once per card, code, lead and locale (a chart has
    a bar per code on every instance)."""
    labels: dict[tuple[str, str, bool, str], str] = derived(card, "code_labels", dict)
    key = (reason.code, reason.features[0], len(reason.features) > 1, loc)
    label = labels.get(key)
    if label is None:
        label = labels[key] = _word_code_label(card, reason, loc)
    return label


def _word_code_label(card: ModelCard, reason: Reason, loc: str) -> str:
    shared = card.reason_codes.get(reason.code)
    if shared is not None and len(reason.features) > 1:
        local = shared.translations.get(loc) if loc != "en" else None
        if local is not None and local.label:
            return local.label
        if shared.label:
            return shared.label
    return player_label(card, _lead_player(card, reason), loc).text


def _wire_reasons(
    card: ModelCard,
    reasons: ReasonSet,
    given: dict[str, Any],
    loc: str,
    with_values: bool,
    reference: str,
) -> list[ShownReason]:
    out = []
    for r in reasons.reasons:
        lead = _lead_player(card, r)
        worded = reason_text(card, r, player_label(card, lead, loc), loc, reference)
        sentence = worded.text
        if with_values:
            value = player_value(card, lead, given, loc)
            sentence = text(loc, "reason.with_value", text=sentence, value=value)
        flags = ["proxy"] if r.proxy_for else []
        flags += ["untranslated"] if worded.untranslated else []
        flags += ["generic_copy"] if worded.generic else []
        out.append(
            ShownReason(
                code=r.code,
                text=sentence,
                features=list(r.features),
                contribution=r.contribution,
                contributions=dict(r.contributions),
                direction=r.direction,
                flags=flags,
                proxy_for=list(r.proxy_for),
            )
        )
    return out


def _counterfactuals(
    card: ModelCard,
    search: Search,
    before: dict[str, Any],
    current: str,
    persona: Persona,
    loc: str,
) -> tuple[list[Counterfactual], str]:
    out = []
    for found in search.found:
        after = decode_row(card, found.x)
        changed = set(found.columns)
        phrases = []
        for info in players_info(card):
            if not changed & set(info.columns):
                continue
            phrases.append(
                text(
                    loc,
                    "cf.change",
                    label=player_label(card, info, loc),
                    new=player_value(card, info, after, loc),
                    old=player_value(card, info, before, loc),
                )
            )
        prediction = prediction_of(card, found.probabilities)
        outcome = outcome_label(card, prediction.label or "", loc)
        if persona == "end_user":
            sentence = text(loc, "cf.item", changes="; ".join(phrases), outcome=outcome)
        else:
            chance = (prediction.probabilities or {})[prediction.label or ""]
            sentence = text(
                loc,
                "cf.analyst",
                changes="; ".join(phrases),
                outcome=outcome,
                probability=format_number(round(chance, 3), loc),
                cost=format_number(round(found.cost, 3), loc),
            )
        names = [card.features[c].name for c in sorted(changed)]
        out.append(
            Counterfactual(
                changes={n: after[n] for n in names},
                was={n: before[n] for n in names},
                prediction=prediction,
                cost=found.cost,
                text=sentence,
            )
        )
    if out:
        return out, text(loc, "cf.note")
    why = search.why_none or "none_found"
    return out, text(loc, f"cf.none.{why}", outcome=outcome_label(card, current, loc))


def _typical(card: ModelCard, info: PlayerInfo, background: NDArray[np.float64], loc: str) -> str:
    columns = background[:, list(info.columns)]
    if len(info.columns) > 1:
        hot = int(np.argmax(np.nansum(columns, axis=0)))
        return feature_label(card.features[info.columns[hot]], loc).text
    f = card.features[info.columns[0]]
    seen = columns[:, 0][~np.isnan(columns[:, 0])]
    if seen.size == 0:
        return "\u2013"
    if f.type in ("categorical", "binary"):
        values, counts = np.unique(seen, return_counts=True)
        return format_value(f, decode_value(f, float(values[int(np.argmax(counts))])), loc)
    low, high = np.quantile(seen, [0.1, 0.9])
    if f.type == "integer":
        low, high = np.round(low), np.round(high)
    return format_range(f, float(low), float(high), loc)


def narrate(
    card: ModelCard,
    x: NDArray[np.float64],
    given: dict[str, Any],
    phi: NDArray[np.float64],
    *,
    prediction: Prediction,
    target: str,
    output_value: float,
    base_value: float,
    quality: dict[str, float],
    background: NDArray[np.float64],
    predict: Predict,
    output_space: str,
    persona: Persona = "end_user",
    locale: Locale = "en",
    counterfactuals: int = 0,
) -> Told:
    """Reasons, narrative, confidence, screening, review, counterfactuals and notice.

    x: (n_features,) the canonical row, and ``given`` its values as a person gives them;
    phi: (n_players,) attributions toward ``target`` in card player order;
    background: (n_rows, n_features); predict: canonical rows -> (n, n_classes)
    probabilities (ONNX Runtime in the service), used to verify counterfactuals.
    """
    players = players_info(card)
    label = prediction.label
    toward = outcome_sign(card, target, label)
    reason_set = _select(card, phi, toward=toward, phrase=phrase_sign(card, target))
    health = card.domain == "health"
    reasons = _wire_reasons(
        card,
        reason_set,
        given,
        locale,
        with_values=health or persona != "end_user",
        reference=phrase_class(card, target),
    )
    probabilities = prediction.probabilities
    confidence = rate(card, list(probabilities.values()) if probabilities else None)
    gates = check_quality(
        quality, attributions=phi, output_value=output_value, base_value=base_value
    )
    review = review_reasons(confidence, gates)
    found: list[Counterfactual] | None = None
    note = None
    if counterfactuals > 0:
        search = find_counterfactuals(card, predict, background, x, k=counterfactuals)
        found, note = _counterfactuals(card, search, given, label or "", persona, locale)
    sign = 1.0 if toward is None else toward
    inputs = (
        sorted(
            (
                InputRow(
                    label=player_label(card, p, locale).text,
                    value=player_value(card, p, given, locale),
                    typical=_typical(card, p, background, locale),
                    contribution=sign * float(v),
                )
                for p, v in zip(players, phi, strict=True)
                if not p.protected
            ),
            key=lambda row: -abs(row.contribution),
        )
        if health
        else []
    )
    # The chart's bars: the non-zero codes, largest first, at most MAX_BARS (a row of 30
    # features had 30 worded to show 8).
    bars = [
        Bar(code=r.code, label=_code_label(card, r, locale), value=r.contribution)
        for r in islice((r for r in reason_set.ranked if r.contribution != 0), MAX_BARS)
    ]
    notice = compose(
        Facts(
            card=card,
            persona=persona,
            locale=locale,
            prediction=prediction,
            target=target,
            space=output_space,
            output_value=output_value,
            base_value=base_value,
            reasons=reasons,
            reason_set=reason_set,
            confidence=confidence,
            gates=gates,
            review=review,
            counterfactuals=found,
            counterfactual_note=note,
            inputs=inputs,
            bars=bars,
        )
    )
    return Told(
        reasons=tuple(reasons),
        narrative=render_text(notice),
        confidence=confidence.bucket,
        confidence_basis=describe_basis(confidence, locale),
        screening=Screening(
            suppressed=tuple(reason_set.screening.suppressed),
            flagged=tuple(reason_set.screening.flagged),
        ),
        review=Review(
            required=bool(review),
            why=tuple(review),
            gates=tuple(
                QualityGate(
                    name=g.name, value=g.value, limit=g.limit, at_least=g.at_least, passed=g.passed
                )
                for g in gates
            ),
        ),
        counterfactuals=tuple(found or ()),
        counterfactual_note=note,
        notice=notice,
    )
