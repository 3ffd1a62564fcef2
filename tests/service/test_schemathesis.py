"""Schemathesis against Clarion's own OpenAPI schema, in process (ASGI).

Every operation, with a bounded number of generated examples, is checked for
server errors, responses that violate the schema and undeclared status codes.
The numbers of operations and examples tried are printed at the end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from service.api.app import create_app
from tests.support import make_settings

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def api_schema(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    store = tmp_path_factory.mktemp("schemathesis-store")
    for bundle in tiny_models_dir.iterdir():
        target = store / bundle.name
        target.mkdir()
        for f in bundle.iterdir():
            (target / f.name).write_bytes(f.read_bytes())
    app = create_app(make_settings(store, max_instances=20, anonymous_rate_limit_per_minute=None))
    with TestClient(app):  # runs the lifespan: models and the audit store are opened
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_api_conforms_to_its_schema(api_schema: Any, capsys: pytest.CaptureFixture[str]) -> None:
    tried: Counter[str] = Counter()
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            tried[f"{case.operation.method.upper()} {case.operation.path}"] += 1
            case.call_and_validate()

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, report all
            failures.append(f"{label}: {exc}")
    with capsys.disabled():
        print(
            f"\nschemathesis: {len(tried)} operations, {sum(tried.values())} examples "
            f"(at most {MAX_EXAMPLES} per operation), {len(failures)} failing operations"
        )
        for operation_label, count in sorted(tried.items()):
            print(f"  {count:4d}  {operation_label}")
    assert tried, "no operation was exercised"
    assert not failures, "\n\n".join(failures)
