"""HMAC-SHA256 (RFC 2104) on ``hashlib.sha256``, which is all the boards and the unix port offer.

Uplink batches and state-changing remote commands are signed with it (docs/framing.md).
"""
from hashlib import sha256

from micropython import const

DIGEST_SIZE = const(32)
_BLOCK = const(64)


class HMAC:
    """One HMAC-SHA256 computation: ``update`` any number of times, then ``digest`` once."""

    def __init__(self, key, msg=None):
        if len(key) > _BLOCK:
            key = sha256(key).digest()
        pad = bytearray(_BLOCK)
        pad[:len(key)] = key
        for i in range(_BLOCK):
            pad[i] ^= 0x36
        self._inner = sha256(pad)
        # 0x36 ^ 0x5c turns the inner pad into the outer one without keeping the key around.
        for i in range(_BLOCK):
            pad[i] ^= 0x6A
        self._outer = sha256(pad)
        if msg is not None:
            self._inner.update(msg)

    def update(self, data):
        self._inner.update(data)

    def digest(self):
        self._outer.update(self._inner.digest())
        return self._outer.digest()


def new(key, msg=None):
    return HMAC(key, msg)


def digest(key, msg):
    """HMAC-SHA256 of ``msg`` under ``key`` (32 bytes)."""
    return HMAC(key, msg).digest()


def compare_digest(a, b):
    """Compare two MACs in time that depends only on their length, not on where they differ."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0
