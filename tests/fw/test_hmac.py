"""cemt.hmac against RFC 4231 (docs/vectors/hmac.json), streaming updates and the comparison."""
from cemt import hmac
from frame_vectors import HMAC, entries, unhex


def test_vectors():
    n = 0
    for v in entries("cases", HMAC):
        tag = unhex(v["tag"])
        mac = hmac.digest(unhex(v["key"]), unhex(v["data"]))
        assert len(mac) == hmac.DIGEST_SIZE
        assert mac[:len(tag)] == tag, v["name"]
        n += 1
    assert n >= 7


def test_update_in_pieces_equals_one_shot():
    key = b"k" * 32
    data = bytes(range(256)) * 3
    h = hmac.new(key)
    for i in range(0, len(data), 100):
        h.update(memoryview(data)[i:i + 100])
    assert h.digest() == hmac.digest(key, data) == hmac.new(key, data).digest()


def test_different_key_or_message_changes_tag():
    base = hmac.digest(b"key", b"message")
    assert hmac.digest(b"kez", b"message") != base
    assert hmac.digest(b"key", b"messagf") != base


def test_compare_digest():
    a = hmac.digest(b"key", b"m")
    assert hmac.compare_digest(a, bytes(a))
    assert hmac.compare_digest(a, bytearray(a))
    for i in (0, 15, 31):
        b = bytearray(a)
        b[i] ^= 1
        assert not hmac.compare_digest(a, b)
    assert not hmac.compare_digest(a, a[:31])
    assert hmac.compare_digest(b"", b"")
