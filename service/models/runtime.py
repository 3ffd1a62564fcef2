"""ONNX Runtime: the only module that imports ``onnxruntime``.

An ``OnnxModel`` owns one inference session and turns Clarion's canonical
matrix (float64, card column order, categories as indices, NaN for missing)
into the graph's own inputs: one ``[N, F]`` tensor, or one ``[N, 1]`` tensor per
feature (skl2onnx pipelines fed from data frames) with float, double, int64 or
string types. Outputs come back as float64 probabilities in card class order
(ZipMap outputs are bypassed) or as regression values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import onnx
import structlog
from numpy.typing import NDArray

from service.errors import BundleRejected, ModelError, Unavailable
from service.explain.deadline import Deadline, check_deadline, current_deadline
from service.models.card import ModelCard

__all__ = [
    "CHECK_SCRIPT",
    "InputLayout",
    "OnnxModel",
    "available_providers",
    "cancel_runs",
    "check_inputs",
    "feeds_for",
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

log = structlog.get_logger(__name__)


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


def feeds_for(layout: InputLayout, X: NDArray[Any]) -> dict[str, Any]:
    """The graph's inputs for canonical rows X (n_samples, n_features)."""
    feeds: dict[str, Any] = {}
    for feed in layout.feeds:
        if layout.kind == "matrix" and not np.issubdtype(feed.dtype, np.integer):
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


CHECK_SCRIPT = r"""
import json, resource, sys
job = json.loads(sys.argv[1])
import numpy as np
import onnxruntime as ort

def vm_bytes():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0

used = resource.getrusage(resource.RUSAGE_SELF)
soft = int(used.ru_utime + used.ru_stime) + 1 + max(1, int(job["cpu_s"]))
resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))
cap = vm_bytes() + int(job["memory_bytes"])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
try:
    data = np.load(job["feeds"], allow_pickle=False)
    feeds = {}
    for key, name in job["names"].items():
        value = data[key]
        feeds[name] = value.astype(object) if value.dtype.kind == "U" else value
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        job["model"], sess_options=options, providers=["CPUExecutionProvider"]
    )
    session.run(None, feeds)
    answer = {"ok": True}
except MemoryError:
    answer = {"ok": False, "memory": True}
except Exception as exc:
    text = str(exc)
    low = text.lower()
    answer = {
        "ok": False,
        "memory": "alloc" in low or "memory" in low,
        "error": text.splitlines()[0][:300] if text else type(exc).__name__,
    }
sys.stdout.write(json.dumps(answer) + "\n")
"""
"""The sandboxed check's child (``service.models.sandbox``), run as ``python -c``: it
imports only numpy and ONNX Runtime, sets its CPU-time and address-space limits, creates
a session for the graph at ``job["model"]`` and runs it once on the saved feeds."""


def check_inputs(model: onnx.ModelProto, card: ModelCard, X: NDArray[Any]) -> dict[str, Any]:
    """What the sandboxed check feeds the graph for canonical rows X: the graph's inputs,
    strings as unicode arrays (they are saved without pickle). No session is created."""
    feeds = feeds_for(infer_layout(model.graph, card), X)
    return {k: v.astype(str) if v.dtype == object else v for k, v in feeds.items()}


# How often the watchdog looks for runs past their deadline: a run is cancelled at most
# this long after its deadline.
_TICK_S = 0.05


class _Watchdog:
    """Cancels ONNX Runtime runs from outside: a Python thread cannot be killed, but a run
    stops soon after its ``RunOptions.terminate`` is set (TRAPS.md). One daemon thread
    sets it on every run whose request deadline has passed; ``cancel_all`` sets it on
    every run in flight (shutdown)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._runs: dict[int, tuple[Deadline | None, Any]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None
        self.cancelled: set[int] = set()

    @contextmanager
    def watching(self) -> Iterator[Any]:
        """RunOptions for one ``session.run``, cancelled at the request's deadline."""
        import onnxruntime as ort

        options = ort.RunOptions()
        limit = current_deadline()
        with self._cond:
            token = self._next
            self._next += 1
            self._runs[token] = (limit, options)
            if limit is not None and self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="clarion-ort-watchdog", daemon=True
                )
                self._thread.start()
            # No notify: waking the watchdog on every run cost a context switch per ONNX
            # Runtime call (measured ~6 ms per explanation on a busy 2-core machine); it
            # looks again within _TICK_S instead.
        try:
            yield options
        except Exception as exc:
            with self._cond:
                stopped = token in self.cancelled
            if stopped:
                raise Unavailable(
                    "the model run was cancelled: the service is shutting down",
                    details={"problem": "shutting down"},
                ) from exc
            if options.terminate:
                check_deadline()  # raises ExplanationTimeout naming the limit
            raise
        finally:
            with self._cond:
                self._runs.pop(token, None)
                self.cancelled.discard(token)

    def cancel_all(self) -> int:
        with self._cond:
            for token, (_, options) in self._runs.items():
                options.terminate = True
                self.cancelled.add(token)
            return len(self._runs)

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                upcoming = []
                for limit, options in self._runs.values():
                    if limit is None or options.terminate:
                        continue
                    if limit.expires <= now:  # read each time: abandoning brings it forward
                        options.terminate = True
                    else:
                        upcoming.append(limit.expires)
                self._cond.wait(timeout=min([_TICK_S, *(w - now for w in upcoming)]))


_WATCHDOG = _Watchdog()


def cancel_runs() -> int:
    """Stop every ONNX Runtime run in flight in this process (at shutdown); their requests
    end with 503. Returns how many were running."""
    return _WATCHDOG.cancel_all()


def _joined(chunks: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """One output's chunks as one array (the chunk itself when there is one)."""
    if len(chunks) == 1:
        return chunks[0]
    return np.concatenate(chunks, axis=0) if chunks else np.empty((0, 0))


def _check_finite(y: NDArray[np.float64], model: str) -> None:
    """Refuse NaN or infinite model output (502 ``model_error``): nothing computed from it
    may be recorded as a decision or shown to a person."""
    if not np.isfinite(y).all():
        bad = int(np.count_nonzero(~np.isfinite(y).all(axis=1)))
        log.warning("model.non_finite_output", model=model, rows=int(y.shape[0]), bad_rows=bad)
        raise ModelError(
            f"the model {model!r} answered NaN or infinity for {bad} of {y.shape[0]} "
            "row(s) it scored; nothing can be predicted or explained from that: check the "
            "model with these inputs",
            details={"field": "model", "problem": "non-finite model output"},
        )


class OnnxModel:
    """One ONNX Runtime session, fed from canonical float64 matrices.

    ``run(X)``: (n_samples, n_outputs) float64, class probabilities for a classifier and
    the value for a regressor.
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
        return feeds_for(self.layout, X)

    def run(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """Raw graph output for canonical rows, (n_samples, n_outputs) float64, chunked."""
        n = X.shape[0]
        out = np.empty((n, self.n_outputs), dtype=np.float64)
        for start in range(0, n, self.chunk_rows):
            check_deadline()
            stop = min(n, start + self.chunk_rows)
            with _WATCHDOG.watching() as options:
                (y,) = self._session.run([self._output], self._feeds(X[start:stop]), options)
            out[start:stop] = np.asarray(y, dtype=np.float64).reshape(stop - start, -1)
        _check_finite(out, self.card.name)
        return out

    @property
    def output_name(self) -> str:
        """The graph output ``run`` reads (the probabilities, a regressor's value)."""
        return self._output

    def graph_function(
        self, model: onnx.ModelProto, output: str
    ) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
        """A session over a variant of this graph (same inputs), returning ``output`` as float64.

        Used for the margin graph of a tree model (post-transform removed). Returns
        fn(X: (n_samples, n_columns)) -> (n_samples, width).
        """
        outputs = self.graph_outputs(model, [output])
        return lambda X: outputs(X)[0]

    def graph_outputs(
        self, model: onnx.ModelProto, outputs: Sequence[str]
    ) -> Callable[[NDArray[np.float64]], list[NDArray[np.float64]]]:
        """A session over a variant of this graph (same inputs), returning each of
        ``outputs`` from one run as float64 (n_samples, width), each checked finite."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._session.get_session_options().intra_op_num_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=list(self.providers_in_use)
        )
        names = list(outputs)

        def fn(X: NDArray[Any]) -> list[NDArray[np.float64]]:
            parts: list[list[NDArray[np.float64]]] = [[] for _ in names]
            for start in range(0, X.shape[0], self.chunk_rows):
                check_deadline()
                chunk = X[start : start + self.chunk_rows]
                with _WATCHDOG.watching() as options:
                    ys = session.run(names, self._feeds(chunk), options)
                for part, y in zip(parts, ys, strict=True):
                    part.append(np.asarray(y, dtype=np.float64).reshape(chunk.shape[0], -1))
            out = [_joined(p) for p in parts]
            for y in out:
                _check_finite(y, self.card.name)
            return out

        return fn

    # -- output spaces -------------------------------------------------------------------
    def predict_proba(self, X: NDArray[Any]) -> NDArray[np.float64]:
        return self.run(X)

    def predict_raw(self, X: NDArray[Any]) -> NDArray[np.float64]:
        """The model's margin: the link applied to its probabilities (a verified tree
        ensemble's exact margin graph is ``TreeSupport.predict_raw``, composed at load)."""
        return self.margin_of(self.run(X))

    def margin_of(self, y: NDArray[np.float64]) -> NDArray[np.float64]:
        """``predict_raw`` of the rows whose ``run`` answered ``y``."""
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
        return self.run if self._is_output(space) else self.predict_raw

    def in_space(
        self, y: NDArray[np.float64], space: Literal["raw", "probability"]
    ) -> NDArray[np.float64]:
        """``function(space)``'s answer for the rows whose ``run`` answered ``y``."""
        return y if self._is_output(space) else self.margin_of(y)

    def _is_output(self, space: Literal["raw", "probability"]) -> bool:
        """Whether the model in ``space`` is the session's own output."""
        return space == "probability" or self.card.task == "regression"
