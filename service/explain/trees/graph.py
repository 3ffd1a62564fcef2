"""Graph analysis: which tree-ensemble operators make the explained output, and how.

This module owns the walk from the explained output tensor back to the
ai.onnx.ml tree operators (TreeEnsembleClassifier / TreeEnsembleRegressor v1-v3,
TreeEnsemble v5). On the way it folds affine glue (Identity, Cast, Mul / Add /
Sub / Div by constants, Sum or Add of several tree operators, as LightGBM's
``split`` writes) into per-operator scales and a bias, and records the
non-linear head: the operator's ``post_transform`` or an ``Exp`` node (Poisson,
gamma and Tweedie objectives). Label branches (ArgMax, ZipMap, label casts) and
auxiliary leaf-id operators never lie on that walk, so they are ignored by
construction. Anything else refuses with ``UnsupportedModel(reason)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import numpy_helper

from service.errors import UnsupportedModel

__all__ = ["GraphAnalysis", "TreeTerm", "analyse_graph", "explained_output"]

ML_DOMAIN = "ai.onnx.ml"
TREE_OPS = ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble")
_FLOAT_TYPES: dict[int, np.dtype[np.floating[Any]]] = {
    onnx.TensorProto.FLOAT: np.dtype(np.float32),
    onnx.TensorProto.DOUBLE: np.dtype(np.float64),
}
_PASS_THROUGH = ("Identity", "Cast")


@dataclass(frozen=True, eq=False)
class TreeTerm:
    """One tree operator and the scale the glue above it applies to its score columns."""

    node: onnx.NodeProto
    opset: int
    scale: NDArray[np.float64]  # shape () or (width,)


@dataclass(frozen=True, eq=False)
class GraphAnalysis:
    """How the explained output is computed from tree operators.

    output = head(sum_t scale_t * op_t(X) + bias), where ``head`` is the operators'
    shared ``post_transform`` or ``exp_multiplier * exp(.)`` when ``exp_input`` is set.
    """

    output: str
    terms: tuple[TreeTerm, ...]
    bias: NDArray[np.float64]  # shape () or (width,)
    post_transform: str  # NONE, LOGISTIC, SOFTMAX, ... as written on the operators
    exp_input: str | None  # the tensor entering the Exp head, if any
    exp_multiplier: float  # a positive constant multiplied after Exp (XGBoost writes one)
    input_name: str
    dtypes: tuple[np.dtype[np.floating], ...]  # the graph input's dtype, then each Cast on the way


@dataclass
class _Linear:
    terms: list[TreeTerm]
    bias: NDArray[np.float64]


class _Graph:
    """Index of producers and constants; the recursion works on tensor names."""

    def __init__(self, proto: onnx.ModelProto) -> None:
        graph = proto.graph
        self.ml_opset = 1
        for imp in proto.opset_import:
            if imp.domain == ML_DOMAIN:
                self.ml_opset = max(self.ml_opset, int(imp.version))
        self.producer: dict[str, tuple[onnx.NodeProto, int]] = {}
        for node in graph.node:
            for i, name in enumerate(node.output):
                self.producer[name] = (node, i)
        self.constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
        self.inputs = {
            vi.name: vi for vi in graph.input if vi.name not in {i.name for i in graph.initializer}
        }

    def constant(self, name: str) -> NDArray[np.float64] | None:
        if name not in self.constants:
            return None
        value = np.asarray(self.constants[name], dtype=np.float64)
        # A per-column constant may be (), (1,), (width,) or (1, width); anything else
        # would broadcast across rows or mix columns, which is no longer per-output affine.
        if value.ndim == 2 and value.shape[0] == 1:
            value = value[0]
        if value.ndim > 1:
            raise UnsupportedModel(f"the constant {name!r} has shape {value.shape}, not per-column")
        return value.reshape(()) if value.size == 1 else value


def explained_output(proto: onnx.ModelProto, task: str, n_outputs: int) -> str:
    """The tensor Clarion explains: what ``OnnxModel`` reads (a ZipMap's input, else an output)."""
    for node in proto.graph.node:
        if node.op_type == "ZipMap" and node.domain == ML_DOMAIN:
            return str(node.input[0])
    for out in proto.graph.output:
        tt = out.type.tensor_type
        if tt.elem_type not in _FLOAT_TYPES:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if task == "classification" and len(dims) == 2 and dims[1] in (n_outputs, None):
            return str(out.name)
        if task == "regression" and (len(dims) == 1 or (len(dims) == 2 and dims[1] in (1, None))):
            return str(out.name)
    raise UnsupportedModel("no graph output holds the explained scores")


def analyse_graph(proto: onnx.ModelProto, output: str) -> GraphAnalysis:
    """Trace ``output`` back to tree operators; raises UnsupportedModel with the reason."""
    g = _Graph(proto)
    exp_input, multiplier, top = _peel_exp_head(g, output)
    linear = _linear(g, top, depth=0)
    if not linear.terms:
        raise UnsupportedModel("the explained output does not depend on any tree-ensemble operator")
    transforms = {_post_transform(t.node) for t in linear.terms}
    if len(transforms) != 1:
        raise UnsupportedModel(
            f"the tree operators disagree on post_transform: {sorted(transforms)}"
        )
    post = transforms.pop()
    if post != "NONE":
        term = linear.terms[0]
        identity = np.all(term.scale == 1.0) and np.all(linear.bias == 0.0)
        if len(linear.terms) > 1 or not identity or exp_input is not None:
            raise UnsupportedModel(
                f"post_transform {post} is followed by glue that is not the identity; "
                "the margin cannot be separated from the head"
            )
    if exp_input is not None:
        linear.bias = linear.bias + np.log(multiplier)
    input_name, dtypes = _trace_input(g, linear.terms)
    return GraphAnalysis(
        output=output,
        terms=tuple(linear.terms),
        bias=linear.bias,
        post_transform=post,
        exp_input=exp_input,
        exp_multiplier=multiplier,
        input_name=input_name,
        dtypes=dtypes,
    )


def _post_transform(node: onnx.NodeProto) -> str:
    v5_names = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")
    for attr in node.attribute:
        if attr.name == "post_transform":
            if attr.type == onnx.AttributeProto.INT:
                return v5_names[attr.i] if 0 <= attr.i < len(v5_names) else f"UNKNOWN({attr.i})"
            return attr.s.decode()
    return "NONE"


def _peel_exp_head(g: _Graph, output: str) -> tuple[str | None, float, str]:
    """Find ``c * Exp(margin)`` at the top; returns (Exp input, c, tensor to trace linearly)."""
    name, multiplier = output, 1.0
    while name in g.producer:
        node, _ = g.producer[name]
        if node.op_type in _PASS_THROUGH:
            name = node.input[0]
        elif node.op_type == "Mul" and len(node.input) == 2:
            consts = [g.constant(i) for i in node.input]
            if consts[0] is None and consts[1] is not None and consts[1].ndim == 0:
                multiplier *= float(consts[1])
                name = node.input[0]
            elif consts[1] is None and consts[0] is not None and consts[0].ndim == 0:
                multiplier *= float(consts[0])
                name = node.input[1]
            else:
                break
        elif node.op_type == "Exp":
            if not multiplier > 0:
                raise UnsupportedModel(
                    f"the Exp head is multiplied by {multiplier}, not a positive constant"
                )
            return str(node.input[0]), multiplier, str(node.input[0])
        else:
            break
    return None, 1.0, output


def _linear(g: _Graph, name: str, depth: int) -> _Linear:
    if depth > 64:
        raise UnsupportedModel("the glue above the tree operators is too deep to analyse")
    const = g.constant(name)
    if const is not None:
        return _Linear([], const)
    if name not in g.producer:
        raise UnsupportedModel(
            f"the explained output depends on input {name!r} outside any tree operator"
        )
    node, index = g.producer[name]
    op = node.op_type
    if node.domain == ML_DOMAIN and op in TREE_OPS:
        return _tree_term(g, node, index)
    if node.domain not in ("", "ai.onnx"):
        raise UnsupportedModel(f"operator {node.domain}.{op} sits between the trees and the output")
    if op in _PASS_THROUGH:
        if op == "Cast" and _cast_target(node) not in _FLOAT_TYPES:
            raise UnsupportedModel(
                "a Cast to a non-float type sits between the trees and the output"
            )
        return _linear(g, node.input[0], depth + 1)
    if op in ("Sum", "Add", "Sub"):
        parts = [_linear(g, i, depth + 1) for i in node.input]
        if op == "Sub":
            parts[1] = _scaled(parts[1], np.asarray(-1.0))
        return _Linear(
            [t for p in parts for t in p.terms], sum((p.bias for p in parts), np.zeros(()))
        )
    if op in ("Mul", "Div") and len(node.input) == 2:
        consts = [g.constant(i) for i in node.input]
        if op == "Div" and consts[1] is not None and np.all(consts[1] != 0):
            return _scaled(_linear(g, node.input[0], depth + 1), 1.0 / consts[1])
        if op == "Mul" and consts[1] is not None:
            return _scaled(_linear(g, node.input[0], depth + 1), consts[1])
        if op == "Mul" and consts[0] is not None:
            return _scaled(_linear(g, node.input[1], depth + 1), consts[0])
    raise UnsupportedModel(
        f"operator {op} ({node.name or 'unnamed'}) between the trees and the output is not "
        "affine glue that can be folded into leaf values"
    )


def _scaled(lin: _Linear, factor: NDArray[np.float64]) -> _Linear:
    terms = [TreeTerm(t.node, t.opset, t.scale * factor) for t in lin.terms]
    return _Linear(terms, lin.bias * factor)


def _tree_term(g: _Graph, node: onnx.NodeProto, index: int) -> _Linear:
    if node.op_type == "TreeEnsembleClassifier" and index != 1:
        raise UnsupportedModel(
            "the explained output is the classifier's predicted label, not its scores"
        )
    attrs = {a.name for a in node.attribute}
    if node.op_type == "TreeEnsembleRegressor" or node.op_type == "TreeEnsemble":
        aggregate = [a for a in node.attribute if a.name == "aggregate_function"]
        if aggregate:
            a = aggregate[0]
            value = (
                {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}.get(a.i, "?")
                if (a.type == onnx.AttributeProto.INT)
                else a.s.decode()
            )
            if value not in ("SUM", "AVERAGE"):
                raise UnsupportedModel(
                    f"aggregate_function {value} is not additive over trees; TreeSHAP needs SUM "
                    "or AVERAGE"
                )
    if node.op_type == "TreeEnsemble" and "tree_roots" not in attrs:
        raise UnsupportedModel("a TreeEnsemble operator without tree_roots")
    opset = g.ml_opset if node.op_type != "TreeEnsemble" else max(g.ml_opset, 5)
    return _Linear([TreeTerm(node, opset, np.asarray(1.0))], np.zeros(()))


def _cast_target(node: onnx.NodeProto) -> int:
    for attr in node.attribute:
        if attr.name == "to":
            return int(attr.i)
    return -1


def _trace_input(g: _Graph, terms: list[TreeTerm]) -> tuple[str, tuple[np.dtype[np.floating], ...]]:
    """Every tree operator must read the same graph input, through Identity / float Casts only."""
    found: set[tuple[str, tuple[np.dtype[np.floating], ...]]] = set()
    for term in terms:
        name = term.node.input[0]
        casts: list[np.dtype[np.floating]] = []
        while name in g.producer:
            node, _ = g.producer[name]
            if node.op_type == "Identity":
                name = node.input[0]
            elif node.op_type == "Cast" and _cast_target(node) in _FLOAT_TYPES:
                casts.append(_FLOAT_TYPES[_cast_target(node)])
                name = node.input[0]
            else:
                raise UnsupportedModel(
                    f"the trees read a preprocessed input ({node.op_type}); tree_shap needs the "
                    "trees to read the model's input columns directly"
                )
        if name not in g.inputs:
            raise UnsupportedModel(f"the trees read {name!r}, which is not a graph input")
        elem = g.inputs[name].type.tensor_type.elem_type
        if elem not in _FLOAT_TYPES:
            raise UnsupportedModel(f"the trees read input {name!r} of a non-float type")
        found.add((name, (_FLOAT_TYPES[elem], *reversed(casts))))
    if len(found) != 1:
        raise UnsupportedModel("the tree operators read different inputs or input types")
    return found.pop()
