"""Exact TreeSHAP straight from ONNX tree-ensemble graphs.

graph.py finds the tree operators and folds the glue; ensemble.py normalises the
trees into arrays; head.py maps tree scores to Clarion's raw space; predict.py
evaluates the arrays; paths.py and interventional.py compute exact interventional
values with per-path pattern tables; support.py is the entry point the model
registry calls at load.
"""

from service.explain.trees.ensemble import Layout, TreeEnsemble, build_ensemble
from service.explain.trees.graph import GraphAnalysis, TreeTerm, analyse_graph, explained_output
from service.explain.trees.head import Head, make_head
from service.explain.trees.interventional import (
    PathTables,
    TableCache,
    build_tables,
    shapley_values,
)
from service.explain.trees.paths import Paths, compile_paths
from service.explain.trees.predict import predict_scores
from service.explain.trees.support import (
    SelfCheck,
    TreeSupport,
    TreeUnsupported,
    prepare_tree_support,
)

__all__ = [
    "GraphAnalysis",
    "Head",
    "Layout",
    "PathTables",
    "Paths",
    "SelfCheck",
    "TableCache",
    "TreeEnsemble",
    "TreeSupport",
    "TreeTerm",
    "TreeUnsupported",
    "analyse_graph",
    "build_ensemble",
    "build_tables",
    "compile_paths",
    "explained_output",
    "make_head",
    "predict_scores",
    "prepare_tree_support",
    "shapley_values",
]
