"""Fakes of a node's clock and ring logs for the command-protocol tests.

``FakeLog`` behaves like ``cemt.ringlog.RingLog`` at the interface ``cemt.rpc`` uses: seqs from
1, a first seq that moves when old records are dropped, one list reused by ``iter_from``. Its
records are made from their seq when read, so a long log costs no RAM.
"""
T0 = 1767225600  # 2026-01-01T00:00:00Z


# Records are these with seq, t and a few values set from the seq (``FakeLog.fill``).
MINUTE = (1, 0, 0, 2, 3, 0, 60, 60, 1200, 1100, 1300, 1500, 1480, -150, 52000, 19635)
HOUR = (2, 0, 0, 2, 3, 0, 60, 60, 1200, 1100, 1300, 1500, 1400, 1600, 1480, 1470, 1490, -150,
        101325, 800, 52000, 51000, 53000, 1178100)


class Clock:
    def __init__(self, t):
        self.t = t
        self.quality = 0

    def now(self):
        return self.t

    def set(self, t, quality):
        self.t = t
        self.quality = quality


class FakeLog:
    """Record ``seq`` of a log of ``n`` records like ``template``, one per ``period`` s."""

    def __init__(self, template, period, n):
        self._tpl = template
        self._period = period
        self.first_seq = 1
        self.last_seq = n
        self.acked = 0

    def drop_oldest(self, n):
        self.first_seq += n

    def fill(self, rec, seq):
        """Make ``rec`` record ``seq`` in place (allocates nothing on 64-bit ports)."""
        rec[1] = seq
        rec[2] = T0 + self._period * (seq - 1)
        rec[8] = 1200 + seq % 50
        rec[-1] = self._tpl[-1] + seq

    def record(self, seq):
        rec = list(self._tpl)
        self.fill(rec, seq)
        return rec

    def iter_from(self, seq):
        buf = list(self._tpl)
        for s in range(max(seq, self.first_seq), self.last_seq + 1):
            self.fill(buf, s)
            yield buf

    def ack(self, seq):
        if seq > self.last_seq:
            raise ValueError("ack beyond the last record")
        self.acked = max(self.acked, seq)

    def stats(self):
        return {"oldest": self.first_seq, "newest": self.last_seq, "acked": self.acked}
