"""HMAC-SHA256 signatures with the per-device key (docs/framing.md, "Authentication").

The host side of what the firmware's ``cemt.hmac`` does, on the standard library ``hmac``: the
receiver verifies uplink batches with it and the RS485 master signs state-changing commands.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

TAG_SIZE = 32
KEY_SIZE = 32


def new_key() -> bytes:
    """A fresh random device key."""
    return secrets.token_bytes(KEY_SIZE)


def sign(key: bytes, msg: bytes) -> bytes:
    """The 32-byte HMAC-SHA256 tag of ``msg`` under ``key``."""
    return hmac.digest(key, msg, hashlib.sha256)


def verify(key: bytes, msg: bytes, tag: bytes) -> bool:
    """True when ``tag`` is the tag of ``msg`` under ``key`` (constant-time comparison)."""
    return hmac.compare_digest(sign(key, msg), tag)
