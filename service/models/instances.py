"""Canonical input: the one place where rows from people become numbers for models.

``canonical_rows`` validates instances against the card and returns a float64
matrix in card column order (categories as indices, NaN for a missing value).
Predict, explain, replay and audit hashing all use it, so a row means the same
thing everywhere. ``decode_row`` turns a canonical row back into the values a
person typed, and ``read_csv_rows`` reads rows from CSV (a bundle's background, a batch input).
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.errors import BundleRejected, InvalidInput
from service.models.card import Feature, ModelCard, derived

__all__ = ["canonical_rows", "decode_row", "encode_rows", "encode_value", "read_csv_rows"]


class _Problem(Exception):
    """One thing wrong with one value; collected and reported together."""


def _category_index(feature: Feature, value: Any) -> int:
    categories = feature.categories or ()
    if not isinstance(value, bool):
        # The first category equal to the value: a JSON value equals a category only when
        # both are strings or both numbers, so a dict (first index per value) finds it.
        try:
            i = _indexes(categories).get(value)
        except TypeError:  # unhashable (a list, an object): no category
            i = None
        if i is not None and categories[i] == value:  # NaN is never equal to itself
            return i
    shown = ", ".join(repr(c) for c in categories[:12])
    more = " ..." if len(categories) > 12 else ""
    raise _Problem(f"unknown category {value!r}; allowed: {shown}{more}")


@functools.lru_cache(maxsize=1024)
def _indexes(categories: tuple[Any, ...]) -> dict[Any, int]:
    """Each category's first index, made once per tuple of categories."""
    index: dict[Any, int] = {}
    for i, c in enumerate(categories):
        index.setdefault(c, i)
    return index


def _shown(value: Any) -> str:
    """A value for a message, cut short: a 400-digit integer is not echoed in full."""
    try:
        text = repr(value)
    except ValueError:  # an integer over Python's digit limit for str()
        return "a number too long to show"
    return text if len(text) <= 40 else f"{text[:37]}..."


def encode_value(feature: Feature, value: Any) -> float:
    """One person-given value -> its canonical float. Raises _Problem with the reason."""
    if value is None:
        if feature.nullable:
            return math.nan
        raise _Problem("is null but the feature is not nullable")
    if feature.type == "categorical":
        return float(_category_index(feature, value))
    if feature.type == "binary":
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float) and value in (0, 1):
            return float(value)
        raise _Problem(f"must be 0, 1, true or false; got {_shown(value)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Problem(f"must be a number; got {type(value).__name__} {_shown(value)}")
    try:
        number = float(value)
    except OverflowError as exc:  # an integer literal of over 308 digits
        raise _Problem("must be a finite number; got an integer too large for a float") from exc
    if not math.isfinite(number):
        raise _Problem(f"must be a finite number; got {value!r}")
    if feature.type == "integer" and not number.is_integer():
        raise _Problem(f"must be a whole number; got {value!r}")
    if feature.range is not None:
        low, high = feature.range
        if not low <= number <= high:
            raise _Problem(f"is out of the declared range [{low:g}, {high:g}]; got {value!r}")
    return number


def canonical_rows(card: ModelCard, instances: Sequence[Any]) -> NDArray[np.float64]:
    """Validate instances (objects keyed by feature name, or lists in card order).

    Returns (n_samples, n_features) float64. Raises InvalidInput listing every
    problem, each with ``field`` (``instances[i].feature``) and ``problem``.
    """
    features = card.features
    names = derived(card, "feature_name_set", lambda: frozenset(card.feature_names))
    X = np.empty((len(instances), len(features)), dtype=np.float64)
    problems: list[dict[str, str]] = []
    for i, instance in enumerate(instances):
        if isinstance(instance, Mapping):
            extra = [k for k in instance if k not in names]
            problems += [
                {"field": f"instances[{i}].{k}", "problem": "is not a feature of this model"}
                for k in extra
            ]
            values = []
            for f in features:
                if f.name not in instance:
                    problems.append({"field": f"instances[{i}].{f.name}", "problem": "is missing"})
                values.append(instance.get(f.name))
        elif isinstance(instance, Sequence) and not isinstance(instance, str | bytes):
            if len(instance) != len(features):
                problems.append(
                    {
                        "field": f"instances[{i}]",
                        "problem": f"has {len(instance)} values; the model takes {len(features)} "
                        f"in card order: {list(card.feature_names)}",
                    }
                )
                continue
            values = list(instance)
        else:
            problems.append(
                {"field": f"instances[{i}]", "problem": "must be an object keyed by feature name"}
            )
            continue
        for j, (f, v) in enumerate(zip(features, values, strict=True)):
            if isinstance(instance, Mapping) and f.name not in instance:
                continue
            try:
                X[i, j] = encode_value(f, v)
            except _Problem as exc:
                problems.append({"field": f"instances[{i}].{f.name}", "problem": str(exc)})
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"{first['field']} {first['problem']}{more}", details=problems)
    return X


def encode_rows(
    card: ModelCard, rows: Sequence[Sequence[Any]], *, text: bool
) -> tuple[NDArray[np.float64], dict[int, list[dict[str, str]]]]:
    """Rows of a batch file, each a sequence of values in card order, leniently.

    ``text``: the values are CSV cells (parsed as ``read_csv_rows`` does); otherwise typed
    values (as an explain request's instances, e.g. from Parquet). Returns X
    (n_rows, n_features) and, for each row with anything wrong, its problems
    (``field`` = feature name, ``problem`` in the words of ``canonical_rows``); such a
    row is NaN in X and stays in place, so one bad row never fails the others.
    """
    features = card.features
    X = np.empty((len(rows), len(features)), dtype=np.float64)
    problems: dict[int, list[dict[str, str]]] = {}
    for i, row in enumerate(rows):
        for j, (f, value) in enumerate(zip(features, row, strict=True)):
            try:
                X[i, j] = encode_value(f, _parse_cell(f, value) if text else value)
            except _Problem as exc:
                problems.setdefault(i, []).append({"field": f.name, "problem": str(exc)})
        if i in problems:
            X[i] = np.nan
    return X, problems


def decode_value(feature: Feature, value: float) -> Any:
    if math.isnan(value):
        return None
    if feature.type == "categorical":
        return (feature.categories or ())[int(value)]
    if feature.type in ("binary", "integer"):
        return int(value)
    return float(value)


def decode_row(card: ModelCard, x: NDArray[np.float64]) -> dict[str, Any]:
    """A canonical row (n_features,) -> {feature name: value as a person gives it}."""
    return {f.name: decode_value(f, float(v)) for f, v in zip(card.features, x, strict=True)}


def read_csv_rows(
    card: ModelCard, data: bytes, *, max_rows: int, what: str = "background"
) -> NDArray[np.float64]:
    """Parse a CSV of rows (header of feature names) into (n_rows, n_features).

    Raises BundleRejected naming the column, row and problem; ``what`` names the
    file in messages ("background", "input").
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BundleRejected(f"the {what} is not UTF-8 text") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise BundleRejected(f"the {what} CSV is empty; it needs a header of feature names")
    header = [h.strip() for h in header]
    names = list(card.feature_names)
    missing = [n for n in names if n not in header]
    extra = [h for h in header if h not in names]
    if missing or extra or len(header) != len(set(header)):
        raise BundleRejected(
            f"the {what} columns do not match the card: missing {missing}, extra {extra}",
            details={"field": what, "problem": "columns do not match the card"},
        )
    order = [header.index(n) for n in names]
    rows: list[list[float]] = []
    for line, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(rows) >= max_rows:
            raise BundleRejected(f"the {what} has more than {max_rows} rows")
        if len(cells) != len(header):
            raise BundleRejected(f"{what} line {line} has {len(cells)} cells, not {len(header)}")
        row = []
        for f, k in zip(card.features, order, strict=True):
            try:
                row.append(encode_value(f, _parse_cell(f, cells[k])))
            except _Problem as exc:
                raise BundleRejected(
                    f"{what} line {line}, column {f.name!r}: {exc}",
                    details={"field": f"{what}.{f.name}", "problem": str(exc), "line": line},
                ) from exc
        rows.append(row)
    if not rows:
        raise BundleRejected(f"the {what} has no rows")
    return np.asarray(rows, dtype=np.float64)


def _parse_cell(feature: Feature, cell: str) -> Any:
    cell = cell.strip()
    if cell == "":
        return None
    if feature.type == "categorical":
        for c in feature.categories or ():
            if str(c) == cell:
                return c
        return cell
    try:
        number = float(cell)
    except ValueError as exc:
        raise _Problem(f"is not a number: {cell!r}") from exc
    return int(number) if feature.type in ("binary", "integer") and number.is_integer() else number
