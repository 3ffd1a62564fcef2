"""Rate limits count the authenticated caller, failed authentication and anonymous
addresses, in memory or in Redis, and no header trick gets a fresh window."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.api.ratelimit import RateLimiter, client_address
from service.errors import RateLimited
from service.settings import Settings
from tests.support import make_settings

ADMIN = "bootstrap-admin-key-7f3c1d9e2b"
REDIS = "redis://127.0.0.1:6379/0"


def _address() -> str:
    """A client address no other test (or run) uses, so Redis windows never collide."""
    return str(ipaddress.IPv6Address(uuid.uuid4().int))


@pytest.fixture
def serve(tiny_models_dir: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def start(*, peer: str | None = None, **overrides: Any) -> TestClient:
        values: dict[str, Any] = {"bootstrap_admin_key": ADMIN, "auth": "required", **overrides}
        client = TestClient(
            create_app(make_settings(tiny_models_dir, **values)),
            client=(peer or _address(), 50000),
        )
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def _get(client: TestClient, authorization: str | None = None, **headers: str) -> int:
    if authorization is not None:
        headers["authorization"] = authorization
    return client.get("/v1/models", headers=headers).status_code


def test_no_per_key_limit_unless_configured(serve: Any) -> None:
    assert Settings().rate_limit_per_minute is None
    client = serve(anonymous_rate_limit_per_minute=2)
    assert {_get(client, f"Bearer {ADMIN}") for _ in range(12)} == {200}


def test_the_key_limit_counts_the_caller_however_the_header_is_spelt(serve: Any) -> None:
    client = serve(rate_limit_per_minute=3)
    spellings = [f"Bearer {ADMIN}", f"bearer {ADMIN}", f"BEARER {ADMIN}"]
    assert [_get(client, s) for s in spellings] == [200, 200, 200]
    r = client.get("/v1/models", headers={"authorization": f"bEaReR {ADMIN}"})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert "CLARION_RATE_LIMIT_PER_MINUTE" in r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert client.get("/health/live").status_code == 200  # health is never limited


def test_failed_authentication_is_limited_per_address(serve: Any) -> None:
    client = serve(auth_failures_per_minute=3)
    guesses = ["Bearer clarion_guess-1", "Bearer clarion_guess-2", "Basic Zm9vOmJhcg=="]
    assert [_get(client, g) for g in guesses] == [401, 401, 401]
    r = client.get("/v1/models", headers={"authorization": "Bearer clarion_guess-4"})
    assert r.status_code == 429
    assert "CLARION_AUTH_FAILURES_PER_MINUTE" in r.json()["error"]["message"]
    assert int(r.headers["retry-after"]) >= 1
    # Past the limit, even the right key is not checked from that address ...
    assert _get(client, f"Bearer {ADMIN}") == 429
    # ... while another address is unaffected.
    assert _get(serve(auth_failures_per_minute=3), f"Bearer {ADMIN}") == 200


def test_two_authorization_headers_are_a_failure(serve: Any) -> None:
    client = serve(auth_failures_per_minute=1)
    r = client.get(
        "/v1/models",
        headers=[("authorization", f"Bearer {ADMIN}"), ("authorization", "Bearer other")],
    )
    assert r.status_code == 401
    assert "one Authorization header" in r.json()["error"]["message"]
    assert _get(client, f"Bearer {ADMIN}") == 429


def test_anonymous_requests_are_limited_per_address(serve: Any) -> None:
    client = serve(auth="auto", bootstrap_admin_key=None, anonymous_rate_limit_per_minute=2)
    assert [_get(client) for _ in range(3)] == [200, 200, 429]


def test_forwarded_for_is_ignored_without_trusted_proxies(serve: Any) -> None:
    client = serve(auth="auto", bootstrap_admin_key=None, anonymous_rate_limit_per_minute=2)
    codes = [_get(client, **{"x-forwarded-for": f"203.0.113.{i}"}) for i in range(3)]
    assert codes == [200, 200, 429]


def test_forwarded_for_is_read_from_a_trusted_proxy(serve: Any) -> None:
    client = serve(
        peer="10.1.2.3",
        auth="auto",
        bootstrap_admin_key=None,
        anonymous_rate_limit_per_minute=1,
        trusted_proxies=("10.0.0.0/8",),
    )
    first, second = _address(), _address()
    assert _get(client, **{"x-forwarded-for": first}) == 200
    assert _get(client, **{"x-forwarded-for": second}) == 200
    assert _get(client, **{"x-forwarded-for": f"{first}, 10.9.9.9"}) == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", ["203.0.113.5"], "198.51.100.7"),  # peer not trusted
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["198.51.100.1, 203.0.113.5, 10.0.0.2"], "203.0.113.5"),  # rightmost
        ("10.0.0.1", ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),  # two headers, in order
        ("10.0.0.1", ["not-an-ip"], "not-an-ip"),
        ("10.0.0.1", ["10.0.0.3"], "10.0.0.3"),  # only proxies: the leftmost
        ("10.0.0.1", [], "10.0.0.1"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], client: str) -> None:
    scope = {
        "client": (peer, 1234),
        "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded],
    }
    trusted = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client_address(scope, trusted) == client
    assert client_address(scope, ()) == peer


def test_many_identities_never_reset_anyone() -> None:
    limiter = RateLimiter(per_key=2, anonymous=5)
    try:
        limiter.admit_key("k")
        limiter.admit_key("k")
        with pytest.raises(RateLimited):
            limiter.admit_key("k")
        for i in range(20_000):
            limiter.admit_anonymous(f"addr-{i}")
        with pytest.raises(RateLimited):
            limiter.admit_key("k")
    finally:
        limiter.close()


def test_memory_forgets_windows_that_have_emptied() -> None:
    limiter = RateLimiter(anonymous=5, window_s=1)
    storage: Any = limiter.storage
    try:
        for i in range(3_000):
            limiter.admit_anonymous(f"old-{i}")
        assert storage.tracked == 3_000
        time.sleep(1.1)  # every old window is past
        limiter.admit_anonymous("wake")  # schedules the library's timer, which empties them
        storage.timer.join(5)
        for i in range(2_048):  # acquisitions enough for a sweep
            limiter.admit_anonymous(f"new-{i}")
        assert storage.tracked <= 2_049
    finally:
        limiter.close()


def test_redis_holds_the_limit_across_workers(serve: Any, tmp_path: Path) -> None:
    """Two apps on one Redis and one store (two workers, or two replicas) share windows."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    peer = _address()
    common = {"redis_url": REDIS, "database_url": database, "rate_limit_per_minute": 3}
    one = serve(peer=peer, auth_failures_per_minute=2, **common)
    two = serve(peer=peer, auth_failures_per_minute=2, **common)
    _, key = one.app.state.audit.keys.create("app", created_by="test")
    assert _get(one, "Bearer clarion_wrong-1") == 401
    assert _get(two, "Bearer clarion_wrong-2") == 401
    assert _get(one, f"Bearer {key}") == 429  # two failures from that address, across apps
    assert [_get(serve(**common), f"Bearer {key}") for _ in range(3)] == [200, 200, 200]
    assert _get(serve(**common), f"Bearer {key}") == 429  # the key's 3, across apps
    assert one.get("/health/ready").json()["rate_limit_store"] == "ok"


def test_an_unreachable_redis_is_503_and_not_ready(serve: Any) -> None:
    client = serve(redis_url="redis://127.0.0.1:9/0")
    r = client.get("/v1/models", headers={"authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 503
    assert "CLARION_REDIS_URL" in r.json()["error"]["message"]
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["rate_limit_store"] == "unreachable"
