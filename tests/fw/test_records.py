"""cemt.records: shared vectors, validation, validity thresholds, event builders, hot path."""
import micropython

from cemt import records
from cemt.schema import (ALARM, BOOT, CALIBRATION, CONFIG, DAY, HEADER, HEALTH, HOUR, MINUTE,
                         MIN_VALID)
import records_vectors

T0 = 1767225600
MINUTE_REC = [MINUTE, 1, T0 + 60, 2, 3, 0, 60, 58, 1234, 1200, 1300, 1500, 1805, -150, 52000, 19635]
HOUR_REC = [HOUR, 1001, T0 + 3600, 2, 3, 0, 60, 57, 1230, 1190, 1310, 1498, 1400, 1600, 1803, 1750,
            1850, -148, 101325, 812, 51980, 50100, 53000, 1178100]


def test_valid_vectors_encode_exactly_and_decode_back():
    vectors = records_vectors.load()["valid"]
    assert len(vectors) >= 15
    for v in vectors:
        data = bytes.fromhex(v["hex"])
        assert records.encode(v["values"]).hex() == v["hex"], v["name"]
        assert records.size(v["values"]) == len(data), v["name"]
        assert records.decode(data) == (v["values"], len(data)), v["name"]


def test_vectors_cover_every_kind():
    kinds = set(v["values"][0] for v in records_vectors.load()["valid"])
    assert kinds == set(records.FIELDS), kinds


def test_invalid_vectors_are_refused_with_an_offset():
    vectors = records_vectors.load()["invalid"]
    assert len(vectors) >= 30
    for v in vectors:
        try:
            records.decode(bytes.fromhex(v["hex"]))
        except ValueError as e:
            assert "at byte " in str(e), (v["name"], str(e))
        else:
            raise AssertionError("accepted: " + v["name"])


def test_stream_of_records_decodes_in_sequence():
    vectors = records_vectors.load()["valid"]
    stream = bytearray()
    for v in vectors:
        stream.extend(bytes.fromhex(v["hex"]))
    pos = 0
    for v in vectors:
        rec, pos = records.decode(stream, pos)
        assert rec == v["values"], v["name"]
    assert pos == len(stream)
    # The same through a memoryview window, positions relative to the window.
    size = len(vectors[8]["hex"]) // 2
    start = sum(len(v["hex"]) // 2 for v in vectors[:8])
    window = memoryview(stream)[start:start + size]
    assert records.decode(window) == (vectors[8]["values"], size)


def test_error_offset_is_absolute_in_the_stream():
    first = records.encode(MINUTE_REC)
    second = bytearray(records.encode(MINUTE_REC))
    second[1] = 0x04  # kind 4 does not exist
    stream = first + second
    rec, pos = records.decode(stream)
    try:
        records.decode(stream, pos)
    except ValueError as e:
        assert str(e) == "unknown record kind at byte %d" % (pos + 1), str(e)
    else:
        raise AssertionError


def test_encode_into_allocates_nothing_for_period_records():
    buf = bytearray(128)
    for rec in (MINUTE_REC, HOUR_REC, [DAY, 2**40, 2**31, 2, 2**32] + HOUR_REC[HEADER:]):
        micropython.heap_lock()
        try:
            end = records.encode_into(buf, 3, rec)
        finally:
            micropython.heap_unlock()
        assert records.decode(buf, 3) == (rec, end)


def test_typical_sizes():
    # docs/records.md quotes these: the seq grows from 1 to 3 to 5 bytes over the first year.
    assert records.size(MINUTE_REC) == 38
    assert records.size([MINUTE, 100000] + MINUTE_REC[2:]) == 42
    assert records.size(HOUR_REC) == 69


def test_encode_refuses_malformed_records():
    bad = (MINUTE_REC[:-1], MINUTE_REC + [0], [4] + MINUTE_REC[1:],
           MINUTE_REC[:8] + [1.5] + MINUTE_REC[9:], MINUTE_REC[:5] + [True] + MINUTE_REC[6:],
           [HOUR] + MINUTE_REC[1:])
    for rec in bad:
        try:
            records.encode(rec)
        except ValueError:
            pass
        else:
            raise AssertionError(repr(rec))


def test_is_valid_thresholds():
    for kind, need in ((MINUTE, 12), (HOUR, 45), (DAY, 20)):
        assert MIN_VALID[kind] == need
        rec = list(MINUTE_REC if kind == MINUTE else HOUR_REC)
        rec[0] = kind
        rec[HEADER + 2] = need
        assert records.is_valid(rec)
        rec[HEADER + 2] = need - 1
        assert not records.is_valid(rec)
    assert not records.is_valid(records.alarm(T0, 2, 1, 1, 1, 100, 50))


def test_builders_follow_the_field_lists():
    built = (
        (records.boot(T0, 2, 3, 42, records.RESET_WATCHDOG, 0, "cemt 0.1.0"), BOOT,
         {"boots": 42, "reset": records.RESET_WATCHDOG, "fw": "cemt 0.1.0"}),
        (records.calibration(T0, 1, 4, records.CH_CO2, records.CAL_SPAN, 15000, 15120, 10000,
                             9921, records.CAL_APPLIED), CALIBRATION,
         {"channel": records.CH_CO2, "ref": 15000, "reading": 15120, "after": 9921}),
        (records.alarm(T0, 2, 3, 1, 1, 1625, 1600), ALARM, {"value": 1625, "limit": 1600}),
        (records.config(T0, 2, 6, "device.site", "old", "new", records.SRC_REMOTE), CONFIG,
         {"key": "device.site", "old": "old", "new": "new", "source": records.SRC_REMOTE}),
        (records.health(T0, 2, 3, 42, 86400, 31744, 127, 0, 1000, 23, 0, 2, 0, 0, 1), HEALTH,
         {"uptime": 86400, "acked": 1000, "err_dp": 2, "err_pa": 1}),
    )
    for rec, kind, expect in built:
        names = records.FIELDS[kind]
        assert rec[0] == kind and rec[1] == 0 and rec[2] == T0
        assert len(rec) == HEADER + len(names)
        for name, value in expect.items():
            assert rec[HEADER + names.index(name)] == value, (kind, name)
        assert records.decode(records.encode(rec))[0] == rec


def test_text_only_where_the_kind_allows_it():
    ok = records.config(T0, 2, 6, "edge.kp", 8400, "eighty-two", 0)
    assert records.decode(records.encode(ok))[0] == ok
    for rec in (records.boot(T0, 2, 3, "42", 1, 0, "v"), records.boot(T0, 2, 3, 42, 1, 0, 7),
                records.config(T0, 2, 6, 3, 8400, 8200, 0),
                records.config(T0, 2, 6, "k", 1, 2, "x"),
                records.alarm(T0, 2, 3, 1, 1, "high", 50),
                MINUTE_REC[:8] + ["1234"] + MINUTE_REC[9:]):
        data = records.encode(rec)  # encode checks the length, decode checks the types
        try:
            records.decode(data)
        except ValueError as e:
            assert "must be" in str(e), str(e)
        else:
            raise AssertionError(repr(rec))
