"""ONNX Runtime: the only module that imports ``onnxruntime``.

An ``OnnxModel`` owns one inference session and turns Clarion's canonical
matrix (float64, card column order, categories as indices, NaN for missing)
into the graph's own inputs: one ``[N, F]`` tensor, or one ``[N, 1]`` tensor per
feature (skl2onnx pipelines fed from data frames) with float, double, int64 or
string types. Outputs come back as float64 probabilities in card class order
(ZipMap outputs are bypassed) or as regression values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import onnx
from numpy.typing import NDArray

from service.errors import BundleRejected
from service.explain.deadline import check_deadline
from service.models.card import ModelCard

__all__ = [
    "InputLayout",
    "OnnxModel",
    "available_providers",
    "onnxruntime_version",
]

Link = Literal["identity", "logit", "log"]

_NUMERIC_TYPES: dict[int, Any] = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
}
_PROB_EPS = 1e-15


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def onnxruntime_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


@dataclass(frozen=True)
class _Feed:
    """One graph input and the canonical columns that fill it."""

    name: str
    columns: tuple[int, ...]
    dtype: Any  # numpy dtype, or ``object`` for strings
    categories: tuple[Any, ...] | None  # for string inputs: index -> category


@dataclass(frozen=True)
class InputLayout:
    kind: Literal["matrix", "per_feature"]
    feeds: tuple[_Feed, ...]


def _elem_type(value_info: onnx.ValueInfoProto) -> int:
    return int(value_info.type.tensor_type.elem_type)


def _shape(value_info: onnx.ValueInfoProto) -> list[int | None]:
    dims = value_info.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def infer_layout(graph: onnx.GraphProto, card: ModelCard) -> InputLayout:
    """Match the graph's inputs to the card's features, or refuse with the reason."""
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    names = card.feature_names
    n = len(names)
    if not inputs:
        raise BundleRejected("the graph has no inputs")
    for vi in inputs:
        if not vi.type.HasField("tensor_type"):
            raise BundleRejected(f"graph input {vi.name!r} is not a tensor")
    if len(inputs) == 1 and (len(_shape(inputs[0])) == 2 or n == 1):
        vi = inputs[0]
        shape = _shape(vi)
        width = shape[1] if len(shape) == 2 else None
        if width is not None and width != n:
            raise BundleRejected(
                f"graph input {vi.name!r} has {width} columns but the card lists {n} features",
                details={"field": "card.features", "problem": f"expected {width} features"},
            )
        elem = _elem_type(vi)
        if elem not in _NUMERIC_TYPES:
            raise BundleRejected(
                f"graph input {vi.name!r} has element type "
                f"{onnx.TensorProto.DataType.Name(elem)}; a single matrix input must be numeric"
            )
        feed = _Feed(vi.name, tuple(range(n)), _NUMERIC_TYPES[elem], None)
        return InputLayout("matrix", (feed,))
    by_name = {vi.name: vi for vi in inputs}
    missing = [f for f in names if f not in by_name]
    extra = [i for i in by_name if i not in names]
    if missing or extra:
        raise BundleRejected(
            "the graph's inputs do not match the card's features: "
            f"features without an input {missing}, inputs without a feature {extra}",
            details={"field": "card.features", "problem": "does not match graph inputs"},
        )
    feeds = []
    for column, feature in enumerate(card.features):
        vi = by_name[feature.name]
        elem = _elem_type(vi)
        if elem == onnx.TensorProto.STRING:
            if feature.type != "categorical":
                raise BundleRejected(
                    f"graph input {feature.name!r} takes strings; "
                    "the card must declare it categorical"
                )
            categories = tuple(str(c) for c in feature.categories or ())
            feeds.append(_Feed(vi.name, (column,), object, categories))
        elif elem in _NUMERIC_TYPES:
            dtype = _NUMERIC_TYPES[elem]
            if feature.nullable and np.issubdtype(dtype, np.integer):
                raise BundleRejected(
                    f"feature {feature.name!r} is nullable but its graph input is an integer tensor"
                )
            feeds.append(_Feed(vi.name, (column,), dtype, None))
        else:
            raise BundleRejected(
                f"graph input {vi.name!r} has unsupported element type "
                f"{onnx.TensorProto.DataType.Name(elem)}"
            )
    return InputLayout("per_feature", tuple(feeds))


def _bypass_zipmap(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    """Expose the tensor that feeds a ZipMap as a graph output; returns its name."""
    for node in model.graph.node:
        if node.op_type == "ZipMap" and node.domain == "ai.onnx.ml":
            tensor = node.input[0]
            if tensor not in {o.name for o in model.graph.output}:
                model = onnx.ModelProto.FromString(model.SerializeToString())
                vi = onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None)
                model.graph.output.append(vi)
            return model, tensor
    return model, None


def _pick_output(session: Any, card: ModelCard, zipmap_tensor: str | None) -> tuple[str, int]:
    """Choose the output that holds probabilities (classifiers) or values (regressors)."""
    outputs = session.get_outputs()
    if zipmap_tensor is not None:
        return zipmap_tensor, len(card.classes or ())
    float_outputs = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)")]
    if card.task == "classification":
        k = len(card.classes or ())
        for o in float_outputs:
            if len(o.shape) == 2 and (o.shape[1] == k or not isinstance(o.shape[1], int)):
                return o.name, k
        raise BundleRejected(
            f"no output of the graph holds {k} class probabilities "
            f"(outputs: {[(o.name, o.type, o.shape) for o in outputs]})"
        )
    for o in float_outputs:
        if len(o.shape) == 1 or (
            len(o.shape) == 2 and (o.shape[1] == 1 or not isinstance(o.shape[1], int))
        ):
            return o.name, 1
    raise BundleRejected(
        f"no output of the graph holds one regression value per row "
        f"(outputs: {[(o.name, o.type, o.shape) for o in outputs]})"
    )


class OnnxModel:
    """One ONNX Runtime session, fed from canonical float64 matrices.

    ``predict_proba(X)`` / ``predict_value(X)``: (n_samples, n_outputs) float64.
    """

    def __init__(
        self,
        model: onnx.ModelProto,
        card: ModelCard,
        *,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        intra_op_threads: int = 1,
        chunk_rows: int = 65_536,
        link: Link | None = None,
    ) -> None:
        import onnxruntime as ort

        self.card = card
        self.layout = infer_layout(model.graph, card)
        model, zipmap_tensor = _bypass_zipmap(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        wanted = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        try:
            self._session = ort.InferenceSession(
                model.SerializeToString(), sess_options=options, providers=wanted
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad graphs
            raise BundleRejected(f"ONNX Runtime cannot load the graph: {exc}") from exc
        self.requested_providers = tuple(providers)
        self.providers_in_use = tuple(self._session.get_providers())
        self._output, self.n_outputs = _pick_output(self._session, card, zipmap_tensor)
        self.chunk_rows = chunk_rows
        self.link: Link = link or self._default_link()

    def _default_link(self) -> Link:
        if self.card.task == "regression":
            return "identity"
        if self.card.output.link != "auto":
            return self.card.output.link
        return "logit" if self.n_outputs == 2 else "log"

    # -- feeding -------------------------------------------------------------------------
    @property
    def input_dtype(self) -> Any:
        """The dtype to build rows in: the matrix input's own float type, else float64."""
        if self.layout.kind == "matrix" and self.layout.feeds[0].dtype in (np.float32, np.float64):
            return self.layout.feeds[0].dtype
        return np.float64

    def _feeds(self, X: NDArray[Any]) -> dict[str, Any]:
        feeds: dict[str, Any] = {}
        for feed in self.layout.feeds:
            if self.layout.kind == "matrix" and not np.issubdtype(feed.dtype, np.integer):
                # The one input takes all of X's columns in card order: no gather, and no
                # copy when X is already in the input's dtype.
                feeds[feed.name] = np.asarray(X, dtype=feed.dtype)
                continue
            block = X[:, list(feed.columns)]
            if feed.categories is not None:
                codes = block[:, 0].astype(np.int64)
                feeds[feed.name] = np.asarray(feed.categories, dtype=object)[codes].reshape(-1, 1)
            elif np.issubdtype(feed.dtype, np.integer):
                feeds[feed.name] = np.rint(block).astype(feed.dtype)
            else:
                feeds[feed.name] = block.astype(feed.dtype)
        return feeds

    def run(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """Raw graph output for canonical rows, (n_samples, n_outputs) float64, chunked."""
        n = X.shape[0]
        out = np.empty((n, self.n_outputs), dtype=np.float64)
        for start in range(0, n, self.chunk_rows):
            check_deadline()
            stop = min(n, start + self.chunk_rows)
            (y,) = self._session.run([self._output], self._feeds(X[start:stop]))
            out[start:stop] = np.asarray(y, dtype=np.float64).reshape(stop - start, -1)
        return out

    def graph_function(
        self, model: onnx.ModelProto, output: str
    ) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
        """A session over a variant of this graph (same inputs), returning ``output`` as float64.

        Used for the margin graph of a tree model (post-transform removed). Returns
        fn(X: (n_samples, n_columns)) -> (n_samples, width).
        """
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._session.get_session_options().intra_op_num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=list(self.providers_in_use)
        )

        def fn(X: NDArray[Any]) -> NDArray[np.float64]:
            parts = []
            for start in range(0, X.shape[0], self.chunk_rows):
                check_deadline()
                chunk = X[start : start + self.chunk_rows]
                (y,) = session.run([output], self._feeds(chunk))
                parts.append(np.asarray(y, dtype=np.float64).reshape(chunk.shape[0], -1))
            return np.concatenate(parts, axis=0) if parts else np.empty((0, 0))

        return fn

    # -- output spaces -------------------------------------------------------------------
    def predict_proba(self, X: NDArray[Any]) -> NDArray[np.float64]:
        return self.run(X)

    def predict_raw(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """The model's margin: the link applied to its probabilities (a verified tree
        ensemble's exact margin graph is ``TreeSupport.predict_raw``, composed at load)."""
        y = self.run(X)
        if self.link == "identity":
            return y
        logp = np.log(np.clip(y, _PROB_EPS, None))
        if self.link == "logit":
            margin = logp[:, 1] - logp[:, 0]
            return np.stack([-margin, margin], axis=1)
        return np.asarray(logp - logp.mean(axis=1, keepdims=True), dtype=np.float64)

    def function(
        self, space: Literal["raw", "probability"]
    ) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
        """The prediction function for the game in ``space``, from the session alone.

        A regressor's raw space is its value; with verified trees the loader composes
        their exact margin instead (``LoadedModel.function``).
        """
        if space == "probability" or self.card.task == "regression":
            return self.run
        return self.predict_raw
