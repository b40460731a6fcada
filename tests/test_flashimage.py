"""The host image reader agrees with the firmware ring log, and reads damaged images safely.

Images are written by the real firmware under MicroPython (tools/ringlog_driver.py); the host
reader (cemtool.flashimage) shares no code with it.
"""
from __future__ import annotations

import json
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

import fwtest
from cemtool import flashimage
from cemtool.records import Record

T0 = 1767225600


def drive(*args: str, stdin: str | None = None) -> str:
    # the driver script and json add to the firmware: more heap than a board's 64K
    proc = fwtest.run_micropython(["tools/ringlog_driver.py", *args], mode="mpy", input=stdin,
                                  heap="160K")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def load(tmp_path, records: list[list], blocks=8, block_size=512, name="flash.img"):
    """Append ``records`` with the firmware; return (image path, records it reads back)."""
    path = tmp_path / name
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    out = drive("load", str(path), str(blocks), str(block_size), stdin=lines)
    return path, [json.loads(line) for line in out.split("\n") if line]


def minute(i: int, rnd: random.Random) -> list:
    co2 = 1200 + rnd.randint(-30, 30)
    return [1, 0, T0 + 60 * i, 2, 3, 0, 60, 60, co2, co2 - rnd.randint(0, 90),
            co2 + rnd.randint(0, 90), 1500 + rnd.randint(-40, 40), 1500 + rnd.randint(-3, 3),
            -150 + rnd.randint(-9, 9), 64000 + rnd.randint(-500, 500), 25000 + rnd.randint(-200, 200)]


def values(image: flashimage.FlashImage) -> list[list]:
    return [r.to_list() for r in image.records()]


def test_reads_what_the_firmware_wrote_across_wraps(tmp_path):
    rnd = random.Random(1)
    recs = [minute(i, rnd) for i in range(700)]
    path, held = load(tmp_path, recs)
    image = flashimage.load(path)
    assert not image.problems
    [log] = image.logs
    assert values(image) == held and held[0][1] > 1  # the ring wrapped: the oldest are gone
    assert (log.oldest, log.newest, log.acked) == (held[0][1], 700, 350)
    assert log.dropped == held[0][1] - 1  # nothing was acked before they went
    assert log.erases is not None and sum(log.erases) > 0


def test_two_logs_in_one_image_with_events(tmp_path):
    path = tmp_path / "two.img"
    out = drive("image", str(path), "3000", "400", "8", "8")
    want = dict(kv.split("=") for kv in out.split())
    image = flashimage.load(path)
    assert [log.log_id for log in image.logs] == [1, 2] and not image.problems
    minutes, periods = image.logs
    assert (minutes.oldest, minutes.newest, minutes.acked) == (
        int(want["minute_first"]), int(want["minutes"]), int(want["minute_acked"]))
    assert (periods.oldest, periods.newest, periods.acked) == (
        int(want["period_first"]), int(want["periods"]), int(want["period_acked"]))
    kinds = {r.kind_name for r in periods.records}
    assert kinds == {"hour", "day", "health"} or kinds == {"hour", "day", "health", "boot"}
    seqs = [r.seq for r in minutes.records]
    assert seqs == list(range(minutes.oldest, minutes.newest + 1))


def test_bit_rot_in_a_sealed_sector_is_reported_not_returned(tmp_path):
    rnd = random.Random(2)
    path, held = load(tmp_path, [minute(i, rnd) for i in range(300)])
    data = bytearray(path.read_bytes())
    data[3 * 512 + 100] ^= 0x10  # the second data sector, sealed
    image = flashimage.read(bytes(data))
    [problem] = image.problems
    assert "block 3" in problem and "CRC mismatch" in problem and "unreadable" in problem
    got = values(image)
    assert got and all(r in held for r in got) and len(got) < len(held)


def test_damage_in_the_open_sector_stops_at_the_damaged_entry(tmp_path):
    rnd = random.Random(3)
    path, held = load(tmp_path, [minute(i, rnd) for i in range(40)])
    data = bytearray(path.read_bytes())
    head = max(range(2, 8), key=lambda b: data[b * 512:b * 512 + 4] == b"CEML" and
               struct.unpack_from("<I", data, b * 512 + 12)[0])
    data[head * 512 + 200] ^= 0x01
    image = flashimage.read(bytes(data))
    assert len(image.problems) == 1 and "records from" in image.problems[0]
    got = values(image)
    assert got == held[:len(got)] and len(got) < len(held)


def test_truncated_image_is_read_as_far_as_it_goes(tmp_path):
    rnd = random.Random(4)
    path, held = load(tmp_path, [minute(i, rnd) for i in range(150)], blocks=8)
    data = path.read_bytes()[:5 * 512]  # a dump that stopped early
    image = flashimage.read(data)
    assert all(r in held for r in values(image))


def test_not_an_image():
    cbor_stream = Record.from_list([1, 5, T0, 2, 3, 0, 60, 60] + [0] * 8).encode()
    assert not flashimage.is_image(cbor_stream)
    with pytest.raises(flashimage.ImageError):
        flashimage.read(bytes(4096))
    with pytest.raises(flashimage.ImageError):
        flashimage.read(b"\xff" * 8192)


def test_stats_text(tmp_path):
    rnd = random.Random(5)
    path, _ = load(tmp_path, [minute(i, rnd) for i in range(100)])
    text = flashimage.format_stats(flashimage.load(path))
    assert "log 1 at offset 0x0: 8 blocks of 512 bytes (6 sectors)" in text
    assert "newest 100" in text and "acked           50" in text and "erase counts" in text


ints = st.integers(min_value=-(2**39), max_value=2**39)


@st.composite
def period_records(draw):
    """Hour/minute records with any values (wild jumps, negatives, gaps) and events."""
    out = []
    t = T0
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from([1, 1, 1, 2, 3, 16]))
        t += draw(st.sampled_from([60, 60, 60, 3600, 7, 86400 * 30]))
        if kind == 16:
            out.append([16, 0, t, 1, 2, draw(st.integers(0, 2**32)), 1, 0,
                        draw(st.text(max_size=40))])
            continue
        n = 11 if kind == 1 else 19
        vals = draw(st.lists(draw(st.sampled_from([ints, st.integers(-50, 50)])),
                             min_size=n - 3, max_size=n - 3))
        out.append([kind, 0, t, draw(st.integers(0, 2)), draw(st.integers(0, 99)),
                    draw(st.integers(0, 7)), draw(st.integers(0, 61)), draw(st.integers(0, 61)),
                    *vals])
    return out


@settings(max_examples=15, deadline=None)
@given(period_records())
def test_any_records_round_trip_through_firmware_and_host(tmp_path_factory, recs):
    path, held = load(tmp_path_factory.mktemp("prop"), recs, blocks=12, block_size=1024)
    image = flashimage.load(path)
    assert not image.problems
    assert values(image) == held
    assert [r[2:] for r in held] == [r[2:] for r in recs[len(recs) - len(held):]]
