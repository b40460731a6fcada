"""Reading the entries of one ring-log data sector in order, through a small window.

A sealed sector's CRC footer is checked first (when asked); entries stop at the first erased
header byte, at the footer's end, or at damage, which ``err`` then names.
"""
from cemt import pack
from cemt.ringarea import HDR, WIN


class Walk:
    """Reads the entries of one data sector in order, through a window."""

    def __init__(self, log, packer, win=None):
        self.log = log
        self.p = packer
        self.win = win or bytearray(WIN)

    def start(self, blk, first, verify):
        self.blk = blk
        self.seq = first
        self.pos = self.end = HDR
        self.err = None
        self.p.reset()
        self._ws = self._wn = 0
        self.stop, self.crc = self.log._footer(blk)
        if verify and self.crc is not None and self.log._scan(blk, 0, self.stop) != self.crc:
            self.err = "sector CRC mismatch"

    def next(self):
        """The next record, or None at the end or at damage (then ``err`` says what)."""
        pos = self.end = self.pos
        if self.err or pos + 3 > self.stop:
            return None
        try:
            size = pack.entry_size(self._at(pos, 2), pos - self._ws)
            if size == 0:
                return None
            if size < 0 or pos + size > self.stop:
                raise ValueError("bad entry")
            rec = self.p.unpack(self._at(pos, size), pos - self._ws, self.seq)
        except ValueError as e:
            self.err = "%s at offset %d" % (e.args[0], pos)
            return None
        self.pos += size
        self.seq += 1
        return rec

    def _at(self, pos, n):
        if pos + n > self._ws + self._wn:
            self._ws = pos
            self._wn = min(WIN, self.stop - pos)
            self.log._rd(self.blk, memoryview(self.win)[:self._wn], pos)
        return self.win


