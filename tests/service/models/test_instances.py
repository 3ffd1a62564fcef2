"""Canonical input: instances from people become one float64 matrix in card column order
(categories as indices, NaN for missing), every refusal names ``instances[i].feature``,
``decode_row`` gives the person's values back, and CSV rows read the same way."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from service.errors import BundleRejected, InvalidInput
from service.models.card import ModelCard, parse_card
from service.models.instances import canonical_rows, decode_row, encode_rows, read_csv_rows

CARD = """
name: loans
version: "1"
task: classification
classes: [declined, approved]
features:
  - {name: income, range: [0, 500]}
  - {name: children, type: integer}
  - {name: employment, type: categorical, categories: [unemployed, part_time, full_time]}
  - {name: has_guarantor, type: binary}
  - {name: rating, type: categorical, categories: [1, 2, 3]}
  - {name: savings, nullable: true}
"""


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return parse_card(CARD)


def _person(**changes: Any) -> dict[str, Any]:
    person: dict[str, Any] = {
        "income": 52.5,
        "children": 2,
        "employment": "full_time",
        "has_guarantor": True,
        "rating": 3,
        "savings": 10.0,
    }
    person.update(changes)
    return person


def _problems(card: ModelCard, instances: list[Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInput) as caught:
        canonical_rows(card, instances)
    assert caught.value.status_code == 422
    return caught.value.details


def test_objects_become_rows_in_card_order(card: ModelCard) -> None:
    # keys in another order than the card's: the columns still follow the card
    person = dict(reversed(list(_person().items())))
    X = canonical_rows(card, [person, _person(employment="unemployed", has_guarantor=0)])
    assert X.dtype == np.float64
    assert X.shape == (2, 6)
    np.testing.assert_array_equal(X[0], [52.5, 2.0, 2.0, 1.0, 2.0, 10.0])
    np.testing.assert_array_equal(X[1], [52.5, 2.0, 0.0, 0.0, 2.0, 10.0])


def test_lists_are_read_in_card_order(card: ModelCard) -> None:
    X = canonical_rows(card, [[52.5, 2, "full_time", True, 3, 10.0]])
    np.testing.assert_array_equal(X, canonical_rows(card, [_person()]))


def test_no_instances_give_an_empty_matrix(card: ModelCard) -> None:
    assert canonical_rows(card, []).shape == (0, 6)


def test_categories_become_indices_and_decode_back(card: ModelCard) -> None:
    people = [
        _person(employment=e, rating=r, has_guarantor=g, savings=s)
        for e, r, g, s in [
            ("unemployed", 1, False, None),
            ("part_time", 2, True, 0.0),
            ("full_time", 3, False, 123.25),
        ]
    ]
    X = canonical_rows(card, people)
    np.testing.assert_array_equal(X[:, 2], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(X[:, 4], [0.0, 1.0, 2.0])
    for person, x in zip(people, X, strict=True):
        decoded = decode_row(card, x)
        assert list(decoded) == list(card.feature_names)
        assert decoded == {**person, "has_guarantor": int(person["has_guarantor"])}
        np.testing.assert_array_equal(canonical_rows(card, [decoded])[0], x)


def test_decoded_values_have_the_types_a_person_gives(card: ModelCard) -> None:
    decoded = decode_row(card, canonical_rows(card, [_person()])[0])
    assert type(decoded["income"]) is float
    assert type(decoded["children"]) is int
    assert type(decoded["employment"]) is str
    assert type(decoded["has_guarantor"]) is int
    assert type(decoded["rating"]) is int  # the category as the card lists it
    assert type(decoded["savings"]) is float


def test_a_nullable_feature_takes_null_as_nan(card: ModelCard) -> None:
    x = canonical_rows(card, [_person(savings=None)])[0]
    assert math.isnan(x[5])
    assert not np.isnan(x[:5]).any()
    assert decode_row(card, x)["savings"] is None


def test_every_problem_names_the_instance_and_the_feature(card: ModelCard) -> None:
    person = _person(children=1.5, extra_field=1)
    del person["income"]
    problems = _problems(card, [_person(), person])
    assert {p["field"] for p in problems} == {
        "instances[1].income",
        "instances[1].extra_field",
        "instances[1].children",
    }
    by_field = {p["field"]: p["problem"] for p in problems}
    assert by_field["instances[1].income"] == "is missing"
    assert by_field["instances[1].extra_field"] == "is not a feature of this model"
    assert by_field["instances[1].children"] == "must be a whole number; got 1.5"


def test_the_message_names_the_first_problem_and_counts_the_rest(card: ModelCard) -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_rows(card, [_person(income="a lot", children=None)])
    message = caught.value.message
    assert message.startswith("instances[0].income must be a number; got str 'a lot'")
    assert message.endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"income": "52"}, "income", "must be a number; got str '52'"),
        ({"income": True}, "income", "must be a number; got bool True"),
        ({"income": 501}, "income", "is out of the declared range [0, 500]; got 501"),
        ({"income": -0.5}, "income", "is out of the declared range [0, 500]; got -0.5"),
        ({"income": float("nan")}, "income", "must be a finite number; got nan"),
        ({"savings": float("inf")}, "savings", "must be a finite number; got inf"),
        ({"income": None}, "income", "is null but the feature is not nullable"),
        ({"children": 10**400}, "children", "must be a finite number"),
        ({"has_guarantor": 2}, "has_guarantor", "must be 0, 1, true or false; got 2"),
        ({"has_guarantor": "yes"}, "has_guarantor", "must be 0, 1, true or false; got 'yes'"),
        ({"employment": "retired"}, "employment", "unknown category 'retired'; allowed:"),
        ({"employment": 1}, "employment", "unknown category 1"),
        # a category is matched by value and kind: "3" is not 3, and True is not 1
        ({"rating": "3"}, "rating", "unknown category '3'"),
        ({"rating": True}, "rating", "unknown category True"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(
    card: ModelCard, changes: dict[str, Any], field: str, problem: str
) -> None:
    (only,) = _problems(card, [_person(**changes)])
    assert only["field"] == f"instances[0].{field}"
    assert only["problem"].startswith(problem)


def test_nan_is_missing_only_where_null_is_allowed(card: ModelCard) -> None:
    """NaN is not a way around ``nullable: false``; on a nullable feature only null is."""
    (only,) = _problems(card, [_person(savings=float("nan"))])
    assert only == {"field": "instances[0].savings", "problem": "must be a finite number; got nan"}


def test_a_list_of_the_wrong_length_names_the_instance(card: ModelCard) -> None:
    (only,) = _problems(card, [[52.5, 2, "full_time"]])
    assert only["field"] == "instances[0]"
    assert only["problem"].startswith("has 3 values; the model takes 6 in card order:")


@pytest.mark.parametrize("instance", ["income=52", 52.5, b"bytes"])
def test_an_instance_that_is_neither_object_nor_list_is_refused(
    card: ModelCard, instance: Any
) -> None:
    (only,) = _problems(card, [instance])
    assert only == {
        "field": "instances[0]",
        "problem": "must be an object keyed by feature name",
    }


def test_encode_rows_keeps_a_bad_row_in_place_as_nan(card: ModelCard) -> None:
    rows = [
        ["52.5", "2", "full_time", "1", "3", ""],
        ["52.5", "x", "full_time", "1", "3", "4"],
        ["600", "2", "retired", "0", "1", "4"],
    ]
    X, problems = encode_rows(card, rows, text=True)
    assert X.shape == (3, 6)
    np.testing.assert_array_equal(X[0, :5], [52.5, 2.0, 2.0, 1.0, 2.0])
    assert math.isnan(X[0, 5])
    assert np.isnan(X[1]).all()
    assert np.isnan(X[2]).all()
    assert problems == {
        1: [{"field": "children", "problem": "is not a number: 'x'"}],
        2: [
            {"field": "income", "problem": "is out of the declared range [0, 500]; got 600.0"},
            {
                "field": "employment",
                "problem": "unknown category 'retired'; allowed: "
                "'unemployed', 'part_time', 'full_time'",
            },
        ],
    }
    typed, none = encode_rows(card, [[52.5, 2, "full_time", True, 3, None]], text=False)
    assert none == {}
    np.testing.assert_array_equal(typed[0, :5], X[0, :5])


HEADER = "income,children,employment,has_guarantor,rating,savings\n"


def test_csv_rows_follow_the_header_into_card_order(card: ModelCard) -> None:
    shuffled = (
        "\ufeffsavings, rating,has_guarantor,employment,children,income\n"
        ",3,1,full_time,2,52.5\n"
        "\n"
        "7.5,1,0,unemployed,0,0\n"
    )
    X = read_csv_rows(card, shuffled.encode(), max_rows=10)
    assert X.shape == (2, 6)
    np.testing.assert_array_equal(X[0, :5], [52.5, 2.0, 2.0, 1.0, 2.0])
    assert math.isnan(X[0, 5])
    np.testing.assert_array_equal(X[1], [0.0, 0.0, 0.0, 0.0, 0.0, 7.5])
    assert decode_row(card, X[1])["rating"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the input CSV is empty"),
        ("income,children\n1,2\n", "the input columns do not match the card: missing"),
        (HEADER.replace("\n", ",bonus\n") + "1,1,full_time,1,1,1,9\n", "extra ['bonus']"),
        (HEADER.replace("savings", "income") + "1,1,full_time,1,1,1\n", "do not match"),
        (HEADER, "the input has no rows"),
        (HEADER + "1,1,full_time,1\n", "input line 2 has 4 cells, not 6"),
        (HEADER + "1,1,full_time,1,1,1\n1,x,full_time,1,1,1\n", "input line 3, column 'children'"),
        (HEADER + ",1,full_time,1,1,1\n", "column 'income': is null but the feature is not"),
        (HEADER + "1,1,retired,1,1,1\n", "column 'employment': unknown category 'retired'"),
        (HEADER + "1,1,full_time,1,1,1\n" * 4, "the input has more than 3 rows"),
    ],
)
def test_csv_problems_name_the_line_and_column(card: ModelCard, text: str, message: str) -> None:
    with pytest.raises(BundleRejected, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_csv_rows(card, text.encode(), max_rows=3, what="input")


def test_a_csv_cell_problem_carries_its_field_and_line(card: ModelCard) -> None:
    text = HEADER + "1,1,full_time,1,1,1\n1,1,full_time,1,1,nope\n"
    with pytest.raises(BundleRejected) as caught:
        read_csv_rows(card, text.encode(), max_rows=5)
    assert caught.value.details == [
        {"field": "background.savings", "problem": "is not a number: 'nope'", "line": 3}
    ]


def test_max_rows_counts_rows_not_lines(card: ModelCard) -> None:
    text = HEADER + "\n".join(["1,1,full_time,1,1,1"] * 3) + "\n\n\n"
    assert read_csv_rows(card, text.encode(), max_rows=3).shape == (3, 6)


def test_a_csv_that_is_not_utf8_is_refused(card: ModelCard) -> None:
    with pytest.raises(BundleRejected, match="the background is not UTF-8 text"):
        read_csv_rows(card, HEADER.encode() + b"\xff\xfe,1\n", max_rows=3)
