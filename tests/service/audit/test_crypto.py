"""Sealing sensitive values: AES-256-GCM, bound to the record id, key named by its id."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr, ValidationError

from service.audit.crypto import Sealer, SealError, new_key
from service.settings import Settings


def test_a_sealed_payload_opens_with_the_same_key_and_record() -> None:
    sealer = Sealer.from_secret(SecretStr(new_key()))
    payload = [[["input", "rows", 0, 1], 42.5], [["input", "values", 0, "gap"], None]]
    token = sealer.seal(payload, record_id="r1")
    assert token.startswith(f"v1.{sealer.key_id}.")
    assert "42.5" not in base64.urlsafe_b64decode(token.split(".")[2]).decode("latin-1")
    assert sealer.open(token, record_id="r1") == payload


def test_sealing_twice_gives_different_tokens() -> None:
    sealer = Sealer(bytes(32))
    assert sealer.seal([1], record_id="r") != sealer.seal([1], record_id="r")


def test_another_key_is_named_not_mistaken_for_damage() -> None:
    token = Sealer(bytes(32)).seal([1], record_id="r")
    other = Sealer(bytes(range(32)))
    with pytest.raises(SealError, match="sealed with key"):
        other.open(token, record_id="r")


def test_a_token_moved_to_another_record_does_not_open() -> None:
    sealer = Sealer(bytes(32))
    token = sealer.seal([1], record_id="r1")
    with pytest.raises(SealError, match="damaged"):
        sealer.open(token, record_id="r2")


def test_a_flipped_bit_is_detected() -> None:
    sealer = Sealer(bytes(32))
    version, key_id, body = sealer.seal([1, 2, 3], record_id="r").split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    token = f"{version}.{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(SealError, match="damaged"):
        sealer.open(token, record_id="r")


@pytest.mark.parametrize(
    ("key", "problem"),
    [("not base64 !!", "base64"), (base64.urlsafe_b64encode(bytes(16)).decode(), "32 bytes")],
)
def test_settings_refuse_a_bad_key_at_start_up(key: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings(audit_encryption_key=SecretStr(key))
