"""Golden narratives per domain, persona and locale (regenerate: CLARION_UPDATE_GOLDEN=1).

Each file is the ``narrative`` string for one synthetic case (``cases.py``): a change in
any word shows up here as a diff a reviewer can read.
"""

from __future__ import annotations

import pytest

from service.people.narratives import LOCALES, PERSONAS
from tests.golden.check import assert_golden
from tests.service.people.narratives.cases import CASES, narrated


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", list(CASES))
def test_narrative_matches_its_golden_file(case: str, persona: str, locale: str) -> None:
    e = narrated(CASES[case], persona, locale)  # type: ignore[arg-type]
    assert_golden(f"narratives/{case}-{persona}-{locale}.txt", e.narrative + "\n")
