"""cemtool.records: the shared vectors, stream decoding, validation and rows (host only)."""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cemtool import records
from cemtool.records import DecodeError, Record, RecordError

VECTORS = json.loads((Path(__file__).parent.parent / "docs/vectors/records.json").read_text())
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]
T0 = 1767225600

INT64 = st.integers(-2**64, 2**64 - 1)
FIELD_INT = st.one_of(st.integers(-100000, 100000), INT64, st.sampled_from(
    [0, 23, 24, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, -2**31, -2**32 - 1]))


@st.composite
def record_values(draw, kinds=tuple(records.FIELDS)):
    """Random valid records of any kind, as value lists."""
    kind = draw(st.sampled_from(kinds))
    values = [kind, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, records.T_MAX)),
              draw(st.integers(0, 2)), draw(INT64)]
    for name in records.FIELDS[kind]:
        if name == "flag":
            values.append(draw(st.integers(0, 7)))
        elif (kind, name) in records.TEXT_FIELDS:
            values.append(draw(st.text(max_size=40)))
        elif (kind, name) in records.TEXT_OR_INT_FIELDS:
            values.append(draw(st.one_of(FIELD_INT, st.text(max_size=20))))
        else:
            values.append(draw(FIELD_INT))
    return values


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_valid_vector(vector):
    data = bytes.fromhex(vector["hex"])
    assert [r.to_list() for r in records.decode_stream(data)] == [vector["values"]]
    assert Record.from_list(vector["values"]).encode() == data
    assert cbor2.dumps(vector["values"], canonical=True) == data
    assert cbor2.loads(data) == vector["values"]


@pytest.mark.parametrize("vector", INVALID, ids=[v["name"] for v in INVALID])
def test_invalid_vector(vector):
    with pytest.raises(DecodeError) as err:
        records.decode(bytes.fromhex(vector["hex"]))
    assert err.value.offset == 0
    assert str(err.value).startswith("corrupt record at byte 0: ")


def test_vectors_cover_every_kind():
    assert {v["values"][0] for v in VALID} == set(records.FIELDS)


def test_stream_yields_good_records_then_names_the_bad_offset():
    good = [bytes.fromhex(v["hex"]) for v in VALID[:5]]
    bad = bytes.fromhex(VALID[5]["hex"])[:-2]
    got = []
    with pytest.raises(DecodeError) as err:
        for record in records.decode_stream(b"".join(good) + bad):
            got.append(record.to_list())
    assert got == [v["values"] for v in VALID[:5]]
    assert err.value.offset == sum(map(len, good))
    assert err.value.reason == "truncated"


def test_non_canonical_record_named_as_such():
    data = bytes.fromhex("9001011a6955b93c020300183c19003a1904d21904b0"  # nv 58 in 3 bytes
                         "1905141905dc19070d389519cb20194cb3")
    with pytest.raises(DecodeError, match="not in canonical form"):
        records.decode(data)


def test_empty_stream_has_no_records():
    assert list(records.decode_stream(b"")) == []


@pytest.mark.parametrize("values, message", [
    ([1, 2, 3], "at least 5 values"),
    ((1, 0, 0, 0, 0), "has 16 values, not 5"),
    ([4, 0, 0, 0, 0], "unknown record kind 4"),
    ([16, 0, 0, 0, 0, 1, 1, 0, 5], "fw must be text, not int"),
    ([16, 0, 0, 0, True, 1, 1, 0, "x"], "ver must be an integer, not bool"),
    ([18, 0, 0, 0, 0, 1, 1, 1.5, 0], "value must be an integer, not float"),
    ([19, 0, 0, 0, 0, "k", None, 1, 0], "old must be an integer or text"),
    ([18, -1, 0, 0, 0, 1, 1, 1, 0], "negative seq"),
    ([18, 0, records.T_MAX + 1, 0, 0, 1, 1, 1, 0], "out of range"),
    ([1, 0, 0, 0, 0, 8] + [0] * 10, "unknown flag 8"),
    ("abc", "a record is an array, not str"),
])
def test_from_list_refuses(values, message):
    with pytest.raises(RecordError, match=message):
        Record.from_list(values)


def vector_record(name: str) -> Record:
    return Record.from_list(next(v["values"] for v in VALID if v["name"] == name))


def test_minute_row_in_real_units():
    assert vector_record("minute typical").row() == {
        "kind": "minute", "seq": 1, "t": "2026-01-01T00:01:00Z", "tq": 2, "ver": 3,
        "valid": True, "flag": "N", "n": 58, "n_total": 60,
        "co2_pct": 12.34, "co2_min_pct": 12.0, "co2_max_pct": 13.0, "velocity_ms": 15.0,
        "temp_c": 180.5, "ps_pa": -150, "qsn_m3h": 52000, "co2_kg": 196.35}


def test_hour_row_in_real_units():
    row = vector_record("hour invalid, calibration flag").row()
    assert row["valid"] is False and row["flag"] == "C" and (row["n"], row["n_total"]) == (30, 44)
    assert (row["velocity_min_ms"], row["velocity_max_ms"]) == (0.0, 15.0)
    assert (row["temp_min_c"], row["temp_max_c"]) == (170.0, 180.0)
    assert (row["ps_pa"], row["pa_pa"], row["xsw"]) == (-140, 100900, 0.079)
    assert (row["qsn_min_m3h"], row["qsn_max_m3h"], row["co2_kg"]) == (0, 51000, 7000.0)
    assert set(row) == set(records.CSV_COLUMNS) - {"event"}


@pytest.mark.parametrize("kind, need", [(1, 12), (2, 45), (3, 20)])
def test_validity_threshold(kind, need):
    values = list(vector_record("minute typical" if kind == 1 else "hour typical").to_list())
    values[0] = kind
    values[7] = need
    assert Record.from_list(values).row()["valid"] is True
    values[7] = need - 1
    assert Record.from_list(values).row()["valid"] is False


def test_flag_letters():
    values = vector_record("minute typical").to_list()
    letters = []
    for flag in range(8):
        values[5] = flag
        letters.append(Record.from_list(values).row()["flag"])
    assert "".join(letters) == "NFMSDCTB"


def test_event_row_carries_its_fields():
    row = vector_record("config text change").row()
    assert row == {"kind": "config", "seq": 17, "t": "2026-01-01T00:21:41Z", "tq": 2, "ver": 6,
                   "key": "device.site", "old": "Plant 1 \u9505\u7089", "new": "Plant 2",
                   "source": 1}
    assert vector_record("boot").valid is None


def test_huge_values_are_exact_decimal_strings():
    row = vector_record("minute 64-bit extremes").row()
    assert row["co2_kg"] == "184467440737095516.15"
    assert row["qsn_m3h"] == -2**64
    assert row["t"] == "9999-12-31T23:59:59Z"


@given(st.integers(-records.EXACT_FLOAT + 1, records.EXACT_FLOAT - 1), st.sampled_from([1, 2, 4]))
def test_scaled_floats_print_as_the_exact_decimal(v, places):
    text = json.dumps(records.scaled(v, places))
    assert Decimal(text) == Decimal(v).scaleb(-places)


def test_csv_mixes_kinds_under_one_header():
    out = io.StringIO()
    recs = [Record.from_list(v["values"]) for v in VALID]
    records.write_csv(recs, out)
    lines = out.getvalue().split("\n")
    assert lines[0] == ",".join(records.CSV_COLUMNS) and lines[-1] == ""
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == len(VALID)
    minute, hour, boot = rows[0], rows[5], rows[8]
    assert minute["valid"] == "true" and minute["co2_pct"] == "12.34" and minute["pa_pa"] == ""
    assert minute["event"] == "" and hour["pa_pa"] == "101325" and hour["xsw"] == "0.0812"
    assert boot["kind"] == "boot" and boot["co2_pct"] == "" and boot["valid"] == ""
    assert json.loads(boot["event"]) == {"boots": 42, "reset": 3, "safe": 0, "fw": "cemt 0.1.0"}


def test_jsonl_one_row_per_record():
    out = io.StringIO()
    recs = [Record.from_list(v["values"]) for v in VALID]
    records.write_jsonl(recs, out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows == [r.row() for r in recs]


@settings(max_examples=300)
@given(record_values())
def test_random_records_round_trip(values):
    data = Record.from_list(values).encode()
    assert data == cbor2.dumps(values, canonical=True)
    assert [r.to_list() for r in records.decode_stream(data + data)] == [values, values]


@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_random_bytes_only_ever_raise_decode_error(data):
    try:
        for record in records.decode_stream(data):
            assert isinstance(record, Record)
    except DecodeError as e:
        assert 0 <= e.offset < len(data)


@settings(max_examples=500)
@given(st.sampled_from(VALID), st.data())
def test_damaged_records_are_refused_or_still_canonical(vector, data):
    raw = bytearray.fromhex(vector["hex"])
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        found = list(records.decode_stream(bytes(raw)))
    except DecodeError:
        return
    assert b"".join(r.encode() for r in found) == raw
