"""Storage packing: one record <-> one log entry of docs/storage.md, ``header [length] body crc8``.

The header byte is one of the 70 bytes with four bits set, so a half-programmed or flipped one
never reads as another; the ring log programs it last, to commit the entry. A period record after
the first of its kind in a sector is a delta (``cemt.packdelta``); the first is absolute (zigzag
varints); an event is its canonical CBOR with seq 0. Seq is implied by position.
"""
from micropython import const

from cemt import packdelta
from cemt.schema import HEADER

SHORT = const(56)       # codes 0..55: a minute delta whose body is code + 1 bytes
LONG_DELTA = const(64)  # [len][kind][bitstream]
ABSOLUTE = const(65)    # [len][zigzag varints: kind, t, tq, ver, fields]
EVENT = const(66)       # [len][CBOR of the record with seq 0]
MAX_ENTRY = const(253)  # fits the ring log's 256-byte read window

CODE = bytes.fromhex("0f171b1d1e272b2d2e333536393a3c474b4d4e535556595a5c636566696a6c7172747887"
                     "8b8d8e939596999a9ca3a5a6a9aaacb1b2b4b8c3c5c6c9caccd1d2d4d8e1e2e4e8f0")
INDEX = bytearray(b"\xff" * 256)
for _i, _c in enumerate(CODE):
    INDEX[_c] = _i
_CRC = bytearray(256)
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c << 1) ^ (0x131 if _c & 0x80 else 0)
    _CRC[_i] = _c
_LIMIT = 1 << 40  # values within +-2**40 keep every delta inside its buffer


def crc8(buf, start, end):
    """CRC-8, polynomial 0x31, initial 0xFF."""
    c = 0xFF
    for i in range(start, end):
        c = _CRC[c ^ buf[i]]
    return c


def entry_size(buf, pos):
    """Bytes of the entry at ``pos`` (reads two bytes): 0 if erased, -1 if not a header."""
    i = INDEX[buf[pos]]
    if i < SHORT:
        return i + 3
    if LONG_DELTA <= i <= EVENT:
        return buf[pos + 1] + 3
    return 0 if buf[pos] == 0xFF else -1


def _frame(out, code, end):
    out[0] = CODE[code]
    out[1] = end - 2
    out[end] = crc8(out, 0, end)
    return end + 1


class Packer:
    """Coding state of one sector, for writing entries or reading them back."""

    def __init__(self):
        self._st = [None, None, None, None]  # per period kind, made when first needed
        self._coder = packdelta.Coder()
        self._buf = None
        self._pos = 0

    def reset(self):
        """A new sector: the next record of each kind is stored absolute."""
        for s in self._st:
            if s:
                s.have = False

    def pack(self, rec, out):
        """Write the entry of ``rec`` into ``out``; return its length. ``out[0]`` is the header.

        Raises ValueError (state unchanged) for a record that cannot be stored.
        """
        kind = rec[0] if len(rec) > HEADER else 0
        if kind not in (1, 2, 3):
            return self._event(rec, out)
        st = self._state(kind)
        if len(rec) != len(st.v):
            raise ValueError("record of kind %d needs %d values" % (kind, len(st.v)))
        for i in range(2, len(rec)):
            if type(rec[i]) is not int or not -_LIMIT < rec[i] < _LIMIT:
                raise ValueError("value %d is not an integer within 2**40" % i)
        if st.have:
            end = self._coder.encode(st, rec, out, 1 if kind == 1 else 3)
            if kind != 1:
                out[2] = kind
                return _frame(out, LONG_DELTA, end)
            if end - 1 <= SHORT:
                out[0] = CODE[end - 2]
                out[end] = crc8(out, 0, end)
                return end + 1
        self._buf = out  # the first of its kind in the sector, or a minute too wild for a short
        self._pos = 2
        self._varint(kind)
        for i in range(2, len(rec)):
            self._varint(packdelta.zz(rec[i]))
        st.absolute(rec)
        return _frame(out, ABSOLUTE, self._pos)

    def _varint(self, z):
        while z > 0x7F:
            self._buf[self._pos] = (z & 0x7F) | 0x80
            z >>= 7
            self._pos += 1
        self._buf[self._pos] = z
        self._pos += 1

    def _event(self, rec, out):
        from cemt import records  # only a log that holds events needs CBOR

        if len(rec) > 1 and rec[1]:
            rec = list(rec)
            rec[1] = 0
        if records.size(rec) > MAX_ENTRY - 3:
            raise ValueError("event too large to store")
        return _frame(out, EVENT, records.encode_into(out, 2, rec))

    def unpack(self, buf, pos, seq):
        """The record of the whole entry at ``buf[pos:]``, numbered ``seq``.

        Raises ValueError if the entry is damaged. A period record comes in a list that is
        reused for the next record of its kind.
        """
        size = entry_size(buf, pos)
        end = pos + size - 1
        if size <= 0 or end >= len(buf) or crc8(buf, pos, end) != buf[end]:
            raise ValueError("bad entry")
        code = INDEX[buf[pos]]
        if code == EVENT:
            from cemt import records

            rec, used = records.decode(memoryview(buf)[pos + 2:end])
            if used != end - pos - 2:
                raise ValueError("entry length disagrees with its record")
            rec[1] = seq
            return rec
        if code == ABSOLUTE:
            self._buf = buf
            self._pos = pos + 2
            st = self._state(self._unvarint(end))
            for i in range(2, len(st.out)):
                st.out[i] = packdelta.unzz(self._unvarint(end))
            if self._pos != end:
                raise ValueError("entry length disagrees with its record")
            st.absolute(st.out)
        else:
            st = self._state(1 if code < SHORT else buf[pos + 2])
            if not st.have:
                raise ValueError("delta entry without a base record")
            self._coder.decode(st, buf, pos + 1 if code < SHORT else pos + 3, end)
        st.out[1] = seq
        return st.out

    def _state(self, kind):
        if kind not in (1, 2, 3):
            raise ValueError("unknown kind in an entry")
        if not self._st[kind]:
            self._st[kind] = packdelta.State(kind)
        return self._st[kind]

    def _unvarint(self, end):
        z = shift = 0
        while True:
            if self._pos >= end:
                raise ValueError("entry body ends inside a value")
            b = self._buf[self._pos]
            self._pos += 1
            z |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return z
