"""Power-loss-safe ring log of records on a raw flash region; docs/storage.md is the spec.

Blocks 2.. of the region (``cemt.ringarea``) are a ring of sectors: a header (wrap-safe sequence,
first seq), ``cemt.pack`` entries (body first, header byte last), a CRC footer once full. Boot
reads the headers and decodes only the newest sector. A full ring reuses the oldest sector once
its unacknowledged records are counted out as dropped, durably, in the state slots.
"""
from cemt import pack
from cemt.ringarea import DATA, HDR, M, WIN, Area, newer


class _Walk:
    """Reads the entries of one sector in order, through a window."""

    def __init__(self, log, packer):
        self.log = log
        self.p = packer
        self.win = bytearray(WIN)

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


class RingLog(Area):
    """Append-only circular log of records over ``blocks`` blocks of ``dev`` from ``first_block``.

    Read-only attributes: ``first_seq``, ``last_seq`` (0 when empty), ``acked``, ``dropped``.
    """

    def __init__(self, dev, first_block, blocks, log_id):
        Area.__init__(self, dev, first_block, blocks, log_id)
        self._out = bytearray(pack.MAX_ENTRY + 2)
        self._packer = pack.Packer()
        self.damaged = 0  # records found unreadable since boot
        self._boot_data()

    def append(self, rec):
        """Store ``rec`` (its seq is ignored); return its seq. Durable on return."""
        if self._closed:
            self._open_next()
        n = self._packer.pack(rec, self._out)
        if self._woff + n > self._dend:
            self._open_next()
            n = self._packer.pack(rec, self._out)
        mv = memoryview(self._out)
        try:
            self._wr(self._head, mv[1:n], self._woff + 1)
            self._wr(self._head, mv[:1], self._woff)  # the header byte commits the entry
        except Exception:
            self._closed = True  # unknown bytes may have reached the flash
            raise
        self._woff += n
        self.last_seq += 1
        return self.last_seq

    def read(self, seq):
        """Record ``seq`` as a new list, or None if it is not held or not readable."""
        for rec in self.iter_from(seq):
            return list(rec) if rec[1] == seq else None

    def iter_from(self, seq):
        """Yield records from ``seq`` on, in a reused list; damaged ones are skipped and counted.

        If the ring overtakes the reader, it goes on from the oldest record still held.
        """
        w = _Walk(self, pack.Packer())
        seq = max(seq, self.first_seq)
        while seq <= self.last_seq:
            blk, first = self._locate(seq)
            w.start(blk, first, True)
            while seq >= self.first_seq:
                rec = w.next()
                if rec is None:
                    break
                if rec[1] >= seq:
                    seq = rec[1] + 1
                    yield rec
            if seq < self.first_seq:
                seq = self.first_seq
            elif blk != self._head or w.err:
                nxt = self._next(blk)[1]
                if nxt > seq:
                    self.damaged += nxt - seq
                    seq = nxt

    def ack(self, seq):
        """The receiver holds every record up to ``seq``. Durable on return; never goes back."""
        if seq > self.last_seq:
            raise ValueError("ack beyond the last record")
        if seq > self.acked:
            self._put_state(seq, self.dropped, self._base)

    def maintain(self):
        """Erase ahead of need; call when the buses are quiet (else appends erase on demand)."""
        self._prepare(self._after(self._head))
        self._spare_state()

    def stats(self):
        n = self._blocks - 2
        data = self._dend - HDR
        used = (self._head - self._old) % n + 1 if self._old else 0
        return {"oldest": self.first_seq, "newest": self.last_seq, "acked": self.acked,
                "dropped": self.dropped, "damaged": self.damaged, "sectors": n, "used": used,
                "erases": self.erases, "cycles": (self._hseq + 1) // n, "fill_pct":
                max(0, (used - 1) * data + self._woff - HDR) * 100 // (n * data)}

    # -- data sectors: blocks 2.. of the region -----------------------------------------------

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
        for blk in range(2, self._blocks):
            f = self._header(blk, DATA)
            if f and (not self._head or newer(f[7], self._hseq)):
                self._head, self._hseq, first = blk, f[7], f[8]
        if not self._head:
            self.last_seq = max(self._base - 1, self.acked, 0)
            self.first_seq = self.last_seq + 1
            return
        self._old, oldest = self._head, first
        blk = self._after(self._head)
        for back in range(self._blocks - 3, 0, -1):  # the oldest: first consistent one after head
            f = self._header(blk, DATA)
            if f and (self._hseq - f[7]) & M == back:
                self._old, oldest = blk, f[8]
                break
            blk = self._after(blk)
        w = _Walk(self, self._packer)  # decoding the head restores the packer's state
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
        if self._base < oldest:  # records gone uncounted, e.g. with a damaged oldest header
            lost = max(oldest - max(self._base, self.acked + 1), 0)
            self._put_state(self.acked, self.dropped + lost, oldest)
        self.first_seq = self._base

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
