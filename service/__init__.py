"""Clarion: explanations for ONNX models.

The HTTP app is built by ``create_app``; the same core serves the CLI.
"""

from service.api.app import create_app
from service.errors import ClarionError
from service.explain.explanation import Explanation
from service.models.card import ModelCard
from service.settings import Settings

__all__ = ["ClarionError", "Explanation", "ModelCard", "Settings", "create_app"]
