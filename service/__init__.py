"""Clarion: explanations for ONNX models."""
