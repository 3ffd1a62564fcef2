"""One case explained by several methods and seeds, and how far the explanations agree.

``run_comparison`` asks the API for each method (sampling methods once per seed,
the API's deterministic methods once) and keeps every answer, including refusals in
the API's words;
``agreement_rows``, ``stability_rows`` and ``quality_rows`` turn the runs into the
tables the compare page shows. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from widgets.agreement import agree, attribution_map, seed_stability
from widgets.client import ClarionClient, ClientError

__all__ = [
    "Run",
    "agreement_rows",
    "parse_seeds",
    "pick_reference",
    "quality_rows",
    "run_comparison",
    "stability_rows",
]


@dataclass(frozen=True)
class Run:
    """One explanation of the case (or the API's refusal)."""

    method: str
    seed: int | None
    attributions: Mapping[str, float] = field(default_factory=dict)
    quality: Mapping[str, float] = field(default_factory=dict)
    total_ms: float | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.method if self.seed is None else f"{self.method} seed {self.seed}"

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_seeds(text: str) -> list[int]:
    """``"0, 1 2"`` -> ``[0, 1, 2]``; duplicates dropped, order kept."""
    seeds: list[int] = []
    for token in text.replace(",", " ").split():
        try:
            seed = int(token)
        except ValueError as exc:
            raise ValueError(f"seeds must be whole numbers; got {token!r}") from exc
        if seed < 0:
            raise ValueError(f"seeds must be 0 or more; got {seed}")
        if seed not in seeds:
            seeds.append(seed)
    if not seeds:
        raise ValueError("give at least one seed")
    return seeds


def run_comparison(
    client: ClarionClient,
    model: str,
    instance: Mapping[str, Any],
    methods: Sequence[str],
    seeds: Sequence[int],
    *,
    output: str | None = None,
) -> list[Run]:
    """Explain ``instance`` with every method (and seed); refusals become runs with an error.

    A method whose values do not depend on the seed (the vocabulary's
    ``deterministic_methods``) runs once, without a seed.
    """
    deterministic = set(client.vocabulary()["deterministic_methods"])
    runs = []
    for method in methods:
        for seed in [None] if method in deterministic else seeds:
            try:
                response = client.explain(
                    model,
                    [instance],
                    method=method,
                    output=output,
                    persona="analyst",
                    options={} if seed is None else {"seed": seed},
                )
            except ClientError as exc:
                runs.append(Run(method, seed, error=exc.message))
                continue
            e = response["explanations"][0]
            runs.append(
                Run(
                    method,
                    seed,
                    attributions=attribution_map(e),
                    quality=dict(e.get("quality", {})),
                    total_ms=response.get("timing", {}).get("total_ms"),
                )
            )
    return runs


def pick_reference(runs: Sequence[Run]) -> Run | None:
    """The first run of a deterministic method that worked (run once, so without a seed;
    methods in the order given, the API's order on the compare page), else the first run
    that worked."""
    good = [r for r in runs if r.ok]
    exact = [r for r in good if r.seed is None]
    return next(iter(exact or good), None)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def agreement_rows(runs: Sequence[Run], reference: Run, k: int) -> list[dict[str, Any]]:
    """Each other run's agreement with ``reference``: top-k overlap, signs, rank correlations."""
    rows = []
    for run in runs:
        if not run.ok or run is reference:
            continue
        a = agree(reference.attributions, run.attributions, k)
        rows.append(
            {
                "run": run.name,
                f"top-{k} overlap": _r(a.top_k_overlap),
                "sign agreement": _r(a.sign_agreement),
                "Spearman rho": _r(a.spearman),
                "Kendall tau": _r(a.kendall),
            }
        )
    return rows


def stability_rows(runs: Sequence[Run], k: int) -> list[dict[str, Any]]:
    """Per sampling method run under several seeds: mean pairwise agreement across seeds."""
    rows = []
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r.attributions for r in runs if r.method == method and r.ok]
        stability = seed_stability(mine, k)
        if stability is None:
            continue
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                f"top-{k} overlap": _r(stability.top_k_overlap),
                "sign agreement": _r(stability.sign_agreement),
                "Spearman rho": _r(stability.spearman),
                "Kendall tau": _r(stability.kendall),
            }
        )
    return rows


def quality_rows(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Each run's own quality figures (or its refusal), with its time."""
    metrics = sorted({m for r in runs for m in r.quality})
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run": run.name,
            "status": "ok" if run.ok else f"refused: {run.error}",
            "ms": None if run.total_ms is None else round(run.total_ms, 1),
        }
        row.update({m: run.quality.get(m) for m in metrics})
        rows.append(row)
    return rows
