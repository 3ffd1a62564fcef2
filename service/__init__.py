"""Clarion: explanations for ONNX models.

The HTTP app is built by ``create_app``; the same core serves the CLI.
"""

from service.app import create_app
from service.card import ModelCard
from service.errors import ClarionError
from service.explanation import Explanation
from service.settings import Settings

__all__ = ["ClarionError", "Explanation", "ModelCard", "Settings", "create_app"]
