"""Storage packing: entries round-trip, stay small on realistic data, and never decode damage."""
from cemt import pack
import ringlog_data as D

OUT = bytearray(pack.MAX_ENTRY + 2)


def _roundtrip(records, reset_every=400):
    """Pack then unpack ``records`` in order; return the bytes used. Asserts equality."""
    w = pack.Packer()
    r = pack.Packer()
    total = 0
    for i, rec in enumerate(records):
        if i % reset_every == 0:
            w.reset()
            r.reset()
        n = w.pack(rec, OUT)
        assert pack.entry_size(OUT, 0) == n
        got = r.unpack(OUT, 0, i + 1)
        want = list(rec)
        want[1] = i + 1
        assert got == want, (i, got, want)
        total += n
    return total


def test_header_codes_survive_partial_programming_and_bit_flips():
    assert len(pack.CODE) == 70
    for c in pack.CODE:
        assert bin(c).count("1") == 4
        for v in range(256):
            if v != c and (v & c == c or bin(v ^ c).count("1") == 1):
                # a code with some 0 bits still 1 (cut mid-byte), or one bit flipped
                assert pack.INDEX[v] == 0xFF


def test_realistic_minutes_round_trip_and_stay_small():
    n = 600
    for noise, limit in ((0, 7), (100, 9.5), (400, 12)):
        used = _roundtrip(D.minute(i, 3, noise) for i in range(n))
        assert used / n < limit, (noise, used / n)


def test_minutes_cost_more_with_more_noise():
    quiet = _roundtrip(D.minute(i, 5, 50) for i in range(300))
    noisy = _roundtrip(D.minute(i, 5, 800) for i in range(300))
    assert noisy > quiet * 13 // 10


def test_hours_days_and_minutes_interleaved():
    recs = []
    for i in range(60):
        recs.append(D.minute(i))
        if i % 7 == 0:
            recs.append(D.hour(i // 7))
        if i % 25 == 0:
            recs.append(D.day(i // 25))
    _roundtrip(recs)


def test_escapes_round_trip():
    base = D.minute(0)
    recs = [base]
    gap = list(base)
    gap[2] += 3600 * 24 * 400  # a long gap
    recs.append(gap)
    tq = list(gap)
    tq[2] += 60
    tq[3] = 0
    tq[4] = 12345  # time quality and version change
    recs.append(tq)
    flag = list(tq)
    flag[2] += 60
    flag[5:8] = [4, 61, 3]
    recs.append(flag)
    wild = list(flag)
    wild[2] += 60
    wild[8:] = [(1 << 40) - 1, -(1 << 40) + 1, 7, -5, 0, 1 << 39, -1, 2]
    recs.append(wild)
    back = list(wild)
    back[2] -= 10 ** 9  # time going backwards
    recs.append(back)
    _roundtrip(recs)
    _roundtrip(recs[::-1])


def test_bad_records_refused_without_changing_the_state():
    w = pack.Packer()
    r = pack.Packer()
    w.pack(D.minute(0), OUT)
    r.unpack(OUT, 0, 1)
    for bad in (D.minute(1)[:-1], D.minute(1) + [0], [1, 0, "t"] + D.minute(1)[3:],
                D.minute(1)[:15] + [1 << 40]):
        try:
            w.pack(bad, OUT)
        except (ValueError, TypeError):
            pass
        else:
            raise AssertionError("packed %r" % (bad,))
    w.pack(D.minute(1), OUT)
    want = D.minute(1)
    want[1] = 2
    assert r.unpack(OUT, 0, 2) == want


def test_every_single_bit_flip_is_detected():
    w = pack.Packer()
    entries = []
    for rec in (D.minute(0), D.minute(1), D.hour(0), D.hour(1)):
        n = w.pack(rec, OUT)
        entries.append(bytes(OUT[:n]))
    for k, entry in enumerate(entries):
        for bit in range(len(entry) * 8):
            r = pack.Packer()
            for prev in entries[:k]:
                r.unpack(prev, 0, 1)
            bad = bytearray(entry)
            bad[bit >> 3] ^= 0x80 >> (bit & 7)
            try:
                r.unpack(bad, 0, 1)
            except ValueError:
                continue
            raise AssertionError("flip of bit %d of entry %d not detected" % (bit, k))


def test_erased_byte_is_free_and_truncation_is_refused():
    w = pack.Packer()
    n = w.pack(D.minute(0), OUT)
    assert pack.entry_size(b"\xff\xff", 0) == 0
    try:
        pack.Packer().unpack(OUT[:n - 1], 0, 1)
    except ValueError:
        return
    raise AssertionError("a truncated entry decoded")
