"""Fuzzing the frame decoders: hypothesis on cemtool.frame, a seeded random-byte run on cemt.frame.

Both decoders must survive any byte stream, count every run between delimiters exactly once,
find every valid frame embedded in garbage, and agree with each other on all of it.
"""
from __future__ import annotations

import json
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fwtest
from cemtool import frame as F

REASONS = ("frames", "foreign", "garbage", "overruns", "malformed", "short", "crc_errors")
addrs = st.one_of(st.integers(0, F.MAX_NODE), st.just(F.BROADCAST))
payloads = st.binary(max_size=F.MAX_PAYLOAD)
nodes = st.sampled_from([0, 1, 7, F.MAX_NODE, None])


def runs(stream: bytes) -> int:
    """Non-empty runs between delimiters, counted without any decoder."""
    return sum(1 for r in stream.split(b"\x00") if r)


def wanted(node: int | None, addr: int) -> bool:
    return node is None or addr == node or (node != 0 and addr == F.BROADCAST)


@settings(max_examples=300, deadline=None)
@given(addrs, payloads)
def test_round_trip(addr, payload):
    wire = F.encode(addr, payload)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert len(wire) <= F.encoded_size(len(payload))
    frames, counters = F.split_frames(wire, None)
    assert frames == [F.Frame(addr, payload)] and counters.rejected() == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), nodes)
def test_random_streams_never_raise_and_counters_add_up(stream, node):
    stream += b"\x00"
    dec = F.Decoder(node)
    frames = dec.feed(stream)
    counts = dec.counters.as_dict()
    assert sum(counts.values()) == runs(stream)
    assert counts["frames"] == len(frames)
    assert all(wanted(node, f.addr) and len(f.payload) <= F.MAX_PAYLOAD for f in frames)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 300), min_size=1, max_size=40), nodes)
def test_chunking_does_not_matter(stream, cuts, node):
    whole = F.Decoder(node)
    want = whole.feed(stream)
    dec = F.Decoder(node)
    got, pos, k = [], 0, 0
    while pos < len(stream):
        step = cuts[k % len(cuts)]
        got += dec.feed(stream[pos:pos + step])
        pos, k = pos + step, k + 1
    assert got == want and dec.counters == whole.counters


garbage = st.one_of(
    st.binary(max_size=400),
    st.binary(min_size=1, max_size=40).map(lambda b: b * 40),  # repeats, long zero-free runs
    st.text(max_size=80).map(str.encode),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(garbage, addrs, st.binary(max_size=300)), max_size=12), garbage, nodes)
def test_frames_embedded_in_garbage_are_found(parts, tail, node):
    if node == 0:
        parts = [(g, 0, p) for g, _, p in parts]
    stream = b"".join(g + F.encode(a, p) for g, a, p in parts) + tail + b"\x00"
    dec = F.Decoder(node)
    found = dec.feed(stream)
    embedded = [F.Frame(a, p) for _, a, p in parts if wanted(node, a)]
    it = iter(found)  # every embedded frame, in order (garbage may hold frames of its own)
    assert all(any(f == e for f in it) for e in embedded)
    assert sum(dec.counters.as_dict().values()) == runs(stream)


def build_stream(rng: random.Random, node: int | None, size: int) -> tuple[bytes, list[F.Frame]]:
    """Random bytes of several kinds with valid frames embedded; return the frames meant for node."""
    out, embedded = bytearray(), []
    while len(out) < size:
        kind = rng.randrange(7)
        if kind == 0:
            out += rng.randbytes(rng.randrange(0, 4000))
        elif kind == 1:  # zero-free: long runs and overruns
            out += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 3000)))
        elif kind == 2:  # sparse, mostly zeros
            out += bytes(rng.choice((0, 0, 0, 1, 2, 3, 0xFF)) for _ in range(rng.randrange(1, 200)))
        elif kind == 3:  # a frame cut short
            wire = F.encode(rng.choice((0, 5, 7, 255)), rng.randbytes(rng.randrange(0, 1025)))
            out += wire[:rng.randrange(1, len(wire) - 1)]  # at least one body byte lost
        elif kind == 4:  # a frame with one byte changed
            wire = bytearray(F.encode(rng.choice((0, 5, 7, 255)), rng.randbytes(rng.randrange(0, 1025))))
            i = rng.randrange(1, len(wire) - 1)
            wire[i] = (wire[i] - 1 + rng.randrange(1, 255)) % 255 + 1  # another non-zero value
            out += wire
        else:  # a valid frame
            addr = 0 if node == 0 else rng.choice((0, 5, 7, 200, 255))
            payload = rng.randbytes(rng.choice((0, 1, rng.randrange(0, 1025), 1024)))
            out += F.encode(addr, payload)
            if wanted(node, addr):
                embedded.append(F.Frame(addr, payload))
    return bytes(out) + b"\x00", embedded


@pytest.mark.parametrize("node,seed,chunk,mode", [(0, 1, 509, "src"), (None, 2, 4096, "mpy"), (7, 3, 61, "src")])
def test_firmware_decoder_random_byte_run(tmp_path, node, seed, chunk, mode):
    stream, embedded = build_stream(random.Random(seed), node, 3_000_000)
    path = tmp_path / "stream.bin"
    path.write_bytes(stream)
    proc = fwtest.run_micropython(
        [str(fwtest.ROOT / "tools" / "frame_driver.py"), "decode",
         "any" if node is None else str(node), str(chunk), str(path)], mode=mode, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("C ")
    fw_counts = json.loads(lines[-1][2:])
    fw_frames = [tuple(map(int, l.split()[1:])) for l in lines[:-1]]

    host = F.Decoder(node)
    host_frames = host.feed(stream)
    summary = [(f.addr, len(f.payload), zlib.crc32(f.payload)) for f in host_frames]
    # Every embedded frame is found by both, nothing else passes, and the counts agree exactly.
    assert host_frames == embedded
    assert fw_frames == summary
    assert fw_counts.pop("breaks") == 0
    assert fw_counts == host.counters.as_dict()
    assert sum(fw_counts.values()) == runs(stream)
    exercised = {0: ["garbage"], None: [], 7: ["foreign"]}[node] + ["overruns", "malformed", "short", "crc_errors"]
    assert all(fw_counts[reason] > 0 for reason in exercised), fw_counts


def test_firmware_encoder_matches_host_on_random_payloads(tmp_path):
    rng = random.Random(99)
    cases = [(rng.choice((0, 1, 247, 255)), rng.randbytes(rng.choice((0, 1, 253, 254, 255, 508, 1024,
                                                                      rng.randrange(0, 1025)))))
             for _ in range(300)]
    cases += [(3, bytes(n)) for n in (1, 253, 254, 255, 1024)]
    cases += [(3, bytes(rng.randrange(1, 256) for _ in range(n))) for n in (248, 249, 250, 503, 1024)]
    path = tmp_path / "cases.txt"
    path.write_text("".join(f"{a} {p.hex()}\n" for a, p in cases))
    proc = fwtest.run_micropython([str(fwtest.ROOT / "tools" / "frame_driver.py"), "encode", str(path)],
                                  timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [F.encode(a, p).hex() for a, p in cases]
