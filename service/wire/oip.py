"""The Open Inference Protocol (v2, KServe and Triton's REST protocol) on the wire.

One input tensor per card feature, named after it, shape ``[N]`` (or ``[N, 1]``):
``BYTES`` for categorical features, ``INT64`` for integer and binary ones, ``FP64`` for
numbers (any numeric datatype is accepted). Outputs: ``label`` (``BYTES``, ``[N]``) and
``probabilities`` (``FP64``, ``[N, n_classes]``, card class order) for classifiers,
``value`` (``FP64``, ``[N]``) for regressors.

Both the core JSON form and Triton's binary-tensor extension are read and written
(``tritonclient``'s ``set_data_from_numpy`` sends binary by default): a binary request
carries ``Inference-Header-Content-Length`` (the JSON header's size) and each binary
input says its ``binary_data_size``; ``BYTES`` elements are 4-byte little-endian lengths
followed by the bytes. An output is answered in binary when the request asks for it
(``parameters.binary_data`` per output, ``binary_data_output`` for all).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import InvalidRequest
from service.models.card import Feature, ModelCard
from service.models.prediction import Prediction

__all__ = [
    "PLATFORM",
    "InferRequest",
    "Tensor",
    "datatype_of",
    "infer_response",
    "instances",
    "model_metadata",
    "parse_infer_request",
]

PLATFORM = "onnxruntime_onnx"

_NUMPY: dict[str, str] = {
    "BOOL": "?",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


@dataclass(frozen=True)
class Tensor:
    """One named input: its datatype, shape and elements (flattened, row-major)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]


@dataclass(frozen=True)
class InferRequest:
    """An inference request: its id, inputs and which outputs to send back in binary."""

    id: str | None
    inputs: list[Tensor]
    outputs: list[str] | None = None
    binary: frozenset[str] = field(default_factory=frozenset)
    binary_all: bool = False


def datatype_of(feature: Feature) -> str:
    if feature.type == "categorical":
        return "BYTES"
    if feature.type in ("integer", "binary"):
        return "INT64"
    return "FP64"


def model_metadata(card: ModelCard, versions: Sequence[str]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs one per feature, outputs per task."""
    if card.task == "regression":
        outputs = [{"name": "value", "datatype": "FP64", "shape": [-1]}]
    else:
        n_classes = len(card.classes or ())
        outputs = [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, n_classes]},
        ]
    return {
        "name": card.name,
        "versions": list(versions),
        "platform": PLATFORM,
        "inputs": [
            {"name": f.name, "datatype": datatype_of(f), "shape": [-1]} for f in card.features
        ],
        "outputs": outputs,
    }


def _refuse(message: str, field_name: str = "inputs") -> InvalidRequest:
    return InvalidRequest(message, details={"field": field_name, "problem": message})


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        out: list[Any] = []
        for item in data:
            out += _flatten(item)
        return out
    return [data]


def _binary_values(raw: bytes, datatype: str, name: str) -> list[Any]:
    if datatype == "BYTES":
        values: list[Any] = []
        offset = 0
        while offset < len(raw):
            if offset + 4 > len(raw):
                raise _refuse(f"input {name!r}: a BYTES element's length is cut off")
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise _refuse(f"input {name!r}: a BYTES element is cut off")
            values.append(raw[offset : offset + length])
            offset += length
        return values
    dtype = np.dtype(_NUMPY[datatype])
    if len(raw) % dtype.itemsize:
        raise _refuse(f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype}")
    return list(np.frombuffer(raw, dtype=dtype).tolist())


def _tensor(spec: Any, binary: bytes, offset: int) -> tuple[Tensor, int]:
    if not isinstance(spec, Mapping):
        raise _refuse("each input must be an object with name, datatype, shape and data")
    name, datatype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
    if not isinstance(name, str):
        raise _refuse("an input has no name")
    if datatype != "BYTES" and datatype not in _NUMPY:
        raise _refuse(f"input {name!r}: unknown datatype {datatype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _refuse(f"input {name!r}: shape must be a list of sizes")
    parameters = spec.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, Mapping) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise _refuse(f"input {name!r}: binary_data_size {size!r} overruns the body")
        values = _binary_values(binary[offset : offset + size], datatype, name)
        offset += size
    elif "data" in spec:
        values = _flatten(spec["data"])
    else:
        raise _refuse(f"input {name!r} has neither data nor binary_data_size")
    expected = math.prod(shape)
    if len(values) != expected:
        raise _refuse(f"input {name!r}: shape {shape} needs {expected} values; got {len(values)}")
    return Tensor(name=name, datatype=datatype, shape=tuple(shape), values=values), offset


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Read a JSON or binary-extension request body (``header_length``: the value of
    ``Inference-Header-Content-Length``, None for plain JSON)."""
    if header_length is None:
        head, binary = body, b""
    else:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 <= n <= len(body):
            raise _refuse(
                f"Inference-Header-Content-Length {header_length!r} does not fit the body",
                "Inference-Header-Content-Length",
            )
        head, binary = body[:n], body[n:]
    try:
        document = json.loads(head)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refuse(f"the request is not JSON: {exc}", "body") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("inputs"), list):
        raise _refuse("the request must be an object with a list of inputs")
    tensors, offset = [], 0
    for spec in document["inputs"]:
        tensor, offset = _tensor(spec, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise _refuse(f"{len(binary) - offset} bytes of binary data belong to no input", "body")
    parameters = document.get("parameters") or {}
    binary_all = bool(isinstance(parameters, Mapping) and parameters.get("binary_data_output"))
    wanted: list[str] | None = None
    binary_outputs: set[str] = set()
    if isinstance(document.get("outputs"), list):
        wanted = []
        for out in document["outputs"]:
            if not isinstance(out, Mapping) or not isinstance(out.get("name"), str):
                raise _refuse("each requested output must be an object with a name", "outputs")
            wanted.append(out["name"])
            wants = out.get("parameters") or {}
            if isinstance(wants, Mapping) and wants.get("binary_data"):
                binary_outputs.add(out["name"])
    request_id = document.get("id")
    return InferRequest(
        id=str(request_id) if request_id is not None else None,
        inputs=tensors,
        outputs=wanted,
        binary=frozenset(binary_outputs),
        binary_all=binary_all,
    )


def _value(feature: Feature, value: Any) -> Any:
    """One tensor element as a person would give it in JSON."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError as exc:
            raise _refuse(f"input {feature.name!r}: a BYTES element is not UTF-8") from exc
    if feature.type == "categorical" and isinstance(value, str):
        # Categories may be numbers; BYTES carries them as their text.
        for category in feature.categories or ():
            if not isinstance(category, str) and str(category) == value:
                return category
    return value


def instances(card: ModelCard, request: InferRequest) -> list[dict[str, Any]]:
    """The request's tensors as instances keyed by feature name (``canonical_rows`` then
    validates them as it does every request)."""
    by_name = {t.name: t for t in request.inputs}
    unknown = sorted(set(by_name) - set(card.feature_names))
    if unknown:
        raise _refuse(f"inputs {unknown} are not features of model {card.name!r}")
    missing = [f.name for f in card.features if f.name not in by_name]
    if missing:
        raise _refuse(f"model {card.name!r} needs one input per feature; missing: {missing}")
    sizes = {t.name: t.shape[0] if t.shape else 1 for t in request.inputs}
    for t in request.inputs:
        if len(t.shape) > 2 or (len(t.shape) == 2 and t.shape[1] != 1):
            raise _refuse(f"input {t.name!r}: shape must be [N] or [N, 1]; got {list(t.shape)}")
    if len(set(sizes.values())) > 1:
        raise _refuse(f"every input must hold the same number of rows; got {sizes}")
    n = next(iter(sizes.values()), 0)
    return [{f.name: _value(f, by_name[f.name].values[i]) for f in card.features} for i in range(n)]


def _outputs(card: ModelCard, found: Sequence[Prediction]) -> dict[str, tuple[str, list[int], Any]]:
    n = len(found)
    if card.task == "regression":
        return {"value": ("FP64", [n], [float(p.value or 0.0) for p in found])}
    classes = list(card.classes or ())
    probabilities = [[float((p.probabilities or {})[c]) for c in classes] for p in found]
    return {
        "label": ("BYTES", [n], [str(p.label) for p in found]),
        "probabilities": ("FP64", [n, len(classes)], probabilities),
    }


def _encode(datatype: str, data: list[Any]) -> bytes:
    if datatype == "BYTES":
        parts = [s.encode() for s in data]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return np.asarray(data, dtype="<f8").tobytes()


def infer_response(
    card: ModelCard, version: str, request: InferRequest, found: Sequence[Prediction]
) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the JSON header's length (for
    ``Inference-Header-Content-Length``)."""
    available = _outputs(card, found)
    names = request.outputs if request.outputs is not None else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise _refuse(
            f"outputs {unknown} are not outputs of model {card.name!r}; it has {list(available)}",
            "outputs",
        )
    document: dict[str, Any] = {"model_name": card.name, "model_version": version}
    if request.id is not None:
        document["id"] = request.id
    outputs, blobs = [], []
    for name in names:
        datatype, shape, data = available[name]
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if request.binary_all or name in request.binary:
            blob = _encode(datatype, data)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = _flatten(data)
        outputs.append(tensor)
    document["outputs"] = outputs
    head = json.dumps(document).encode()
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
