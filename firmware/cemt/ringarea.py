"""The flash region of a ring log: block I/O, sector headers and footers, and the state slots.

Blocks 0 and 1 of the region take state slots in turn: (acked seq, dropped count, base seq), each
in the sector-header format with its own sequence, so the newest valid slot is the state and a
torn one is stepped over. ``cemt.ringlog`` builds the ring of data sectors (blocks 2..) on this.
docs/storage.md gives the bytes.
"""
import binascii
import struct
from micropython import const


DATA = const(1)
STATE = const(2)
HDR = const(32)   # sector header, and state slot
FOOT = const(8)   # used u16, crc32 u32, 0xFF, SEAL
SEAL = const(0x5A)
WIN = const(256)  # read window: holds any entry
M = const(0xFFFFFFFF)
# magic, version, type, log id, log2 block size, region blocks, block, sequence,
# data: first seq, -, - / state: acked, dropped, base; crc32 of the 28 bytes before
_HFMT = "<4sBBBBHHIIIII"
_FF = b"\xff" * WIN


def newer(a, b):
    """Serial-number order of 32-bit sequences: ``a`` comes after ``b``."""
    return 0 < ((a - b) & M) < 0x80000000


class Area:
    """``blocks`` blocks of ``dev`` from ``first_block``, for the log ``log_id``."""

    def __init__(self, dev, first_block, blocks, log_id):
        self._bs = bs = dev.ioctl(5, 0)
        self._log2 = 9
        while (1 << self._log2) < bs:
            self._log2 += 1
        if (1 << self._log2) != bs or blocks < 4 or not 0 <= first_block <= dev.ioctl(4, 0) - blocks:
            raise ValueError("bad log region")
        self._dev = dev
        self._b0 = first_block
        self._blocks = blocks
        self._id = log_id
        self._dend = bs - FOOT
        self._hdr = bytearray(HDR)
        self._buf = bytearray(WIN)
        self.erases = 0  # since boot
        self._boot_state()

    def _spare_state(self):
        """Erase the next state block ahead of need when the current one is nearly full."""
        if not self._sfree and self._spos > self._bs - 4 * HDR:
            self._blank(1 - self._sblk)
            self._sfree = True

    def _rd(self, blk, buf, off):
        self._dev.readblocks(self._b0 + blk, buf, off)

    def _wr(self, blk, buf, off):
        self._dev.writeblocks(self._b0 + blk, buf, off)

    def _scan(self, blk, start, end, blank=False):
        """Whether ``blk[start:end]`` is erased (``blank``), else its CRC-32."""
        crc = 0
        while start < end:
            mv = memoryview(self._buf)[:min(WIN, end - start)]
            self._rd(blk, mv, start)
            if blank and mv != memoryview(_FF)[:len(mv)]:
                return False
            crc = binascii.crc32(mv, crc)
            start += len(mv)
        return blank or crc

    def _blank(self, blk):
        if not self._scan(blk, 0, self._bs, True):
            self._dev.ioctl(6, self._b0 + blk)
            self.erases += 1

    def _header(self, blk, kind, off=0):
        """The fields of a valid header (or state slot) of ``kind`` at ``blk``/``off``, or None."""
        self._rd(blk, self._hdr, off)
        f = struct.unpack(_HFMT, self._hdr)
        if f[:7] != (b"CEML", 1, kind, self._id, self._log2, self._blocks, blk) or f[11] != (
                binascii.crc32(memoryview(self._hdr)[:HDR - 4])):
            return None
        return f

    def _put_header(self, blk, kind, sseq, a, b=M, c=M, off=0):
        h = self._hdr
        struct.pack_into(_HFMT[:-1], h, 0, b"CEML", 1, kind, self._id, self._log2,
                         self._blocks, blk, sseq, a, b, c)
        struct.pack_into("<I", h, HDR - 4, binascii.crc32(memoryview(h)[:HDR - 4]))
        self._wr(blk, h, off)

    def _footer(self, blk):
        """(end of entries, crc) from the footer of a sealed sector, else (data end, None)."""
        f = memoryview(self._buf)[:FOOT]
        self._rd(blk, f, self._dend)
        used, crc = struct.unpack_from("<HI", f)
        return (used, crc) if f[FOOT - 1] == SEAL and HDR <= used <= self._dend else (self._dend, None)

    def _seal(self, blk, used):
        """Write the footer of sector ``blk`` (CRC of its ``used`` bytes), then the seal byte."""
        f = self._buf
        struct.pack_into("<HI", f, 0, used, self._scan(blk, 0, used))
        self._wr(blk, memoryview(f)[:6], self._dend)
        self._wr(blk, bytes((SEAL,)), self._bs - 1)

    # -- state slots: every record below ``base`` is acked or counted in ``dropped`` ---------

    def _boot_state(self):
        self._sblk = 1  # no slot yet: as if block 1 were full, so block 0 comes next
        self._sseq = 0
        self._spos = self._bs
        self._sfree = False
        state = None
        for blk in (0, 1):
            for off in range(0, self._bs, HDR):
                f = self._header(blk, STATE, off)
                if f and (state is None or newer(f[7], self._sseq)):
                    self._sblk, self._sseq, self._spos, state = blk, f[7], off + HDR, f[8:11]
        while self._spos < self._bs:  # step over torn slots after the newest
            self._rd(self._sblk, self._hdr, self._spos)
            if self._hdr == _FF[:HDR]:
                break
            self._spos += HDR
        self.acked, self.dropped, self._base = state or (0, 0, 0)

    def _put_state(self, acked, dropped, base):
        if self._spos + HDR > self._bs:
            self._sblk = 1 - self._sblk
            if not self._sfree:
                self._blank(self._sblk)
            self._spos = 0
            self._sfree = False
        self._sseq = (self._sseq + 1) & M
        self._put_header(self._sblk, STATE, self._sseq, acked, dropped, base, self._spos)
        self._spos += HDR
        self.acked, self.dropped, self._base = acked, dropped, base
