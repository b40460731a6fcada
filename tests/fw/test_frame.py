"""cemt.frame against the shared vectors, plus chunking, limits, break byte and allocation."""
import gc
import micropython
from binascii import crc32, hexlify

from cemt import frame
from frame_vectors import Collector, counters, entries, unhex

REASONS = ("frames", "foreign", "garbage", "overruns", "malformed", "short", "crc_errors")


def decode(stream, node, step=0):
    """Decode a stream whole (step 0), one int at a time (step 1), or in chunks of ``step``."""
    got = Collector()
    dec = frame.Decoder(got, node)
    if step == 1:
        for b in stream:
            assert dec.feed(b) is None
    elif step:
        mv = memoryview(stream)
        for i in range(0, len(stream), step):
            assert dec.feed(mv[i:i + step]) is None
    else:
        assert dec.feed(stream) is None
    return got.frames, counters(dec)


def test_crc_check_value():
    assert crc32(b"123456789") == 0xCBF43926


def test_vectors_encode():
    n = 0
    for v in entries("valid"):
        payload = unhex(v["payload"])
        want = v["encoded"]
        assert hexlify(frame.encode(v["addr"], payload)).decode() == want, v["name"]
        buf = bytearray(frame.encoded_size(len(payload)))
        k = frame.encode_into(buf, v["addr"], payload)
        assert hexlify(buf[:k]).decode() == want, v["name"]
        n += 1
    assert n >= 20


def test_vectors_decode_valid_any_chunking():
    for v in entries("valid"):
        one = [[v["addr"], unhex(v["payload"])]]
        stream = unhex(v["encoded"])
        v = {"name": v["name"]}
        for step in (0, 1, 7, 255):
            frames, c = decode(stream, None, step)
            assert frames == one, (v["name"], step)
            assert c["frames"] == 1 and sum(c.values()) == 1, (v["name"], c)


def test_vectors_decode_only():
    n = 0
    for v in entries("decode_only"):
        frames, c = decode(unhex(v["encoded"]), None)
        assert frames == [[v["addr"], unhex(v["payload"])]], v["name"]
        n += 1
    assert n == 3


def test_vectors_invalid_counted_by_reason():
    n = 0
    for v in entries("invalid"):
        for step in (0, 1):
            frames, c = decode(unhex(v["stream"]), v["node"], step)
            assert frames == [], v["name"]
            assert c[v["reason"]] == 1 and sum(c.values()) == 1, (v["name"], c)
        n += 1
    assert n >= 15


def test_vectors_streams():
    n = 0
    for v in entries("streams"):
        want = [[a, unhex(p)] for a, p in v["frames"]]
        for step in (0, 1, 3):
            frames, c = decode(unhex(v["stream"]), v["node"], step)
            assert frames == want, (v["name"], step)
            assert c == v["counters"], (v["name"], step, c)
        n += 1
    assert n == 3


def test_encode_rejects_bad_arguments():
    for addr, payload in ((248, b""), (254, b""), (-1, b""), (256, b""), (0, bytes(1025))):
        try:
            frame.encode(addr, payload)
        except ValueError:
            continue
        raise AssertionError((addr, len(payload)))
    try:
        frame.encode_into(bytearray(10), 0, b"too long for ten")
    except ValueError:
        pass
    else:
        raise AssertionError("small buffer accepted")


def test_decoder_rejects_bad_node_and_break():
    for node, brk in ((248, -1), (-1, -1), (5, 3), (None, 3)):
        try:
            frame.Decoder(Collector(), node, brk)
        except ValueError:
            continue
        raise AssertionError((node, brk))


def test_bus_node_takes_own_address_and_broadcast_only():
    got = Collector()
    dec = frame.Decoder(got, 9)
    for addr in (9, 255, 8, 10, 0, 247):
        dec.feed(frame.encode(addr, bytes([addr])))
    assert got.frames == [[9, b"\x09"], [255, b"\xff"]]
    assert dec.frames == 2 and dec.foreign == 4


def test_break_byte_outside_frames_stops_feed():
    got = Collector()
    dec = frame.Decoder(got, 0, 0x03)
    # mpremote's break-in: "\r\x03" then "\r\x01" for the raw REPL, which must be left unread.
    stream = frame.encode(0, b"a") + b"\r\x03\r\x01"
    i = dec.feed(stream)
    assert stream[i:] == b"\r\x01" and dec.breaks == 1 and got.frames == [[0, b"a"]]
    # A bare Ctrl-C right after a delimiter is a break too, fed as an int.
    dec2 = frame.Decoder(got, 0, 0x03)
    assert dec2.feed(0) is None and dec2.feed(3) == 1 and dec2.breaks == 1


def test_break_byte_inside_a_frame_is_data():
    got = Collector()
    dec = frame.Decoder(got, 0, 0x03)
    payload = b"\x03\x03\x00\x03"
    wire = frame.encode(0, payload)
    assert b"\x03" in wire[2:-1]
    assert dec.feed(wire) is None
    assert got.frames == [[0, payload]] and dec.breaks == 0


def test_resync_after_garbage_and_reset():
    got = Collector()
    dec = frame.Decoder(got, 0)
    wire = frame.encode(0, b"hello")
    dec.feed(wire[:6])
    dec.reset()  # e.g. an inter-byte timeout: the partial frame is dropped and counted
    assert dec.malformed == 1
    dec.feed(b"noise without delimiter" + wire)
    assert got.frames == [[0, b"hello"]] and dec.garbage == 1


def test_no_allocation_outside_frames():
    p2p = frame.Decoder(Collector(), 0)
    master = frame.Decoder(Collector(), None)
    noise = bytearray(3000)
    for i in range(len(noise)):
        noise[i] = (i * 31 + 7) % 255 + 1
    for i in range(0, len(noise), 997):
        noise[i] = 0
    cut = frame.encode(0, bytes(range(1, 250)))[:200] + b"\x00"  # a long run that breaks off
    long = b"\x00" + b"\x01" * 1500 + b"\x00"
    gc.collect()
    micropython.heap_lock()
    try:
        p2p.feed(noise)
        p2p.feed(0)
        master.feed(long)
        master.feed(cut)
        for b in cut:
            master.feed(b)
    finally:
        micropython.heap_unlock()
    assert p2p.garbage == 4, p2p.counters()
    assert master.overruns == 1 and master.malformed == 2, master.counters()


def test_frame_allocation_does_not_grow_with_length():
    sink = []
    dec = frame.Decoder(lambda a, p: sink.append(len(p)), None)
    small = frame.encode(1, b"x")
    big = frame.encode(1, bytes(range(256)) * 4)
    used = []
    for wire in (small, big):
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        for _ in range(8):
            dec.feed(wire)
        used.append(gc.mem_alloc() - before)
        gc.enable()
    assert sink[-1] == 1024 and dec.frames == 16
    # Per frame: two memoryview slices and a possible list growth, never per byte.
    assert used[1] <= used[0] + 64 and used[1] < 8 * 200, used


def test_encode_into_reuses_one_buffer():
    buf = bytearray(frame.encoded_size(frame.MAX_PAYLOAD))
    got = Collector()
    dec = frame.Decoder(got, None)
    for n in (0, 1, 253, 254, 1024):
        payload = bytes((i * 5) & 0xFF for i in range(n))
        k = frame.encode_into(buf, 3, payload)
        assert k <= frame.encoded_size(n)
        dec.feed(memoryview(buf)[:k])
        assert got.frames[-1] == [3, payload]
