"""The v1 contract cannot change by accident.

The OpenAPI schema is reduced to what clients rely on: every operation (method,
path, operation id, documented status codes) and every component schema's
property names with the required ones. That digest is compared with the committed
``openapi_contract.json``. After a deliberate change, regenerate it with
``CLARION_UPDATE_CONTRACT=1 pytest tests/service/test_openapi_contract.py`` and
review the diff: a removed or renamed field breaks product apps.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from service.api.app import create_app
from tests.support import make_settings

CONTRACT = Path(__file__).with_name("openapi_contract.json")
# Read at import: the suite's autouse fixture clears CLARION_* variables before each test.
UPDATE = os.environ.get("CLARION_UPDATE_CONTRACT") == "1"


def _digest(schema: dict[str, Any]) -> dict[str, Any]:
    operations = {
        f"{method.upper()} {path}": {
            "operation_id": op.get("operationId"),
            "responses": sorted(op.get("responses", {})),
        }
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    components = {
        name: {
            "properties": sorted(body.get("properties", {})),
            "required": sorted(body.get("required", [])),
        }
        for name, body in schema.get("components", {}).get("schemas", {}).items()
    }
    return {"operations": operations, "schemas": components}


def test_the_v1_contract_is_unchanged(tmp_path: Path) -> None:
    schema = create_app(make_settings(tmp_path)).openapi()
    digest = _digest(schema)
    if UPDATE:
        CONTRACT.write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n")
    expected = json.loads(CONTRACT.read_text())
    assert digest["operations"] == expected["operations"]
    assert digest["schemas"] == expected["schemas"]


def test_the_contract_names_what_the_issues_promise() -> None:
    expected = json.loads(CONTRACT.read_text())
    ops = expected["operations"]
    for operation in (
        "GET /health/live", "GET /health/ready", "GET /v1/models", "GET /v1/models/{name}",
        "POST /v1/models", "POST /v1/models/{name}/predict", "POST /v1/models/{name}/explain",
        "GET /v1/explanations", "GET /v1/explanations/{record_id}",
        "POST /v1/explanations/{record_id}/replay", "POST /v1/keys",
    ):  # fmt: skip
        assert operation in ops, operation
    explain = expected["schemas"]["ExplainRequest"]["properties"]
    assert {"instances", "method", "output", "target", "options", "persona", "locale",
            "format", "counterfactuals"} <= set(explain)  # fmt: skip
    instance = expected["schemas"]["InstanceExplanation"]["properties"]
    assert {"prediction", "target", "base_value", "attributions", "quality", "reasons",
            "narrative", "confidence", "screening", "counterfactuals"} <= set(instance)  # fmt: skip
