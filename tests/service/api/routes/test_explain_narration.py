"""POST /v1/models/{name}/explain with persona, locale, counterfactuals and format: html.

Counterfactuals are re-scored here with a separate ONNX Runtime session, independently
of the service, to confirm that the outcome changes and that only actionable features
moved.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.people.narratives import TEMPLATE_VERSION
from tests.support import make_settings, write_bundle

CASE = {"income": 42.5, "debt": 30.0, "employment": "part_time", "has_guarantor": 1}
EMPLOYMENT = ["unemployed", "part_time", "full_time"]


def _post(client: TestClient, model: str, **body: Any) -> Any:
    r = client.post(f"/v1/models/{model}/explain", json={"instances": [CASE], **body})
    assert r.status_code == 200, r.text
    return r


def test_explain_carries_reasons_narrative_confidence_and_screening(client: TestClient) -> None:
    (e,) = _post(client, "tiny_credit").json()["explanations"]
    assert e["reasons"]
    for reason in e["reasons"]:
        assert set(reason) >= {"code", "text", "features", "contribution", "flags"}
        assert reason["contribution"] > 0
    assert e["narrative"].startswith("About your credit application")
    assert e["confidence"] in {"high", "moderate", "low"}
    assert e["screening"] == {"suppressed": [], "flagged": []}
    assert e["counterfactuals"] == []
    assert e["counterfactual_note"] is None
    assert e["notice"]["template_version"] == TEMPLATE_VERSION
    assert e["notice"]["locale"] == "en"


def test_german_narrative_and_the_template_record(client: TestClient) -> None:
    (e,) = _post(client, "tiny_credit", locale="de", persona="audit").json()["explanations"]
    assert e["narrative"].startswith("Erklärungsprotokoll von tiny_credit 1.0")
    assert f"Vorlagenversion {TEMPLATE_VERSION}, Sprache de, Ansicht audit" in e["narrative"]
    assert e["notice"]["locale"] == "de"
    assert e["notice"]["persona"] == "audit"
    # The tiny card has no German copy: every reason says so.
    assert all("untranslated" in r["flags"] for r in e["reasons"])


def _session_predict(folder: Path) -> Any:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    probabilities = session.get_outputs()[1].name

    def predict(rows: np.ndarray) -> np.ndarray:
        out = session.run([probabilities], {"X": rows.astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float64)

    return predict


def test_counterfactuals_are_re_scored_by_onnx_runtime(
    client: TestClient, tiny_models_dir: Path
) -> None:
    (e,) = _post(client, "tiny_credit", counterfactuals=3).json()["explanations"]
    predict = _session_predict(tiny_models_dir / "tiny_credit")
    before = e["prediction"]["label"]
    assert e["counterfactuals"], e["counterfactual_note"]
    assert "not a guarantee" in e["counterfactual_note"]
    for cf in e["counterfactuals"]:
        row = {**CASE, **cf["changes"]}
        x = np.array(
            [
                [
                    row["income"],
                    row["debt"],
                    EMPLOYMENT.index(row["employment"]),
                    row["has_guarantor"],
                ]
            ]
        )
        p = predict(x)[0]
        after = ["declined", "approved"][int(np.argmax(p))]
        assert after != before
        assert after == cf["prediction"]["label"]
        assert cf["prediction"]["probabilities"][after] == pytest.approx(p.max(), abs=1e-6)
        assert set(cf["was"]) == set(cf["changes"])
        assert all(CASE[k] == v for k, v in cf["was"].items())


def test_regressors_get_an_explicit_none(client: TestClient) -> None:
    r = client.post(
        "/v1/models/tiny_regression/explain",
        json={"instances": [[0.5, -0.25, 3.0]], "counterfactuals": 2},
    )
    (e,) = r.json()["explanations"]
    assert e["counterfactuals"] == []
    assert "classification models only" in e["counterfactual_note"]
    assert e["confidence"] == "not_rated"


@pytest.mark.parametrize(
    ("field", "value"),
    [("counterfactuals", 4), ("counterfactuals", -1), ("locale", "fr"), ("persona", "judge")],
)
def test_bad_narration_fields_are_422(client: TestClient, field: str, value: Any) -> None:
    r = client.post("/v1/models/tiny_credit/explain", json={"instances": [CASE], field: value})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == field


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.fetching: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.fetching += [f"{tag}[{k}]" for k, _ in attrs if k in {"src", "href", "srcset"}]
        self.fetching += [tag] if tag in {"script", "link", "img", "iframe"} else []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def test_format_html_returns_the_same_explanation_as_a_safe_page(client: TestClient) -> None:
    body = {"persona": "end_user", "locale": "de", "counterfactuals": 2}
    as_json = _post(client, "tiny_credit", **body).json()["explanations"][0]
    r = _post(client, "tiny_credit", format="html", theme="dark", **body)
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["x-content-type-options"] == "nosniff"
    parser = _Text()
    parser.feed(r.text)
    shown = " ".join(parser.chunks)
    assert parser.fetching == []
    assert as_json["notice"]["title"] in shown
    for reason in as_json["reasons"]:
        assert reason["text"] in shown
    for cf in as_json["counterfactuals"]:
        assert cf["text"] in shown
    assert 'data-theme="dark"' in r.text


@pytest.mark.parametrize("widget", ["reasons", "chart", "counterfactuals"])
def test_each_widget_variant_is_served(client: TestClient, widget: str) -> None:
    r = _post(client, "tiny_credit", format="html", widget=widget, counterfactuals=1)
    assert r.text.startswith("<!doctype html>")
    marker = {
        "reasons": '<ol class="reasons">',
        "chart": 'role="img"',
        "counterfactuals": "options",
    }
    assert marker[widget] in r.text


def test_errors_stay_json_when_html_is_asked_for(client: TestClient) -> None:
    r = client.post("/v1/models/nope/explain", json={"instances": [CASE], "format": "html"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_the_contract_documents_the_new_fields_and_the_html_response(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    request = spec["components"]["schemas"]["ExplainRequest"]["properties"]
    for field in ("persona", "locale", "format", "counterfactuals", "widget", "theme"):
        assert request[field].get("description"), field
    assert request["locale"]["enum"] == ["en", "de"]
    ok = spec["paths"]["/v1/models/{name}/explain"]["post"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/html"}
    instance = spec["components"]["schemas"]["InstanceExplanation"]["properties"]
    for field in ("reasons", "narrative", "confidence", "screening", "counterfactuals"):
        assert field in instance
    assert "counterfactual_note" in instance


# -- a bundle with a protected feature and a proxy ----------------------------------------


def _screened_bundle(root: Path) -> Path:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 400
    X = np.column_stack(
        [
            rng.uniform(10, 200, n),  # income
            rng.uniform(0, 100, n),  # debt
            rng.integers(18, 80, n),  # age (protected)
            rng.integers(0, 2, n),  # postcode_east (proxy)
        ]
    )
    logit = 0.03 * X[:, 0] - 0.04 * X[:, 1] - 0.08 * (X[:, 2] - 45) - 2.0 * X[:, 3] - 0.5
    y = (logit + rng.normal(0, 0.3, n) > 0).astype(int)
    model = LogisticRegression(max_iter=2000).fit(X, y)
    onx = to_onnx(
        model,
        initial_types=[("X", FloatTensorType([None, 4]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    card = {
        "name": "tiny_screened",
        "version": "1.0",
        "task": "classification",
        "domain": "credit",
        "classes": ["declined", "approved"],
        "positive_class": "approved",
        "favorable_class": "approved",
        "output": {"default": "probability"},
        "features": [
            {"name": "income", "label": "Income", "range": [0, 500], "code": "INCOME"},
            {"name": "debt", "label": "Debt", "range": [0, 200], "code": "DEBT"},
            {
                "name": "age",
                "label": "Age",
                "type": "integer",
                "actionability": "immutable",
                "protected": True,
                "code": "AGE",
            },
            {
                "name": "postcode_east",
                "label": "Lives in the east",
                "type": "binary",
                "proxy_for": "national origin",
                "code": "AREA",
            },
        ],
    }
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["income", "debt", "age", "postcode_east"])
    writer.writerows([[round(r[0], 2), round(r[1], 2), int(r[2]), int(r[3])] for r in X[:60]])
    folder = write_bundle(
        root / "tiny_screened", onx.SerializeToString(), card, buf.getvalue().encode()
    )
    assert yaml.safe_load((folder / "card.yaml").read_text())["favorable_class"] == "approved"
    return folder


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    root = tmp_path_factory.mktemp("screened")
    folder = _screened_bundle(root)
    with TestClient(create_app(make_settings(root)), raise_server_exceptions=False) as c:
        yield c, folder


def test_protected_features_never_appear_and_proxies_are_flagged(
    screened: tuple[TestClient, Path],
) -> None:
    client, _ = screened
    old_east = {"income": 60.0, "debt": 70.0, "age": 75, "postcode_east": 1}
    r = client.post(
        "/v1/models/tiny_screened/explain",
        json={"instances": [old_east], "persona": "analyst", "counterfactuals": 3},
    )
    (e,) = r.json()["explanations"]
    assert e["prediction"]["label"] == "declined"
    features = {f for reason in e["reasons"] for f in reason["features"]}
    assert "age" not in features
    assert e["screening"]["suppressed"] == ["age"]
    area = next(reason for reason in e["reasons"] if reason["code"] == "AREA")
    assert "proxy" in area["flags"]
    assert e["screening"]["flagged"] == ["postcode_east"]
    assert "Age" not in " ".join(reason["text"] for reason in e["reasons"])


def test_screened_counterfactuals_move_only_actionable_features(
    screened: tuple[TestClient, Path],
) -> None:
    client, folder = screened
    row = {"income": 60.0, "debt": 70.0, "age": 75, "postcode_east": 1}
    r = client.post(
        "/v1/models/tiny_screened/explain", json={"instances": [row], "counterfactuals": 3}
    )
    (e,) = r.json()["explanations"]
    assert e["counterfactuals"], e["counterfactual_note"]
    predict = _session_predict(folder)
    for cf in e["counterfactuals"]:
        assert set(cf["changes"]) <= {"income", "debt"}  # not age, not the proxy
        changed = {**row, **cf["changes"]}
        x = np.array([[changed[k] for k in ("income", "debt", "age", "postcode_east")]])
        p = predict(x)[0]
        assert p.argmax() == 1  # approved, re-scored by ONNX Runtime here
        assert 0 <= changed["income"] <= 500
        assert 0 <= changed["debt"] <= 200
