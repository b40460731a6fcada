"""Frames of the cemt links (USB command link, RS485 bus, TCP uplink), host side.

An independent implementation of docs/framing.md: a frame on the wire is
``00 COBS(addr | payload | crc32le) 00``. ``encode`` builds one; ``Decoder`` takes bytes in any
chunking and returns the good frames for its node while counting every rejected run of bytes by
reason, exactly as the firmware decoder counts them. ``FrameReader`` adapts it to asyncio streams.
"""
from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

MAX_PAYLOAD = 1024
BROADCAST = 255
MAX_NODE = 247
CRC_SIZE = 4
MAX_RAW = 1 + MAX_PAYLOAD + CRC_SIZE
#: The longest COBS body (between delimiters) that a valid frame can have.
MAX_RUN = MAX_RAW + 1 + (MAX_RAW - 1) // 254


class FrameError(ValueError):
    """A frame cannot be built from these arguments."""


@dataclass(frozen=True)
class Frame:
    addr: int
    payload: bytes


@dataclass
class Counters:
    """Runs of bytes between delimiters, by outcome; ``breaks`` is counted apart (firmware only)."""

    frames: int = 0      # good frames for this node, delivered
    foreign: int = 0     # good frames for another bus address
    garbage: int = 0     # runs that cannot start a frame on a point-to-point link
    overruns: int = 0    # runs longer than a maximum frame, or payload over MAX_PAYLOAD
    malformed: int = 0   # COBS structure broken: the delimiter came inside a block
    short: int = 0       # fewer than address + CRC bytes
    crc_errors: int = 0  # CRC-32 mismatch

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rejected(self) -> int:
        return self.garbage + self.overruns + self.malformed + self.short + self.crc_errors


def encoded_size(payload_len: int) -> int:
    """The largest wire size of a frame with this payload length (both delimiters included)."""
    raw = payload_len + 1 + CRC_SIZE
    return raw + 3 + (raw - 1) // 254


def _cobs(raw: bytes) -> bytes:
    """COBS with the shortest form: a final block of exactly 254 bytes gets no trailing code."""
    out = bytearray()
    pieces = raw.split(b"\x00")
    last = len(pieces) - 1
    for k, piece in enumerate(pieces):
        while len(piece) >= 254:
            out.append(0xFF)
            out += piece[:254]
            piece = piece[254:]
            if not piece and k == last:
                return bytes(out)
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def _uncobs(run: bytes | bytearray) -> bytes | None:
    """Decode one COBS body; None when a block runs past the end of the run."""
    out = bytearray()
    i, n = 0, len(run)
    while i < n:
        code = run[i]
        j = i + code
        if j > n:
            return None
        out += run[i + 1:j]
        i = j
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode(addr: int, payload: bytes) -> bytes:
    """One frame as it goes on the wire, delimiters included."""
    if not (0 <= addr <= MAX_NODE or addr == BROADCAST):
        raise FrameError(f"frame address {addr} is not 0-247 or 255")
    if len(payload) > MAX_PAYLOAD:
        raise FrameError(f"frame payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    body = bytes([addr]) + bytes(payload)
    raw = body + zlib.crc32(body).to_bytes(CRC_SIZE, "little")
    return b"\x00" + _cobs(raw) + b"\x00"


class Decoder:
    """Incremental decoder for one node.

    ``node`` 0: point-to-point link (USB, TCP): only address 0, and a run whose first byte
    cannot start an address-0 frame (anything but 0x01) is garbage. 1-247: a bus node, which
    takes its own address and broadcast. None: a bus master, which takes every address.
    """

    def __init__(self, node: int | None = 0) -> None:
        if node is not None and not 0 <= node <= MAX_NODE:
            raise FrameError(f"node {node} is not 0-247 or None")
        self.node = node
        self.counters = Counters()
        self._run = bytearray()
        self._discard = False

    def reset(self) -> None:
        """Abandon a run in progress (e.g. after a read timeout); a partial frame counts as malformed."""
        if self._run and not self._discard:
            self.counters.malformed += 1
        self._run.clear()
        self._discard = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take the next bytes of the stream; return the good frames they complete."""
        data = bytes(data)
        frames: list[Frame] = []
        pos, end = 0, len(data)
        while pos < end:
            stop = data.find(b"\x00", pos)
            self._take(data[pos:end if stop < 0 else stop])
            if stop < 0:
                break
            if self._run and not self._discard:
                frame = self._finish(bytes(self._run))
                if frame is not None:
                    frames.append(frame)
            self._run.clear()
            self._discard = False
            pos = stop + 1
        return frames

    def _take(self, chunk: bytes) -> None:
        if self._discard or not chunk:
            return
        if not self._run and self.node == 0 and chunk[0] != 0x01:
            self.counters.garbage += 1
            self._discard = True
        elif len(self._run) + len(chunk) > MAX_RUN:
            self.counters.overruns += 1
            self._discard = True
            self._run.clear()
        else:
            self._run += chunk

    def _finish(self, run: bytes) -> Frame | None:
        c = self.counters
        raw = _uncobs(run)
        if raw is None:
            c.malformed += 1
        elif len(raw) < 1 + CRC_SIZE:
            c.short += 1
        elif len(raw) > MAX_RAW:
            c.overruns += 1
        elif zlib.crc32(raw[:-CRC_SIZE]) != int.from_bytes(raw[-CRC_SIZE:], "little"):
            c.crc_errors += 1
        else:
            addr = raw[0]
            if self.node is None or addr == self.node or (self.node and addr == BROADCAST):
                c.frames += 1
                return Frame(addr, raw[1:-CRC_SIZE])
            c.foreign += 1
        return None


def split_frames(data: bytes, node: int | None = 0) -> tuple[list[Frame], Counters]:
    """Decode a complete byte stream (a trailing partial run is ignored)."""
    dec = Decoder(node)
    frames = dec.feed(data)
    return frames, dec.counters


class FrameReader:
    """Good frames from an asyncio stream, one at a time or with ``async for``, until EOF."""

    def __init__(self, reader: asyncio.StreamReader, node: int | None = 0, chunk: int = 65536) -> None:
        self.decoder = Decoder(node)
        self._reader = reader
        self._chunk = chunk
        self._pending: deque[Frame] = deque()

    @property
    def counters(self) -> Counters:
        return self.decoder.counters

    async def read(self) -> Frame | None:
        """The next good frame, or None at EOF (a partial frame at EOF is dropped)."""
        while not self._pending:
            data = await self._reader.read(self._chunk)
            if not data:
                return None
            self._pending.extend(self.decoder.feed(data))
        return self._pending.popleft()

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self

    async def __anext__(self) -> Frame:
        frame = await self.read()
        if frame is None:
            raise StopAsyncIteration
        return frame
