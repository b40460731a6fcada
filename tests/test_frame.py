"""cemtool.frame against the shared vectors (docs/vectors/frames.json), and its asyncio reader."""
from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path

import pytest

from cemtool import frame as F

ROOT = Path(__file__).resolve().parent.parent
VECTORS_PATH = ROOT / "docs" / "vectors" / "frames.json"
VECTORS = json.loads(VECTORS_PATH.read_text())


def ids(section):
    return [v["name"] for v in VECTORS[section]]


def test_vector_file_keeps_one_entry_per_line():
    # The firmware test reads the file a line at a time to fit a 64K heap.
    lines = VECTORS_PATH.read_text().splitlines()
    for section in ("valid", "decode_only", "invalid", "streams"):
        start = lines.index(f'"{section}": [')
        entries = [json.loads(l.strip().rstrip(",")) for l in lines[start + 1:start + 1 + len(VECTORS[section])]]
        assert entries == VECTORS[section]
        assert lines[start + 1 + len(VECTORS[section])].startswith("]")


def test_crc_parameters_match_the_doc():
    crc = VECTORS["crc"]
    assert zlib.crc32(b"123456789") == int(crc["check"], 16) == 0xCBF43926
    body = b"any data"
    assert zlib.crc32(body + zlib.crc32(body).to_bytes(4, "little")) == int(crc["residue_le"], 16)
    assert VECTORS["max_payload"] == F.MAX_PAYLOAD and VECTORS["max_run"] == F.MAX_RUN


@pytest.mark.parametrize("v", VECTORS["valid"], ids=ids("valid"))
def test_valid_vector(v):
    payload = bytes.fromhex(v["payload"])
    wire = F.encode(v["addr"], payload)
    assert wire.hex() == v["encoded"]
    assert len(wire) <= F.encoded_size(len(payload))
    for step in (len(wire), 1, 5):
        dec = F.Decoder(None)
        got = [f for i in range(0, len(wire), step) for f in dec.feed(wire[i:i + step])]
        assert got == [F.Frame(v["addr"], payload)]
        assert dec.counters.as_dict() == {**F.Counters().as_dict(), "frames": 1}


@pytest.mark.parametrize("v", VECTORS["decode_only"], ids=ids("decode_only"))
def test_decode_only_vector(v):
    frames, counters = F.split_frames(bytes.fromhex(v["encoded"]), None)
    assert frames == [F.Frame(v["addr"], bytes.fromhex(v["payload"]))]
    assert counters.rejected() == 0


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=ids("invalid"))
def test_invalid_vector(v):
    stream = bytes.fromhex(v["stream"])
    for step in (len(stream), 1):
        dec = F.Decoder(v["node"])
        got = [f for i in range(0, len(stream), step) for f in dec.feed(stream[i:i + step])]
        assert got == []
        counts = dec.counters.as_dict()
        assert counts[v["reason"]] == 1 and sum(counts.values()) == 1, counts


@pytest.mark.parametrize("v", VECTORS["streams"], ids=ids("streams"))
def test_stream_vector(v):
    frames, counters = F.split_frames(bytes.fromhex(v["stream"]), v["node"])
    assert [[f.addr, f.payload.hex()] for f in frames] == v["frames"]
    assert counters.as_dict() == v["counters"]


@pytest.mark.parametrize("addr,size", [(248, 0), (254, 0), (-1, 0), (256, 0), (0, 1025)])
def test_encode_rejects(addr, size):
    with pytest.raises(F.FrameError):
        F.encode(addr, bytes(size))


@pytest.mark.parametrize("node", [-1, 248, 255])
def test_decoder_rejects_bad_node(node):
    with pytest.raises(F.FrameError):
        F.Decoder(node)


def test_reset_drops_partial_frame_and_counts_it():
    dec = F.Decoder(0)
    wire = F.encode(0, b"hello")
    assert dec.feed(wire[:5]) == []
    dec.reset()
    assert dec.counters.malformed == 1
    # The rest of the first copy is now a run of its own that cannot start a frame: garbage.
    assert wire[5] != 0x01
    assert dec.feed(wire[5:] + wire) == [F.Frame(0, b"hello")]
    assert dec.counters.as_dict() == {**F.Counters().as_dict(), "frames": 1, "malformed": 1, "garbage": 1}


def test_frame_reader_on_an_asyncio_stream():
    async def run():
        reader = asyncio.StreamReader()
        wires = [F.encode(0, bytes([i]) * i) for i in range(1, 6)]
        stream = b"banner" + b"".join(wires)
        for i in range(0, len(stream), 3):
            reader.feed_data(stream[i:i + 3])
        reader.feed_data(b"\x00\x01\x02")  # partial frame left at EOF
        reader.feed_eof()
        frames = F.FrameReader(reader, chunk=4)
        first = await frames.read()
        rest = [f async for f in frames]
        return first, rest, frames.counters

    first, rest, counters = asyncio.run(run())
    assert first == F.Frame(0, b"\x01")
    assert [f.payload for f in rest] == [bytes([i]) * i for i in range(2, 6)]
    assert counters.garbage == 1 and counters.frames == 5


def test_frame_reader_over_tcp_loopback():
    payloads = [b"hello", bytes(1024), b""]

    async def run():
        got = []
        done = asyncio.Event()

        async def serve(reader, writer):
            async for f in F.FrameReader(reader):
                got.append(f.payload)
                writer.write(F.encode(0, f.payload[::-1]))
                await writer.drain()
            writer.close()
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = F.FrameReader(reader)
        echoed = []
        for p in payloads:
            writer.write(F.encode(0, p))
            echoed.append((await replies.read()).payload)
        writer.close()
        await done.wait()
        server.close()
        await server.wait_closed()
        return got, echoed

    got, echoed = asyncio.run(run())
    assert got == payloads and echoed == [p[::-1] for p in payloads]
