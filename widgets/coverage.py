"""Copy coverage in the workspace: the service's report, laid out as tables.

The rule (which features lack a reviewed label and phrases in which locale) lives in
the service (``GET /v1/models/{name}/copy-coverage``); here the report is turned into
a summary per locale and a list of gaps, each marked with whether the feature was
seen among the reasons of the cases the page explained. ``observed_fallbacks``
counts what end users actually got: reasons the API flagged ``untranslated`` or
``generic_copy``. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from typing import Any

__all__ = ["coverage_tables", "observed_fallbacks", "reached_in"]


def coverage_tables(
    report: Mapping[str, Any], labels: Mapping[str, str], seen: Collection[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(summary per locale, one row per gap) from a copy-coverage report.

    labels: player name -> label to show; seen: players behind the reasons of a sample.
    A gap "matters" when the service says the feature can reach the top reasons and it
    did so in the sample.
    """
    summary, gaps = [], []
    for locale in report["locales"]:
        rows = [
            {
                "locale": locale["locale"],
                "feature": labels.get(g["feature"], g["feature"]),
                "missing": ", ".join(g["missing"]),
                "matters": "yes" if g["reachable"] and g["feature"] in seen else "no",
            }
            for g in locale["gaps"]
        ]
        matter = sum(1 for r in rows if r["matters"] == "yes")
        summary.append(
            {
                "locale": locale["locale"],
                "players": locale["players"],
                "with reviewed copy": locale["players"] - len(rows),
                "gaps": len(rows),
                "gaps that matter": matter,
                "complete": matter == 0,
            }
        )
        gaps += rows
    return summary, gaps


def reached_in(explanations: Iterable[Mapping[str, Any]]) -> set[str]:
    """Players behind any reason of these explanations."""
    return {f for e in explanations for r in e.get("reasons", []) for f in r.get("features", [])}


def observed_fallbacks(explanations: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Reasons shown with a fallback: ``untranslated`` and ``generic_copy`` counts, and total."""
    counts: Counter[str] = Counter()
    for e in explanations:
        for r in e.get("reasons", []):
            counts["reasons"] += 1
            for flag in r.get("flags", []):
                if flag in ("untranslated", "generic_copy"):
                    counts[flag] += 1
    return {k: counts[k] for k in ("reasons", "untranslated", "generic_copy")}
