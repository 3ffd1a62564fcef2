"""GET /v1/vocabulary: the service's own lists, for any authenticated caller, and a request
may use every name it lists."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import vocabulary
from service.api.app import create_app
from tests.helpers.audit import bearer
from tests.support import make_settings

BOOTSTRAP = "bootstrap-admin-key-for-tests"
CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}


def test_the_lists_are_the_services(client: TestClient) -> None:
    r = client.get("/v1/vocabulary")
    assert r.status_code == 200, r.text
    assert r.json() == vocabulary.as_dict()
    assert r.json()["methods"][0] == "auto"


@pytest.fixture
def secured(tiny_models_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(tiny_models_dir, bootstrap_admin_key=BOOTSTRAP)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_any_role_may_read_it_and_nobody_without_a_key(secured: TestClient) -> None:
    assert secured.get("/v1/vocabulary").status_code == 401
    for role in ("app", "reviewer"):
        created = secured.post("/v1/keys", json={"role": role}, headers=bearer(BOOTSTRAP))
        assert created.status_code == 201, created.text
        r = secured.get("/v1/vocabulary", headers=bearer(created.json()["key"]))
        assert r.status_code == 200, r.text


def test_every_persona_and_locale_is_served(client: TestClient) -> None:
    words = client.get("/v1/vocabulary").json()
    for persona, locale in product(words["personas"], words["locales"]):
        body = {"instances": [CASE], "method": "exact_shap", "persona": persona, "locale": locale}
        r = client.post("/v1/models/tiny_credit/explain", json=body)
        assert r.status_code == 200, (persona, locale, r.text)


def test_every_widget_and_theme_renders(client: TestClient) -> None:
    words = client.get("/v1/vocabulary").json()
    for widget, theme in product(words["widgets"], words["themes"]):
        body = {
            "instances": [CASE],
            "method": "exact_shap",
            "format": "html",
            "widget": widget,
            "theme": theme,
        }
        r = client.post("/v1/models/tiny_credit/explain", json=body)
        assert r.status_code == 200, (widget, theme, r.text)
        assert r.headers["content-type"].startswith("text/html")


def test_every_method_is_listed_for_each_model(client: TestClient) -> None:
    methods = client.get("/v1/vocabulary").json()["methods"]
    for name in ("tiny_credit", "tiny_grouped", "tiny_regression"):
        explainers = client.get(f"/v1/models/{name}").json()["explainers"]
        assert ["auto", *explainers] == methods


def test_an_unknown_method_is_refused_in_the_schemas_words(client: TestClient) -> None:
    r = client.post("/v1/models/tiny_credit/explain", json={"instances": [CASE], "method": "x"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    listed = ", ".join(repr(m) for m in vocabulary.method_choices()[:-1])
    expected = f"Input should be {listed} or {vocabulary.method_choices()[-1]!r}"
    assert error["message"] == f"method: {expected}"
    assert error["details"] == [{"field": "method", "problem": expected}]
