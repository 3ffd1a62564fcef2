"""The record document: flags read from the response, redaction of sensitive values."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from service.audit._canonical import (
    canonical_bytes,
    canonical_document,
    canonical_json,
    record_text,
    sha256_hex,
)
from service.audit.documents import build_document, decision_columns
from service.models.card import ModelCard

CARD = ModelCard.model_validate(
    {
        "name": "m",
        "version": "1",
        "task": "classification",
        "classes": ["reject", "advance"],
        "positive_class": "advance",
        "features": [
            {"name": "score"},
            {"name": "gap", "sensitive": True, "proxy_for": "gender"},
            {
                "name": "gender",
                "type": "categorical",
                "categories": ["f", "m"],
                "protected": True,
                "sensitive": True,
            },
        ],
    }
)


def _instance(**extra: Any) -> dict[str, Any]:
    return {
        "prediction": {"label": "reject", "probabilities": {"reject": 0.58, "advance": 0.42}},
        "target": "advance",
        "output_value": 0.42,
        "base_value": 0.5,
        "attributions": [
            {"feature": "score", "value": 61.5, "attribution": 0.05},
            {"feature": "gap", "value": 37.0, "attribution": -0.1},
            {"feature": "gender", "value": "f", "attribution": -0.03},
        ],
        "quality": {"additivity_residual": 0.0},
        **extra,
    }


def test_decision_columns_read_the_response_defensively() -> None:
    plain = decision_columns(CARD, _instance(), {"score": 61.5})
    assert plain["outcome"] == "reject"
    assert plain["score"] == 0.42
    assert plain["confidence"] == 0.58
    assert abs(plain["margin"] - 0.16) < 1e-12
    assert not plain["quality_failed"]
    assert not plain["proxy_flag"]
    rich = decision_columns(
        CARD,
        _instance(
            reasons=[{"code": "GAP", "flags": ["proxy"]}],
            screening={"suppressed": ["gender"], "flagged": []},
            review={"required": True, "why": ["low_confidence", "additivity_residual"]},
            confidence={"bucket": "low"},
        ),
        {},
    )
    assert rich["proxy_flag"]
    assert rich["quality_failed"]
    assert rich["review_required"]
    assert rich["confidence_bucket"] == "low"
    low_only = decision_columns(
        CARD, _instance(review={"required": True, "why": ["low_confidence"]}), {}
    )
    assert not low_only["quality_failed"]


def test_sensitive_values_and_free_text_are_redacted() -> None:
    X = np.array([[61.5, 37.0, 0.0]])
    response = {
        "id": "r",
        "model": {"name": "m"},
        "provenance": {"versions": {}},
        "explanations": [
            _instance(
                counterfactuals=[{"changes": {"gap": 0.0}}],
                notice={"template_version": "t7", "locale": "de", "lead": "Lücke 37 Monate"},
            )
        ],
        "html": "<p>gap 37</p>",
    }
    built = build_document(
        header={"id": "r"}, card=CARD, model_sha256="0" * 64, request={"method": "auto"},
        X=X, response=response, policy="encrypt",
    )  # fmt: skip
    text = canonical_json(built.document)
    assert "37" not in text
    assert '"f"' not in text
    assert built.document["input"]["rows"] == [[61.5, None, None]]
    assert built.document["texts"] == {"template_version": "t7", "locale": "de"}
    assert list(built.document["widgets"]) == ["response/html"]
    secrets = {"/".join(map(str, path)): value for path, value in built.secrets}
    assert secrets["input/rows/0/1"] == 37.0
    assert secrets["input/values/0/gender"] == "f"
    assert secrets["response/explanations/0/attributions/1/value"] == 37.0
    assert secrets["response/explanations/0/counterfactuals"] == [{"changes": {"gap": 0.0}}]
    assert "response/html" in secrets
    assert built.decisions[0]["features"] == {"score": 61.5}
    assert built.document["input"]["sha256"] == built.document["input"]["sha256"].lower()


def test_a_card_without_sensitive_features_redacts_nothing() -> None:
    card = CARD.model_copy(
        update={"features": tuple(f.model_copy(update={"sensitive": False}) for f in CARD.features)}
    )
    built = build_document(
        header={"id": "r"}, card=card, model_sha256="0" * 64, request={},
        X=np.array([[1.0, 2.0, 1.0]]), response={"explanations": [_instance()]}, policy="encrypt",
    )  # fmt: skip
    assert built.secrets == []
    assert built.document["sensitive"]["policy"] is None
    assert built.document["input"]["values"] == [{"score": 1.0, "gap": 2.0, "gender": "m"}]


def test_redaction_leaves_the_callers_response_as_it_was() -> None:
    # The recorder's document shares the response the caller is sent (no deep copy on the
    # hot path): redacting a value copies the containers on its path, never writes to them.
    response: dict[str, Any] = {
        "id": "r",
        "explanations": [
            _instance(notice={"template_version": "t7", "locale": "en", "lead": "gap 37"})
        ],
    }
    before = copy.deepcopy(response)
    built = build_document(
        header={"id": "r"}, card=CARD, model_sha256="0" * 64, request={},
        X=np.array([[61.5, 37.0, 0.0]]), response=response, policy="encrypt",
    )  # fmt: skip
    assert response == before
    redacted = built.document["response"]["explanations"][0]
    assert redacted["attributions"][1]["value"] is None
    assert redacted["notice"] is None
    # what is not on a redacted path is shared, not copied
    assert redacted["prediction"] is response["explanations"][0]["prediction"]


def test_a_document_with_a_non_finite_number_is_made_json_once_for_its_hash() -> None:
    document = {"a": (1.0, math.nan), "b": [math.inf]}
    made, text = canonical_document(document)
    assert text == '{"a":[1.0,"NaN"],"b":["Infinity"]}'
    assert made == {"a": [1.0, "NaN"], "b": ["Infinity"]}
    plain = {"a": [1.0], "b": "x"}
    assert canonical_document(plain)[0] is plain  # nothing to make: no copy


def test_canonical_form_2_is_pinned_to_the_byte() -> None:
    # Stored records are verified by re-hashing these bytes: if a new orjson ever wrote
    # them otherwise, records written before would stop verifying. This pins the form.
    document = {"b": [1e-05, 1e16, -0.0, 0.1, 2.0, 7], "a": "Lücke <&>", "c": None, 3: (1.5,)}
    assert canonical_bytes(document) == (
        b'{"3":[1.5],"a":"L\xc3\xbccke <&>","b":[0.00001,1e+16,-0.0,0.1,2.0,7],"c":null}'
    )
    assert canonical_bytes([math.nan, math.inf, -math.inf]) == b"[null,null,null]"


def test_a_record_is_hashed_in_the_form_its_schema_version_names() -> None:
    old = {"x": 1e-05, "t": "é"}
    assert record_text(old) == b'{"t":"\\u00e9","x":1e-05}'  # form 1: no schema_version
    assert record_text({**old, "schema_version": 1}) == canonical_json(
        {**old, "schema_version": 1}
    ).encode("utf-8")
    new = {**old, "schema_version": 2}
    assert record_text(new) == canonical_bytes(new)
    assert record_text(new) == '{"schema_version":2,"t":"é","x":0.00001}'.encode()


def test_the_input_hash_is_over_the_values_as_the_record_stores_them() -> None:
    # A verifier can re-hash input.values as read back from the store: NaN is null in
    # both (canonical form 2), tuples are lists.
    card = CARD.model_copy(
        update={"features": tuple(f.model_copy(update={"sensitive": False}) for f in CARD.features)}
    )
    built = build_document(
        header={"id": "r"}, card=card, model_sha256="0" * 64, request={},
        X=np.array([[1.0, np.nan, 1.0]]), response={"explanations": [_instance()]},
        policy="encrypt", values=[{"score": 1.0, "gap": math.nan, "gender": ("m",)}],
    )  # fmt: skip
    given = built.document["input"]
    assert given["values"] == [{"score": 1.0, "gap": None, "gender": ["m"]}]
    assert given["sha256"] == sha256_hex(canonical_bytes(given["values"]))
    assert built.document["schema_version"] == 2
