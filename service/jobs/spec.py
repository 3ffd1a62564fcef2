"""What a job is asked to do: the model and the explain request's fields besides the rows.

``JobSpec`` is what a caller sends (``method`` may be ``auto``, ``output`` and the seed
may be left to defaults); ``Plan`` is the spec resolved once at submission, against the
model served then (the method actually used, the output space, every option with the
seed), so every partition, a resumed job and a replayed row run exactly the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from service.explain.explanation import OutputSpace
from service.results import ExplainSpec

__all__ = ["FORMATS", "JobSpec", "Plan", "ResultFormat"]

ResultFormat = Literal["parquet", "csv", "jsonl"]
FORMATS: tuple[ResultFormat, ...] = ("parquet", "csv", "jsonl")


@dataclass(frozen=True)
class JobSpec:
    """A job request: ``options`` as in explain (``seed``, ``nsamples``, ...)."""

    model: str
    version: str | None = None
    method: str = "auto"
    output: OutputSpace | None = None
    target: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def explain_spec(self) -> ExplainSpec:
        return ExplainSpec(
            method=self.method, output=self.output, target=self.target, options=self.options
        )


@dataclass(frozen=True)
class Plan:
    """A job's spec as resolved at submission; JSON-serialisable through ``to_dict``.

    ``quality``: the names of the quality figures the method reports (result columns);
    ``parameters``/``algorithm``: the explainer's, as an explain response's provenance.
    """

    model: str
    version: str
    model_sha256: str
    bundle_sha256: str
    method: str
    output: OutputSpace
    target: str | None
    options: Mapping[str, Any]
    quality: tuple[str, ...]
    parameters: Mapping[str, Any]
    algorithm: str | None

    @property
    def seed(self) -> int:
        return int(self.options["seed"])

    def explain_spec(self) -> ExplainSpec:
        """The explain request each row is explained with (equal to a one-row explain)."""
        return ExplainSpec(
            method=self.method, output=self.output, target=self.target, options=self.options
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "model_sha256": self.model_sha256,
            "bundle_sha256": self.bundle_sha256,
            "method": self.method,
            "output": self.output,
            "target": self.target,
            "options": dict(self.options),
            "quality": list(self.quality),
            "parameters": dict(self.parameters),
            "algorithm": self.algorithm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        output: OutputSpace = "raw" if data["output"] == "raw" else "probability"
        return cls(
            model=data["model"],
            version=data["version"],
            model_sha256=data["model_sha256"],
            bundle_sha256=data["bundle_sha256"],
            method=data["method"],
            output=output,
            target=data["target"],
            options=dict(data["options"]),
            quality=tuple(data["quality"]),
            parameters=dict(data["parameters"]),
            algorithm=data["algorithm"],
        )
