"""Rate limits on /v1, counted by the authenticated caller, never by a header's spelling.

Three limits, each a moving window of one minute, each answered with 429 and
``Retry-After``:

- per API key (the authenticated principal), ``CLARION_RATE_LIMIT_PER_MINUTE``: off
  unless set, since a gateway in front of a product backend usually does this;
- per client address for requests without a key, ``CLARION_ANONYMOUS_RATE_LIMIT_PER_MINUTE``;
- per client address for failed authentication, ``CLARION_AUTH_FAILURES_PER_MINUTE``:
  past it, a key from that address is not even checked until the window moves on, so
  keys cannot be guessed at speed.

The authentication dependency (``routes/auth.py``) calls these, in the thread pool. The
counting is the ``limits`` library's: in Redis when ``CLARION_REDIS_URL`` is set (one
limit across workers and replicas), else in this process's memory, where windows that
have emptied are forgotten, so memory stays bounded without ever resetting everyone.

The client address is the connection's peer. ``X-Forwarded-For`` is read only when the
peer is one of ``CLARION_TRUSTED_PROXIES``: walking it from the right, the first
address that is not a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import ConfigurationError, StorageError
from limits.storage import MemoryStorage, RedisStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import Scope

from service.errors import RateLimited, Unavailable
from service.settings import Settings

__all__ = ["RateLimiter", "client_address"]

log = structlog.get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_T = TypeVar("_T")
_REDIS_TIMEOUT_S = 1.0


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    """The client's address: the peer, or past trusted proxies along ``X-Forwarded-For``."""
    peer = str((scope.get("client") or ("unknown", 0))[0])
    if not trusted:
        return peer
    chain: list[str] = [
        hop.strip()
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    chain.append(peer)
    for hop in reversed(chain):
        ip = _ip(hop)
        if ip is None or not any(ip in network for network in trusted):
            return hop
    return chain[0]


class _MemoryStorage(MemoryStorage):
    """``limits``' memory storage, which forgets keys whose moving window has emptied.

    The library's expiry timer empties a key's list of hits but keeps the key; one key
    per client address ever seen would grow without bound. Every ``_SWEEP_EVERY``
    acquisitions the emptied keys go (callers serialise acquisitions, see RateLimiter).
    """

    _SWEEP_EVERY = 1024

    def __init__(self) -> None:
        super().__init__()
        self._acquired = 0

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        acquired = super().acquire_entry(key, limit, expiry, amount)
        self._acquired += 1
        if self._acquired % self._SWEEP_EVERY == 0:
            self.sweep()
        return acquired

    def sweep(self) -> None:
        # Only emptied lists: the library's timer (the one thing that empties them) has
        # finished with a key once its list is empty, so nothing else holds it.
        for key, hits in list(self.events.items()):
            if not hits:
                self.events.pop(key, None)
                self.locks.pop(key, None)

    @property
    def tracked(self) -> int:
        """How many keys are held (for tests and curiosity)."""
        return len(self.events)


class RateLimiter:
    """The three limits over one storage; every check raises ``RateLimited`` past its limit."""

    def __init__(
        self,
        *,
        per_key: int | None = None,
        anonymous: int | None = None,
        failures: int = 10,
        trusted_proxies: Iterable[str] = (),
        redis_url: str | None = None,
        window_s: int = 60,
    ) -> None:
        self.trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in trusted_proxies
        )
        self.window_s = window_s
        self._items: dict[str, RateLimitItem | None] = {
            "key": self._item(per_key),
            "anonymous": self._item(anonymous),
            "failures": self._item(failures),
        }
        self.storage: MemoryStorage | RedisStorage
        if redis_url is None:
            self.storage = _MemoryStorage()
        else:
            try:
                storage = storage_from_string(
                    redis_url,
                    key_prefix="clarion",
                    wrap_exceptions=True,
                    socket_timeout=_REDIS_TIMEOUT_S,
                    socket_connect_timeout=_REDIS_TIMEOUT_S,
                )
            except ConfigurationError as exc:
                raise Unavailable(
                    f"CLARION_REDIS_URL cannot be used: {exc} "
                    "(the redis client comes with: pip install 'clarion[redis]')"
                ) from exc
            if not isinstance(storage, RedisStorage):
                raise Unavailable("CLARION_REDIS_URL must be a redis:// or rediss:// URL")
            self.storage = storage
        self._limiter = MovingWindowRateLimiter(self.storage)
        # limits' memory storage is not safe for concurrent acquisitions of one key.
        self._lock = threading.Lock() if isinstance(self.storage, MemoryStorage) else None

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        redis = settings.redis_url
        return cls(
            per_key=settings.rate_limit_per_minute,
            anonymous=settings.anonymous_rate_limit_per_minute,
            failures=settings.auth_failures_per_minute,
            trusted_proxies=settings.trusted_proxies,
            redis_url=redis.get_secret_value() if redis is not None else None,
        )

    def _item(self, amount: int | None) -> RateLimitItem | None:
        if amount is None:
            return None
        return RateLimitItemPerSecond(amount, self.window_s, namespace="clarion")

    @property
    def per_key(self) -> int | None:
        item = self._items["key"]
        return item.amount if item is not None else None

    def client_address(self, scope: Scope) -> str:
        return client_address(scope, self.trusted)

    # -- the checks the authentication dependency makes -------------------------------------

    def admit_anonymous(self, address: str) -> None:
        """Count a request without a key from ``address``; 429 past the limit."""
        self._hit("anonymous", address, "CLARION_ANONYMOUS_RATE_LIMIT_PER_MINUTE")

    def admit_key(self, key_id: str) -> None:
        """Count a request of an authenticated key; 429 past its limit (if one is set)."""
        self._hit("key", key_id, "CLARION_RATE_LIMIT_PER_MINUTE")

    def check_failures(self, address: str) -> None:
        """429 while ``address`` is over its failed authentications (counts nothing)."""
        item = self._items["failures"]
        assert item is not None
        if not self._call(lambda: self._limiter.test(item, "failures", address)):
            self._refuse(item, "failures", address, "CLARION_AUTH_FAILURES_PER_MINUTE")

    def record_failure(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        item = self._items["failures"]
        assert item is not None
        self._call(lambda: self._limiter.hit(item, "failures", address))

    def clear(self, kind: str, identity: str) -> None:
        """Forget one identity's window (``kind``: key, anonymous or failures)."""
        item = self._items[kind]
        if item is not None:
            self._call(lambda: self._limiter.clear(item, kind, identity))

    @property
    def in_memory(self) -> bool:
        """Counted in this process (no network round trip per check)."""
        return isinstance(self.storage, MemoryStorage)

    def healthy(self) -> bool:
        """Whether the storage answers (always, in memory)."""
        return bool(self.storage.check())

    def close(self) -> None:
        if isinstance(self.storage, MemoryStorage):
            self.storage.timer.cancel()
        else:
            client: Any = self.storage.get_connection()  # redis.Redis; limits types it narrower
            client.close()

    # -- inside ------------------------------------------------------------------------------

    def _hit(self, kind: str, identity: str, setting: str) -> None:
        item = self._items[kind]
        if item is None:
            return
        if not self._call(lambda: self._limiter.hit(item, kind, identity)):
            self._refuse(item, kind, identity, setting)

    def _refuse(self, item: RateLimitItem, kind: str, identity: str, setting: str) -> None:
        stats = self._call(lambda: self._limiter.get_window_stats(item, kind, identity))
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        what = {
            "key": "requests with this API key",
            "anonymous": "requests without an API key from this address",
            "failures": "failed authentications from this address",
        }[kind]
        log.info("rate.limited", kind=kind, retry_after=retry_after)
        raise RateLimited(
            f"too many {what}: the limit is {item.amount} per {self.window_s} s ({setting}); "
            f"retry in {retry_after} s",
            retry_after=retry_after,
            details={"field": "authorization", "problem": "rate limit exceeded"},
        )

    def _call(self, action: Callable[[], _T]) -> _T:
        try:
            if self._lock is None:
                return action()
            with self._lock:
                return action()
        except StorageError as exc:
            log.error("rate.store_unreachable", error=type(exc.storage_error).__name__)
            raise Unavailable("the rate-limit store (CLARION_REDIS_URL) cannot be reached") from exc
