"""How each example bundle is built: one module per bundle, plus the shared steps.

``models/build.py`` is the entry point; this package is imported from there (and from the
tests), never installed. It is not a bundle: it holds no ``model.onnx``, so the model
registry passes over it.

- ``common``: constants, split, ONNX conversion and verification, metrics, calibration;
- ``spec``: the card copy (``models/card_copy*.yaml``) and the card it makes;
- ``bundle``: the built bundle and how its four files are written;
- ``german_credit``, ``breast_cancer``, ``hiring_screen``, ``diabetes_progression``: data,
  training and conversion of each bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import breast_cancer, diabetes_progression, german_credit, hiring_screen
from .bundle import Built, write_bundle
from .common import BuildError

__all__ = ["BUILDERS", "BuildError", "Built", "write_bundle"]

# Build order, and the names `--only` accepts.
BUILDERS: Mapping[str, Callable[[], Built]] = {
    "german_credit": german_credit.build,
    "breast_cancer": breast_cancer.build,
    "hiring_screen": hiring_screen.build,
    "diabetes_progression": diabetes_progression.build,
}
