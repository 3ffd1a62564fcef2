"""Per-row cost of Clarion's model-agnostic explainers against running the libraries directly.

Side by side in one process, on the same rows, background and sample budget:

- ``kernel_shap`` (ours: shap's KernelExplainer over the ONNX model through the game)
  vs ``shap.KernelExplainer`` over the original scikit-learn ``predict_proba``;
- ``permutation_shap`` (ours: batched antithetic permutations) vs
  ``shap.PermutationExplainer`` with ``shap.maskers.Independent(bg, max_samples=len(bg))``;
- ``lime`` (ours: vectorised) vs ``lime.lime_tabular.LimeTabularExplainer``.

Data: scikit-learn's bundled breast cancer set (30 features) with a random forest and
an MLP, and the wine set (13 features, 3 classes) with an MLP. Everything is explained
in probability space, since that is what ``predict_proba`` gives the libraries.

Times are medians over repeats of (wall time / rows); ratios are baseline / ours.
Agreement: the largest absolute difference between our values and the library's, and
their correlation over all values. Kernel and lime use the same seed on both sides and
draw the same coalitions / neighbours, so only the model differs (ONNX float32 vs
scikit-learn float64); permutation draws differ, so there both are estimates.
shap's PermutationExplainer compiles with numba on its first call: that call is timed
separately and excluded.

Our side runs as the service runs it: BLAS limited to ``CLARION_BLAS_THREADS`` (default 1,
``service.native``), since the compute pool runs explanations side by side; the libraries
keep numpy's default. Each timed run starts after a pause (``SETTLE_S``): OpenBLAS's idle
threads spin for about 0.1 s after their last call, and without the pause those of one
side's run took a core from the next run (our lime on the forest measured 18-21 ms per
row right after lime's own run, 13-14 ms with BLAS on one thread throughout).

    python bench/explain_bench.py            # full run (a few minutes on 2 cores)
    python bench/explain_bench.py --quick    # smoke run, under a minute
    python bench/explain_bench.py --methods lime --models cancer-rf,cancer-mlp
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers._base import Explainer
from service.explain.explainers.kernel_shap import KernelShap
from service.explain.explainers.lime import Lime
from service.explain.explainers.permutation_shap import PermutationShap
from service.explain.game import Game
from service.explain.trees import TreeSupport, prepare_tree_support
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel

Array = NDArray[np.float64]
METHODS = frozenset({"kernel_shap", "permutation_shap", "lime"})
SETTLE_S = 0.3
"""Pause before each timed run: idle OpenBLAS threads spin for about 0.1 s."""


@dataclass(frozen=True)
class Budget:
    nsamples: int  # kernel: coalitions per row
    max_evals: int  # permutation: evaluations per row (shap's accounting)
    num_samples: int  # lime: neighbours per row


@dataclass(frozen=True)
class Subject:
    """A trained model served two ways: the original estimator and the ONNX game."""

    name: str
    estimator: Any
    game: Game
    background: Array
    rows: Array


@dataclass(frozen=True)
class Result:
    subject: str
    method: str
    budget: str
    ours_ms: float
    theirs_ms: float
    max_diff: float
    corr: float
    scale: float
    ours_err: float | None = None  # permutation only: max |value - reference|
    theirs_err: float | None = None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_subjects(names: list[str], n_rows: int, n_background: int) -> list[Subject]:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    subjects = []
    for name in names:
        dataset, model = name.split("-")
        data = load_breast_cancer() if dataset == "cancer" else load_wine()
        X, y = data.data.astype(np.float64), data.target
        order = np.random.default_rng(0).permutation(len(X))
        train, test = order[: int(0.7 * len(X))], order[int(0.7 * len(X)) :]
        if model == "rf":
            estimator: Any = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0)
        else:
            mlp = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=500, random_state=0)
            estimator = make_pipeline(StandardScaler(), mlp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X[train], y[train])
            proto = to_onnx(
                estimator,
                X[:1].astype(np.float32),
                options={"zipmap": False},
                target_opset=17,
            )
        names_ = [f"f{i}" for i in range(X.shape[1])]
        classes = tuple(f"class_{c}" for c in estimator.classes_)
        card = ModelCard(
            name=name.replace("-", "_"),
            version="1",
            task="classification",
            features=tuple(Feature(name=n) for n in names_),
            classes=classes,
        )
        onnx_model = OnnxModel(proto, card)
        background = X[train][:n_background]
        # as the model registry serves a tree model: with its verified tree arrays (only
        # lime reads them here, to score its neighbours without ONNX Runtime)
        trees = prepare_tree_support(onnx_model, proto, card, background) if model == "rf" else None
        game = Game(
            predict=onnx_model.function("probability"),
            background=background,
            players=tuple((i,) for i in range(X.shape[1])),
            player_names=tuple(names_),
            output_names=classes,
            output_space="probability",
            trees=trees if isinstance(trees, TreeSupport) else None,
        )
        subjects.append(Subject(name, estimator, game, background, X[test][:n_rows]))
        log(
            f"[setup] {name}: {X.shape[1]} features, {len(classes)} classes, "
            f"background {len(background)}, {n_rows} rows"
            + (f", trees: {trees.describe()}" if trees is not None else "")
        )
    return subjects


def timed_pair(
    ours: Callable[[], Array], theirs: Callable[[], Array], n_rows: int, repeats: int
) -> tuple[float, float, Array, Array]:
    """Median ms per row of each side, runs interleaved (ours, theirs, ours, ...) so that
    load from other users of the machine falls on both; and the last results."""
    times: tuple[list[float], list[float]] = ([], [])
    results = [np.empty(0), np.empty(0)]
    for _ in range(repeats):
        for side, run in enumerate((ours, theirs)):
            time.sleep(SETTLE_S)  # the other side's idle BLAS threads stop spinning
            start = time.perf_counter()
            results[side] = run()
            times[side].append((time.perf_counter() - start) * 1000 / n_rows)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


def agreement(ours: Array, theirs: Array) -> tuple[float, float, float]:
    diff = float(np.abs(ours - theirs).max())
    corr = float(np.corrcoef(ours.ravel(), theirs.ravel())[0, 1])
    return diff, corr, float(np.abs(theirs).max())


def ours(explainer: Explainer, subject: Subject) -> Callable[[], Array]:
    from threadpoolctl import ThreadpoolController

    from service.settings import Settings

    blas = ThreadpoolController().select(user_api="blas")
    threads = Settings().blas_threads

    def run() -> Array:
        with blas.limit(limits=threads):  # as the service's engine (service.native)
            values: Array = explainer.fit(subject.game).explain(subject.rows).values
        return values

    return run


def shap_kernel(subject: Subject, budget: Budget, seed: int) -> Callable[[], Array]:
    import shap

    def run() -> Array:
        np.random.seed(seed)  # noqa: NPY002 - as a shap user seeds KernelExplainer
        explainer = shap.KernelExplainer(subject.estimator.predict_proba, subject.background)
        values = explainer.shap_values(
            subject.rows, nsamples=budget.nsamples, l1_reg=False, silent=True
        )
        return np.asarray(values, dtype=np.float64)

    return run


def shap_permutation(subject: Subject, budget: Budget, seed: int) -> Callable[[], Array]:
    import shap

    masker = shap.maskers.Independent(subject.background, max_samples=len(subject.background))

    def run() -> Array:
        explainer = shap.PermutationExplainer(subject.estimator.predict_proba, masker, seed=seed)
        result = explainer(subject.rows, max_evals=budget.max_evals, silent=True)
        return np.asarray(result.values, dtype=np.float64)

    return run


def lime_tabular(subject: Subject, budget: Budget, seed: int) -> Callable[[], Array]:
    from lime.lime_tabular import LimeTabularExplainer

    m, k = subject.game.n_players, subject.game.n_outputs

    def run() -> Array:
        explainer = LimeTabularExplainer(
            subject.background,
            mode="classification",
            discretize_continuous=True,
            discretizer="quartile",
            random_state=np.random.RandomState(seed),
            feature_selection="none",
            sample_around_instance=False,
        )
        out = np.zeros((len(subject.rows), m, k))
        for i, x in enumerate(subject.rows):
            e = explainer.explain_instance(
                x,
                subject.estimator.predict_proba,
                labels=tuple(range(k)),
                num_features=m,
                num_samples=budget.num_samples,
            )
            for label in range(k):
                for j, w in e.local_exp[label]:
                    out[i, j, label] = w
        return out

    return run


def warm_up(subjects: list[Subject]) -> float:
    """Import shap and lime, compile shap's permutation code (returns its time, s) and
    our lime's kernels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import lime.lime_tabular  # noqa: F401
        import shap
    subject = subjects[0]
    masker = shap.maskers.Independent(subject.background[:10], max_samples=10)
    explainer = shap.PermutationExplainer(subject.estimator.predict_proba, masker)
    start = time.perf_counter()
    explainer(subject.rows[:1], max_evals=2 * subject.game.n_players + 1, silent=True)
    compile_s = time.perf_counter() - start
    for s in subjects:  # first ONNX Runtime runs allocate
        s.game.predict(np.repeat(s.background, 10, axis=0))
        # lime's numba kernels (and the tree walk) compile or load on first use; the
        # service warms them at start-up
        Lime(num_samples=50).fit(s.game).explain(s.rows[:1])
    return compile_s


def reference(subject: Subject, max_evals: int, seed: int) -> Array:
    """Permutation estimates with a much larger budget, to judge both estimators against."""
    explainer = PermutationShap(max_evals=max_evals, seed=seed)
    values: Array = explainer.fit(subject.game).explain(subject.rows).values
    return values


def bench(
    subject: Subject,
    budget: Budget,
    repeats: int,
    seed: int,
    ref_factor: int,
    methods: frozenset[str] = METHODS,
) -> list[Result]:
    n = len(subject.rows)
    m = subject.game.n_players
    cases = [
        (
            "kernel_shap",
            f"nsamples={budget.nsamples}",
            KernelShap(nsamples=budget.nsamples, seed=seed),
            shap_kernel(subject, budget, seed),
        ),
        (
            "permutation_shap",
            f"max_evals={budget.max_evals} ({budget.max_evals // (2 * m + 1)} perms)",
            PermutationShap(max_evals=budget.max_evals, seed=seed),
            shap_permutation(subject, budget, seed),
        ),
        (
            "lime",
            f"num_samples={budget.num_samples}",
            Lime(num_samples=budget.num_samples, seed=seed),
            lime_tabular(subject, budget, seed),
        ),
    ]
    results = []
    for method, label, explainer, baseline in cases:
        if method not in methods:
            continue
        log(f"[{subject.name}] {method}: ours and baseline, interleaved, x{repeats} ...")
        ours_ms, theirs_ms, ours_values, theirs_values = timed_pair(
            ours(explainer, subject), baseline, n, repeats
        )
        diff, corr, scale = agreement(ours_values, theirs_values)
        result = Result(subject.name, method, label, ours_ms, theirs_ms, diff, corr, scale)
        if method == "permutation_shap" and ref_factor > 0:
            log(f"[{subject.name}] {method}: reference with {ref_factor}x the budget ...")
            ref = reference(subject, budget.max_evals * ref_factor, seed + 1)
            result = replace(
                result,
                ours_err=float(np.abs(ours_values - ref).max()),
                theirs_err=float(np.abs(theirs_values - ref).max()),
            )
        results.append(result)
        log(
            f"[{subject.name}] {method}: ours {ours_ms:.1f} ms/row, baseline "
            f"{theirs_ms:.1f} ms/row, ratio {theirs_ms / ours_ms:.1f}x"
        )
    return results


def print_table(results: list[Result], args: argparse.Namespace, compile_s: float) -> None:
    print(
        f"\nrows={args.rows} background={args.background} repeats={args.repeats} "
        f"seed={args.seed}; ONNX Runtime 1 intra-op thread; medians of ms per row"
    )
    print(f"shap PermutationExplainer first call (numba compile), excluded: {compile_s:.1f} s")
    print(
        f"err: max |value - reference|, the reference being permutation_shap with "
        f"{args.ref_factor}x the budget and another seed\n"
    )
    header = (
        f"{'model':<11} {'method':<17} {'budget':<30} {'ours ms':>9} {'lib ms':>9} "
        f"{'lib/ours':>8} {'max|diff|':>10} {'corr':>7} {'max|value|':>10} "
        f"{'ours err':>9} {'lib err':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        errs = (
            f"{r.ours_err:>9.2e} {r.theirs_err:>9.2e}"
            if r.ours_err is not None and r.theirs_err is not None
            else f"{'-':>9} {'-':>9}"
        )
        print(
            f"{r.subject:<11} {r.method:<17} {r.budget:<30} {r.ours_ms:>9.1f} "
            f"{r.theirs_ms:>9.1f} {r.theirs_ms / r.ours_ms:>7.1f}x {r.max_diff:>10.2e} "
            f"{r.corr:>7.4f} {r.scale:>10.3f} {errs}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small budgets, one model")
    parser.add_argument("--rows", type=int, default=None, help="rows explained (default 10)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3)")
    parser.add_argument("--background", type=int, default=100, help="background rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ref-factor",
        type=int,
        default=None,
        help="budget multiple of the permutation reference (default 20, quick 5; 0: none)",
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated of cancer-rf, cancer-mlp, wine-mlp (default: all)",
    )
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated of kernel_shap, permutation_shap, lime (default: all)",
    )
    args = parser.parse_args(argv)
    methods = frozenset((args.methods or ",".join(sorted(METHODS))).split(","))
    if not methods <= METHODS:
        parser.error(f"unknown methods: {sorted(methods - METHODS)}")
    if args.quick:
        budget = Budget(nsamples=256, max_evals=4 * 61, num_samples=1000)
        args.rows = args.rows or 2
        args.repeats = args.repeats or 1
        args.ref_factor = 5 if args.ref_factor is None else args.ref_factor
        models = (args.models or "cancer-rf").split(",")
    else:
        budget = Budget(nsamples=2048, max_evals=1000, num_samples=5000)
        args.rows = args.rows or 10
        args.repeats = args.repeats or 3
        args.ref_factor = 20 if args.ref_factor is None else args.ref_factor
        models = (args.models or "cancer-rf,cancer-mlp,wine-mlp").split(",")
    subjects = build_subjects(models, args.rows, args.background)
    log("[warm-up] importing shap and lime, compiling shap's permutation explainer ...")
    compile_s = warm_up(subjects)
    results = [
        r
        for s in subjects
        for r in bench(s, budget, args.repeats, args.seed, args.ref_factor, methods)
    ]
    print_table(results, args, compile_s)


if __name__ == "__main__":
    main()
