"""Benchmark: Clarion's tree_shap (read from the ONNX graph) against shap's TreeExplainer.

XGBoost, 300 trees of depth 6 on 30 features (sklearn make_classification, seeded),
exported with onnxmltools, explained against 100 and against 1,000 background rows;
and a scikit-learn random forest, 100 trees of depth 10 (a third of its paths read
more than 8 players), against 100 background rows. 1,000 rows each, side by side:

- ours: ``TreeShap`` over a ``Game`` built from ``OnnxModel`` (the product path),
  timed cold (path tables built for that background inside the timed call) and warm
  (tables cached, as for every later request against the same background);
- shap: ``TreeExplainer(model, Independent(bg, max_samples=len(bg)),
  feature_perturbation="interventional", model_output="raw")`` on the original model.

It prints the largest difference between the two, per-row cost medians over the
repeats and the throughput ratios. numba's first-call compile time is measured
separately and never counted. If ``models/german_credit/`` exists (LightGBM with
categorical splits, which shap cannot explain), it reports our throughput there and
checks additivity against ONNX Runtime and dense tables against the table-less path.

With ``--http`` it also starts the real service (uvicorn, on a free loopback port,
bundled models, a throwaway audit database) and measures single-row latency of a
``german_credit`` explanation through the HTTP API (``output: raw``, so ``auto``
picks tree_shap): p50 and p95 over the requests, client-side, after a warm-up.

Usage: python bench/tree_shap_bench.py [--quick] [--rows N] [--repeats R] [--threads T] [--http]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.explain.explainers.tree_shap import TreeShap
from service.explain.game import Game
from service.explain.trees import (
    TableCache,
    TreeSupport,
    build_tables,
    compile_paths,
    prepare_tree_support,
    shapley_values,
)
from service.models.card import Feature, ModelCard
from service.models.runtime import OnnxModel

Array = NDArray[np.float64]
ROOT = Path(__file__).resolve().parent.parent
N_FEATURES = 30


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _import_shap() -> Any:
    with warnings.catch_warnings():  # shap's import-time matplotlib colormap notice
        warnings.filterwarnings(
            "ignore",
            message=r"The set_(bad|over|under) function will be deprecated",
            category=PendingDeprecationWarning,
        )
        import shap
    return shap


def build_xgboost(seed: int) -> tuple[Any, Any, ModelCard, Array]:
    """The model, its ONNX graph, a card and the data (n, 30)."""
    import xgboost as xgb
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=6000, n_features=N_FEATURES, n_informative=15, random_state=seed
    )
    model = xgb.XGBClassifier(n_estimators=300, max_depth=6, n_jobs=2, random_state=seed)
    model.fit(X, y)
    proto = convert_xgboost(model, initial_types=[("input", FloatTensorType([None, N_FEATURES]))])
    card = ModelCard(
        name="bench_xgboost",
        version="1",
        task="classification",
        features=tuple(Feature(name=f"x{j}") for j in range(N_FEATURES)),
        classes=("no", "yes"),
    )
    return model, proto, card, X.astype(np.float64)


def game_for(model: OnnxModel, card: ModelCard, background: Array, support: TreeSupport) -> Game:
    players = card.players
    return Game(
        predict=support.predict_raw,
        background=background,
        players=tuple(p.columns for p in players),
        player_names=tuple(p.name for p in players),
        output_names=card.output_names,
        output_space="raw",
        trees=support,
    )


def fresh(support: TreeSupport) -> TreeSupport:
    """The same parsed trees with an empty table cache (a cold first request)."""
    return TreeSupport(
        support.ensemble,
        support.head,
        support.check,
        support.predict_raw,
        TableCache(support.ensemble),
    )


def build_forest(seed: int) -> tuple[Any, Any, ModelCard, Array]:
    """A scikit-learn random forest, 100 trees of depth 10 on 30 features, and its graph."""
    from skl2onnx import to_onnx
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(
        n_samples=6000, n_features=N_FEATURES, n_informative=15, random_state=seed
    )
    model = RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=2, random_state=seed)
    model.fit(X, y)
    proto = to_onnx(model, X[:1].astype(np.float32), options={"zipmap": False}, target_opset=17)
    card = ModelCard(
        name="bench_forest",
        version="1",
        task="classification",
        features=tuple(Feature(name=f"x{j}") for j in range(N_FEATURES)),
        classes=("no", "yes"),
    )
    return model, proto, card, X.astype(np.float64)


def bench_xgboost(args: argparse.Namespace) -> None:
    print("== XGBoost: 300 trees, depth 6, 30 features ==", flush=True)
    side_by_side(args, *build_xgboost(args.seed), backgrounds=(100, 1000))


def bench_forest(args: argparse.Namespace) -> None:
    print("== RandomForest: 100 trees, depth 10, 30 features (long paths) ==", flush=True)
    side_by_side(args, *build_forest(args.seed), backgrounds=(100,))


def side_by_side(
    args: argparse.Namespace,
    native: Any,
    proto: Any,
    card: ModelCard,
    data: Array,
    backgrounds: tuple[int, ...],
) -> None:
    """Ours cold and warm against shap's interventional TreeExplainer on ``native``."""
    xgb_model = native
    onnx_model = OnnxModel(proto, card)
    seconds, support = _timed(lambda: prepare_tree_support(onnx_model, proto, card, data[:100]))
    assert isinstance(support, TreeSupport), support
    print(f"load: parse + self-check {seconds:.2f} s; {support.describe()}", flush=True)
    X = data[3000 : 3000 + args.rows]

    # Compile once on a tiny problem so no timed call pays for numba.
    compile_s, _ = _timed(
        lambda: TreeShap().fit(game_for(onnx_model, card, data[:5], fresh(support))).explain(X[:2])
    )
    print(f"numba first-call compile (or cache load): {compile_s:.2f} s (not counted)", flush=True)

    shap = _import_shap()
    for n_bg in backgrounds:
        background = data[:n_bg]
        cold, warm, ours = [], [], None
        for r in range(args.repeats):
            explainer = TreeShap().fit(game_for(onnx_model, card, background, fresh(support)))
            t_cold, ours = _timed(partial(explainer.explain, X))
            t_warm, _ = _timed(partial(explainer.explain, X))
            cold.append(t_cold / len(X))
            warm.append(t_warm / len(X))
            print(
                f"  bg={n_bg} ours repeat {r + 1}/{args.repeats}: cold {t_cold:.3f} s, "
                f"warm {t_warm:.3f} s",
                flush=True,
            )
        masker = shap.maskers.Independent(background, max_samples=n_bg)
        tree = shap.TreeExplainer(
            xgb_model, masker, feature_perturbation="interventional", model_output="raw"
        )
        shap_rows = X[: args.shap_rows]
        theirs, sv = [], None
        for r in range(args.shap_repeats):
            t, sv = _timed(partial(tree.shap_values, shap_rows, check_additivity=False))
            theirs.append(t / len(shap_rows))
            print(
                f"  bg={n_bg} shap repeat {r + 1}/{args.shap_repeats}: {t:.2f} s for "
                f"{len(shap_rows)} rows",
                flush=True,
            )
        assert ours is not None
        assert sv is not None
        sv = np.asarray(sv)
        sv = sv[..., 1] if sv.ndim == 3 else sv  # forests: one column per class
        diff = float(np.abs(ours.values[: len(shap_rows), :, 1] - sv).max())
        additivity = float(ours.additivity_residual.max())
        c, w, s = statistics.median(cold), statistics.median(warm), statistics.median(theirs)
        tables, _ = support.tables(background, tuple(p.columns for p in card.players))
        print(
            f"bg={n_bg:5d}: path tables {tables.nbytes / 2**20:.0f} MiB "
            f"({tables.n_dense} of {tables.paths.n_paths} paths dense) | "
            f"ours {c * 1e3:.3f} ms/row cold, {w * 1e3:.3f} ms/row warm | "
            f"shap {s * 1e3:.2f} ms/row | throughput ratio {s / c:.1f}x cold, {s / w:.1f}x warm | "
            f"max |ours - shap| {diff:.2e} | max additivity residual vs ORT {additivity:.2e}",
            flush=True,
        )


def bench_german_credit(args: argparse.Namespace) -> None:
    from service.models.bundle import BundleLimits, read_bundle_dir

    path = ROOT / "models" / "german_credit"
    if not path.is_dir():
        print("== german_credit: models/german_credit/ not found, skipped ==")
        return
    print("== german_credit bundle (shap cannot explain categorical splits) ==", flush=True)
    bundle = read_bundle_dir(path, BundleLimits())
    model = OnnxModel(bundle.model, bundle.card)
    support = prepare_tree_support(model, bundle.model, bundle.card, bundle.background)
    if not isinstance(support, TreeSupport):
        print(f"tree_shap unavailable: {support.reason}")
        return
    background = bundle.background
    rng = np.random.default_rng(args.seed)
    X = background[rng.integers(0, background.shape[0], size=args.rows)]
    game = game_for(model, bundle.card, background, fresh(support))
    TreeShap().fit(game).explain(X[:2])  # compile / warm the cache path
    times, explanation = [], None
    for _ in range(args.repeats):
        explainer = TreeShap().fit(game_for(model, bundle.card, background, fresh(support)))
        t, explanation = _timed(partial(explainer.explain, X))
        times.append(t / len(X))
    assert explanation is not None
    ensemble = support.ensemble
    paths = compile_paths(ensemble, game.players)
    dense = shapley_values(ensemble, build_tables(ensemble, paths, background), X)
    sparse = shapley_values(ensemble, build_tables(ensemble, paths, background, 0), X)
    print(
        f"{background.shape[0]} background rows, {game.n_players} players, "
        f"{ensemble.n_trees} trees: ours {statistics.median(times) * 1e3:.3f} ms/row (cold) | "
        f"max additivity residual vs ORT {float(explanation.additivity_residual.max()):.2e} | "
        f"dense tables vs table-less paths {float(np.abs(dense - sparse).max()):.2e}",
        flush=True,
    )
    # Probability space (the card's default): 20 players, beyond enumeration, so tree_shap
    # samples only the residual of its raw values as a control variate. Its cost against
    # raw tree_shap (same rows, same background, side by side), and its error against
    # exact values on the first --mae-rows rows (``exact_probability``; the test
    # tests/service/explain/explainers/test_tree_probability.py checks a 2-row background
    # against a 2**20-coalition oracle through ONNX Runtime).
    prob = Game(
        predict=model.function("probability"),
        background=background,
        players=game.players,
        player_names=game.player_names,
        output_names=game.output_names,
        output_space="probability",
        trees=support,
    )
    TreeShap().fit(prob).explain(X[:2])
    raw_t, prob_t, last = [], [], None
    for _ in range(args.repeats):
        raw_t.append(_timed(partial(TreeShap().fit(game).explain, X))[0] / len(X))
        t, last = _timed(partial(TreeShap().fit(prob).explain, X))
        prob_t.append(t / len(X))
    assert last is not None
    r, p = statistics.median(raw_t), statistics.median(prob_t)
    print(
        f"probability space ({last.meta['algorithm']}, {last.meta['residual_pairs']} pairs): "
        f"{p * 1e3:.3f} ms/row vs raw {r * 1e3:.3f} ms/row (warm tables): cost ratio "
        f"{p / r:.1f}x raw; "
        f"reported sampling_error median {float(np.median(last.quality['sampling_error'])):.2e}",
        flush=True,
    )
    n_exact = min(args.mae_rows, len(X))
    if n_exact:
        start = time.perf_counter()
        exact = np.stack(
            [exact_probability(support, game.players, x, background) for x in X[:n_exact]]
        )
        error = np.abs(last.values[:n_exact] - exact)
        within = error <= 2 * last.quality["sampling_error"][:n_exact, None, :]
        print(
            f"probability space error on {n_exact} rows against exact values "
            f"({background.shape[0]} background rows, {time.perf_counter() - start:.0f} s): "
            f"MAE {float(error.mean()):.2e} (target 1e-3), max {float(error.max()):.2e}, "
            f"within 2x reported sampling_error {float(within.mean()):.0%}",
            flush=True,
        )


def exact_probability(
    support: TreeSupport, players: tuple[tuple[int, ...], ...], x: Array, background: Array
) -> Array:
    """Exact interventional probability-space values of one row x: (n_players, n_outputs),
    the mean over background rows of ``per_reference_exact``."""
    out: Array = per_reference_exact(support, players, x, background).mean(axis=0)
    return out


def per_reference_exact(
    support: TreeSupport, players: tuple[tuple[int, ...], ...], x: Array, background: Array
) -> Array:
    """Each background row b's single-reference game's exact probability-space Shapley
    values for row x: (n_background, n_players, n_outputs).

    In that game a player on whose columns x and b agree is a dummy, so only the 2**d
    coalitions of the d players that differ are played, through the verified tree arrays.
    """
    from service.explain.explainers.exact_shap import shapley_from_coalitions
    from service.explain.game import all_masks
    from service.explain.trees import predict_scores

    head = support.head
    out = np.zeros((background.shape[0], len(players), head.n_outputs))
    for r, b in enumerate(background):
        same = (x == b) | (np.isnan(x) & np.isnan(b))
        differ = [j for j, cols in enumerate(players) if not same[list(cols)].all()]
        if not differ:
            continue
        masks = all_masks(len(differ))
        cols = np.zeros((masks.shape[0], x.shape[0]), dtype=bool)
        for t, j in enumerate(differ):
            cols[:, list(players[j])] = masks[:, [t]]
        v = head.output(predict_scores(support.ensemble, np.where(cols, x, b)))
        out[r, differ] = shapley_from_coalitions(v[None], len(differ))[0]
    return out


def bench_http(args: argparse.Namespace) -> None:
    """Single-row explanation latency through the HTTP API, against a real server."""
    import json
    import subprocess
    import tempfile

    import httpx

    from service.launch import (
        LaunchError,
        api_command,
        clean_environment,
        free_port,
        stop,
        wait_until_ready,
    )

    print("== german_credit through the HTTP API (tree_shap, one row per request) ==", flush=True)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
    env = clean_environment(
        CLARION_MODELS_DIR=str(ROOT / "models"),
        CLARION_DATABASE_URL=f"sqlite:///{workdir / 'audit.db'}",
        CLARION_LOG_LEVEL="warning",
    )
    with (workdir / "server.log").open("wb") as log:
        server = subprocess.Popen(
            api_command(host="127.0.0.1", port=port), cwd=ROOT, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            try:
                wait_until_ready(f"{url}/health/ready", server, what="service", timeout=120)
            except LaunchError as exc:
                raise SystemExit(f"{exc}; see {workdir / 'server.log'}") from exc
            cases = client.get("/v1/models/german_credit/samples", params={"limit": 50})
            instances = cases.raise_for_status().json()["instances"]
            n = 50 if args.quick else 300
            latencies, methods = [], set()
            for i in range(n + 10):
                body = {"instances": [instances[i % len(instances)]], "output": "raw"}
                start = time.perf_counter()
                r = client.post(
                    "/v1/models/german_credit/explain",
                    content=json.dumps(body),
                    headers={"content-type": "application/json"},
                )
                elapsed = time.perf_counter() - start
                r.raise_for_status()
                methods.add(r.json()["method"])
                if i >= 10:  # the first requests build the path tables
                    latencies.append(elapsed * 1e3)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(
            f"{len(latencies)} requests, method {sorted(methods)}: p50 {p50:.1f} ms, "
            f"p95 {p95:.1f} ms (target: p50 < 20 ms)",
            flush=True,
        )
    finally:
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 rows, fewer repeats")
    parser.add_argument("--rows", type=int, default=1000, help="rows to explain (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of our timings")
    parser.add_argument("--shap-repeats", type=int, default=3, help="repeats of shap's timings")
    parser.add_argument(
        "--shap-rows", type=int, default=None, help="rows shap explains (default: --rows)"
    )
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mae-rows",
        type=int,
        default=8,
        help="german_credit rows checked against exact probability values (a few s each)",
    )
    parser.add_argument("--skip-german-credit", action="store_true")
    parser.add_argument(
        "--http", action="store_true", help="also measure single-row latency through the API"
    )
    parser.add_argument("--http-only", action="store_true", help="only the HTTP measurement")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeats, args.shap_repeats = 200, 2, 1
    args.shap_rows = min(args.shap_rows or args.rows, args.rows)
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"numba threads: {numba.get_num_threads()}; shap's TreeExplainer runs one thread")
    if not args.http_only:
        bench_xgboost(args)
        bench_forest(args)
        if not args.skip_german_credit:
            bench_german_credit(args)
    if args.http or args.http_only:
        bench_http(args)


if __name__ == "__main__":
    main()
