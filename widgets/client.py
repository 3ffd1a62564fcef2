"""A typed client for Clarion's HTTP API: what the workspace (and any product app) calls.

One method per endpoint, returning the decoded JSON (plain dicts and lists, exactly
as the API sent them) or, for files, an ``Export``. The names a request may use
(methods, personas, locales, widget variants, themes, verdicts, risk flags) are the
service's: ``vocabulary()`` reads them, and nothing here repeats them. Every non-2xx answer raises
``ClientError`` carrying the API's own message, code and details; a service that
cannot be reached raises ``ClientError`` too (status 0, code ``unreachable``).

The transport is injectable, so tests run the client against ``httpx.MockTransport``
(a fake that implements the API's behaviour) instead of patching anything.

    ClientError                     the API said no, or could not be reached
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

import httpx

__all__ = [
    "ClarionClient",
    "ClientError",
    "Export",
    "Json",
    "Vocabulary",
]

Json = dict[str, Any]


class Vocabulary(TypedDict):
    """``GET /v1/vocabulary``: the names a request may use, as the service lists them."""

    methods: list[str]
    deterministic_methods: list[str]
    output_spaces: list[str]
    personas: list[str]
    locales: list[str]
    locale_names: dict[str, str]
    widgets: list[str]
    themes: list[str]
    verdicts: list[str]
    risk_flags: list[str]


class ClientError(Exception):
    """An error answer from the API (or no answer), in the API's own words."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "unreachable",
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = [dict(d) for d in details]


@dataclass(frozen=True)
class Export:
    """An export file as the API sent it."""

    filename: str
    media_type: str
    content: bytes
    sha256: str


def _error(response: httpx.Response) -> ClientError:
    try:
        body = response.json()["error"]
        return ClientError(
            str(body["message"]),
            status=response.status_code,
            code=str(body.get("code", "error")),
            details=body.get("details") or [],
        )
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return ClientError(
            f"HTTP {response.status_code}: {text}", status=response.status_code, code="http_error"
        )


def _filename(disposition: str, default: str) -> str:
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            return value.strip('"')
    return default


class ClarionClient:
    """Calls one Clarion service. ``api_key`` is sent as ``Authorization: Bearer``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the Clarion API at {self.base_url}: {exc}") from exc
        if response.is_error:
            raise _error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        data: Json = self._send(method, path, **kwargs).json()
        return data

    # Health and models
    def ready(self) -> Json:
        """``GET /health/ready``: status, models served, refused bundles."""
        return self._json("GET", "/health/ready")

    def list_models(self) -> list[Json]:
        """``GET /v1/models``: name, version, task, domain, sha256, n_features of each."""
        models: list[Json] = self._json("GET", "/v1/models")["models"]
        return models

    def vocabulary(self) -> Vocabulary:
        """``GET /v1/vocabulary``: the methods (``auto`` first), deterministic methods, output
        spaces, personas, locales (and their names), widgets, themes, verdicts, risk flags."""
        return cast(Vocabulary, self._json("GET", "/v1/vocabulary"))

    def get_model(self, name: str) -> Json:
        """``GET /v1/models/{name}``: card, features, classes, explainers, providers."""
        return self._json("GET", f"/v1/models/{name}")

    def samples(self, name: str, limit: int = 20) -> list[Json]:
        """``GET /v1/models/{name}/samples``: example cases from the background."""
        rows: list[Json] = self._json("GET", f"/v1/models/{name}/samples", params={"limit": limit})[
            "instances"
        ]
        return rows

    def predict(self, name: str, instances: Sequence[Mapping[str, Any]]) -> list[Json]:
        """``POST /v1/models/{name}/predict``: one prediction per instance."""
        body = {"instances": [dict(x) for x in instances]}
        predictions: list[Json] = self._json("POST", f"/v1/models/{name}/predict", json=body)[
            "predictions"
        ]
        return predictions

    # Explanations
    def explain(
        self,
        name: str,
        instances: Sequence[Mapping[str, Any]],
        *,
        method: str = "auto",
        output: str | None = None,
        persona: str = "end_user",
        locale: str = "en",
        counterfactuals: int = 0,
        options: Mapping[str, Any] | None = None,
        target: str | None = None,
    ) -> Json:
        """``POST /v1/models/{name}/explain`` as JSON: the whole ``ExplainResponse``.

        ``target``: the class every row is explained toward (population views need one).
        """
        body = self._explain_body(
            instances, method, output, persona, locale, counterfactuals, options
        )
        if target is not None:
            body["target"] = target
        return self._json("POST", f"/v1/models/{name}/explain", json=body)

    def explain_html(
        self,
        name: str,
        instance: Mapping[str, Any],
        *,
        method: str = "auto",
        output: str | None = None,
        persona: str = "end_user",
        locale: str = "en",
        counterfactuals: int = 0,
        widget: str = "notice",
        theme: str = "auto",
        options: Mapping[str, Any] | None = None,
    ) -> str:
        """The same call with ``format: html``: the widget page exactly as product apps get it."""
        body = self._explain_body(
            [instance], method, output, persona, locale, counterfactuals, options
        )
        body.update(format="html", widget=widget, theme=theme)
        return self._send("POST", f"/v1/models/{name}/explain", json=body).text

    @staticmethod
    def _explain_body(
        instances: Sequence[Mapping[str, Any]],
        method: str,
        output: str | None,
        persona: str,
        locale: str,
        counterfactuals: int,
        options: Mapping[str, Any] | None,
    ) -> Json:
        body: Json = {
            "instances": [dict(x) for x in instances],
            "method": method,
            "persona": persona,
            "locale": locale,
            "counterfactuals": counterfactuals,
            "options": dict(options or {}),
            # The workspace tries things out: its explanations stay out of review samples.
            "purpose": "preview",
        }
        if output is not None:
            body["output"] = output
        return body

    # Records
    def list_explanations(self, *, limit: int = 50, **filters: Any) -> Json:
        """``GET /v1/explanations``: record summaries, newest first, and ``next_cursor``."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._json("GET", "/v1/explanations", params={**params, "limit": limit})

    def get_explanation(self, record_id: str) -> Json:
        """``GET /v1/explanations/{id}``: the whole audit record."""
        return self._json("GET", f"/v1/explanations/{record_id}")

    def replay(self, record_id: str) -> Json:
        """``POST /v1/explanations/{id}/replay``: recompute and compare with the record."""
        return self._json("POST", f"/v1/explanations/{record_id}/replay")

    def case_packet(self, record_id: str) -> str:
        """``GET /v1/explanations/{id}/case``: the record as a self-contained HTML packet."""
        return self._send("GET", f"/v1/explanations/{record_id}/case").text

    # Review work
    def draw_sample(
        self,
        *,
        filters: Mapping[str, Any] | None = None,
        size: int = 50,
        seed: int | None = None,
        strata: Sequence[str] | None = None,
        oversample: int | None = None,
    ) -> Json:
        """``POST /v1/samples``: draw a stratified plus risk-weighted review sample."""
        body: Json = {"filters": {k: v for k, v in (filters or {}).items() if v is not None}}
        body["size"] = size
        if seed is not None:
            body["seed"] = seed
        if strata is not None:
            body["strata"] = list(strata)
        if oversample is not None:
            body["oversample"] = oversample
        return self._json("POST", "/v1/samples", json=body)

    def get_sample(self, sample_id: str) -> Json:
        """``GET /v1/samples/{id}``: a stored sample with its items."""
        return self._json("GET", f"/v1/samples/{sample_id}")

    def annotate(
        self,
        record_id: str,
        *,
        verdict: str,
        note: str = "",
        position: int | None = None,
        supersedes: str | None = None,
    ) -> Json:
        """``POST /v1/explanations/{id}/annotations``: add a verdict (never an edit), as the
        client's API key (the service takes the reviewer from the key)."""
        body: Json = {"verdict": verdict, "note": note}
        if position is not None:
            body["position"] = position
        if supersedes is not None:
            body["supersedes"] = supersedes
        return self._json("POST", f"/v1/explanations/{record_id}/annotations", json=body)

    def sign_off(self, record_id: str, annotation_id: str, *, note: str = "") -> Json:
        """``POST .../annotations/{aid}/signoff``: confirm a verdict as a second reviewer (the
        client's key; 409 if it gave the verdict, 403 without a key on an open service)."""
        path = f"/v1/explanations/{record_id}/annotations/{annotation_id}/signoff"
        return self._json("POST", path, json={"note": note})

    def annotations(self, record_id: str) -> list[Json]:
        """``GET /v1/explanations/{id}/annotations``: verdicts and sign-offs, oldest first."""
        items: list[Json] = self._json("GET", f"/v1/explanations/{record_id}/annotations")[
            "annotations"
        ]
        return items

    def export(
        self,
        *,
        sample_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        format: Literal["zip", "jsonl", "csv"] = "zip",
        limit: int = 1_000,
    ) -> Export:
        """``POST /v1/exports``: a sample's (or a filter's) records as a file."""
        body: Json = {"format": format, "limit": limit}
        if sample_id is not None:
            body["sample_id"] = sample_id
        if filters is not None:
            body["filters"] = {k: v for k, v in filters.items() if v is not None}
        response = self._send("POST", "/v1/exports", json=body)
        return Export(
            filename=_filename(
                response.headers.get("content-disposition", ""), f"clarion-export.{format}"
            ),
            media_type=response.headers.get("content-type", "application/octet-stream"),
            content=response.content,
            sha256=response.headers.get("x-clarion-content-sha256", ""),
        )

    def copy_coverage(self, name: str) -> Json:
        """``GET /v1/models/{name}/copy-coverage``: features without reviewed words, per
        locale, judged by the service from the card."""
        return self._json("GET", f"/v1/models/{name}/copy-coverage")

    def model_report(self, name: str) -> Json:
        """``GET /v1/models/{name}/report``: recorded decisions' quality and reason counts."""
        return self._json("GET", f"/v1/models/{name}/report")
