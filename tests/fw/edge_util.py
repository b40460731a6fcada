"""Helpers for the edge's firmware tests: feed samples to an Edge, read record fields by name."""
from array import array

from cemt.edge import Edge, EdgeConfig
from cemt.schema import FIELDS, HEADER, HOUR, MINUTE

T_DAY = 1767225600  # 2026-01-01T00:00:00Z, a UTC day (and hour, minute) boundary
# The brief's constant stack: 12 %vol CO2 dry, 134.00 Pa (15.00 m/s at Kp 0.84), 150 degC,
# static 0 Pa, ambient 101325 Pa, moisture 8 %; with EdgeConfig() (1 m2, Kp 0.84, Kv 1, O2 6 %).
STACK = (12000, 13400, 15000, 0, 101325, 800)


def values(co2=12000, dp=13400, temp=15000, ps=0, pa=101325, xsw=800):
    return array("i", (co2, dp, temp, ps, pa, xsw))


def status(*codes):
    """Channel statuses; the ones not given are N."""
    s = bytearray(6)
    for i, c in enumerate(codes):
        s[i] = c
    return s


class Run:
    """An Edge whose records (of the given kinds, or all) are copied into ``recs``."""

    def __init__(self, cfg=None, kinds=None):
        self.recs = []
        self.kinds = kinds
        self.edge = Edge(cfg or EdgeConfig(), self.keep)
        self.v = values()
        self.ok = status()

    def keep(self, rec):
        if self.kinds is None or rec[0] in self.kinds:
            self.recs.append(list(rec))

    def feed(self, t, n, step=1, v=None, st=None, tq=2):
        """n samples from t, step seconds apart; returns the next t."""
        for _ in range(n):
            self.edge.sample(t, tq, v or self.v, st or self.ok)
            t += step
        return t

    def kind(self, k):
        return [r for r in self.recs if r[0] == k]

    def minutes(self):
        return self.kind(MINUTE)

    def hours(self):
        return self.kind(HOUR)


def field(rec, name):
    return rec[HEADER + FIELDS[rec[0]].index(name)]
