"""How far can sampling the probability residual of a tree ensemble go? (issue 14, item 3)

tree_shap in probability space, beyond enumeration, is exact raw TreeSHAP as a control
variate plus a sampled residual (``service.explain.explainers._tree_probability``). This
script measures, on the german_credit bundle (150 trees, 20 players, its 100-row
background), where that estimator's error comes from and how many samples an error of
1e-3 takes, against exact values computed here by enumeration.

The estimator's unit is an antithetic pair of chains (a permutation and its reverse) from
one background row b. Its error per pair has two parts, measured separately:

- **between references**: the spread over b of the exact single-reference residual values
  (phi_b - cv_b). One pair sees one b, so this part falls only as 1 / pairs;
- **within a reference**: the spread of one pair's estimate around phi_b - cv_b. A pair is
  exact for games with interactions of order two at most, so this part is what the
  trees' higher-order interactions, bent by the link, leave.

Three control variates cv_b are compared, each a slope times the raw game:
- **least squares** (what tree_shap uses): one slope per row, sum_b dp_b df_b / sum_b df_b^2
  over the pairs (x, b), its Shapley values from the pooled path tables at the cost of one
  raw explanation;
- **secant to the base** (what tree_shap used before): (p(x) - mean p(b)) / (f(x) - mean
  f(b)), which goes wild where the row's margin is near the background's mean margin;
- **per reference**: each reference's own secant k_b * raw_b (shap's per-reference
  rescaling), here only an oracle: its exact values need every reference's raw values.

It prints, per row and for both, the two parts, the mean absolute error predicted at the
default number of pairs (set beside tree_shap's own measured error as a check of the model), the
pairs needed for a mean error of 1e-3 and what that many pairs cost next to raw tree_shap,
both measured in the same run. Exact values take some seconds per row.

Usage: python bench/tree_probability_limits.py [--rows N] [--pairs P] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers.tree_shap import TreeShap
from service.explain.game import Game
from service.explain.trees import TreeSupport, prepare_tree_support
from service.explain.trees.predict import predict_chains, predict_scores
from service.models.bundle import BundleLimits, read_bundle_dir
from service.models.runtime import OnnxModel

Array = NDArray[np.float64]
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the other bench modules
from bench.tree_shap_bench import game_for, per_reference_exact  # noqa: E402

TARGET = 1e-3
HALF_NORMAL = math.sqrt(2.0 / math.pi)  # E|N(0, s^2)| = s * sqrt(2 / pi)


def sigmoid(z: Array) -> Array:
    out: Array = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def per_reference_raw(model: OnnxModel, game: Game, support: TreeSupport, x: Array) -> Array:
    """(n_background, n_players): each reference's exact raw values (class 1)."""
    rows = [
        TreeShap()
        .fit(game_for(model, model.card, game.background[r : r + 1], support))
        .explain(x[None])
        for r in range(game.n_background)
    ]
    return np.stack([e.values[0, :, -1] for e in rows])


def pair_estimates(
    support: TreeSupport, game: Game, x: Array, secants: Array, pairs: int, rng: np.random.Generator
) -> Array:
    """Per reference, ``pairs`` antithetic pairs of chains; for each, the pair's estimate of
    the residual values under a control variate of slope secants[b] (n_background, ) per
    reference. Returns estimates (n_background, pairs, M)."""
    m, n_bg = game.n_players, game.n_background
    perms = np.argsort(rng.random((n_bg * pairs, m)), axis=1)
    perms = np.stack([perms, perms[:, ::-1]], axis=1).reshape(-1, m)
    refs = np.repeat(np.arange(n_bg), 2 * pairs)
    scores = predict_chains(
        support.ensemble, game.players, x[None], game.background, perms[None], refs[None]
    )
    raw = support.head.raw(scores.reshape(-1, scores.shape[-1]))[:, -1].reshape(-1, m + 1)
    residual = sigmoid(raw) - secants[refs][:, None] * raw
    step = np.diff(residual, axis=1)
    contrib = np.empty_like(step)
    np.put_along_axis(contrib, perms, step, axis=1)
    out: Array = contrib.reshape(n_bg, pairs, 2, m).mean(axis=2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3, help="german_credit rows (default 3)")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per reference (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    bundle = read_bundle_dir(ROOT / "models" / "german_credit", BundleLimits())
    model = OnnxModel(bundle.model, bundle.card)
    support = prepare_tree_support(model, bundle.model, bundle.card, bundle.background)
    assert isinstance(support, TreeSupport), support
    background = bundle.background
    rng = np.random.default_rng(args.seed)
    X = background[rng.integers(0, background.shape[0], size=max(args.rows, 50))]
    raw_game = game_for(model, bundle.card, background, support)
    prob_game = dataclasses.replace(
        raw_game, predict=model.function("probability"), output_space="probability"
    )
    print(
        f"german_credit: {support.ensemble.n_trees} trees, {raw_game.n_players} players, "
        f"{background.shape[0]} background rows",
        flush=True,
    )

    # cost: raw and probability tree_shap side by side, per row, tables warm
    raw_explainer, prob_explainer = TreeShap().fit(raw_game), TreeShap().fit(prob_game)
    raw_explainer.explain(X[:2])
    prob_explainer.explain(X[:2])
    raw_t, prob_t = [], []
    for _ in range(5):
        start = time.perf_counter()
        raw_explainer.explain(X[:50])
        raw_t.append((time.perf_counter() - start) / 50)
        start = time.perf_counter()
        measured = prob_explainer.explain(X[:50])
        prob_t.append((time.perf_counter() - start) / 50)
    raw_cost, prob_cost = statistics.median(raw_t), statistics.median(prob_t)
    default = int(measured.meta["residual_pairs"])
    per_pair = (prob_cost - raw_cost) / default
    print(
        f"cost per row (median of 5, 50 rows): raw {raw_cost * 1e3:.3f} ms, probability "
        f"{prob_cost * 1e3:.3f} ms ({prob_cost / raw_cost:.1f}x raw, "
        f"{default} pairs by default); one pair costs {per_pair / raw_cost:.2f}x raw; "
        f"5x raw allows {4 * raw_cost / per_pair:.0f} pairs",
        flush=True,
    )

    f_bg = support.head.raw(predict_scores(support.ensemble, background))[:, -1]
    names = ("least squares", "secant to the base", "per reference")
    parts: dict[str, list[tuple[Array, Array]]] = {name: [] for name in names}
    errors = []
    for i in range(args.rows):
        x = X[i]
        start = time.perf_counter()
        exact_b = per_reference_exact(support, raw_game.players, x, background)[..., -1]
        raw_b = per_reference_raw(model, raw_game, support, x)
        errors.append(float(np.abs(measured.values[i, :, -1] - exact_b.mean(axis=0)).mean()))
        f_x = float(support.head.raw(predict_scores(support.ensemble, x[None]))[0, -1])
        p_x, run = float(sigmoid(np.array(f_x))), f_x - f_bg
        ok = np.abs(run) > 1e-12
        own = np.where(ok, (p_x - sigmoid(f_bg)) / np.where(ok, run, 1.0), 0.0)
        secant = np.full_like(own, (p_x - sigmoid(f_bg).mean()) / (f_x - f_bg.mean()))
        fitted = np.full_like(own, float(((p_x - sigmoid(f_bg)) * run).sum() / (run**2).sum()))
        print(
            f"row {i} ({time.perf_counter() - start:.0f} s for exact values): tree_shap MAE "
            f"{errors[-1]:.2e}",
            flush=True,
        )
        for name, slope in zip(names, (fitted, secant, own), strict=True):
            target = exact_b - slope[:, None] * raw_b  # (n_bg, M) exact residual values
            est = pair_estimates(support, raw_game, x, slope, args.pairs, rng)
            between = target.var(axis=0)
            within = ((est - target[:, None, :]) ** 2).mean(axis=(0, 1))
            parts[name].append((between, within))
            print(
                f"  {name} CV: spread of one pair between references "
                f"{float(np.sqrt(between).mean()):.1e}, within a reference "
                f"{float(np.sqrt(within).mean()):.1e}; predicted MAE at {default} pairs "
                f"{predicted_mae(parts[name][-1:], default, background.shape[0]):.2e}",
                flush=True,
            )
    budget = int(4 * raw_cost / per_pair)
    print(
        f"tree_shap's measured MAE over these rows: {statistics.mean(errors):.2e} "
        f"(predicted {predicted_mae(parts['least squares'], default, background.shape[0]):.2e})"
    )
    for name, rows in parts.items():
        at_budget = predicted_mae(rows, budget, background.shape[0])
        need = next(
            (k for k in range(1, 20_000) if predicted_mae(rows, k, background.shape[0]) <= TARGET),
            None,
        )
        alone = predicted_mae([(0.0 * b, w) for b, w in rows], budget, background.shape[0])
        extra = " (plus every reference's raw values)" if name == "per reference" else ""
        cost = f"about {(raw_cost + need * per_pair) / raw_cost:.0f}x raw" if need else "n/a"
        print(
            f"{name} CV: predicted MAE {at_budget:.2e} at the {budget} pairs 5x raw allows "
            f"({alone:.2e} were the spread between references removed); {need} pairs for "
            f"1e-3, {cost}{extra}"
        )


def predicted_mae(rows: list[tuple[Array, Array]], pairs: int, n_background: int) -> float:
    """Mean absolute error over rows and players at ``pairs`` pairs, references drawn
    without replacement in shuffled passes (tree_shap's design): the between part shrinks
    by the finite-population factor within a pass and is taken as gone at whole passes."""
    left = pairs % n_background
    out = []
    for between, within in rows:
        # whole passes cover every reference once (no between part); the r references of
        # the last pass are a sample without replacement, weighted r / pairs in the mean
        partial = left * (n_background - left) / max(n_background - 1, 1) / pairs**2
        variance = between * partial + within / pairs
        out.append(HALF_NORMAL * float(np.sqrt(variance).mean()))
    return statistics.mean(out)


if __name__ == "__main__":
    main()
