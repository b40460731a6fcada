"""The ring of data sectors of a ring log (blocks 2.. of its ``cemt.ringarea`` region).

Finds the newest and oldest sectors at boot from their headers (wrap-safe sequences) and decodes
the newest; locates a seq by binary search over headers; opens the next sector, sealing the last
with its CRC footer and, if the ring is full, counting the oldest sector's unacked records as
dropped (durably, in a state slot) before erasing it.
"""
from cemt.ringarea import DATA, HDR, M, Area, newer
from cemt.ringwalk import Walk


class Sectors(Area):
    """Data-sector bookkeeping shared by the ring log's operations."""

    def _after(self, blk):
        return blk + 1 if 2 <= blk < self._blocks - 1 else 2

    def _first(self, blk):
        f = self._header(blk, DATA)
        return f[8] if f else None

    def _boot_data(self):
        self._head = self._old = self._spare = 0  # 0: none
        self._hseq = -1
        self._woff = HDR
        self._closed = True
        self._sealed = False
        first = 0
        for blk in range(2, self._blocks):
            f = self._header(blk, DATA)
            if f and (not self._head or newer(f[7], self._hseq)):
                self._head, self._hseq, first = blk, f[7], f[8]
        if not self._head:
            self.last_seq = max(self._base - 1, self.acked, 0)
            self.first_seq = self.last_seq + 1
            return
        self._boot_head(first)
        oldest = self._boot_oldest(first)
        if self._base < oldest:  # records gone uncounted, e.g. with a damaged oldest header
            lost = max(oldest - max(self._base, self.acked + 1), 0)
            if lost:
                self._put_state(self.acked, self.dropped + lost, oldest)
            self._base = oldest
        self.first_seq = self._base

    def _boot_oldest(self, first):
        """Find the oldest sector: the first after the head whose sequence fits its place."""
        self._old = blk = self._head
        for back in range(self._blocks - 3, 0, -1):
            blk = self._after(blk)
            f = self._header(blk, DATA)
            if f and (self._hseq - f[7]) & M == back:
                self._old = blk
                return f[8]
        return first

    def _boot_head(self, first):
        """Decode the head sector: it restores the packer state and finds where appends go."""
        w = Walk(self, self._packer, self._buf)
        w.start(self._head, first, False)
        while w.next():
            pass
        self._woff = w.end
        self._sealed = w.crc is not None
        self._closed = self._sealed or w.err or not self._scan(self._head, w.end, self._dend, True)
        self.last_seq = w.seq - 1
        if w.err:  # no count past a damaged entry is sure: skip as many seqs as could fit there
            self.last_seq += (self._dend - w.end) // 3
        self.last_seq = max(self.last_seq, self.acked)

    def _locate(self, seq):
        """(sector, its first seq) holding ``seq``: binary search over headers in ring order."""
        n = self._blocks - 2
        lo = 0
        hi = (self._head - self._old) % n
        first = self._first(self._old)
        while lo < hi:
            mid = m = (lo + hi + 1) >> 1
            f = self._first((self._old - 2 + m) % n + 2)
            while f is None and m < hi:  # a damaged header: try the next
                m += 1
                f = self._first((self._old - 2 + m) % n + 2)
            if f is None or f > seq:
                hi = mid - 1
            else:
                lo, first = m, f
        return (self._old - 2 + lo) % n + 2, first

    def _next(self, blk):
        """(sector, first seq) of the next readable sector after ``blk``, or (head, next seq)."""
        while blk != self._head:
            blk = self._after(blk)
            f = self._first(blk)
            if f is not None:
                return blk, f
        return blk, self.last_seq + 1

    def _prepare(self, blk):
        """Make sector ``blk`` blank; if it holds the oldest records, count them out first."""
        if blk == self._spare:
            return
        if blk == self._old and blk != self._head:
            self._old, nxt = self._next(blk)
            if nxt > self._base:
                lost = max(nxt - max(self.first_seq, self.acked + 1), 0)
                self._put_state(self.acked, self.dropped + lost, nxt)
            self.first_seq = max(self.first_seq, nxt)
        self._blank(blk)
        self._spare = blk

    def _open_next(self):
        blk = self._head
        if blk and not self._sealed and self._scan(blk, self._dend, self._bs, True):
            self._seal(blk, self._woff)
        blk = self._after(blk)
        self._prepare(blk)
        self._hseq = (self._hseq + 1) & M
        self._put_header(blk, DATA, self._hseq, self.last_seq + 1)
        self._head, self._woff, self._spare = blk, HDR, 0
        self._closed = self._sealed = False
        self._old = self._old or blk
        self._packer.reset()
