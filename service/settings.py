"""Typed settings, read once (from ``CLARION_*`` variables) and injected.

Tests build ``Settings(...)`` explicitly; nothing reads the environment at import.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "SettingsError", "load_settings"]

_KNOWN_PROVIDERS = {"CPUExecutionProvider", "CUDAExecutionProvider"}


def _default_models_dir() -> Path:
    """The repository's ``models/`` when running from a checkout, else ``./models``."""
    checkout = Path(__file__).resolve().parent.parent / "models"
    return checkout if checkout.is_dir() else Path("models")


def _default_database_url() -> str:
    """A SQLite file under ``./data`` (the folder is made when the store opens)."""
    return f"sqlite:///{(Path.cwd() / 'data' / 'clarion.db').as_posix()}"


def _default_data_dir() -> Path:
    """``./data``, the folder of the default audit database."""
    return Path.cwd() / "data"


def _default_jobs_dir() -> str:
    """``./data/jobs``, beside the default audit database."""
    return (Path.cwd() / "data" / "jobs").as_posix()


class Settings(BaseSettings):
    """Everything the service can be told, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", extra="forbid")

    models_dir: Path = Field(default_factory=_default_models_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False

    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    """ONNX Runtime execution providers in order of preference; the one in use is reported."""
    ort_intra_op_threads: int = Field(default=1, ge=0, le=64)
    """Threads per ONNX Runtime session; 1 avoids oversubscribing cores under concurrent load."""
    blas_threads: int = Field(default=1, ge=0, le=64)
    """BLAS threads per process (``service.native``); 0 leaves the library's default."""
    predict_chunk_rows: int = Field(default=65_536, ge=1_024)
    compute_threads: int = Field(default_factory=lambda: max(2, os.cpu_count() or 1), ge=1)
    """Explanations and predictions running at once per worker process (default: the
    number of CPUs, at least 2); the event loop never runs them."""
    compute_queue: int = Field(default=64, ge=0)
    """Requests that may wait for a compute thread; past it, 503 with ``Retry-After``."""
    coalesce_rows: int = Field(default=16, ge=0, le=1024)
    """Explain requests for the same model and spec that wait for a compute thread together
    are explained in one pass of up to this many rows, each still answered and recorded as
    its own (``service.api.coalesce``; exact tree_shap only); 0 or 1: never."""
    warm_methods: bool = True
    """Warm every explanation method at start-up, in the background (shap's import, lime's
    compiled kernels), so no request pays for it; off, each method warms on first use."""
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    """Worker processes of ``clarion serve`` (default: the number of CPUs)."""
    pin_cores: bool = True
    """``clarion serve`` on Linux: each worker's event loop and compute lane share one core
    of their own (``service.cores``), when there are at least as many CPUs as workers."""
    cores_dir: Path | None = None
    """Where ``clarion serve``'s workers claim their cores (a lock file per CPU). The command
    makes a fresh folder unless one is given: servers on one host that share a folder
    claim different cores. None (not under ``clarion serve``): nothing is pinned."""

    max_body_bytes: int = Field(default=1_048_576, ge=1_024)
    max_upload_bytes: int = Field(default=32 * 1_048_576, ge=1_024)
    max_card_bytes: int = Field(default=1_048_576, ge=1_024)
    """An uploaded card's limit: a card is a page of YAML, not a data file."""
    max_instances: int = Field(default=100, ge=1)
    max_background_rows: int = Field(default=5_000, ge=1)
    max_model_nodes: int = Field(default=200_000, ge=1)
    default_seed: int = Field(default=0, ge=0)
    max_explanation_rows: int = Field(default=50_000_000, ge=1_000)
    """Budget per explain request: model rows scored (rows x samples x background rows)."""
    max_explanation_bytes: int = Field(default=1_073_741_824, ge=1_048_576)
    """The largest matrix of coalition rows one request may hold at once (rows x columns x 8)."""
    explain_timeout_s: float | None = Field(default=30.0, gt=0)
    """Wall-time limit of one explanation; past it the request gets a 503 (None: no limit)."""
    model_check_cpu_s: float | None = Field(default=30.0, gt=0)
    """CPU-time limit of the child process that first runs a bundle (start-up, upload);
    None loads bundles without the child (trusted bundles only)."""
    model_check_memory_bytes: int = Field(default=2 * 1_073_741_824, ge=16 * 1_048_576)
    """Address space that child may add to what it holds after its imports."""
    predict_timeout_s: float | None = Field(default=30.0, gt=0)
    """Wall-time limit of one prediction's model runs (cancelled inside ONNX Runtime)."""
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    """Requests per minute to /v1 per API key (the authenticated caller); off unless set,
    since the gateway in front of a product backend usually limits its callers."""
    anonymous_rate_limit_per_minute: int | None = Field(default=600, ge=1)
    """Requests per minute to /v1 without an API key, per client address."""
    auth_failures_per_minute: int = Field(default=10, ge=1)
    """Failed authentications per client address per minute; past it, 429 (no guessing)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (CIDR) of reverse proxies whose ``X-Forwarded-For`` is believed."""
    redis_url: SecretStr | None = None
    """``redis://`` or ``rediss://``: rate-limit counts shared by every worker and replica
    (needs the ``redis`` extra); without it they live in each process's memory."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API; empty means CORS stays off."""

    data_dir: Path = Field(default_factory=_default_data_dir)
    """The service's own files (default ``./data``, beside the default SQLite store): the
    audit encryption key it makes on first start when none is configured
    (``audit-encryption.key``, mode 0600)."""
    database_url: str = Field(default_factory=_default_database_url)
    """The audit store: ``sqlite:///path`` (default ``./data/clarion.db``) or
    ``postgresql+psycopg://user@host/db`` for several replicas."""
    audit_sync: Literal["normal", "full"] = "normal"
    """SQLite: ``normal`` answers once a record is in the write-ahead log (it survives any
    crash or kill of the service); ``full`` also fsyncs it (survives power loss; about
    4 ms per transaction, shared by concurrent requests). PostgreSQL: its own setting."""
    auth: Literal["auto", "required", "disabled"] = "auto"
    """``auto``: API keys are required once any key exists or a bootstrap key is set; until
    then a service bound to a loopback host is open (every caller an anonymous admin)."""
    bootstrap_admin_key: SecretStr | None = None
    """Accepted as an admin key from start-up (for automation); create real keys with it."""
    audit_encryption_key: SecretStr | None = None
    """URL-safe base64 of 32 random bytes (``clarion audit new-encryption-key``): encrypts
    the values of features a card marks ``sensitive`` in audit records (AES-256-GCM).
    Unset, the service makes one on first start in ``data_dir`` and uses it from then on."""
    sensitive_policy: Literal["encrypt", "omit"] = "encrypt"
    """``encrypt`` sensitive values (with the configured key, else the one in ``data_dir``)
    or ``omit`` them from audit records (such records cannot be replayed)."""

    dask_scheduler: str | None = None
    """Batch jobs run on this Dask scheduler (``tcp://host:8786``); unset, the service
    starts a local cluster of processes on first use."""
    dask_workers: int | None = Field(default=None, ge=1, le=256)
    """Worker processes of the local cluster (one thread each) [default: one per core]."""
    jobs_dir: str = Field(default_factory=_default_jobs_dir)
    """Where jobs keep their input and result files: a folder or an fsspec URL
    (``s3://bucket/clarion-jobs``) that the workers can write too."""
    jobs_input_root: Path | None = None
    """``input_uri`` of a job may name a file under this folder (unset: local paths are
    refused); URLs with a scheme (``s3://``) are read through fsspec."""
    max_job_rows: int = Field(default=1_000_000, ge=1)
    max_job_upload_bytes: int = Field(default=256 * 1_048_576, ge=1_024)
    job_partition_rows: int = Field(default=2_000, ge=1)
    """Rows per partition: the unit a worker explains, retries and a restart resumes."""
    job_retries: int = Field(default=3, ge=0, le=100)
    """How often a partition is retried after its worker died."""

    @field_validator("dask_scheduler")
    @classmethod
    def _check_scheduler(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "tls://", "ucx://")):
            raise ValueError(
                f"dask_scheduler must be an address such as tcp://host:8786; got {value!r}"
            )
        return value

    @field_validator("providers")
    @classmethod
    def _check_providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [p for p in value if p not in _KNOWN_PROVIDERS]
        if unknown or not value:
            raise ValueError(
                f"providers must be a non-empty list of {sorted(_KNOWN_PROVIDERS)}; "
                f"got {list(value)}"
            )
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"trusted_proxies must be IP addresses or networks (CIDR); got {proxy!r}"
                ) from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "redis+unix://")
        ):
            raise ValueError("redis_url must start with redis://, rediss:// or redis+unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                "database_url must be sqlite:///<file> or postgresql+psycopg://<user>@<host>/<db>"
            )
        return value

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _check_bootstrap_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("bootstrap_admin_key must be at least 16 characters")
        return value

    @field_validator("audit_encryption_key")
    @classmethod
    def _check_encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(value.get_secret_value().encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise ValueError("audit_encryption_key must be URL-safe base64") from exc
        if len(raw) != 32:
            raise ValueError(
                f"audit_encryption_key must encode 32 bytes (AES-256); it encodes {len(raw)}"
            )
        return value

    @property
    def binds_loopback(self) -> bool:
        """Whether ``host`` only accepts connections from this machine."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class SettingsError(ValueError):
    """Settings that cannot be used, said in one line that names each (for the command line)."""


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from ``CLARION_*`` variables and ``overrides`` (``None`` ones are left out).

    ``SettingsError`` names every bad setting and its variable, never the value given
    (it may be a secret).
    """
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            field = name.split(".")[0]
            where = f" (CLARION_{field.upper()})" if field in Settings.model_fields else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}{where}: {message}")
        raise SettingsError("; ".join(problems)) from exc
