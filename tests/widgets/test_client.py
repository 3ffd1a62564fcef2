"""The API client over a fake transport; the fake's answers checked against the real contract."""

from __future__ import annotations

import httpx
import pytest

from service.audit.schemas import (
    AnnotationList,
    AnnotationOut,
    ModelReport,
    RecordDetail,
    RecordList,
    ReplayResult,
    SampleOut,
)
from service.wire.schemas import (
    ExplainResponse,
    ModelDetail,
    ModelList,
    PredictResponse,
    SampleList,
    Vocabulary,
)
from tests.widgets.app_pages.fake_api import BASE_URL, CASES, FakeApi
from widgets.client import ClarionClient, ClientError


def test_every_answer_of_the_fake_follows_the_services_contract() -> None:
    fake = FakeApi()
    api = fake.client()
    ModelList.model_validate({"models": api.list_models()})
    Vocabulary.model_validate(api.vocabulary())
    ModelDetail.model_validate(api.get_model("loan"))
    SampleList.model_validate({"instances": api.samples("loan", 3)})
    PredictResponse.model_validate(
        {
            "model": {"name": "loan", "version": "1.0", "sha256": "a"},
            "predictions": api.predict("loan", CASES),
        }
    )
    response = api.explain("loan", CASES, counterfactuals=1, locale="de")
    ExplainResponse.model_validate(response)
    record_id = response["id"]
    RecordList.model_validate(api.list_explanations(model="loan"))
    RecordDetail.model_validate(api.get_explanation(record_id))
    ReplayResult.model_validate(api.replay(record_id))
    sample = api.draw_sample(filters={"model": "loan"}, size=2, seed=1)
    SampleOut.model_validate(sample)
    SampleOut.model_validate(api.get_sample(sample["id"]))
    verdict = api.annotate(record_id, verdict="ok")
    AnnotationOut.model_validate(verdict)
    AnnotationList.model_validate({"annotations": api.annotations(record_id)})
    ModelReport.model_validate(api.model_report("loan"))


def test_explain_sends_what_the_api_expects_and_html_comes_back_as_text() -> None:
    fake = FakeApi()
    html = fake.client().explain_html(
        "loan",
        CASES[0],
        persona="analyst",
        locale="de",
        widget="reasons",
        theme="dark",
        counterfactuals=2,
        options={"seed": 4},
    )
    assert html == fake.html_served[-1]
    assert 'data-persona="analyst"' in html
    (_, path, body) = fake.requests[-1]
    assert path == "/v1/models/loan/explain"
    assert body == {
        "instances": [CASES[0]],
        "method": "auto",
        "persona": "analyst",
        "locale": "de",
        "counterfactuals": 2,
        "options": {"seed": 4},
        "purpose": "preview",
        "format": "html",
        "widget": "reasons",
        "theme": "dark",
    }


def test_errors_carry_the_apis_message_code_and_details() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "error": {
                "code": "invalid_input",
                "message": "income: above the range",
                "details": [{"field": "income", "problem": "above 500"}],
                "request_id": "r1",
            }
        }
        return httpx.Response(422, json=body)

    api = ClarionClient(BASE_URL, transport=httpx.MockTransport(handler))
    with pytest.raises(ClientError) as caught:
        api.explain("loan", CASES)
    assert caught.value.message == "income: above the range"
    assert (caught.value.status, caught.value.code) == (422, "invalid_input")
    assert caught.value.details == [{"field": "income", "problem": "above 500"}]


def test_an_answer_that_is_not_the_apis_error_shape_is_still_reported() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text="Bad gateway"))
    with pytest.raises(ClientError, match="HTTP 502: Bad gateway") as caught:
        ClarionClient(BASE_URL, transport=transport).list_models()
    assert caught.value.code == "http_error"


def test_an_unreachable_service_is_a_client_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    api = ClarionClient("http://127.0.0.1:9", transport=httpx.MockTransport(refuse))
    with pytest.raises(ClientError, match=r"cannot reach the Clarion API at http://127\.0\.0\.1:9"):
        api.ready()


def test_the_api_key_travels_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"models": []})

    ClarionClient(BASE_URL, "k-123", transport=httpx.MockTransport(handler)).list_models()
    ClarionClient(BASE_URL, transport=httpx.MockTransport(handler)).list_models()
    assert seen == ["Bearer k-123", None]


def test_unknown_models_and_records_are_not_found() -> None:
    api = FakeApi().client()
    with pytest.raises(ClientError, match="no model named 'nope'") as caught:
        api.get_model("nope")
    assert caught.value.status == 404
    with pytest.raises(ClientError, match="no record"):
        api.get_explanation("missing")


def test_a_sample_leaves_out_unset_filters_and_exports_keep_their_name() -> None:
    fake = FakeApi()
    api = fake.client()
    api.explain("loan", CASES)
    sample = api.draw_sample(filters={"model": "loan", "outcome": None}, size=3)
    assert fake.requests[-1][2] == {"filters": {"model": "loan"}, "size": 3}
    export = api.export(sample_id=sample["id"], format="csv")
    assert export.filename == "clarion-smp0000.csv"
    assert export.media_type == "text/csv"
    assert export.content.startswith(b"record_id,position,outcome")
    assert len(export.sha256) == 64


def test_a_request_the_api_would_refuse_is_refused_by_the_fake_too() -> None:
    api = FakeApi().client()
    record_id = api.explain("loan", CASES[:1])["id"]
    with pytest.raises(ClientError, match=r"^verdict: Input should be 'ok'") as caught:
        api.annotate(record_id, verdict="maybe")
    assert (caught.value.status, caught.value.code) == (422, "invalid_request")


def test_a_sign_off_is_by_the_key_in_use_and_never_of_its_own_verdict() -> None:
    fake = FakeApi()
    api = fake.client()
    record_id = api.explain("loan", CASES[:1])["id"]
    verdict = api.annotate(record_id, verdict="ok")
    with pytest.raises(ClientError) as own:
        api.sign_off(record_id, verdict["id"])
    assert own.value.status == 409
    fake.reviewer = "sam"  # another reviewer's key
    signed = api.sign_off(record_id, verdict["id"], note="agreed")
    AnnotationOut.model_validate(signed)
    assert (signed["kind"], signed["reviewer"], signed["signs_off"]) == (
        "signoff",
        "sam",
        verdict["id"],
    )
    assert fake.requests[-1][2] == {"note": "agreed"}


def test_the_workspaces_own_explanations_are_previews() -> None:
    fake = FakeApi()
    fake.client().explain("loan", CASES[:1])
    assert fake.requests[-1][2]["purpose"] == "preview"  # type: ignore[index]
