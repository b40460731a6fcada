"""The numbers of the edge computation, every intermediate a small int on 32-bit ports.

MicroPython on ESP32 and RP2040 keeps an integer below 2**30 in the object word; a larger one is a
heap-allocated long int. The edge's quantities have 17 to 23 significant bits, so their products
need care: ``muldiv`` multiplies and divides with every partial below 2**30, ``isqrt`` and
``sqrt_scaled`` take square roots, ``ratio`` turns a configuration constant into a ``muldiv``
multiplier once (its own arithmetic may use long ints: it is not on a hot path). On these:

- the per-sample formulas of the brief's section 4, ``dry_co2`` ... ``std_velocity``, in the units
  of docs/edge.md (CO2 0.001 %vol, moisture 1e-4, pressures Pa, temperatures 0.01 K, molar mass
  1e-4 g/mol, density 1e-5 kg/m3, velocities 1e-4 m/s);
- ``Stats``, a period's statistics: counts by flag, the 75 % flag rule (``flag_of``), and exact
  means, minima and maxima of its valid samples, rounded to record units.

``cemt.edge`` owns the rest: configuration, validity, time and periods, records.
"""
from micropython import const

from cemt.schema import PRIORITY, N

RATIO_SHIFT = const(17)  # a ratio multiplier p means p / 2**17
RATIO_ONE = const(1 << 17)
T0 = const(27315)               # 273.15 K in 0.01 K
_MD_BASE = const(280000)        # molar mass of N2 (the "rest"), 1e-4 g/mol
_M_WATER = const(180000)        # 18.0 g/mol, EPA Method 2


def muldiv(a, b, c):
    """round(a * b / c), halves up, for 0 <= a < 2**30, b >= 0, c > 0, b + c < 2**20.

    Long multiplication of ``a`` in three 10-bit digits, dividing by ``c`` as it goes, so each
    partial stays below (b + c) * 2**10 <= 2**30. The caller keeps the result below 2**30.
    """
    t = (a >> 20) * b
    q = t // c
    t = ((t % c) << 10) + ((a >> 10) & 0x3FF) * b
    q = (q << 10) + t // c
    t = ((t % c) << 10) + (a & 0x3FF) * b + (c >> 1)
    return (q << 10) + t // c


def isqrt(n):
    """floor(sqrt(n)) for 0 <= n < 2**30, digit by digit (no division)."""
    r = 0
    bit = 1 << 28
    while bit > n:
        bit >>= 2
    while bit:
        if n >= r + bit:
            n -= r + bit
            r = (r >> 1) + bit
        else:
            r >>= 1
        bit >>= 2
    return r


def sqrt_scaled(n, f):
    """sqrt(n) * 2**f, rounded, for 0 <= n < 2**30 and 0 <= f <= 12.

    The integer root s plus the fraction (n - s*s) / (2s + 1) of one Newton step: the error is
    below 2**f / (8 s) + 1/2 units, a relative error below 1 / (8 n) besides the rounding.
    """
    s = isqrt(n)
    if not s:
        return 0
    return (s << f) + (((n - s * s) << f) + s) // (2 * s + 1)


def ratio(num, den, xmax, top, emax=29):
    """Fixed-point form of the constant num/den for ``muldiv``: returns ``(p, e)`` with

        x * num / den * 2**e  ==  muldiv(x, p, 1 << RATIO_SHIFT)   (to 1 part in 2**17)

    where e <= emax is the largest exponent keeping xmax * num / den * 2**e <= top and p below
    2**19 (so p + 2**17 < 2**20, as ``muldiv`` requires). Raises ValueError when p would have
    fewer than 17 bits.
    """
    e = emax
    while e > -64:
        s = e + RATIO_SHIFT
        if s >= 0:
            p = ((num << s) + (den >> 1)) // den
        else:
            d = den << -s
            p = (num + (d >> 1)) // d
        if p < 1 << 19 and xmax * p <= top << RATIO_SHIFT:
            if p < 1 << 16:
                break  # too few significant bits left: the constant is out of range
            return p, e
        e -= 1
    raise ValueError("constant %d/%d out of fixed-point range" % (num, den))


def dry_co2(co2, dry):
    """CO2 on a dry basis, C / (1 - Xsw); dry = 1 - Xsw in 1e-4."""
    return (co2 * 10000 + (dry >> 1)) // dry


def molar_mass(co2, o2, xsw):
    """Flue-gas molar mass Ms (1e-4 g/mol): Md = 28 + 0.16 %CO2 + 0.04 %O2, Ms = Md - (Md - 18) Xsw.

    co2 in 0.001 %vol dry, o2 in 0.01 %vol dry, xsw in 1e-4.
    """
    md = _MD_BASE + (16 * co2 + 5) // 10 + 4 * o2
    return md - muldiv(md - _M_WATER, xsw, 10000)


def density(ms, pabs, tk):
    """Gas density ρs = Ms * Pabs / (8314.46 * Tk), in 1e-5 kg/m3 (ms 1e-4 g/mol, Pa, 0.01 K)."""
    return muldiv(muldiv(pabs, ms, tk), 100000, 831446)


def point_velocity(dp, rho, kp):
    """Pitot point velocity vp = Kp * sqrt(2 Δp / ρs), in 1e-4 m/s (dp 0.01 Pa >= 0, rho 1e-5)."""
    # 2 Δp / ρs in m2/s2 is 2000 dp / rho; times 2**14 it stays below 2**30 over the ranges, and
    # its root with 8 more fraction bits is the velocity in 2**-15 m/s.
    v = sqrt_scaled(muldiv(dp << 12, 8000, rho), 8)
    return muldiv(v, kp, 32768)


def std_velocity(vs, pabs, tk, dry):
    """Dry standard velocity Vs * (273.15 / Tk) * (Pabs / 101325) * (1 - Xsw), in 1e-4 m/s.

    Qsn = 3600 F times this; 27315 / 101325 = 1821 / 6755 (Tk in 0.01 K).
    """
    return muldiv(muldiv(muldiv(vs, pabs, tk), 1821, 6755), dry, 10000)


# The quantities a period averages over its valid samples, named as in the record fields; the
# first NMM also keep minima and maxima.
NAMES = ("co2", "vel", "temp", "qsn", "ps", "pa", "xsw")
NQ = const(7)
NMM = const(4)
# Internal units per record unit; 0 marks Qsn, held as Vsn and scaled by the area.
_SCALE = (10, 100, 10, 0, 1, 1, 1)
_BIG = const(0x3FFFFFFF)
_NO_TQ = const(255)


def flag_of(counts, n):
    """The period flag from the count of each flag among its n inputs (the 75 % rule)."""
    if 4 * counts[N] >= 3 * n:
        return N
    best = N
    most = 0
    for f in PRIORITY:
        if counts[f] > most:
            best = f
            most = counts[f]
    return best


def _unit(i, area, x):
    """Quantity i's value x in its record unit, rounded half up."""
    k = _SCALE[i]
    if k:
        return (x + (k >> 1)) // k
    # Qsn (m3/h) = Vsn (1e-4 m/s) * area (1e-4 m2) * 3600e-8 = Vsn * area * 9 / 15625 / 16
    return (muldiv(9 * x, area, 15625) + 8) >> 4


class Stats:
    """A period's inputs by flag, worst time quality and mass, and the exact means, minima and
    maxima of the quantities (NAMES) of its ns valid samples: their sum = avg * ns + rem with
    0 <= rem < ns, so no sum, however long the period, outgrows a small int."""

    def __init__(self):
        self.counts = bytearray(8)
        self.avg = [0] * NQ
        self.rem = [0] * NQ
        self.lo = [0] * NMM
        self.hi = [0] * NMM
        self.reset()

    def reset(self):
        self.tq = _NO_TQ
        self.n = self.nv = self.mass = self.ns = 0
        for i in range(8):
            self.counts[i] = 0
        for i in range(NQ):
            self.avg[i] = self.rem[i] = 0
        for i in range(NMM):
            self.lo[i] = _BIG
            self.hi[i] = -_BIG

    def count(self, flag, valid, tq, mass):
        """One input: a sample of a minute, a minute record of an hour, an hour of a day."""
        self.n += 1
        if valid:
            self.nv += 1
        self.counts[flag] += 1
        if tq < self.tq:
            self.tq = tq
        self.mass += mass

    def fold(self, nv, sums, lo, hi):
        """Add nv valid samples (their sums, minima, maxima) to the exact running means."""
        if not nv:
            return
        ns = self.ns + nv
        avg = self.avg
        rem = self.rem
        for i in range(NQ):
            # avg*ns + rem + sum == (avg + q)*ns' + r; no term exceeds 60 samples' worth
            x = sums[i] - avg[i] * nv + rem[i]
            q = x // ns
            avg[i] += q
            rem[i] = x - q * ns
        self.ns = ns
        for i in range(NMM):
            if lo[i] < self.lo[i]:
                self.lo[i] = lo[i]
            if hi[i] > self.hi[i]:
                self.hi[i] = hi[i]

    def convert(self, out, area):
        """Fill out with the means, minima, maxima in record units, halves up (area: 1e-4 m2)."""
        ns = self.ns
        for i in range(NQ + 2 * NMM):
            out[i] = 0
        if not ns:
            return
        for i in range(NQ):
            if _SCALE[i] == 1:
                out[i] = self.avg[i] + 1 if 2 * self.rem[i] >= ns else self.avg[i]
            else:
                # exact for an even scale: the fraction rem/ns < 1 cannot cross a step
                out[i] = _unit(i, area, self.avg[i])
        for i in range(NMM):
            out[NQ + i] = _unit(i, area, self.lo[i])
            out[NQ + NMM + i] = _unit(i, area, self.hi[i])
