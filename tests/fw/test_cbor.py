"""cemt.cbor: RFC 8949 Appendix A examples, canonical form, strict decoding, no-allocation ints."""
import micropython

from cemt import cbor

# RFC 8949 Appendix A, the examples within the supported types.
RFC_EXAMPLES = (
    (0, "00"), (1, "01"), (10, "0a"), (23, "17"), (24, "1818"), (25, "1819"), (100, "1864"),
    (1000, "1903e8"), (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"), (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"), (-10, "29"), (-100, "3863"), (-1000, "3903e7"),
    (False, "f4"), (True, "f5"), (None, "f6"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"), ("a", "6161"), ("IETF", "6449455446"), ("\"\\", "62225c"), ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"), ("\U00010151", "64f0908591"),
    ([], "80"), ([1, 2, 3], "83010203"), ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"), ({1: 2, 3: 4}, "a201020304"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    ({"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
     "a56161614161626142616361436164614461656145"),
)

# RFC 8949 Appendix A examples outside the supported types, and other heads to refuse.
UNSUPPORTED = (
    ("f90000", "float"), ("fa47c35000", "float"), ("fb3ff199999999999a", "float"),
    ("c074323031332d30332d32315432303a30343a30305a", "tag"), ("c11a514b67b0", "tag"),
    ("c249010000000000000000", "tag"), ("d74401020304", "tag"),
    ("f7", "simple"), ("f0", "simple"), ("f818", "simple"), ("f8ff", "simple"),
    ("5f42010243030405ff", "indefinite"), ("7f657374726561646d696e67ff", "indefinite"),
    ("9fff", "indefinite"), ("bf61610161629f0203ffff", "indefinite"),
    ("1c", "reserved"), ("3d", "reserved"), ("5e", "reserved"), ("fc", "reserved"),
    ("ff", "break"),
    ("1817", "non-shortest"), ("1900ff", "non-shortest"), ("1a0000ffff", "non-shortest"),
    ("1b00000000ffffffff", "non-shortest"), ("3817", "non-shortest"), ("5800", "non-shortest"),
    ("980100", "non-shortest"),
)


def h(s):
    return bytes.fromhex(s)


def test_rfc_examples_encode_exactly():
    for obj, hexed in RFC_EXAMPLES:
        got = cbor.dumps(obj).hex()
        assert got == hexed, (obj, got, hexed)
        assert cbor.size(obj) == len(hexed) // 2


def test_rfc_examples_decode():
    for obj, hexed in RFC_EXAMPLES:
        got = cbor.loads(h(hexed))
        assert got == obj and type(got) is type(obj), (hexed, got)


def test_integer_width_boundaries():
    for n, size in ((23, 1), (24, 2), (255, 2), (256, 3), (65535, 3), (65536, 5),
                    (2**32 - 1, 5), (2**32, 9), (2**64 - 1, 9)):
        for v, major in ((n, 0x00), (-1 - n, 0x20)):
            data = cbor.dumps(v)
            assert len(data) == size and data[0] & 0xE0 == major, (v, data)
            assert cbor.loads(data) == v
    for v in (2**64, -2**64 - 1, 2**100):
        try:
            cbor.dumps(v)
        except ValueError:
            pass
        else:
            raise AssertionError("encoded %d" % v)


def test_tuples_encode_as_arrays_and_buffers_as_byte_strings():
    assert cbor.dumps((1, (2,))) == h("82018102")
    assert cbor.dumps(bytearray(b"ab")) == h("426162")
    assert cbor.dumps(memoryview(b"abc")[1:]) == h("426263")


def test_map_keys_in_cbor2_canonical_order():
    # Shorter encoded key first, then bytewise: what cbor2 writes with canonical=True.
    obj = {"bb": 4, b"x": 6, "c": 5, 100: 1, "a": 3, -1: 2, 10: 0}
    assert cbor.dumps(obj) == h("a70a00200218640141780661610361630562626204")


def test_unsupported_types_refused_on_encode():
    for obj in (1.5, {1, 2}, object(), [1, [2.0]], {1: 0.5}):
        try:
            cbor.dumps(obj)
        except ValueError as e:
            assert "cannot encode" in str(e)
        else:
            raise AssertionError(repr(obj))


def test_unsupported_heads_refused_naming_what_and_where():
    for hexed, what in UNSUPPORTED:
        for prefix in ("", "8201"):  # alone, and as the second item of an array
            data = h(prefix + hexed)
            try:
                cbor.loads(data)
            except ValueError as e:
                msg = str(e)
                assert what in msg, (hexed, msg)
                assert msg.endswith("at byte %d" % (len(prefix) // 2)), (hexed, msg)
            else:
                raise AssertionError(hexed)


def test_every_truncation_is_refused():
    data = cbor.dumps([1, -500, "t\u00e9xt", b"\x00\x01", {"k": [2**40, None]}, 2**64 - 1])
    for cut in range(len(data)):
        try:
            cbor.loads(data[:cut])
        except ValueError as e:
            assert "truncated" in str(e), (cut, str(e))
        else:
            raise AssertionError("accepted %d of %d bytes" % (cut, len(data)))


def test_lengths_beyond_the_data_fail_before_allocating():
    for hexed in ("9b0000000100000000", "bb0000000100000000", "5b0000000100000000",
                  "7a7fffffff", "9a00010000" + "00" * 10):
        try:
            cbor.loads(h(hexed))
        except ValueError as e:
            assert "truncated" in str(e), hexed
        else:
            raise AssertionError(hexed)


def test_trailing_data_refused_by_loads_but_not_decode_from():
    data = h("0102f5")
    try:
        cbor.loads(data)
    except ValueError as e:
        assert str(e) == "trailing data at byte 1"
    else:
        raise AssertionError
    pos, items = 0, []
    while pos < len(data):
        item, pos = cbor.decode_from(data, pos)
        items.append(item)
    assert items == [1, 2, True] and pos == 3


def test_strict_utf8():
    for hexed in ("62c328", "62c0af", "63e08080", "63eda080", "64f0808080", "64f4908080",
                  "6180", "61ff", "62e6b0", "61f0"):
        try:
            cbor.loads(h(hexed))
        except ValueError as e:
            assert str(e) == "invalid UTF-8 at byte 1", (hexed, str(e))
        else:
            raise AssertionError(hexed)
    for hexed in ("62c280", "63e0a080", "63ed9fbf", "63ee8080", "63efbfbf", "64f0908080",
                  "64f48fbfbf"):
        assert cbor.dumps(cbor.loads(h(hexed))) == h(hexed)


def test_map_keys_unique_and_hashable():
    for hexed, what in (("a201000100", "duplicate map key at byte 3"),
                        ("a1800100", "unhashable map key at byte 1"),
                        ("a1a00100", "unhashable map key at byte 1")):
        try:
            cbor.loads(h(hexed))
        except ValueError as e:
            assert str(e) == what, (hexed, str(e))
        else:
            raise AssertionError(hexed)


def test_nesting_limit_both_ways():
    deep = 0
    for _ in range(cbor.MAX_DEPTH):
        deep = [deep]
    assert cbor.loads(cbor.dumps(deep)) == deep
    for bad in ([deep], {1: deep}):
        try:
            cbor.dumps(bad)
        except ValueError as e:
            assert "nesting" in str(e)
        else:
            raise AssertionError
    try:
        cbor.loads(h("81" * (cbor.MAX_DEPTH + 1) + "00"))
    except ValueError as e:
        assert str(e) == "nesting deeper than %d at byte %d" % (cbor.MAX_DEPTH, cbor.MAX_DEPTH)
    else:
        raise AssertionError


def test_encode_into_memoryview_at_offset():
    buf = bytearray(b"\xaa" * 16)
    mv = memoryview(buf)[2:12]
    end = cbor.encode_into(mv, 1, [1, "ab", -300])
    assert end == 9
    assert buf == b"\xaa" * 3 + h("830162616239012b") + b"\xaa" * 5
    assert cbor.decode_from(mv, 1) == ([1, "ab", -300], 9)


def test_buffer_too_small_is_a_value_error_and_stays_inside():
    buf = bytearray(b"\xaa" * 8)
    mv = memoryview(buf)[:4]
    for obj in (70000, "abcd", b"\x00" * 4, [1, 2, 3, 4], 2**40):
        try:
            cbor.encode_into(mv, 0, obj)
        except ValueError as e:
            assert str(e) == "buffer too small", str(e)
        else:
            raise AssertionError(repr(obj))
    assert buf[4:] == b"\xaa" * 4


def test_put_int_allocates_nothing():
    buf = bytearray(9)
    values = (0, 23, 24, -25, 65535, 65536, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1)
    got = []
    for v in values:
        micropython.heap_lock()
        try:
            end = cbor.put_int(buf, 0, v)
        finally:
            micropython.heap_unlock()
        got.append(cbor.loads(buf[:end]))
    assert got == list(values)
