"""The Shapley game: v_x(S) is the mean over background rows b of f(x_S, b_rest), a one-hot
group plays as one player, chunking never changes a value, and the empty and full
coalitions are the base value and the prediction. Checked by brute force against ONNX
Runtime itself, one model call per (row, coalition, background row)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from service.explain.game import Game, all_masks
from service.models.bundle import Bundle, BundleLimits, read_bundle_dir
from service.models.runtime import OnnxModel


@pytest.fixture(scope="module")
def grouped(tiny_models_dir: Path) -> Bundle:
    """Columns a, b and a one-hot colour (three columns, one player); an MLP."""
    return read_bundle_dir(tiny_models_dir / "tiny_grouped", BundleLimits())


@pytest.fixture(scope="module")
def regression(tiny_models_dir: Path) -> Bundle:
    """f(x) = 2 x0 - x1 + 0 * ignored."""
    return read_bundle_dir(tiny_models_dir / "tiny_regression", BundleLimits())


def _game(bundle: Bundle, **overrides: object) -> Game:
    runtime = OnnxModel(bundle.model, bundle.card)
    players = bundle.card.players
    fields: dict[str, object] = {
        "predict": runtime.run,
        "background": bundle.background,
        "players": tuple(p.columns for p in players),
        "player_names": tuple(p.name for p in players),
        "output_names": bundle.card.output_names,
        "output_space": "probability",
    }
    fields.update(overrides)
    return Game(**fields)  # type: ignore[arg-type]


def _rows(bundle: Bundle) -> NDArray[np.float64]:
    """Three background rows and one row of its own (a colour no background row pairs
    with these numbers)."""
    own = np.array([[1.5, -0.25, 0.0, 0.0, 1.0]])
    return np.concatenate([bundle.background[[0, 5, 11]], own])


def _brute_force(
    bundle: Bundle, X: NDArray[np.float64], masks: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """v[i, s, k] = mean_b f(x_i on the columns of S, b elsewhere), one ORT call per row."""
    session = ort.InferenceSession(bundle.model_bytes, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    players = [p.columns for p in bundle.card.players]
    out = np.zeros((X.shape[0], masks.shape[0], len(bundle.card.output_names)))
    for i, x in enumerate(X):
        for s, mask in enumerate(masks):
            columns = [c for j, cols in enumerate(players) if mask[j] for c in cols]
            total = np.zeros(out.shape[2])
            for b in bundle.background:
                z = b.copy()
                z[columns] = x[columns]
                (y,) = session.run(["probabilities"], {name: z[None, :].astype(np.float32)})
                total += np.asarray(y, dtype=np.float64)[0]
            out[i, s] = total / bundle.background.shape[0]
    return out


def test_values_are_the_background_mean_of_the_model(grouped: Bundle) -> None:
    game = _game(grouped)
    assert game.n_players == 3
    assert game.n_columns == 5
    assert game.n_background == 20
    X = _rows(grouped)
    masks = all_masks(game.n_players)
    v = game.values(X, masks)
    assert v.shape == (X.shape[0], 8, 2)
    assert v.dtype == np.float64
    # float32 graph: the one-row kernel may round the last bit differently
    np.testing.assert_allclose(v, _brute_force(grouped, X, masks), rtol=0, atol=1e-6)


def test_a_one_hot_group_is_one_player(grouped: Bundle) -> None:
    """Every coalition row takes all of the colour columns from the row or all from the
    background: a row is never half one colour, half another."""
    runtime = OnnxModel(grouped.model, grouped.card)
    seen: list[NDArray[np.float64]] = []

    def predict(Z: NDArray[np.float64]) -> NDArray[np.float64]:
        seen.append(Z.copy())
        return runtime.run(Z)

    game = _game(grouped, predict=predict)
    assert game.players == ((0,), (1,), (2, 3, 4))
    assert game.player_names == ("a", "b", "colour")
    masks = all_masks(3)
    np.testing.assert_array_equal(
        game.column_masks(masks)[:, 2:], np.repeat(masks[:, [2]], 3, axis=1)
    )
    X = _rows(grouped)
    game.values(X, masks)
    Z = np.concatenate(seen)
    assert Z.shape == (X.shape[0] * 8 * 20, 5)
    np.testing.assert_array_equal(Z[:, 2:].sum(axis=1), 1.0)  # still exactly one colour
    colour = Z.reshape(X.shape[0], 8, 20, 5)[..., 2:]
    for s, mask in enumerate(masks):
        expected = (
            np.broadcast_to(X[:, None, 2:], (X.shape[0], 20, 3))
            if mask[2]
            else np.broadcast_to(grouped.background[None, :, 2:], (X.shape[0], 20, 3))
        )
        np.testing.assert_array_equal(colour[:, s], expected)


@pytest.mark.parametrize("chunk_rows", [1, 20, 45, 1_000])
def test_chunking_never_changes_a_value(grouped: Bundle, chunk_rows: int) -> None:
    X = _rows(grouped)
    masks = all_masks(3)
    whole = _game(grouped).values(X, masks)
    chunked = _game(grouped, chunk_rows=chunk_rows).values(X, masks)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-7)


def test_pairs_of_row_and_mask_are_the_same_values(grouped: Bundle) -> None:
    game = _game(grouped)
    X = _rows(grouped)
    masks = all_masks(3)
    full = game.values(X, masks)
    rows = np.array([3, 0, 2, 2, 1])
    picked = np.array([7, 0, 5, 1, 3])
    pairs = game.values(X, masks[picked], rows=rows)
    assert pairs.shape == (5, 2)
    np.testing.assert_allclose(pairs, full[rows, picked], rtol=0, atol=1e-7)


def test_the_empty_coalition_is_the_base_value_and_the_full_one_the_prediction(
    grouped: Bundle,
) -> None:
    game = _game(grouped)
    runtime = OnnxModel(grouped.model, grouped.card)
    X = _rows(grouped)
    v = game.values(X, all_masks(3))
    base = game.base_value()
    assert base.shape == (2,)
    np.testing.assert_allclose(base, runtime.run(grouped.background).mean(axis=0), rtol=0, atol=0)
    np.testing.assert_allclose(v[:, 0], np.broadcast_to(base, (4, 2)), rtol=0, atol=1e-7)
    np.testing.assert_allclose(v[:, -1], runtime.run(X), rtol=0, atol=1e-7)


def test_a_linear_models_game_is_linear(regression: Bundle) -> None:
    """For f = 2 x0 - x1, v(S) - v(empty) = sum over j in S of w_j (x_j - mean b_j)."""
    game = _game(regression, output_space="raw")
    X = regression.background[:4] + 0.5
    masks = all_masks(3)
    v = game.values(X, masks)[..., 0]
    w = np.array([2.0, -1.0, 0.0])
    gap = (X - regression.background.mean(axis=0)) * w  # (n, 3)
    expected = v[:, :1] + gap @ masks.T.astype(np.float64)  # (n, 8)
    np.testing.assert_allclose(v, expected, rtol=0, atol=1e-5)


def test_the_input_dtype_changes_no_value(grouped: Bundle) -> None:
    """Coalition rows built in float32 (what the graph reads) give the float64 values."""
    X = _rows(grouped)
    masks = all_masks(3)
    as64 = _game(grouped).values(X, masks)
    as32 = _game(grouped, input_dtype=np.float32).values(X, masks)
    np.testing.assert_array_equal(as32, as64)


def test_all_masks_enumerates_every_coalition_once() -> None:
    masks = all_masks(3)
    assert masks.shape == (8, 3)
    assert masks.dtype == np.bool_
    assert not masks[0].any()
    assert masks[-1].all()
    np.testing.assert_array_equal(masks[5], [True, False, True])  # bit j is player j
    assert len({m.tobytes() for m in masks}) == 8
    assert all_masks(0).shape == (1, 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"background": np.empty((0, 5))}, "non-empty 2-d"),
        ({"background": np.zeros(5)}, "non-empty 2-d"),
        ({"players": ((0,), (1,), (2, 3))}, "partition the columns exactly once"),
        ({"players": ((0,), (1, 2), (2, 3, 4))}, "partition the columns exactly once"),
        ({"player_names": ("a", "b")}, "one name per player"),
        ({"column_types": ("numeric",) * 4}, "one type per column"),
    ],
)
def test_a_malformed_game_is_refused(
    grouped: Bundle, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _game(grouped, **overrides)
