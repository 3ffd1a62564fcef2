"""Explaining: the Shapley game over a model, the ``Explanation`` type, the explainers
and exact TreeSHAP read from ONNX tree operators."""
