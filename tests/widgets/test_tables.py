"""Tables as people read them: a few significant digits, blanks for what is missing."""

from __future__ import annotations

import math

import pandas as pd

from widgets.tables import format_number, table


def test_numbers_are_rounded_to_what_a_reader_needs() -> None:
    assert format_number(4.440892098500626e-16) == "4.4e-16"
    assert format_number(0.0) == "0"
    assert format_number(0.123456) == "0.123"
    assert format_number(-12.3456) == "-12.3"
    assert format_number(1234.5) == "1,234"
    assert format_number(7) == "7"
    assert format_number(None) == ""
    assert format_number(math.nan) == ""
    assert format_number(True) == "True"
    assert format_number("refused: no") == "refused: no"


def test_a_table_shows_blanks_not_none_and_keeps_its_numbers() -> None:
    rows = [
        {"run": "tree_shap", "additivity_residual": 4.440892098500626e-16, "fidelity_r2": None},
        {"run": "lime seed 0", "additivity_residual": 0.0, "fidelity_r2": 0.2},
    ]
    styled = table(rows)
    shown = styled.to_string(delimiter="|")
    assert "None" not in shown
    assert "nan" not in shown
    assert "0.0000000000000004" not in shown
    assert "4.4e-16" in shown
    frame = pd.DataFrame({"share": [0.5, None]})
    assert table(frame).to_string(delimiter="|").splitlines()[1:] == ["0|0.5", "1|"]
