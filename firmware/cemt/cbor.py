"""CBOR (RFC 8949) for records and command messages.

Types: integers of either sign up to 64 bits, byte strings, text strings, arrays, maps, true,
false and null. Encoding is canonical: shortest heads, definite lengths, map keys ordered as
``cbor2`` does with ``canonical=True`` (shorter encoded key first, then bytewise). Decoding accepts
exactly those types in shortest form and raises ValueError naming the byte offset for anything
else: floats, tags, other simple values, indefinite lengths, reserved values, longer-than-needed
heads, invalid UTF-8, nesting deeper than MAX_DEPTH, truncation.
"""
import struct
from micropython import const

UINT = const(0x00)
NINT = const(0x20)
BYTES = const(0x40)
TEXT = const(0x60)
ARRAY = const(0x80)
MAP = const(0xA0)
SIMPLE = const(0xE0)
FALSE = const(0xF4)
TRUE = const(0xF5)
NULL = const(0xF6)

MAX_DEPTH = const(8)
_LIMIT = 0x10000000000000000  # 2**64: no head argument reaches it


def _head_size(n):
    if n < 24:
        return 1
    if n < 0x100:
        return 2
    if n < 0x10000:
        return 3
    if n < 0x100000000:
        return 5
    if n < _LIMIT:
        return 9
    raise ValueError("integer out of CBOR range")


def put_head(buf, pos, major, n):
    """Write the shortest head of ``major`` with argument ``n`` at ``pos``; return the new pos."""
    size = _head_size(n)
    if pos + size > len(buf):
        raise ValueError("buffer too small")
    if size == 1:
        buf[pos] = major | n
    elif size == 2:
        buf[pos] = major | 24
        buf[pos + 1] = n
    elif size == 3:
        struct.pack_into(">BH", buf, pos, major | 25, n)
    elif size == 5:
        struct.pack_into(">BI", buf, pos, major | 26, n)
    else:
        struct.pack_into(">BQ", buf, pos, major | 27, n)
    return pos + size


def put_int(buf, pos, v):
    """Write an integer at ``pos`` without allocating; return the new pos."""
    if v >= 0:
        return put_head(buf, pos, UINT, v)
    return put_head(buf, pos, NINT, -1 - v)


def _put_bytes(buf, pos, data):
    end = pos + len(data)
    if end > len(buf):
        raise ValueError("buffer too small")
    buf[pos:end] = data
    return end


def _sorted_items(d, depth):
    # Canonical key order needs each key's encoding; maps are rare, so the copies are fine.
    items = [(_dumps(k, depth), v) for k, v in d.items()]
    items.sort(key=lambda kv: (len(kv[0]), kv[0]))
    return items


def encode_into(buf, pos, obj, depth=0):
    """Encode ``obj`` into ``buf`` (bytearray or memoryview) at ``pos``; return the new pos."""
    t = type(obj)
    if t is int:
        return put_int(buf, pos, obj)
    if t is str:
        data = obj.encode()
        return _put_bytes(buf, put_head(buf, pos, TEXT, len(data)), data)
    if t is bytes or t is bytearray or t is memoryview:
        return _put_bytes(buf, put_head(buf, pos, BYTES, len(obj)), obj)
    if obj is False or obj is True or obj is None:
        if pos >= len(buf):
            raise ValueError("buffer too small")
        buf[pos] = FALSE if obj is False else TRUE if obj is True else NULL
        return pos + 1
    if depth >= MAX_DEPTH:
        raise ValueError("nesting deeper than %d" % MAX_DEPTH)
    if t is list or t is tuple:
        pos = put_head(buf, pos, ARRAY, len(obj))
        for x in obj:
            pos = encode_into(buf, pos, x, depth + 1)
        return pos
    if t is dict:
        pos = put_head(buf, pos, MAP, len(obj))
        for key, value in _sorted_items(obj, depth + 1):
            pos = _put_bytes(buf, pos, key)
            pos = encode_into(buf, pos, value, depth + 1)
        return pos
    raise ValueError("cannot encode %s in CBOR" % t.__name__)


def size(obj, depth=0):
    """Number of bytes ``encode_into`` writes for ``obj``."""
    t = type(obj)
    if t is int:
        return _head_size(obj if obj >= 0 else -1 - obj)
    if t is str:
        n = len(obj.encode())
        return _head_size(n) + n
    if t is bytes or t is bytearray or t is memoryview:
        return _head_size(len(obj)) + len(obj)
    if obj is False or obj is True or obj is None:
        return 1
    if depth >= MAX_DEPTH:
        raise ValueError("nesting deeper than %d" % MAX_DEPTH)
    if t is list or t is tuple:
        n = _head_size(len(obj))
        for x in obj:
            n += size(x, depth + 1)
        return n
    if t is dict:
        n = _head_size(len(obj))
        for key, value in obj.items():
            n += size(key, depth + 1) + size(value, depth + 1)
        return n
    raise ValueError("cannot encode %s in CBOR" % t.__name__)


def _dumps(obj, depth):
    buf = bytearray(size(obj, depth))
    encode_into(buf, 0, obj, depth)
    return bytes(buf)


def dumps(obj):
    return _dumps(obj, 0)


def _fail(what, pos):
    raise ValueError("%s at byte %d" % (what, pos))


def head(buf, pos, end=-1):
    """Read the head at ``pos``: return ``(major, argument, pos after the head)``.

    Raises ValueError for every head this module does not support. For major type 7 the
    argument is the simple value (20 false, 21 true, 22 null).
    """
    if end < 0:
        end = len(buf)
    if pos >= end:
        _fail("truncated", pos)
    ib = buf[pos]
    major = ib & 0xE0
    ai = ib & 0x1F
    if major == 0xC0:
        _fail("tag not supported", pos)
    if major == SIMPLE:
        if ai < 20 or ai == 23 or ai == 24:
            _fail("simple value not supported", pos)
        if 25 <= ai <= 27:
            _fail("float not supported", pos)
        if ai == 31:
            _fail("unexpected break", pos)
        if ai > 27:
            _fail("reserved value", pos)
        return major, ai, pos + 1
    if ai < 24:
        return major, ai, pos + 1
    if ai == 31:
        _fail("indefinite length not supported", pos)
    if ai > 27:
        _fail("reserved value", pos)
    n = 1 << (ai - 24)
    if pos + 1 + n > end:
        _fail("truncated", end)
    v = 0
    for i in range(pos + 1, pos + 1 + n):
        v = (v << 8) | buf[i]
    if v < (24 if n == 1 else 1 << (4 * n)):
        _fail("non-shortest head", pos)
    return major, v, pos + 1 + n


def _utf8_ok(buf, pos, end):
    # Well-formed UTF-8 (RFC 3629): MicroPython's own check lets overlong forms and surrogates by.
    while pos < end:
        b = buf[pos]
        if b < 0x80:
            pos += 1
            continue
        lo, hi = 0x80, 0xBF
        if 0xC2 <= b <= 0xDF:
            n = 1
        elif 0xE0 <= b <= 0xEF:
            n = 2
            if b == 0xE0:
                lo = 0xA0
            elif b == 0xED:
                hi = 0x9F
        elif 0xF0 <= b <= 0xF4:
            n = 3
            if b == 0xF0:
                lo = 0x90
            elif b == 0xF4:
                hi = 0x8F
        else:
            return False
        if pos + n >= end or not lo <= buf[pos + 1] <= hi:
            return False
        for i in range(pos + 2, pos + n + 1):
            if buf[i] & 0xC0 != 0x80:
                return False
        pos += n + 1
    return True


def text(buf, pos, n, end=-1):
    """The text string of ``n`` UTF-8 bytes at ``pos`` (after its head), checked."""
    if end < 0:
        end = len(buf)
    if pos + n > end:
        _fail("truncated", end)
    if not _utf8_ok(buf, pos, pos + n):
        _fail("invalid UTF-8", pos)
    return str(bytes(buf[pos:pos + n]), "utf-8")


def _decode(buf, pos, end, depth):
    start = pos
    major, n, pos = head(buf, pos, end)
    if major == UINT:
        return n, pos
    if major == NINT:
        return -1 - n, pos
    if major == BYTES:
        if pos + n > end:
            _fail("truncated", end)
        return bytes(buf[pos:pos + n]), pos + n
    if major == TEXT:
        return text(buf, pos, n, end), pos + n
    if major == SIMPLE:
        return (False, True, None)[n - 20], pos
    if depth >= MAX_DEPTH:
        _fail("nesting deeper than %d" % MAX_DEPTH, start)
    # Every item takes at least one byte: a length beyond the data left is truncation, not a
    # reason to build a huge list first.
    if n > (end - pos if major == ARRAY else (end - pos) // 2):
        _fail("truncated", end)
    if major == ARRAY:
        items = []
        for _ in range(n):
            item, pos = _decode(buf, pos, end, depth + 1)
            items.append(item)
        return items, pos
    items = {}
    for _ in range(n):
        key_at = pos
        key, pos = _decode(buf, pos, end, depth + 1)
        if type(key) is list or type(key) is dict:
            _fail("unhashable map key", key_at)
        if key in items:
            _fail("duplicate map key", key_at)
        items[key], pos = _decode(buf, pos, end, depth + 1)
    return items, pos


def decode_from(buf, pos=0):
    """Decode one item at ``pos``: return ``(obj, pos after it)``."""
    return _decode(buf, pos, len(buf), 0)


def loads(buf):
    """Decode ``buf``, which must hold exactly one item."""
    obj, pos = _decode(buf, 0, len(buf), 0)
    if pos != len(buf):
        _fail("trailing data", pos)
    return obj
