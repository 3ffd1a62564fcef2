"""Concurrent ``kernel_shap`` explanations against the same explanations one after another.

Issue 14 asks that 8 concurrent ``kernel_shap`` requests finish in at most 0.6x the time
of running them one after another. shap's KernelExplainer draws from numpy's global
generator, so a service that wants reproducible values has to run it under a
process-wide lock (one request at a time, which is what Clarion did before): that is the
baseline here, measured in the same run on the same model, rows and seeds.

Side by side, on an MLP (scikit-learn, converted to ONNX, run by ONNX Runtime) over 20
features with 100 background rows, ``nsamples`` 2,048, one row per request:

- ``serial``: 8 explanations one after another (the lock's throughput),
- ``concurrent``: the same 8 on 8 threads at once (what the compute pool does),
- ``shap.KernelExplainer``: shap directly over the same ONNX function, one after another.

The games are built as the engine builds them (coalition rows in the model's input dtype).
numpy's BLAS threads (kernel_shap's regression, and the probe) are left as configured;
``OPENBLAS_NUM_THREADS=1`` gives kernel_shap the same values.

A probe (8 GIL-free matrix products) shows what the host gives two threads at once, since
these machines are shared. Figures are medians over ``--repeats``; the printed ratio is
concurrent / serial (lower is better; 1.0 means no parallelism).

    python bench/kernel_parallel.py              # 5 repeats
    python bench/kernel_parallel.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from service.explain.explainers.kernel_shap import KernelShap
from service.explain.game import Game
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel
from service.native import limit_blas_threads
from service.settings import Settings

N_FEATURES = 20
N_BACKGROUND = 100
NSAMPLES = 2048
REQUESTS = 8


def build() -> tuple[Game, np.ndarray]:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X, y = data.data[:, :N_FEATURES].astype(np.float64), data.target
    estimator = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=500, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
        proto = to_onnx(estimator, X[:1].astype(np.float32), options={"zipmap": False})
    names = tuple(f"f{i}" for i in range(N_FEATURES))
    card = ModelCard(
        name="cancer_mlp",
        version="1",
        task="classification",
        features=tuple(Feature(name=n) for n in names),
        classes=("malignant", "benign"),
    )
    model = OnnxModel(proto, card)
    game = Game(
        predict=model.function("probability"),
        background=X[:N_BACKGROUND],
        players=tuple((i,) for i in range(N_FEATURES)),
        player_names=names,
        output_names=("malignant", "benign"),
        output_space="probability",
        input_dtype=model.input_dtype,  # as the engine builds its games
    )
    return game, X[N_BACKGROUND : N_BACKGROUND + REQUESTS]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="median over this many runs")
    args = parser.parse_args()
    import shap

    game, rows = build()
    limit_blas_threads(Settings().blas_threads)  # as the service's engine does (default 1)

    def ours(i: int) -> None:
        KernelShap(nsamples=NSAMPLES, seed=i).fit(game).explain(rows[i : i + 1])

    def theirs(i: int) -> None:
        np.random.seed(i)  # noqa: NPY002 - shap draws from the global generator
        explainer = shap.KernelExplainer(game.predict, game.background)
        explainer.shap_values(rows[i : i + 1], nsamples=NSAMPLES, silent=True)

    square = np.random.default_rng(0).random((600, 600))

    def probe(_: int) -> None:
        for _ in range(10):
            np.dot(square, square)

    def serial(work: Callable[[int], None]) -> float:
        def run() -> None:
            for i in range(REQUESTS):
                work(i)

        return timed(run)

    # one pool for the whole run, kept alive as the service's compute pool is
    threads = ThreadPoolExecutor(max_workers=REQUESTS)

    def concurrent(work: Callable[[int], None]) -> float:
        return timed(lambda: list(threads.map(work, range(REQUESTS))))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours(0)  # imports and first-call costs stay out
        theirs(0)
        runs: dict[str, list[float]] = {k: [] for k in ("serial", "concurrent", "shap", "probe")}
        for _ in range(args.repeats):
            runs["serial"].append(serial(ours))
            runs["concurrent"].append(concurrent(ours))
            runs["shap"].append(serial(theirs))
            runs["probe"].append(concurrent(probe) / serial(probe))
    threads.shutdown()
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"{REQUESTS} kernel_shap explanations, {N_FEATURES}-feature MLP, {N_BACKGROUND} "
        f"background rows, nsamples {NSAMPLES}; medians of {args.repeats}"
    )
    print(f"  ours, one after another     {med['serial']:8.3f} s")
    print(f"  ours, {REQUESTS} at once            {med['concurrent']:8.3f} s")
    print(f"  shap.KernelExplainer, serial {med['shap']:7.3f} s")
    print(f"concurrent / serial: {med['concurrent'] / med['serial']:.2f}x (target 0.6x)")
    print(f"concurrent vs shap serial: {med['shap'] / med['concurrent']:.2f}x faster")
    print(f"host floor (GIL-free matrix products, concurrent / serial): {med['probe']:.2f}x")


if __name__ == "__main__":
    main()
