"""Delta coding of period records for ``cemt.pack``: the adaptive Rice bitstream of docs/storage.md.

A record is coded against the previous one of its kind in the sector: one bit each when time/tq/ver
and flag/n/nv follow on (else their zigzagged differences), then each value (a min/max as its offset
from the average) as the zigzagged difference from the previous one, Rice-coded with a parameter
that follows the running mean of that field's differences.
"""
from micropython import const

from cemt.schema import FIELDS, HEADER

_STEP = (0, 60, 3600, 86400)
_VAL = const(8)     # first value slot after flag, n, nv
_UNARY = const(12)  # a Rice quotient this large is escaped to an explicit bit length
MEAN0 = const(64)   # the running mean (times 8) a sector starts with


def zz(d):
    return d + d if d >= 0 else -d - d - 1


def unzz(z):
    return -(z >> 1) - 1 if z & 1 else z >> 1


def _param(mean):
    m = mean >> 3
    r = 0
    while m > 1 and r < 16:
        m >>= 1
        r += 1
    return r


def _adapt(mean, z):
    return mean + min(z, 0x10000) - (mean >> 3)


class State:
    """Coding state of one period kind in a sector; ``out`` is the record last decoded."""

    def __init__(self, kind):
        fields = FIELDS[kind]
        n = HEADER + len(fields)
        self.kind = kind
        self.step = _STEP[kind]
        self.plan = bytearray(n)  # 0x40|b: a minimum below slot b; 0x80|b: a maximum above it
        for i, name in enumerate(fields):
            if name[-4:] in ("_min", "_max"):
                self.plan[HEADER + i] = (0x40 if name[-1] == "n" else 0x80) | (
                    HEADER + fields.index(name[:-4]))
        self.v = [0] * n  # t, tq, ver, flag, n, nv as they are; values transformed
        self.k = [MEAN0] * n
        self.out = [kind] * n
        self.have = False

    def value(self, rec, i):
        p = self.plan[i]
        if p & 0x40:
            return rec[p & 0x3F] - rec[i]
        return rec[i] - rec[p & 0x3F] if p & 0x80 else rec[i]

    def absolute(self, rec):
        """Make ``rec`` (stored absolute) the base of the next delta."""
        for i in range(2, len(rec)):
            self.v[i] = self.value(rec, i)
            self.k[i] = MEAN0
        self.have = True


class Coder:
    """Writes and reads the bitstream of one delta, most significant bit first."""

    def encode(self, st, rec, buf, pos):
        """Code ``rec`` after ``st`` into ``buf`` from byte ``pos``; return the end (padded)."""
        self._buf = buf
        self._pos = pos
        self._acc = self._nb = 0
        v = st.v
        if rec[2] == v[2] + st.step and rec[3] == v[3] and rec[4] == v[4]:
            self._put(1, 1)
        else:
            self._put(0, 1)
            v[2] += st.step
            for i in (2, 3, 4):
                self._rice(zz(rec[i] - v[i]), 0)
                v[i] = rec[i]
        v[2] = rec[2]
        if rec[5] == v[5] and rec[6] == v[6] and rec[7] == v[7]:
            self._put(1, 1)
        else:
            self._put(0, 1)
            for i in (5, 6, 7):
                self._rice(zz(rec[i] - v[i]), 0)
                v[i] = rec[i]
        k = st.k
        for i in range(_VAL, len(rec)):
            x = st.value(rec, i)
            z = zz(x - v[i])
            self._rice(z, k[i])
            k[i] = _adapt(k[i], z)
            v[i] = x
        self._put(0, -self._nb & 7)
        return self._pos

    def _put(self, value, n):
        """Append the ``n`` (<= 16) low bits of ``value``."""
        acc = (self._acc << n) | value
        nb = self._nb + n
        while nb >= 8:
            nb -= 8
            self._buf[self._pos] = (acc >> nb) & 0xFF
            self._pos += 1
        self._acc = acc & ((1 << nb) - 1)
        self._nb = nb

    def _rice(self, z, mean):
        r = _param(mean)
        q = z >> r
        if q < _UNARY:
            self._put((1 << (q + 1)) - 2, q + 1)
            self._put(z & ((1 << r) - 1), r)
            return
        self._put((1 << _UNARY) - 1, _UNARY)
        n = 0
        while z >> n:
            n += 1
        self._put(n, 6)
        while n > 16:
            n -= 16
            self._put((z >> n) & 0xFFFF, 16)
        self._put(z & ((1 << n) - 1), n)

    def decode(self, st, buf, pos, end):
        """Decode the delta in ``buf[pos:end]`` into ``st.out``; ValueError unless it fills it."""
        self._buf = buf
        self._pos = pos * 8
        self._end = end * 8
        v = st.v
        out = st.out
        v[2] += st.step
        if not self._get(1):
            for i in (2, 3, 4):
                v[i] += unzz(self._unrice(0))
        if not self._get(1):
            for i in (5, 6, 7):
                v[i] += unzz(self._unrice(0))
        for i in range(2, _VAL):
            out[i] = v[i]
        k = st.k
        for i in range(_VAL, len(v)):
            z = self._unrice(k[i])
            k[i] = _adapt(k[i], z)
            x = v[i] = v[i] + unzz(z)
            p = st.plan[i]
            out[i] = out[p & 0x3F] - x if p & 0x40 else out[p & 0x3F] + x if p & 0x80 else x
        if self._end - self._pos >= 8 or self._get(self._end - self._pos):
            raise ValueError("entry length disagrees with its record")

    def _get(self, n):
        p = self._pos
        e = p + n
        if e > self._end:
            raise ValueError("entry body ends inside a value")
        v = 0
        while p < e:
            take = min(8 - (p & 7), e - p)
            v = (v << take) | ((self._buf[p >> 3] >> (8 - (p & 7) - take)) & ((1 << take) - 1))
            p += take
        self._pos = p
        return v

    def _unrice(self, mean):
        q = 0
        while q < _UNARY and self._get(1):
            q += 1
        if q < _UNARY:
            r = _param(mean)
            return (q << r) | self._get(r)
        n = self._get(6)
        z = 0
        while n > 16:
            n -= 16
            z = (z << 16) | self._get(16)
        return (z << n) | self._get(n)
