"""Error against exact Shapley values versus model evaluations, for every sampling estimator.

Side by side in one process, on the same ONNX model, rows and background (so only the
estimator differs), at the same budget of coalitions per explained row:

- ``sampled_shap`` (ours: paired leverage-score Kernel SHAP with exact ends and control
  variates; in probability space a logistic surrogate per background group and output),
- ``kernel_shap`` (ours: shap's KernelExplainer over the game), ``nsamples`` = budget,
- ``permutation_shap`` (ours: batched antithetic permutations), ``max_evals`` = budget,
- shap's ``KernelExplainer`` (``nsamples`` = budget, ``l1_reg=False``, the same background),
- shap's ``PermutationExplainer`` (``max_evals`` = budget, ``Independent`` masker over the
  whole background).

Models: MLPs (scikit-learn, converted with skl2onnx) on the wine set (13 features, 3
classes) and on the first 16 and 20 features of the breast cancer set, in probability
space. Exact values: every coalition through ONNX Runtime (2**20 coalitions x 8
background rows per row for the 20-feature model). Error: mean absolute error over rows,
players, outputs and seeds. Ratio: sampled_shap's error / shap KernelExplainer's.

    python bench/estimators_bench.py            # full run (a few minutes on 2 cores)
    python bench/estimators_bench.py --quick    # fewer rows and seeds
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers.exact_shap import shapley_from_coalitions
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.permutation_shap import PermutationShap
from service.explain.explainers.sampled_shap import SampledShap
from service.explain.game import Game, all_masks
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel

Array = NDArray[np.float64]
BUDGETS = (128, 512, 2048)
N_BACKGROUND = 8


@dataclass(frozen=True)
class Subject:
    name: str
    game: Game
    rows: Array
    exact: Array


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def subjects(n_rows: int) -> list[Subject]:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = []
    for name, data, n_features in (
        ("wine-mlp-13", load_wine(), 13),
        ("cancer-mlp-16", load_breast_cancer(), 16),
        ("cancer-mlp-20", load_breast_cancer(), 20),
    ):
        X, y = data.data[:, :n_features].astype(np.float64), data.target
        order = np.random.default_rng(0).permutation(len(X))
        train, test = order[: int(0.7 * len(X))], order[int(0.7 * len(X)) :]
        mlp = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=800, random_state=0)
        estimator = make_pipeline(StandardScaler(), mlp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X[train], y[train])
            proto = to_onnx(
                estimator, X[:1].astype(np.float32), options={"zipmap": False}, target_opset=17
            )
        names = tuple(f"f{i}" for i in range(n_features))
        classes = tuple(f"class_{c}" for c in estimator.classes_)
        card = ModelCard(
            name=name.replace("-", "_"),
            version="1",
            task="classification",
            features=tuple(Feature(name=n) for n in names),
            classes=classes,
        )
        game = Game(
            predict=OnnxModel(proto, card).function("probability"),
            background=X[train][:N_BACKGROUND],
            players=tuple((i,) for i in range(n_features)),
            player_names=names,
            output_names=classes,
            output_space="probability",
        )
        rows = X[test][:n_rows]
        start = time.perf_counter()
        exact = np.concatenate(
            [
                shapley_from_coalitions(game.values(r[None], all_masks(n_features)), n_features)
                for r in rows
            ]
        )
        log(
            f"[exact] {name}: {n_features} players, {len(rows)} rows, "
            f"{time.perf_counter() - start:.1f} s"
        )
        out.append(Subject(name, game, rows, exact))
    return out


def ours(cls: Any, option: str) -> Callable[[Subject, int, int], Array]:
    def run(s: Subject, budget: int, seed: int) -> Array:
        return np.asarray(cls(seed=seed, **{option: budget}).fit(s.game).explain(s.rows).values)

    return run


def shap_kernel(s: Subject, budget: int, seed: int) -> Array:
    import shap

    np.random.seed(seed)  # noqa: NPY002 - shap draws from the global generator
    explainer = shap.KernelExplainer(s.game.predict, s.game.background)
    phi = explainer.shap_values(s.rows, nsamples=budget, l1_reg=False, silent=True)
    return np.asarray(phi, dtype=np.float64).reshape(len(s.rows), s.game.n_players, -1)


def shap_permutation(s: Subject, budget: int, seed: int) -> Array:
    import shap

    bg = s.game.background
    masker = shap.maskers.Independent(bg, max_samples=len(bg))
    explainer = shap.PermutationExplainer(s.game.predict, masker, seed=seed)
    result = explainer(s.rows, max_evals=budget, silent=True)
    return np.asarray(result.values, dtype=np.float64).reshape(len(s.rows), s.game.n_players, -1)


METHODS: dict[str, Callable[[Subject, int, int], Array]] = {
    "sampled_shap": ours(SampledShap, "max_evals"),
    "kernel_shap": ours(KernelShap, "nsamples"),
    "permutation_shap": ours(PermutationShap, "max_evals"),
    "shap.KernelExplainer": shap_kernel,
    "shap.PermutationExplainer": shap_permutation,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_rows, seeds = (3, (0,)) if args.quick else (6, (0, 1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap  # noqa: F401 - import (3-4 s) and numba warm-up outside the timings

    found = subjects(n_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shap_permutation(found[0], 64, 0)  # numba compilation, not timed
    table: dict[tuple[str, str, int], float] = {}
    for s in found:
        for budget in BUDGETS:
            for method, run in METHODS.items():
                errors = []
                for seed in seeds:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        errors.append(float(np.abs(run(s, budget, seed) - s.exact).mean()))
                table[s.name, method, budget] = float(np.mean(errors))
            log(f"[done] {s.name} at {budget}")
    print(
        f"mean absolute error against exact values ({n_rows} rows, seeds {list(seeds)}, "
        f"{N_BACKGROUND} background rows)"
    )
    header = f"{'model':15} {'budget':>6} " + " ".join(f"{m:>26}" for m in METHODS)
    print(header + f" {'sampled/shap Kernel':>20}")
    for s in found:
        for budget in BUDGETS:
            cells = " ".join(f"{table[s.name, m, budget]:26.3e}" for m in METHODS)
            ratio = (
                table[s.name, "sampled_shap", budget]
                / table[s.name, "shap.KernelExplainer", budget]
            )
            print(f"{s.name:15} {budget:6d} {cells} {ratio:20.2f}")
    plot(found, table, Path(__file__).with_name("estimators_bench.png"))


def plot(found: list[Subject], table: dict[tuple[str, str, int], float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(found), figsize=(5 * len(found), 4), squeeze=False)
    for ax, s in zip(axes[0], found, strict=True):
        for method in METHODS:
            ax.plot(BUDGETS, [table[s.name, method, b] for b in BUDGETS], marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"{s.name} ({s.game.n_players} players)")
        ax.set_xlabel("coalitions per explained row")
        ax.set_ylabel("mean |error| vs exact")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log(f"[plot] {path}")


if __name__ == "__main__":
    main()
