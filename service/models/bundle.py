"""Model bundles: reading and validating ``model.onnx`` + ``card.yaml`` + ``background.csv``.

Everything a bundle carries is untrusted until checked here: the ONNX bytes
(parse, size, node count, operator domains, no external data, the ONNX checker),
the card (schema) and the background (columns and values against the card).
Checks that need ONNX Runtime (graph inputs and outputs against the card, a test
prediction) happen when the registry builds the session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from numpy.typing import NDArray

from service.errors import BundleRejected
from service.models.card import ModelCard, parse_card
from service.models.instances import read_csv_rows

__all__ = ["Bundle", "BundleLimits", "parse_bundle", "read_bundle_dir"]

ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
MODEL_FILE, CARD_FILES, BACKGROUND_FILE = "model.onnx", ("card.yaml", "card.json"), "background.csv"


@dataclass(frozen=True)
class BundleLimits:
    max_model_bytes: int = 32 * 1_048_576
    max_model_nodes: int = 200_000
    max_background_rows: int = 5_000


@dataclass(frozen=True, eq=False)
class Bundle:
    """A validated bundle: the card, the parsed graph and the background matrix."""

    card: ModelCard
    model: onnx.ModelProto
    model_bytes: bytes
    card_text: bytes
    background_csv: bytes
    background: NDArray[np.float64]  # (n_background, n_features)
    # Hashed once, when the bundle is built: every explanation and record names them.
    model_sha256: str = field(init=False)
    background_sha256: str = field(init=False)
    card_sha256: str = field(init=False)

    def __post_init__(self) -> None:
        self.background.setflags(write=False)  # shared by every request: nobody writes it
        object.__setattr__(self, "model_sha256", hashlib.sha256(self.model_bytes).hexdigest())
        object.__setattr__(
            self, "background_sha256", hashlib.sha256(self.background_csv).hexdigest()
        )
        object.__setattr__(self, "card_sha256", hashlib.sha256(self.card_text).hexdigest())


def _all_graphs(graph: onnx.GraphProto) -> list[onnx.GraphProto]:
    graphs = [graph]
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                graphs += _all_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    graphs += _all_graphs(g)
    return graphs


def check_onnx(data: bytes, limits: BundleLimits) -> onnx.ModelProto:
    """Parse and vet untrusted ONNX bytes; raises BundleRejected with the reason."""
    if len(data) > limits.max_model_bytes:
        raise BundleRejected(
            f"the model is {len(data)} bytes; the limit is {limits.max_model_bytes}",
            details={"field": "model", "problem": "too large"},
        )
    try:
        model = onnx.ModelProto.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise BundleRejected(
            "the model is not a valid ONNX file (it does not parse as an ONNX protobuf)",
            details={"field": "model", "problem": "not ONNX"},
        ) from exc
    if not model.HasField("graph") or not model.graph.node:
        raise BundleRejected(
            "the model has no graph (an empty or truncated ONNX file)",
            details={"field": "model", "problem": "no graph"},
        )
    graphs = _all_graphs(model.graph)
    n_nodes = sum(len(g.node) for g in graphs)
    if n_nodes > limits.max_model_nodes:
        raise BundleRejected(
            f"the graph has {n_nodes} nodes; the limit is {limits.max_model_nodes}",
            details={"field": "model", "problem": "too many nodes"},
        )
    domains = {op.domain for op in model.opset_import} | {n.domain for g in graphs for n in g.node}
    foreign = sorted(d for d in domains if d not in ALLOWED_DOMAINS)
    if foreign or model.functions:
        what = foreign or ["local functions"]
        raise BundleRejected(
            f"the model uses operators outside the standard and ai.onnx.ml domains: {what}",
            details={"field": "model", "problem": "unsupported operator domain"},
        )
    for g in graphs:
        for tensor in g.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                raise BundleRejected(
                    f"initializer {tensor.name!r} points at external data; "
                    "bundles must carry all weights inside model.onnx",
                    details={"field": "model", "problem": "external data"},
                )
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleRejected(
            f"the ONNX checker refused the model: {first}",
            details={"field": "model", "problem": "failed the ONNX checker"},
        ) from exc
    return model


def parse_bundle(
    model_bytes: bytes, card_text: bytes, background_csv: bytes, limits: BundleLimits
) -> Bundle:
    """Validate the three parts of a bundle (card first: its errors are the most useful)."""
    card = parse_card(card_text)
    model = check_onnx(model_bytes, limits)
    background = read_csv_rows(card, background_csv, max_rows=limits.max_background_rows)
    return Bundle(card, model, model_bytes, card_text, background_csv, background)


def read_bundle_dir(path: Path, limits: BundleLimits, *, name: str | None = None) -> Bundle:
    """Read a bundle from ``path/{model.onnx, card.yaml|card.json, background.csv}``.

    The card must name the model ``name`` (default: the folder's name; a version's folder,
    ``<name>/versions/<version>/``, is named after its version)."""
    card_path = next((path / n for n in CARD_FILES if (path / n).is_file()), None)
    missing = [
        name
        for name, present in (
            (MODEL_FILE, (path / MODEL_FILE).is_file()),
            ("card.yaml", card_path is not None),
            (BACKGROUND_FILE, (path / BACKGROUND_FILE).is_file()),
        )
        if not present
    ]
    if missing or card_path is None:
        raise BundleRejected(f"bundle {path.name!r} is missing {missing}")
    size = (path / MODEL_FILE).stat().st_size
    if size > limits.max_model_bytes:
        raise BundleRejected(f"the model is {size} bytes; the limit is {limits.max_model_bytes}")
    bundle = parse_bundle(
        (path / MODEL_FILE).read_bytes(),
        card_path.read_bytes(),
        (path / BACKGROUND_FILE).read_bytes(),
        limits,
    )
    expected = path.name if name is None else name
    if bundle.card.name != expected:
        raise BundleRejected(
            f"the card names the model {bundle.card.name!r} but its folder is {expected!r}"
        )
    return bundle
