"""Power-loss-safe ring log of records on a raw flash region; docs/storage.md is the spec.

Blocks 2.. of the region (``cemt.ringarea``) are a ring of sectors: a header (wrap-safe sequence,
first seq), ``cemt.pack`` entries (body first, header byte last), a CRC footer once full. Boot
reads the headers and decodes only the newest sector. A full ring reuses the oldest sector once
its unacknowledged records are counted out as dropped, durably, in the state slots.
"""
from cemt import pack
from cemt.ringarea import HDR
from cemt.ringsect import Sectors
from cemt.ringwalk import Walk


class RingLog(Sectors):
    """Append-only circular log of records over ``blocks`` blocks of ``dev`` from ``first_block``.

    Read-only attributes: ``first_seq``, ``last_seq`` (0 when empty), ``acked``, ``dropped``.
    """

    def __init__(self, dev, first_block, blocks, log_id):
        Sectors.__init__(self, dev, first_block, blocks, log_id)
        self._out = bytearray(pack.MAX_ENTRY)
        self._packer = pack.Packer()
        self._reader = None
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
        it = self.iter_from(seq)
        for rec in it:
            it.close()  # gives the reader back
            return list(rec) if rec[1] == seq else None

    def iter_from(self, seq):
        """Yield records from ``seq`` on, in a reused list; damaged ones are skipped and counted.

        If the ring overtakes the reader, it goes on from the oldest record still held.
        """
        w = self._reader or Walk(self, pack.Packer())  # one reader kept, so reads don't fragment
        self._reader = None
        seq = max(seq, self.first_seq)
        try:
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
        finally:
            self._reader = w

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
