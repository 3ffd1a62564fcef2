"""Review samples: the draw is pure and deterministic; stored samples re-draw identically."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.audit import AuditStore
from service.audit.sampling import Unit, _allocate, draw, draw_sample, get_sample, redraw_sample
from service.audit.schemas import SampleRequest
from service.errors import InvalidInput
from tests.helpers.audit import add_record

WEIGHTS = {"low_confidence": 1.0, "near_threshold": 1.0, "quality_failed": 2.0, "proxy_flag": 2.0}


def _units(n: int, *, flagged: int = 0) -> list[Unit]:
    return [
        Unit(
            record_id=f"{i:032x}",
            position=0,
            stratum=(("outcome", "declined" if i % 4 else "approved"),),
            flags=("proxy_flag",) if i < flagged else (),
        )
        for i in range(n)
    ]


def test_the_same_seed_draws_the_same_sample_whatever_the_frame_order() -> None:
    units = _units(200, flagged=20)
    a = draw(units, size=30, oversample=5, weights=WEIGHTS, seed=42)
    b = draw(list(reversed(units)), size=30, oversample=5, weights=WEIGHTS, seed=42)
    assert a == b
    c = draw(units, size=30, oversample=5, weights=WEIGHTS, seed=43)
    assert [u for u, _ in a] != [u for u, _ in c]


def test_strata_get_proportional_shares() -> None:
    picks = draw(_units(200), size=40, oversample=0, weights=WEIGHTS, seed=1)
    counts = Counter(dict(u.stratum)["outcome"] for u, _ in picks)
    assert counts == {"declined": 30, "approved": 10}


def test_the_oversample_draws_only_flagged_decisions_not_already_chosen() -> None:
    units = _units(100, flagged=10)
    picks = draw(units, size=20, oversample=50, weights=WEIGHTS, seed=3)
    risk = [u for u, part in picks if part == "risk"]
    stratified = {u for u, part in picks if part == "stratified"}
    assert all(u.flags for u in risk)
    assert not stratified & set(risk)
    assert len(risk) == 10 - len([u for u in stratified if u.flags])


def test_heavier_flags_are_drawn_more_often() -> None:
    units = [
        Unit(f"{i:032x}", 0, (), ("quality_failed",) if i % 2 else ("low_confidence",))
        for i in range(400)
    ]
    heavy = 0
    for seed in range(20):
        picks = draw(units, size=0, oversample=20, weights=WEIGHTS, seed=seed)
        heavy += sum(1 for u, _ in picks if u.flags == ("quality_failed",))
    assert heavy > 0.6 * 400  # weight 2 vs 1: about two thirds of the draws


@settings(max_examples=60, deadline=None)
@given(
    counts=st.dictionaries(st.text(min_size=1, max_size=3), st.integers(1, 50), min_size=1),
    size=st.integers(0, 200),
)
def test_allocation_shares_exactly_the_size(counts: dict[str, int], size: int) -> None:
    share = _allocate(counts, size)
    assert sum(share.values()) == min(size, sum(counts.values()))
    assert all(0 <= share[k] <= counts[k] for k in counts)


def _populate(store: AuditStore) -> None:
    """30 decisions, 10 of them flagged; fixed ids, so that a seeded draw picks the same ones."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30):
        add_record(
            store,
            record_id=f"{i:032x}",
            created_at=t0 + timedelta(minutes=i),
            model="credit",
            version="1" if i < 20 else "2",
            decisions=[
                {
                    "outcome": "declined" if i % 3 else "approved",
                    "confidence": 0.55 if i % 5 == 0 else 0.9,
                    "margin": 0.1 if i % 5 == 0 else 0.8,
                    "proxy_flag": i % 7 == 0,
                    "features": {"region": "north" if i % 2 else "south"},
                }
            ],
        )


def test_a_stored_sample_redraws_identically(store: AuditStore) -> None:
    _populate(store)
    request = SampleRequest.model_validate(
        {"filters": {"model": "credit"}, "size": 10, "oversample": 3, "seed": 9,
         "strata": ["outcome", "model_version", "feature:region"]}
    )  # fmt: skip
    sample = draw_sample(store, request, created_by="tester")
    assert sample.frame_size == 30
    assert len(sample.items) == 13
    assert sample.definition["filters"]["until"] is not None
    assert sample.definition["oversample"] == 3
    assert get_sample(store, sample.id) == sample
    add_record(store, model="credit")  # newer than the pinned 'until'
    again = redraw_sample(store, sample.id)
    assert again.identical is True
    assert again.items == sample.items
    strata = {tuple(sorted(i.stratum)) for i in sample.items if i.part == "stratified"}
    assert strata == {("feature:region", "model_version", "outcome")}


def test_a_seed_is_drawn_and_kept_when_none_is_given(store: AuditStore) -> None:
    _populate(store)
    sample = draw_sample(store, SampleRequest(size=5), created_by="tester")
    assert 0 <= sample.seed < 2**62
    assert redraw_sample(store, sample.id).identical


def test_unknown_strata_are_refused(store: AuditStore) -> None:
    _populate(store)
    with pytest.raises(InvalidInput, match="unknown stratum"):
        draw_sample(store, SampleRequest(strata=["colour"]), created_by="t")
    with pytest.raises(InvalidInput, match="not recorded in clear"):
        draw_sample(store, SampleRequest(strata=["feature:gender"]), created_by="t")
