"""Every bad input gets its 4xx, naming the field and the problem; none gets a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from tests.support import make_settings

GOOD = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


def _with(**changes: Any) -> dict[str, Any]:
    case = dict(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            case.pop(key)
        else:
            case[key] = value
    return case


_DROP = object()


@pytest.mark.parametrize(
    ("instance", "field", "words"),
    [
        (_with(income=_DROP), "instances[0].income", "missing"),
        (_with(shoe_size=44), "instances[0].shoe_size", "not a feature"),
        (_with(income="lots"), "instances[0].income", "must be a number"),
        (_with(income=True), "instances[0].income", "must be a number"),
        (_with(income=None), "instances[0].income", "not nullable"),
        (_with(employment="astronaut"), "instances[0].employment", "unknown category"),
        (_with(income=10_000), "instances[0].income", "out of the declared range"),
        (_with(has_guarantor=2), "instances[0].has_guarantor", "0, 1, true or false"),
        ([1, 2, 3], "instances[0]", "has 3 values"),
        ("income=3", "instances[0]", "must be an object"),
    ],
)
@pytest.mark.parametrize("route", ["predict", "explain"])
def test_invalid_instances_are_422_naming_the_field(
    client: TestClient, route: str, instance: Any, field: str, words: str
) -> None:
    r = client.post(f"/v1/models/tiny_credit/{route}", json={"instances": [instance]})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["field"] == field
    assert words in error["details"][0]["problem"]
    assert field in error["message"]
    assert error["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(client: TestClient, token: str) -> None:
    raw = (
        '{"instances": [{"income": ' + token + ', "debt": 1, "employment": "full_time", '
        '"has_guarantor": 0}]}'
    )
    r = client.post(
        "/v1/models/tiny_credit/explain",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["field"] == "instances[0].income"
    assert "finite" in detail["problem"]


def test_unknown_model_is_404(client: TestClient) -> None:
    for path in ("/v1/models/nope", "/v1/models/nope/predict", "/v1/models/nope/explain"):
        r = (
            client.get(path)
            if path.count("/") == 3
            else client.post(path, json={"instances": [GOOD]})
        )
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"instances": [GOOD], "method": "magic"}, "method"),
        ({"instances": [GOOD], "target": "maybe"}, "target"),
        ({"instances": [GOOD], "output": "odds"}, "output"),
        ({"instances": []}, "instances"),
        ({"instances": [GOOD], "options": {"bogus": 1}}, "options.bogus"),
        (
            {"instances": [GOOD], "method": "kernel_shap", "options": {"nsamples": 3}},
            "options.nsamples",
        ),
        ({"instances": [GOOD], "method": "tree_shap"}, "method"),
        ({"instances": [GOOD], "unexpected": 1}, "unexpected"),
    ],
)
def test_bad_explain_parameters_are_422(client: TestClient, body: Any, field: str) -> None:
    r = client.post("/v1/models/tiny_credit/explain", json=body)
    assert r.status_code == 422, r.text
    fields = [d["field"] for d in r.json()["error"]["details"]]
    assert field in fields, fields


def test_probability_output_on_a_regressor_is_422(client: TestClient) -> None:
    r = client.post(
        "/v1/models/tiny_regression/explain",
        json={"instances": [[0, 0, 0]], "output": "probability"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "output"


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post(
        "/v1/models/tiny_credit/predict",
        content=b'{"instances": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_body_over_the_limit_is_413(tiny_models_dir: Path) -> None:
    settings = make_settings(tiny_models_dir, max_body_bytes=2048)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        big = {"instances": [GOOD] * 40}
        r = c.post("/v1/models/tiny_credit/predict", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"

        def chunks() -> Any:
            for _ in range(10):
                yield b" " * 1024

        r = c.post(
            "/v1/models/tiny_credit/predict",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "payload_too_large"


def test_too_many_instances_is_422(tiny_models_dir: Path) -> None:
    settings = make_settings(tiny_models_dir, max_instances=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        r = c.post("/v1/models/tiny_credit/predict", json={"instances": [GOOD] * 3})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "instances"


# Issue 12, items 2 and 14: hostile inputs that answered 500.
_HUGE = "1" + "0" * 399  # a 400-digit integer: float() overflows


@pytest.mark.parametrize(
    ("method", "options", "field"),
    [
        ("kernel_shap", {"nsamples": "auto"}, "options.nsamples"),
        ("kernel_shap", {"nsamples": 2.5}, "options.nsamples"),
        ("permutation_shap", {"max_evals": "100"}, "options.max_evals"),
        ("lime", {"num_samples": "many"}, "options.num_samples"),
        ("exact_shap", {"seed": "zero"}, "options.seed"),
    ],
)
@pytest.mark.parametrize("model", ["tiny_credit", "tiny_regression"])
def test_option_types_are_checked_before_the_budget(
    client: TestClient, model: str, method: str, options: dict[str, Any], field: str
) -> None:
    instance: Any = GOOD if model == "tiny_credit" else [0, 0, 0]
    body = {"instances": [instance], "method": method, "options": options}
    r = client.post(f"/v1/models/{model}/explain", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert [d["field"] for d in error["details"]] == [field]


@pytest.mark.parametrize(
    ("route", "method"),
    [("predict", None), ("explain", None), ("explain", "exact_shap"), ("explain", "kernel_shap")],
)
@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_too_large_for_a_float_is_422(
    client: TestClient, route: str, method: str | None, sign: str
) -> None:
    raw = (
        '{"instances": [{"income": ' + sign + _HUGE + ', "debt": 1, "employment": "full_time", '
        '"has_guarantor": 0}]' + (f', "method": "{method}"' if method else "") + "}"
    )
    r = client.post(
        f"/v1/models/tiny_credit/{route}", content=raw, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    detail = r.json()["error"]["details"][0]
    assert detail["field"] == "instances[0].income"
    assert "finite" in detail["problem"]
    assert _HUGE not in r.text  # not echoed back in full


def test_an_integer_too_large_for_a_float_is_422_in_a_list_instance(client: TestClient) -> None:
    raw = '{"instances": [[' + _HUGE + ", 0, 0]]}"
    r = client.post(
        "/v1/models/tiny_regression/predict",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"].startswith("instances[0].")
