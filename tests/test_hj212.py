"""cemtool.hj212: CRC, framing, split, parsing, record messages; vectors in docs/vectors/hj212.json."""
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cemtool import hj212
from cemtool.records import DAY, HOUR, MINUTE, PERIOD_FIELDS, MINUTE_FIELDS, Record

VECTORS = json.loads((Path(__file__).parent.parent / "docs/vectors/hj212.json").read_text())
NOT_CARRIED = {"n", "nv"}  # counts: HJ 212 data messages have no field for them


def modbus_crc(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def carried(record: Record) -> dict:
    out = {"kind": record.kind, "t": record.t}
    out.update((k, v) for k, v in record.fields.items() if k not in NOT_CARRIED)
    return out


def merged(frames: list[bytes]) -> hj212.Message:
    """One message of the packets of a split message (groups after each DataTime)."""
    msgs = [hj212.parse(f) for f in frames]
    cp = msgs[0].cp[:1] + tuple(g for m in msgs for g in m.cp[1:])
    return hj212.Message(msgs[0].qn, msgs[0].st, msgs[0].cn, msgs[0].pw, msgs[0].mn,
                         msgs[0].flag & ~hj212.FLAG_SPLIT, cp, rf=msgs[0].rf)


@pytest.mark.parametrize("v", VECTORS["crc"], ids=lambda v: v["name"])
def test_crc_vectors(v):
    assert f"{hj212.crc16(v['segment'].encode()):04X}" == v["crc"]


def test_standard_example_frame_is_1c80_and_not_modbus():
    v = VECTORS["crc"][0]
    data = hj212.frame(v["segment"])
    assert data == b"##0101" + v["segment"].encode() + b"1C80\r\n"
    assert modbus_crc(v["segment"].encode()) != 0x1C80
    msg = hj212.parse(data)
    assert (msg.st, msg.cn, msg.flag, msg.version.year, msg.wants_ack) == ("32", "1062", 5, 2017, True)
    assert msg.cp == ((("RtdInterval", "30"),),)


@pytest.mark.parametrize("v", VECTORS["records"], ids=lambda v: v["name"])
def test_record_vectors(v):
    record = Record.from_list(v["values"])
    msg = hj212.record_message(record, v["mn"], v["qn"], hj212.VERSIONS[v["version"]], v["pw"],
                               ack=v["ack"], backfill=v["backfill"], utc_offset_h=v["utc_offset_h"])
    frames = hj212.encode(msg, v.get("max_segment", hj212.MAX_SEGMENT))
    assert [f.decode() for f in frames] == v["frames"]
    for f in frames:
        segment = f[6:-6]
        assert int(f[2:6]) == len(segment) <= v.get("max_segment", 1024)
        assert f[-6:-2] == b"%04X" % hj212.crc16(segment) and f.endswith(b"\r\n")
        assert hj212.parse(f).segment().encode() == segment
    back = merged(frames) if len(frames) > 1 else hj212.parse(frames[0])
    assert back == msg
    assert hj212.period_values(back, v["utc_offset_h"]) == carried(record)
    assert ("RF=1;" in v["frames"][0]) == (v["backfill"] and v["version"] == 2025)
    assert msg.flag == hj212.VERSIONS[v["version"]].flag(v["ack"])


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors(v):
    data = bytes.fromhex(v["hex"]) if "hex" in v else v["frame"].encode()
    with pytest.raises(hj212.Hj212Error) as e:
        hj212.parse(data, hj212.VERSIONS.get(v.get("version")))
    assert v["error"] in str(e.value)
    assert "\n" not in str(e.value)


def test_flag_bits_per_version():
    assert [hj212.V2017.flag(a, s) for s in (False, True) for a in (False, True)] == [4, 5, 6, 7]
    assert [hj212.V2025.flag(a, s) for s in (False, True) for a in (False, True)] == [8, 9, 10, 11]


def test_co2_uses_the_firmware_molar_volume():
    # 12 %vol at 44.01 / 22.414 × 10⁴ mg/m³ per %vol; HJ 212's 22.4 L/mol would give 235 767.9
    record = Record.from_list([1, 0, 0, 2, 0, 0, 60, 60, 1200, 1200, 1200, 0, 0, 0, 0, 0])
    assert record_cp(record)["a05001-Avg"] == f"{12 * 44.01 / 22.414 * 1e4:.3f}" == "235620.594"


def record_cp(record: Record) -> dict:
    return dict(kv for g in hj212.period_groups(record) for kv in g)


def test_flags_map_letter_for_letter():
    for i, letter in enumerate("NFMSDCTB"):
        values = [2, 0, 0, 2, 0, i] + [0] * 18
        cp = record_cp(Record.from_list(values))
        assert {v for k, v in cp.items() if k.endswith("-Flag")} == {letter}


def test_minute_has_no_min_max_of_flow_and_no_moisture():
    cp = record_cp(Record.from_list(VECTORS["records"][0]["values"]))
    assert "a00000-Min" not in cp and "a01014-Avg" not in cp and "a01006-Avg" not in cp
    assert cp["a05001-Cou"] == "196.35"  # the record's mass, exactly


def test_events_have_no_data_message():
    boot = Record.from_list([16, 1, 0, 2, 0, 1, 1, 0, "cemt 0.1.0"])
    with pytest.raises(hj212.Hj212Error, match="boot record"):
        hj212.record_message(boot, "MN1", "20250101000000000")


def test_bad_mn_is_refused_when_encoding():
    record = Record.from_list(VECTORS["records"][2]["values"])
    with pytest.raises(hj212.Hj212Error, match="MN="):
        hj212.record_message(record, "has space", "20250101000000000")


def test_split_keeps_every_group_and_refuses_a_group_too_big():
    groups = tuple(((f"a{i:05d}-Avg", "1" * 40), (f"a{i:05d}-Flag", "N")) for i in range(30))
    msg = hj212.Message("20250101000000000", "31", "2061", "123456", "MN1", 5,
                        ((("DataTime", "20250101000000"),),) + groups)
    assert len(msg.segment()) > 1024
    frames = hj212.encode(msg)
    assert len(frames) > 1
    parts = [hj212.parse(f) for f in frames]
    assert [(p.pnum, p.pno) for p in parts] == [(len(frames), i) for i in range(1, len(frames) + 1)]
    assert all(p.flag == 7 and p.qn == msg.qn and len(f) - 12 <= 1024 for p, f in zip(parts, frames))
    assert merged(frames) == msg
    with pytest.raises(hj212.Hj212Error, match="does not fit one packet"):
        hj212.encode(msg, max_segment=150)


def test_qn_clock_is_strictly_increasing_local_time():
    clock = hj212.QnClock(8, now=lambda: 1735689600.5)  # 2025-01-01T00:00:00.5Z
    qns = [clock.next() for _ in range(3)]
    assert qns == ["20250101080000500", "20250101080000501", "20250101080000502"]


def test_data_ack_and_refusal():
    msg = hj212.parse(VECTORS["records"][2]["frames"][0].encode())
    ack = hj212.parse(hj212.encode(hj212.data_ack(msg))[0])
    assert (ack.cn, ack.st, ack.qn, ack.flag, ack.cp) == ("9014", "91", msg.qn, 4, ())
    assert hj212.is_ack_of(ack, msg)
    assert not hj212.is_ack_of(hj212.Message("20250101000000001", "91", "9014", "123456",
                                             msg.mn, 4), msg)
    refusal = hj212.Message(msg.qn, "91", "9014", "123456", msg.mn, 4, ((("QnRtn", "2"),),))
    assert not hj212.is_ack_of(refusal, msg)


def test_frame_reader_cuts_a_byte_stream():
    frames = [f.encode() for v in VECTORS["records"] for f in v["frames"]]
    reader = hj212.FrameReader()
    got = []
    for b in b"".join(frames):
        reader.feed(bytes([b]))
        got += reader.frames()
    assert got == frames and reader.pending() == 0


# -- properties ----------------------------------------------------------------------------------

small = st.integers(-10**6, 10**6)
positive = st.integers(0, 10**9)


@st.composite
def period_records(draw):
    kind = draw(st.sampled_from([MINUTE, HOUR, DAY]))
    names = MINUTE_FIELDS if kind == MINUTE else PERIOD_FIELDS
    fields = []
    for name in names:
        if name == "flag":
            fields.append(draw(st.integers(0, 7)))
        elif name in ("n", "nv"):
            fields.append(draw(st.integers(0, 86400)))
        elif name in ("temp", "temp_min", "temp_max", "ps"):
            fields.append(draw(small))
        else:
            fields.append(draw(positive))
    t = draw(st.integers(0, 4102444800 - 86400))
    return Record.from_list([kind, draw(st.integers(0, 2**40)), t, draw(st.integers(1, 2)),
                             draw(st.integers(0, 99)), *fields])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(period_records(), st.sampled_from([2017, 2025]), st.booleans(), st.booleans(),
       st.integers(-12, 14))
def test_record_round_trip(record, year, ack, backfill, offset):
    msg = hj212.record_message(record, "010000A8900016F000169DC0", "20250101000000000",
                               hj212.VERSIONS[year], ack=ack, backfill=backfill,
                               utc_offset_h=offset)
    frames = hj212.encode(msg)
    back = hj212.parse(frames[0]) if len(frames) == 1 else merged(frames)
    assert back == msg
    assert hj212.period_values(back, offset) == carried(record)


key = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,12}", fullmatch=True)
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e, exclude_characters=";,&="),
                max_size=12)


@st.composite
def messages(draw):
    version = draw(st.sampled_from([hj212.V2017, hj212.V2025]))
    keys = draw(st.lists(key, unique=True, max_size=20))
    groups, i = [], 0
    while i < len(keys):
        n = draw(st.integers(1, 4))
        groups.append(tuple((k, draw(value)) for k in keys[i:i + n]))
        i += n
    cn = draw(st.sampled_from(sorted(version.cn_codes - set(hj212.KIND_OF_CN))))
    qn = draw(st.datetimes(min_value=__import__("datetime").datetime(2000, 1, 1))).strftime(
        "%Y%m%d%H%M%S") + f"{draw(st.integers(0, 999)):03d}"
    split = draw(st.booleans())
    pnum = draw(st.integers(1, 9999)) if split else None
    pno = draw(st.integers(1, pnum)) if split else None
    return hj212.Message(qn, draw(st.sampled_from(sorted(version.st_codes))), cn,
                         draw(st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)),
                         draw(st.from_regex(r"[A-Za-z0-9_-]{1,24}", fullmatch=True)),
                         version.flag(draw(st.booleans()), split), tuple(groups), pnum, pno,
                         rf=version.backfill_mark and draw(st.booleans()))


@settings(max_examples=300)
@given(messages())
def test_message_round_trip(msg):
    data = hj212.frame(msg.segment())
    assert hj212.parse(data) == msg


@settings(max_examples=500)
@given(st.sampled_from([f for v in VECTORS["records"] for f in v["frames"]]), st.data())
def test_any_single_byte_change_is_refused(text, data):
    frame = bytearray(text.encode())
    i = data.draw(st.integers(0, len(frame) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda b: b != frame[i]))
    crc_digit = len(frame) - 6 <= i < len(frame) - 2
    if crc_digit and chr(b).upper() == chr(frame[i]).upper():
        return  # the same hex digit in the other case names the same CRC
    frame[i] = b
    with pytest.raises(hj212.Hj212Error):
        hj212.parse(bytes(frame))


def test_every_byte_of_a_frame_is_guarded():
    frame = VECTORS["records"][2]["frames"][0].encode()
    for i in range(len(frame)):
        for flip in (0x01, 0x10, 0x80):
            bad = bytearray(frame)
            bad[i] ^= flip
            if len(frame) - 6 <= i < len(frame) - 2 and chr(bad[i]).upper() == chr(frame[i]).upper():
                continue  # the same hex digit in the other case
            with pytest.raises(hj212.Hj212Error):
                hj212.parse(bytes(bad))
