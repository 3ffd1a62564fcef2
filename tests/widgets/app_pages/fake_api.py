"""A small, typed fake of Clarion's HTTP API for the workspace tests (an httpx transport).

It implements what the pages use, with the real wire contract: request bodies are
validated with the service's own request models (so a client sending a field the API
would refuse fails here too), and ``tests/widgets/test_client.py`` validates every kind
of answer against the service's response models. One model, ``loan`` (see ``fake_model``).
Every explanation is recorded, and samples, verdicts, replays, exports and the report
work on the records.

Use ``FakeApi().client()`` for a ``ClarionClient`` over it; ``fail(path, status, message)``
makes a path answer with an error in the API's shape. ``names`` lists the models served:
every name is the same ``loan`` model (to test which one a page opens on).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from service import vocabulary
from service.audit.schemas import (
    AnnotationRequest,
    ExportRequest,
    SampleRequest,
    SignOffRequest,
)
from service.models.card import ModelCard
from service.people.coverage import copy_coverage
from service.wire import mapping
from service.wire.schemas import ExplainRequest, PredictRequest
from tests.widgets.app_pages.fake_model import (
    CASES,
    FEATURES,
    VERSIONS,
    WEIGHTS,
    explain_html,
    explain_one,
    prediction_of,
)
from widgets.client import ClarionClient

__all__ = ["BASE_URL", "CASES", "FEATURES", "FakeApi", "explain_html", "explain_one"]

BASE_URL = "http://clarion.test"
Json = dict[str, Any]
_ROUTE = Callable[[httpx.Request, re.Match[str]], httpx.Response]


def _now() -> str:
    return datetime(2026, 11, 26, 12, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, message: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": [], "request_id": "fake"}}
    return httpx.Response(status, json=body)


def _parse(model: type[BaseModel], request: httpx.Request) -> Json:
    """The request body, validated by the service's own model (ValueError if refused)."""
    body = json.loads(request.content or b"{}")
    model.model_validate(body)
    return dict(body)


class FakeApi:
    """In-memory Clarion API over ``httpx.MockTransport``; ``requests`` logs every call."""

    def __init__(self) -> None:
        self.records: dict[str, Json] = {}
        self.samples: dict[str, Json] = {}
        self.annotations: dict[str, list[Json]] = {}
        self.requests: list[tuple[str, str, Json | None]] = []
        self.html_served: list[str] = []
        self.names: list[str] = ["loan"]
        self.reviewer = "rita"  # the name of the API key the client uses
        self._failures: dict[str, tuple[int, str]] = {}
        self._routes: list[tuple[str, re.Pattern[str], _ROUTE]] = [
            ("GET", re.compile(r"/health/ready"), self._ready),
            ("GET", re.compile(r"/v1/vocabulary"), self._vocabulary),
            ("GET", re.compile(r"/v1/models"), self._models),
            ("GET", re.compile(r"/v1/models/(?P<name>\w+)"), self._model),
            ("GET", re.compile(r"/v1/models/(?P<name>\w+)/samples"), self._samples),
            ("POST", re.compile(r"/v1/models/(?P<name>\w+)/predict"), self._predict),
            ("POST", re.compile(r"/v1/models/(?P<name>\w+)/explain"), self._explain),
            ("GET", re.compile(r"/v1/models/(?P<name>\w+)/report"), self._report),
            ("GET", re.compile(r"/v1/models/(?P<name>\w+)/copy-coverage"), self._coverage),
            ("GET", re.compile(r"/v1/explanations"), self._list_records),
            ("GET", re.compile(r"/v1/explanations/(?P<id>\w+)"), self._record),
            ("POST", re.compile(r"/v1/explanations/(?P<id>\w+)/replay"), self._replay),
            ("POST", re.compile(r"/v1/explanations/(?P<id>\w+)/annotations"), self._annotate),
            ("GET", re.compile(r"/v1/explanations/(?P<id>\w+)/annotations"), self._verdicts),
            (
                "POST",
                re.compile(r"/v1/explanations/(?P<id>\w+)/annotations/(?P<aid>\w+)/signoff"),
                self._sign_off,
            ),
            ("POST", re.compile(r"/v1/samples"), self._draw),
            ("GET", re.compile(r"/v1/samples/(?P<id>\w+)"), self._sample),
            ("POST", re.compile(r"/v1/exports"), self._export),
        ]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> ClarionClient:
        return ClarionClient(BASE_URL, transport=self.transport())

    def fail(self, path: str, status: int, message: str) -> None:
        """Answer every request to ``path`` with this error from now on."""
        self._failures[path] = (status, message)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, path, body))
        if path in self._failures:
            status, message = self._failures[path]
            return _error(status, "conflict" if status == 409 else "error", message)
        for method, pattern, route in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                try:
                    return route(request, match)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    field = ".".join(f"{p}" for p in first["loc"]) or "body"
                    return _error(422, "invalid_request", f"{field}: {first['msg']}")
        return _error(404, "not_found", f"no route {request.method} {path}")

    def _known(self, match: re.Match[str]) -> httpx.Response | None:
        name = match["name"]
        return None if name in self.names else _error(404, "not_found", f"no model named {name!r}")

    # Models
    def _ready(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json={"status": "ready", "models": 1, "refused": {}})

    def _summary(self) -> Json:
        return {
            "name": "loan",
            "version": "1.0",
            "task": "classification",
            "domain": "credit",
            "sha256": "ab" * 32,
            "n_features": len(FEATURES),
            "default_version": "1.0",
            "default_chosen": False,
            "versions": [
                {
                    "version": "1.0",
                    "sha256": "ab" * 32,
                    "background_sha256": "cd" * 32,
                    "loaded_at": "2026-12-01T09:00:00+00:00",
                    "default": True,
                }
            ],
        }

    def _models(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        models = [self._summary() | {"name": name} for name in sorted(self.names)]
        return httpx.Response(200, json={"models": models})

    @staticmethod
    def _card() -> Json:
        return {
            "name": "loan",
            "version": "1.0",
            "task": "classification",
            "domain": "credit",
            "features": FEATURES,
            "classes": ["declined", "approved"],
            "positive_class": "approved",
            "favorable_class": "approved",
            "groups": {},
            "reason_codes": {},
        }

    def _vocabulary(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        # The service's own lists: the workspace must learn them from the API, not repeat them.
        return httpx.Response(200, json=vocabulary.as_dict())

    def _coverage(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        card = ModelCard.model_validate(self._card())
        report = mapping.copy_coverage(copy_coverage(card, ("en", "de")))
        return httpx.Response(200, json=report.model_dump(mode="json"))

    def _model(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        card = self._card()
        detail = self._summary() | {
            "name": match["name"],
            "card": card,
            "features": FEATURES,
            "players": [f["name"] for f in FEATURES],
            "classes": ["declined", "approved"],
            "positive_class": "approved",
            "explainers": {
                "tree_shap": "available",
                "exact_shap": "unavailable: not in the fake",
                "kernel_shap": "available",
                "permutation_shap": "available",
                "lime": "available",
            },
            "providers": ["CPUExecutionProvider"],
            "background_sha256": "cd" * 32,
            "background_rows": len(CASES),
        }
        return httpx.Response(200, json=detail)

    def _samples(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        limit = int(request.url.params.get("limit", "5"))
        return httpx.Response(200, json={"instances": (CASES * 30)[:limit]})

    def _predict(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        body = _parse(PredictRequest, request)
        predictions = [prediction_of(x) for x in body["instances"]]
        model = {"name": "loan", "version": "1.0", "sha256": "ab" * 32}
        return httpx.Response(200, json={"model": model, "predictions": predictions})

    def _explain(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        body = _parse(ExplainRequest, request)
        method, output = body.get("method", "auto"), body.get("output") or "probability"
        if method == "tree_shap" and output == "probability":
            return _error(422, "invalid_input", "tree_shap needs output 'raw' for this model")
        explanations = [explain_one(x, body) for x in body["instances"]]
        record_id = f"rec{len(self.records):04d}" + "0" * 25
        seed = int(body.get("options", {}).get("seed", 0))
        response = {
            "id": record_id,
            "model": {"name": "loan", "version": "1.0", "sha256": "ab" * 32},
            "method": "tree_shap" if method == "auto" else method,
            "output": output,
            "provenance": {
                "seed": seed,
                "parameters": {"seed": seed},
                "algorithm": None,
                "background_sha256": "cd" * 32,
                "background_rows": len(CASES),
                "provider": "CPUExecutionProvider",
                "versions": VERSIONS,
            },
            "explanations": explanations,
            "timing": {"total_ms": 1.5},
        }
        self.records[record_id] = self._as_record(record_id, body, response)
        if body.get("format") == "html":
            html = "".join(explain_html(e, body.get("widget", "notice")) for e in explanations)
            self.html_served.append(html)
            return httpx.Response(200, text=html, headers={"content-type": "text/html"})
        return httpx.Response(200, json=response)

    # Records
    def _as_record(self, record_id: str, body: Json, response: Json) -> Json:
        request = {k: v for k, v in body.items() if k != "instances"}
        return {
            "id": record_id,
            "created_at": _now(),
            "request_id": "fake",
            "caller": "anonymous",
            "channel": "api",
            "reference": body.get("reference"),
            "purpose": body.get("purpose", "decision"),
            "model": response["model"] | {"task": "classification", "domain": "credit"},
            "runtime": {"onnxruntime": "1.32.0"},
            "request": request,
            "input": {"features": list(WEIGHTS), "values": body["instances"], "sha256": "ef" * 32},
            "provenance": response["provenance"],
            "response": response,
            "texts": {"template_version": "1.0.0", "locale": body.get("locale", "en")},
            "widgets": {},
            "sensitive": {"policy": "encrypt", "features": ["age"]},
            "sealed": "clear",
            "record_sha256": hashlib.sha256(record_id.encode()).hexdigest(),
            "sealed_sha256": None,
            "schema_version": 1,
        }

    def _summary_of(self, record: Json) -> Json:
        explanations = record["response"]["explanations"]
        return {
            "id": record["id"],
            "created_at": record["created_at"],
            "caller": "anonymous",
            "channel": "api",
            "model": record["response"]["model"],
            "method": record["response"]["method"],
            "output": record["response"]["output"],
            "n_instances": len(explanations),
            "outcomes": [e["prediction"]["label"] for e in explanations],
            "quality_failed": False,
            "proxy_flag": False,
            "review_required": any(e["review"]["required"] for e in explanations),
            "record_sha256": record["record_sha256"],
        }

    def _get(self, record_id: str) -> Json | None:
        return self.records.get(record_id)

    def _list_records(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        rows = [self._summary_of(r) for r in reversed(self.records.values())]
        return httpx.Response(200, json={"explanations": rows, "next_cursor": None})

    def _record(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        record = self._get(match["id"])
        if record is None:
            return _error(404, "not_found", f"no record {match['id']}")
        return httpx.Response(200, json=record)

    def _replay(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if self._get(match["id"]) is None:
            return _error(404, "not_found", f"no record {match['id']}")
        result: Json = {
            "record_id": match["id"],
            "identical": True,
            "values_identical": True,
            "model_changed": False,
            "versions_changed": False,
            "differences": [],
            "replayed_at": _now(),
        }
        return httpx.Response(200, json=result)

    def _decisions(self, filters: Json) -> list[tuple[str, int, str]]:
        out = []
        for record in self.records.values():
            if filters.get("model") not in (None, record["model"]["name"]):
                continue
            for position, e in enumerate(record["response"]["explanations"]):
                label = e["prediction"]["label"]
                if filters.get("outcome") in (None, label):
                    out.append((record["id"], position, label))
        return out

    def _draw(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = _parse(SampleRequest, request)
        frame = self._decisions(body.get("filters", {}))
        size = int(body.get("size", 50))
        items = [
            {
                "rank": rank,
                "record_id": rid,
                "position": pos,
                "part": "stratified" if rank < size else "risk",
                "stratum": {"outcome": label, "model_version": "1.0"},
                "risk": ["near_threshold"] if rank % 2 else [],
                "created_at": self.records[rid]["created_at"],
                "caller": self.records[rid]["caller"],
                "reference": self.records[rid]["reference"],
            }
            for rank, (rid, pos, label) in enumerate(frame[: size + 1])
        ]
        sample_id = f"smp{len(self.samples):04d}" + "0" * 25
        sample = {
            "id": sample_id,
            "created_at": _now(),
            "created_by": "anonymous",
            "definition": body,
            "seed": int(body.get("seed") or 0),
            "frame_size": len(frame),
            "frame_sha256": "01" * 32,
            "items_sha256": "02" * 32,
            "items": items,
        }
        self.samples[sample_id] = sample
        return httpx.Response(201, json=sample)

    def _sample(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        sample = self.samples.get(match["id"])
        if sample is None:
            return _error(404, "not_found", f"no sample {match['id']}")
        return httpx.Response(200, json=sample)

    def _annotate(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        record = self._get(match["id"])
        if record is None:
            return _error(404, "not_found", f"no record {match['id']}")
        body = _parse(AnnotationRequest, request)
        mine = self.annotations.setdefault(match["id"], [])
        annotation = {
            "id": f"ann{len(mine):04d}",
            "record_id": match["id"],
            "position": body.get("position"),
            "kind": "verdict",
            "verdict": body["verdict"],
            "note": body.get("note", ""),
            "reviewer": self.reviewer,
            "caller": f"key-{self.reviewer}",
            "created_at": _now(),
            "record_sha256": record["record_sha256"],
            "supersedes": None,
            "signs_off": None,
            "superseded_by": None,
            "signed_off_by": None,
            "current": True,
        }
        mine.append(annotation)
        return httpx.Response(201, json=annotation)

    def _sign_off(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = _parse(SignOffRequest, request)
        mine = self.annotations.get(match["id"], [])
        verdict = next((a for a in mine if a["id"] == match["aid"]), None)
        if verdict is None:
            return _error(404, "not_found", f"no annotation {match['aid']}")
        if verdict["caller"] == f"key-{self.reviewer}" or verdict["signed_off_by"]:
            return _error(409, "conflict", "a second reviewer, with another key, must sign it off")
        signoff = {
            **verdict,
            "id": f"ann{len(mine):04d}",
            "kind": "signoff",
            "verdict": None,
            "note": body.get("note", ""),
            "reviewer": self.reviewer,
            "caller": f"key-{self.reviewer}",
            "created_at": _now(),
            "signs_off": verdict["id"],
        }
        verdict["signed_off_by"] = signoff["id"]
        mine.append(signoff)
        return httpx.Response(201, json=signoff)

    def _verdicts(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if self._get(match["id"]) is None:
            return _error(404, "not_found", f"no record {match['id']}")
        return httpx.Response(200, json={"annotations": self.annotations.get(match["id"], [])})

    def _export(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = _parse(ExportRequest, request)
        sample = self.samples.get(body.get("sample_id") or "")
        if sample is None:
            return _error(404, "not_found", "no such sample")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["record_id", "position", "outcome", "current_verdicts"])
        for item in sample["items"]:
            verdicts = [a["verdict"] for a in self.annotations.get(item["record_id"], [])]
            writer.writerow(
                [
                    item["record_id"],
                    item["position"],
                    item["stratum"]["outcome"],
                    ";".join(verdicts),
                ]
            )
        listing = buffer.getvalue().encode()
        fmt = body.get("format", "zip")
        if fmt == "zip":
            packed = io.BytesIO()
            with zipfile.ZipFile(packed, "w") as archive:
                archive.writestr("listing.csv", listing)
                archive.writestr("manifest.json", json.dumps({"sample_id": sample["id"]}))
            content, media = packed.getvalue(), "application/zip"
        elif fmt == "jsonl":
            content, media = listing, "application/x-ndjson"
        else:
            content, media = listing, "text/csv"
        headers = {
            "content-type": media,
            "content-disposition": f'attachment; filename="clarion-{sample["id"][:7]}.{fmt}"',
            "x-clarion-content-sha256": hashlib.sha256(content).hexdigest(),
        }
        return httpx.Response(200, content=content, headers=headers)

    def _report(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if (missing := self._known(match)) is not None:
            return missing
        decisions = [e for r in self.records.values() for e in r["response"]["explanations"]]
        if not decisions:
            return _error(404, "not_found", "no records of model 'loan'")
        reasons: dict[str, int] = {}
        outcomes: dict[str, int] = {}
        for e in decisions:
            label = e["prediction"]["label"]
            outcomes[label] = outcomes.get(label, 0) + 1
            for code in {r["code"] for r in e["reasons"]}:
                reasons[code] = reasons.get(code, 0) + 1
        report = {
            "model": "loan",
            "versions": ["1.0"],
            "since": None,
            "until": None,
            "n_records": len(self.records),
            "n_decisions": len(decisions),
            "outcomes": outcomes,
            "quality": {},
            "rates": {"quality_failed": 0.0, "proxy_flag": 0.0, "review_required": 0.0},
            "reasons": reasons,
            "reasons_by_group": {},
            "group_sizes": {},
            "selection": {},
            "notes": [],
        }
        return httpx.Response(200, json=report)
