"""The integration entry point: the tree capability of a loaded model, or why there is none.

``prepare_tree_support`` runs once at model load. It analyses the graph, builds the
normalised arrays, derives the margin graph (post_transform NONE, Exp cut) and
runs the self-check: the arrays must reproduce ONNX Runtime on a probe batch
(background rows, random rows, NaN where the card allows it, values exactly on
split thresholds and set members), both in raw space against the margin graph and
in the graph's own output. Only then does it return a ``TreeSupport``, which carries
the model's exact raw space (``predict_raw``, through the margin graph, and ``link``);
the loader composes it with the runtime and nothing is changed after load. Any
refusal returns ``TreeUnsupported(reason)``, never a model that would explain wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import structlog
from numpy.typing import NDArray

from service.errors import UnsupportedModel
from service.explain.trees.ensemble import MEMBER, TreeEnsemble, build_ensemble
from service.explain.trees.graph import (
    ML_DOMAIN,
    TREE_OPS,
    GraphAnalysis,
    analyse_graph,
    explained_output,
)
from service.explain.trees.head import Head, Link, make_head
from service.explain.trees.interventional import PathTables, TableCache, shapley_values
from service.explain.trees.predict import predict_scores
from service.models.card import ModelCard
from service.models.runtime import OnnxModel

if TYPE_CHECKING:
    from service.explain.trees.store import TableStore

__all__ = ["SelfCheck", "TreeSupport", "TreeUnsupported", "prepare_tree_support"]

ATOL = 1e-6
"""Self-check tolerance, absolute, on top of float32 rounding of ORT's own sums (below)."""
log = structlog.get_logger(__name__)

Joint = Callable[[NDArray[Any]], tuple[NDArray[np.float64], NDArray[np.float64]]]
"""X -> (the graph's output as ``OnnxModel.run`` reads it, raw-space margins), one run."""

_EPS32 = float(np.finfo(np.float32).eps)
_PROBE_SEED = 20_261_107


@dataclass(frozen=True)
class TreeUnsupported:
    """tree_shap cannot serve this model; ``reason`` is shown in GET /v1/models/{name}."""

    reason: str
    available: bool = False

    def describe(self) -> dict[str, Any]:
        return {"available": False, "reason": self.reason}


@dataclass(frozen=True)
class SelfCheck:
    """What the load-time self-check compared."""

    n_rows: int
    max_raw_diff: float
    max_output_diff: float


@dataclass(frozen=True, eq=False)
class TreeSupport:
    """A model whose trees were parsed and verified; computes exact raw-space values.

    ``predict_raw`` is the model's raw space through ONNX Runtime (the margin graph):
    (n_samples, n_columns) -> (n_samples, n_outputs), what raw-space games play.
    ``predict_joint``, where the load could build and check it, gives in one run both
    the graph's own output as ``OnnxModel.run`` reads it and ``predict_raw``'s answer,
    each to the bit: an explain request in raw space runs the model once.
    """

    ensemble: TreeEnsemble
    head: Head
    check: SelfCheck
    predict_raw: Callable[[NDArray[Any]], NDArray[np.float64]] = field(repr=False)
    cache: TableCache = field(repr=False)
    available: bool = True
    predict_joint: Joint | None = field(default=None, repr=False)

    @property
    def link(self) -> Link:
        """The graph's link from raw space to its output (identity, logit or log)."""
        return self.head.link

    def describe(self) -> dict[str, Any]:
        return {
            "available": True,
            "n_trees": self.ensemble.n_trees,
            "n_nodes": self.ensemble.n_nodes,
            "post_transform": self.head.post_transform,
            "exp_head": self.head.exp,
            "link": self.head.link,
            "self_check": {
                "rows": self.check.n_rows,
                "max_raw_diff": self.check.max_raw_diff,
                "max_output_diff": self.check.max_output_diff,
            },
        }

    def margins(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Raw-space outputs from the arrays: (n_samples, n_columns) -> (n_samples, n_outputs)."""
        return self.head.raw(predict_scores(self.ensemble, X))

    def tables(
        self, background: NDArray[np.float64], players: tuple[tuple[int, ...], ...]
    ) -> tuple[PathTables, bool]:
        """Cached per-path tables for (background, players); True when they came from the cache."""
        return self.cache.get(background, players)

    def interventional(
        self,
        X: NDArray[np.float64],
        background: NDArray[np.float64],
        players: tuple[tuple[int, ...], ...],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], PathTables, bool]:
        """Exact raw-space values.

        X: (n_samples, n_columns); background: (n_background, n_columns).
        Returns values (n_samples, n_players, n_outputs), base (n_outputs,) = mean raw
        output over the background, the tables used and whether they were cached.
        """
        tables, cached = self.tables(background, players)
        phi = shapley_values(self.ensemble, tables, X)
        values = np.einsum("npk,ko->npo", phi, self.head.matrix)
        base = self.head.raw(tables.base_scores[None, :])[0]
        return values, base, tables, cached


def prepare_tree_support(
    model: OnnxModel,
    proto: onnx.ModelProto,
    card: ModelCard,
    background: NDArray[np.float64],
    *,
    store: TableStore | None = None,
) -> TreeSupport | TreeUnsupported:
    """Analyse, build and self-check the trees; never raises ``UnsupportedModel``.

    background: (n_background, n_columns) canonical rows, used in the probe batch.
    ``model`` is only read (its layout and sessions); the returned ``TreeSupport`` carries
    the exact raw space for the loader to compose. ``store``: where built path tables are
    kept for other processes (``trees.store``).
    """
    try:
        return _prepare(model, proto, card, np.asarray(background, dtype=np.float64), store)
    except UnsupportedModel as exc:
        return TreeUnsupported(exc.reason)


def _prepare(
    model: OnnxModel,
    proto: onnx.ModelProto,
    card: ModelCard,
    background: NDArray[np.float64],
    store: TableStore | None = None,
) -> TreeSupport:
    if model.layout.kind != "matrix":
        raise UnsupportedModel("tree_shap needs the graph to take one [N, F] matrix input")
    n_outputs = len(card.output_names)
    analysis = analyse_graph(proto, explained_output(proto, card.task, n_outputs))
    ensemble, layout = build_ensemble(analysis, n_features=len(card.features))
    head = make_head(analysis, layout, n_outputs, ensemble.leaf_values, ensemble.base)
    if card.task == "classification" and card.output.link not in ("auto", head.link):
        raise UnsupportedModel(
            f"the card declares link {card.output.link!r} but the graph's head "
            f"({head.post_transform}) has link {head.link!r}"
        )
    margin_proto, margin_output = _margin_graph(proto, analysis)
    margin_graph = model.graph_function(margin_proto, margin_output)

    def raw_fn(X: NDArray[Any]) -> NDArray[np.float64]:
        return head.raw_from_margin_graph(margin_graph(X))

    probe = _probe(ensemble, card, background)
    ort_raw, ort_out = raw_fn(probe), model.run(probe)  # ONNX Runtime's answers, once
    check = _self_check(ensemble, head, probe, ort_raw, ort_out)
    joint = _joint(model, proto, margin_proto, margin_output, head, probe, (ort_out, ort_raw))
    cache = TableCache(ensemble, store=store)
    return TreeSupport(ensemble, head, check, raw_fn, cache, predict_joint=joint)


def _joint(
    model: OnnxModel,
    proto: onnx.ModelProto,
    margin_proto: onnx.ModelProto,
    margin_output: str,
    head: Head,
    probe: NDArray[np.float64],
    expected: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> Joint | None:
    """One session for the graph's output and the margin, or None if ONNX Runtime will not
    build it or it does not answer the probe rows exactly as the two sessions do
    (``expected``: their answers, the graph's output then the raw margin).

    An explain request in raw space needs both: the graph's output for its predictions,
    the margin for the values to add up to. Run apart, the trees were walked by ONNX
    Runtime twice per request, and each run has its fixed costs; the margin's run alone
    was 3.5-4.4% of a one-row request's p50 in a server (``docs/performance.md``)."""
    try:
        graph, margin = _joint_graph(proto, margin_proto, margin_output, model.output_name)
        run = model.graph_outputs(graph, [model.output_name, margin])

        def joint(X: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            output, margins = run(X)
            return output, head.raw_from_margin_graph(margins)

        output, raw = joint(probe)
    except Exception as exc:  # ORT refuses the graph: the two sessions serve, as before
        log.info("trees.joint_unavailable", reason=f"{type(exc).__name__}: {exc}")
        return None
    if not (np.array_equal(output, expected[0]) and np.array_equal(raw, expected[1])):
        log.info("trees.joint_unavailable", reason="its answers differ from the two sessions'")
        return None
    return joint


def _joint_graph(
    proto: onnx.ModelProto, margin_proto: onnx.ModelProto, margin_output: str, output: str
) -> tuple[onnx.ModelProto, str]:
    """The graph with the margin graph's nodes that ``margin_output`` needs added beside
    its own, their tensors and names prefixed (inputs and initializers are shared); the
    margin's output added to the graph's outputs under its new name, and ``output`` (the
    tensor the runtime reads: one that feeds a ZipMap is not a graph output) kept one."""
    producer = {out: node for node in margin_proto.graph.node for out in node.output}
    needed: list[onnx.NodeProto] = []
    seen: set[int] = set()
    stack = [margin_output]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in seen:  # a graph input or an initializer
            continue
        seen.add(id(node))
        needed.append(node)
        stack.extend(node.input)
    made = {out for node in needed for out in node.output}

    def renamed(name: str) -> str:
        return _JOINT_PREFIX + name if name in made else name

    joint = onnx.ModelProto.FromString(proto.SerializeToString())
    if output not in {o.name for o in joint.graph.output}:
        joint.graph.output.append(
            onnx.helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)
        )
    order = {id(node): i for i, node in enumerate(margin_proto.graph.node)}
    for i, node in enumerate(sorted(needed, key=lambda n: order[id(n)])):  # the margin's order
        copy = onnx.NodeProto.FromString(node.SerializeToString())
        copy.name = f"{_JOINT_PREFIX}{i}/{node.name or node.op_type}"  # unique, as ORT wants
        copy.input[:] = [renamed(name) for name in node.input]
        copy.output[:] = [renamed(name) for name in node.output]
        joint.graph.node.append(copy)
    (kept,) = [o for o in margin_proto.graph.output if o.name == margin_output]
    margin = onnx.ValueInfoProto.FromString(kept.SerializeToString())
    margin.name = renamed(margin_output)
    joint.graph.output.append(margin)
    return joint, margin.name


_JOINT_PREFIX = "clarion.margin/"


def _margin_graph(proto: onnx.ModelProto, analysis: GraphAnalysis) -> tuple[onnx.ModelProto, str]:
    """A copy of the graph whose only output is the margin: post_transform NONE, Exp cut off."""
    patched = onnx.ModelProto.FromString(proto.SerializeToString())
    for node in patched.graph.node:
        if node.domain == ML_DOMAIN and node.op_type in TREE_OPS:
            for attr in node.attribute:
                if attr.name == "post_transform":
                    if attr.type == onnx.AttributeProto.INT:
                        attr.i = 0
                    else:
                        attr.s = b"NONE"
    name = analysis.exp_input if analysis.exp_input is not None else analysis.output
    elem: int = onnx.TensorProto.FLOAT
    try:
        inferred = onnx.shape_inference.infer_shapes(patched)
        known = {vi.name: vi for vi in [*inferred.graph.value_info, *inferred.graph.output]}
        if name in known and known[name].type.tensor_type.elem_type:
            elem = known[name].type.tensor_type.elem_type
    except Exception:  # inference is only a hint for the output's type; ORT validates the graph
        pass
    del patched.graph.output[:]
    patched.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, None))
    return patched, name


def _probe(
    ensemble: TreeEnsemble, card: ModelCard, background: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Rows that exercise the trees: background, random, NaN, exact thresholds and members."""
    rng = np.random.default_rng(_PROBE_SEED)
    n_features = ensemble.n_features
    bg = background[rng.permutation(background.shape[0])[:256]]
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(background), background, np.nan)
        lo = (
            np.nan_to_num(np.nanmin(finite, axis=0), nan=0.0)
            if background.size
            else np.zeros(n_features)
        )
        hi = (
            np.nan_to_num(np.nanmax(finite, axis=0), nan=1.0)
            if background.size
            else np.ones(n_features)
        )
    pad = 0.1 * (hi - lo) + 1e-3
    rand = rng.uniform(lo - pad, hi + pad, size=(256, n_features))
    for j, feature in enumerate(card.features):
        if feature.type == "categorical":
            rand[:, j] = rng.integers(0, len(feature.categories or ()) or 1, size=256)
        elif feature.type == "binary":
            rand[:, j] = rng.integers(0, 2, size=256)
    internal = np.flatnonzero(ensemble.leaf < 0)
    picks = internal[rng.permutation(internal.shape[0])[:1024]]
    on_split = bg[np.arange(picks.shape[0]) % bg.shape[0]].copy()
    for row, node in enumerate(picks):
        if ensemble.mode[node] == MEMBER:
            lo_i, hi_i = ensemble.set_ptr[node], ensemble.set_ptr[node + 1]
            value = ensemble.set_values[rng.integers(lo_i, hi_i)] if hi_i > lo_i else 0.0
        else:
            value = ensemble.threshold[node]
        on_split[row, ensemble.feature[node]] = value
    nullable = [j for j, f in enumerate(card.features) if f.nullable]
    rows = [bg, rand, on_split]
    if nullable:
        holes = np.concatenate([bg[:128], rand[:128]])
        mask = rng.random((holes.shape[0], len(nullable))) < 0.3
        block = holes[:, nullable]
        block[mask] = np.nan
        holes[:, nullable] = block
        rows.append(holes)
    return np.concatenate(rows, axis=0)


def _self_check(
    ensemble: TreeEnsemble,
    head: Head,
    probe: NDArray[np.float64],
    ort_raw: NDArray[np.float64],
    ort_out: NDArray[np.float64],
) -> SelfCheck:
    """The parsed trees against ONNX Runtime's answers for the probe rows: the margin
    graph's (``ort_raw``, raw space) and the graph's own (``ort_out``)."""
    scores = predict_scores(ensemble, probe)
    # ORT sums leaf weights in float32 when the graph compares in float32; allow that
    # rounding (a bound on sequential float32 summation of the row's leaf values),
    # which is orders of magnitude below what a wrong split or leaf produces.
    slack = _float32_slack(ensemble, probe) if ensemble.dtypes[-1] == np.float32 else 0.0
    ours_raw, ours_out = head.raw(scores), head.output(scores)
    raw_diff = _worst(ours_raw, ort_raw, slack)
    out_diff = _worst(ours_out, ort_out, slack)
    for what, (excess, diff, row) in (("margin", raw_diff), ("output", out_diff)):
        if excess > 0:
            raise UnsupportedModel(
                f"self-check failed: the parsed trees' {what} differs from ONNX Runtime by "
                f"{diff:.3g} on probe row {row} (tolerance {ATOL:g} plus float32 rounding); "
                "tree_shap is disabled for this model rather than risk wrong explanations"
            )
    return SelfCheck(int(probe.shape[0]), raw_diff[1], out_diff[1])


def _float32_slack(ensemble: TreeEnsemble, X: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, 1) bound on float32 summation error: eps32 * (sum of |leaf| + |base|) * sqrt(trees)."""
    magnitude = predict_scores(
        TreeEnsemble(
            **{
                **ensemble.__dict__,
                "leaf_values": np.abs(ensemble.leaf_values),
                "base": np.abs(ensemble.base),
            }
        ),
        X,
    ).max(axis=1, keepdims=True)
    return np.asarray(_EPS32 * magnitude * np.sqrt(ensemble.n_trees + 1.0), dtype=np.float64)


def _worst(
    ours: NDArray[np.float64], ort: NDArray[np.float64], slack: NDArray[np.float64] | float
) -> tuple[float, float, int]:
    """(largest excess over tolerance, largest |diff|, row of the largest excess)."""
    if ours.shape != ort.shape:
        raise UnsupportedModel(
            f"self-check failed: shapes differ, arrays {ours.shape} vs ORT {ort.shape}"
        )
    diff = np.abs(ours - ort)
    diff = np.where(np.isnan(ours) & np.isnan(ort), 0.0, diff)
    diff = np.where(np.isnan(diff), np.inf, diff)
    excess = diff - (ATOL + slack + ATOL * np.abs(ort))
    row = int(np.unravel_index(int(np.argmax(excess)), excess.shape)[0]) if excess.size else 0
    return float(excess.max(initial=-np.inf)), float(diff.max(initial=0.0)), row
