"""Frames for the USB command link, the RS485 bus and the TCP uplink (docs/framing.md).

On the wire a frame is ``00 COBS(addr | payload | crc32le) 00``: COBS removes every 0x00 from the
body so 0x00 only ever delimits. ``Decoder`` is fed bytes as they arrive, decodes in place into
one preallocated buffer, delivers good frames to a callback and counts every rejected run of bytes
by reason; it resynchronises on the next 0x00.
"""
from binascii import crc32

from micropython import const

MAX_PAYLOAD = const(1024)
BROADCAST = const(255)
MAX_NODE = const(247)
_MAX_RAW = const(1029)  # address + MAX_PAYLOAD + CRC
_MAX_RUN = const(1034)  # the longest COBS body of a valid frame: _MAX_RAW + 1 + (_MAX_RAW - 1) // 254
# CRC-32 of any data followed by its own CRC (little-endian): checking a frame is one crc32 call
# whose good result is a small int, so a good frame allocates nothing for its check.
_RESIDUE = const(0x2144DF1C)

_IDLE = const(0)     # after a delimiter: the next byte starts a run
_BODY = const(1)     # inside a run that may be a frame
_DISCARD = const(2)  # inside a run already rejected (garbage, overrun): skip to the delimiter


def encoded_size(n):
    """Bytes ``encode_into`` needs (and at most writes) for a payload of ``n`` bytes."""
    raw = n + 5
    return raw + 3 + (raw - 1) // 254


def _check(addr, n):
    if not 0 <= addr <= MAX_NODE and addr != BROADCAST:
        raise ValueError("frame address must be 0-247 or 255")
    if n > MAX_PAYLOAD:
        raise ValueError("frame payload over 1024 bytes")


def encode_into(out, addr, payload):
    """Encode one frame into bytearray ``out`` (at least ``encoded_size`` bytes); return its length."""
    n = len(payload)
    _check(addr, n)
    end = encoded_size(n)
    if len(out) < end:
        raise ValueError("frame buffer too small")
    # Lay the raw frame out at the tail of the space, then COBS-encode it forwards: the write
    # position never overtakes the read position, so no second buffer is needed.
    r = end - n - 5
    out[r] = addr
    out[r + 1:r + 1 + n] = payload
    crc = crc32(memoryview(out)[r:r + 1 + n])
    for i in range(4):
        out[r + 1 + n + i] = (crc >> (8 * i)) & 0xFF
    out[0] = 0
    cp = 1  # where the current block's code byte goes
    w = 2
    code = 1
    while r < end:
        b = out[r]
        r += 1
        if b:
            out[w] = b
            w += 1
            code += 1
            # A full block ends without an implied zero; the final block is closed after the loop.
            if code == 0xFF and r < end:
                out[cp] = 0xFF
                cp = w
                w += 1
                code = 1
        else:
            out[cp] = code
            cp = w
            w += 1
            code = 1
    out[cp] = code
    out[w] = 0
    return w + 1


def encode(addr, payload):
    """Encode one frame and return it as bytes (allocates; use ``encode_into`` on hot paths)."""
    buf = bytearray(encoded_size(len(payload)))
    return bytes(memoryview(buf)[:encode_into(buf, addr, payload)])


class Decoder:
    """Incremental frame decoder.

    ``on_frame(addr, payload)`` gets each good frame for this node; ``payload`` is a memoryview
    into the decoder's buffer, valid only during the call. ``node`` 0 is a point-to-point link
    (only address 0 accepted, and a run that cannot start such a frame is garbage at once);
    1-247 is a bus node (its own address and broadcast); None accepts every address (bus master).
    ``brk`` (point-to-point only) is a byte that, arriving outside a frame, stops ``feed``: the
    console uses 0x03 so that Ctrl-C still reaches the REPL.
    """

    def __init__(self, on_frame, node=0, brk=-1):
        if node is not None and not 0 <= node <= MAX_NODE:
            raise ValueError("node must be 0-247 or None")
        if brk >= 0 and node != 0:
            raise ValueError("a break byte needs a point-to-point decoder")
        self._on_frame = on_frame
        self._node = node
        self._brk = brk
        self._buf = bytearray(_MAX_RUN - 1)  # a run of k bytes decodes to at most k - 1
        self._mv = memoryview(self._buf)
        self._one = bytearray(1)
        self._st = _IDLE
        self._n = 0
        self._left = 0
        self._code = 0
        self._run = 0
        self.frames = 0
        self.foreign = 0
        self.garbage = 0
        self.overruns = 0
        self.malformed = 0
        self.short = 0
        self.crc_errors = 0
        self.breaks = 0

    def counters(self):
        return {
            "frames": self.frames, "foreign": self.foreign, "garbage": self.garbage,
            "overruns": self.overruns, "malformed": self.malformed, "short": self.short,
            "crc_errors": self.crc_errors, "breaks": self.breaks,
        }

    def reset(self):
        """Abandon a run in progress (e.g. after an inter-byte timeout); a partial frame is malformed."""
        if self._st == _BODY:
            self.malformed += 1
        self._st = _IDLE

    def feed(self, data):
        """Consume an int byte or a buffer of bytes.

        Returns None when every byte was consumed, or the index just past a break byte (the
        rest of ``data`` belongs to whoever takes over the port).
        """
        if isinstance(data, int):
            self._one[0] = data
            data = self._one
        buf = self._buf
        strict = self._node == 0
        brk = self._brk
        st = self._st
        n = self._n
        left = self._left
        code = self._code
        run = self._run
        i = 0
        for b in data:
            i += 1
            if b == 0:
                if st == _BODY:
                    self._st = _IDLE
                    self._end(n, left)
                st = _IDLE
                continue
            if st == _IDLE:
                if strict and b != 1:
                    self.garbage += 1
                    st = _DISCARD
                else:
                    st = _BODY
                    n = run = left = 0
                    code = 0xFF  # so that the first code byte inserts no zero
            if st == _DISCARD:
                if b == brk:
                    self.breaks += 1
                    self._st = st
                    return i
                continue
            run += 1
            if run > _MAX_RUN:
                self.overruns += 1
                st = _DISCARD
            elif left:
                buf[n] = b
                n += 1
                left -= 1
            else:
                if code != 0xFF:
                    buf[n] = 0
                    n += 1
                code = b
                left = b - 1
        self._st = st
        self._n = n
        self._left = left
        self._code = code
        self._run = run
        return None

    def _end(self, n, left):
        if left:
            self.malformed += 1
        elif n < 5:
            self.short += 1
        elif n > _MAX_RAW:
            self.overruns += 1
        elif crc32(self._mv[:n]) != _RESIDUE:
            self.crc_errors += 1
        else:
            addr = self._buf[0]
            node = self._node
            if node is None or addr == node or (node and addr == BROADCAST):
                self.frames += 1
                self._on_frame(addr, self._mv[1:n - 4])
            else:
                self.foreign += 1
