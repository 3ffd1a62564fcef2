"""Tables as people read them: numbers to a few significant digits, blanks where nothing is.

``table`` turns rows (the dicts that ``comparison`` and ``badges`` build) into a pandas
``Styler`` that Streamlit shows as formatted text while the frame keeps its numbers
(so columns still sort by value). Without it a missing figure reads ``None`` and a
residual reads ``0.0000000000000004``. Pure: no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

__all__ = ["format_number", "table"]


def format_number(value: Any) -> str:
    """``0.123``, ``12.3``, ``1,234``, ``4.4e-16``; ``""`` for missing; text unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3g}"


def table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame) -> Styler:
    """``rows`` (or a frame) shown with every number formatted by ``format_number``."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return frame.style.format(format_number, na_rep="")
