"""Ring logs in RAM for the cemt.uplink tests: records made on demand, so they cost no heap."""
T0 = 1767225600


def minute(i):
    return [1, i, T0 + 60 * i, 2, 3, 0, 60, 60, 1200 + i % 50, 1100, 1300, 1500, 1805, -150,
            52000, 19635 + i]


def boot(i):
    return [16, i, T0 + 3600 * i, 2, 3, i, 1, 0, "cemt 0.1.%d" % i]


class MemLog:
    """The ring log interface the uplink uses, with records made on demand (seqs from 1)."""

    def __init__(self, make, n=0):
        self.make = make
        self.n = n
        self.special = {}  # seq -> a record that ``make`` does not give
        self.acked = 0
        self.first_seq = 1
        self.acks = []

    def add(self, rec=None):
        self.n += 1
        if rec is not None:
            rec[1] = self.n
            self.special[self.n] = rec
        return self.n

    @property
    def last_seq(self):
        return self.n

    def iter_from(self, seq):
        seq = max(seq, self.first_seq)
        while seq <= self.n:
            yield self.special.get(seq) or self.make(seq)
            seq += 1

    def ack(self, seq):
        if seq > self.n:
            raise ValueError("ack beyond the last record")
        self.acks.append(seq)
        if seq > self.acked:
            self.acked = seq
