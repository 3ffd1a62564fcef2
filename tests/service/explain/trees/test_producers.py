"""Every producer's trees: exact values against shap and against brute force through ORT."""

from __future__ import annotations

import numpy as np
import pytest

from tests.service.explain.trees.cases import ATOL, RTOL, TreeCase, exact_values, shap_values
from tests.service.explain.trees.conftest import BUILDERS, SHAP_CANNOT

ALL = sorted(BUILDERS)
SHAP_CAN = [name for name in ALL if name not in SHAP_CANNOT]


def _values(case: TreeCase) -> tuple[np.ndarray, np.ndarray]:
    players = tuple(p.columns for p in case.card.players)
    values, base, _, _ = case.tree_support.interventional(case.X, case.background, players)
    return values, base


@pytest.mark.parametrize("tree_case", ALL, indirect=True)
def test_every_producer_passes_the_self_check(tree_case: TreeCase) -> None:
    described = tree_case.tree_support.describe()
    assert described["available"] is True
    assert described["self_check"]["rows"] > tree_case.background.shape[0]


@pytest.mark.parametrize("tree_case", SHAP_CAN, indirect=True)
def test_values_match_shap_interventional(tree_case: TreeCase) -> None:
    values, _ = _values(tree_case)
    np.testing.assert_allclose(values, shap_values(tree_case), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("tree_case", ALL, indirect=True)
def test_values_match_brute_force_through_onnx_runtime(tree_case: TreeCase) -> None:
    values, _ = _values(tree_case)
    np.testing.assert_allclose(values, exact_values(tree_case), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("tree_case", ALL, indirect=True)
def test_local_accuracy_against_the_raw_graph(tree_case: TreeCase) -> None:
    values, base = _values(tree_case)
    raw = tree_case.predict_raw(tree_case.X)
    np.testing.assert_allclose(base + values.sum(axis=1), raw, atol=ATOL, rtol=RTOL)
    background_raw = tree_case.predict_raw(tree_case.background)
    np.testing.assert_allclose(base, background_raw.mean(axis=0), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("tree_case", ALL, indirect=True)
def test_raw_space_follows_clarion_link(tree_case: TreeCase) -> None:
    """predict_raw is logit / centred log-probability / identity of the graph's output."""
    model, support, head = tree_case.model, tree_case.tree_support, tree_case.tree_support.head
    assert support.link == head.link
    raw, out = support.predict_raw(tree_case.X), model.run(tree_case.X)
    if head.link == "identity":
        expected = out
    elif tree_case.card.task == "regression":  # Exp head: raw is the log of the value
        expected = np.log(out)
    else:
        logp = np.log(out)
        expected = (
            np.stack([logp[:, 0] - logp[:, 1], logp[:, 1] - logp[:, 0]], axis=1)
            if head.link == "logit"
            else logp - logp.mean(axis=1, keepdims=True)
        )
    np.testing.assert_allclose(raw, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("tree_case", "link"),
    [
        ("sklearn_rf_binary", "identity"),
        ("sklearn_gb_binary", "logit"),
        ("sklearn_gb_multiclass", "log"),
        ("xgboost_poisson_exp_head", "log"),
        ("catboost_binary", "logit"),
        ("lightgbm_regression_split", "identity"),
    ],
    indirect=["tree_case"],
)
def test_heads_are_recognised(tree_case: TreeCase, link: str) -> None:
    assert tree_case.tree_support.head.link == link


@pytest.mark.parametrize("tree_case", ALL, indirect=True)
def test_one_run_gives_the_graph_s_output_and_the_margin_to_the_bit(tree_case: TreeCase) -> None:
    # An explain request in raw space needs both; one session answers them together
    # (TreeSupport.predict_joint), exactly as the model's own session and the margin
    # graph's answer them apart, or the load does not offer it.
    support, model = tree_case.tree_support, tree_case.model
    assert support.predict_joint is not None
    for rows in (tree_case.X, tree_case.background, tree_case.X[:1]):
        output, raw = support.predict_joint(rows)
        np.testing.assert_array_equal(output, model.run(rows))
        np.testing.assert_array_equal(raw, support.predict_raw(rows))
