"""Hostile graphs the ONNX checker accepts (TRAPS.md): a loop that never ends, a graph
that allocates gigabytes, and a model that is slow only for large inputs. Each is a
regression model over two float features, ``x0`` and ``x1``."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

from tests.support import _csv, write_bundle

__all__ = ["bomb_bundle", "loop_bomb", "memory_bomb", "slow_for_large_x0"]

_OPSET = [helper.make_opsetid("", 13)]


def _loop(trip: str) -> list[onnx.NodeProto]:
    """Nodes that add 1 to a scalar ``trip`` times (int64 ``trip``), into ``acc_out``."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_next"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_next", TensorProto.FLOAT, []),
        ],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    return [helper.make_node("Loop", [trip, "true", "zero"], ["acc_out"], body=body)]


def _model(nodes: list[onnx.NodeProto], extra: list[onnx.TensorProto]) -> bytes:
    """Y = sum(X, axis=1) * 0 + acc_out: shape (N, 1), the value ``acc_out``."""
    nodes = [
        *nodes,
        helper.make_node("ReduceSum", ["X", "axes"], ["s"], keepdims=1),
        helper.make_node("Mul", ["s", "zero"], ["s0"]),
        helper.make_node("Add", ["s0", "acc_out"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "bomb",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("true", TensorProto.BOOL, [], [True]),
            *extra,
        ],
    )
    model = helper.make_model(graph, opset_imports=_OPSET)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def loop_bomb() -> bytes:
    """A Loop of 10**15 iterations whatever the input: it never ends."""
    trip = helper.make_tensor("trip", TensorProto.INT64, [], [10**15])
    return _model(_loop("trip"), [trip])


def slow_for_large_x0() -> bytes:
    """A Loop of max(X) iterations: quick on small inputs, endless on large ones."""
    nodes = [
        helper.make_node("ReduceMax", ["X"], ["m"], keepdims=0),
        helper.make_node("Cast", ["m"], ["trip"], to=TensorProto.INT64),
        *_loop("trip"),
    ]
    return _model(nodes, [])


def memory_bomb(gib: int = 8) -> bytes:
    """ConstantOfShape of ``gib`` GiB of float32 on every call (the shape depends on X,
    so it is not folded at session creation), summed to a scalar."""
    nodes = [
        helper.make_node("ReduceMax", ["X"], ["m"], keepdims=1, axes=None),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["m0", "size"], ["n"]),
        helper.make_node("Cast", ["n"], ["n64"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["n64", "one_dim"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceSum", ["big"], ["acc_out"], keepdims=0),
    ]
    extra = [
        helper.make_tensor("size", TensorProto.FLOAT, [], [float(gib * 2**28)]),
        helper.make_tensor("one_dim", TensorProto.INT64, [1], [1]),
    ]
    return _model(nodes, extra)


def bomb_bundle(root: Path, name: str, model: bytes) -> Path:
    """A bundle of ``model`` with a small background (x0, x1 in 1..10)."""
    card = {
        "name": name,
        "version": "1",
        "task": "regression",
        "features": [{"name": "x0"}, {"name": "x1"}],
    }
    rows = [[float(i % 10 + 1), float(i % 7 + 1)] for i in range(20)]
    return write_bundle(root / name, model, card, _csv(["x0", "x1"], rows))
