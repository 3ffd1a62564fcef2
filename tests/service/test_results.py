"""The engine's domain results line up with the wire they are mapped to."""

from __future__ import annotations

from dataclasses import fields

from service.results import ExplainSpec
from service.wire.schemas import ExplainRequest


def test_an_explain_spec_has_the_explain_requests_fields_but_instances() -> None:
    assert {f.name for f in fields(ExplainSpec)} == set(ExplainRequest.model_fields) - {"instances"}
