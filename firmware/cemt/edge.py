"""Edge computation: 1 Hz samples to minute, hour and day records, in fixed-point integers.

    cfg = EdgeConfig(area=10000, kp=8400, kv=10000, xsw=800, xsw_measured=False,
                     co2_wet=False, o2=600, period_s=1, ver=1)
    edge = Edge(cfg, sink)   # sink(rec) receives every finished record, [kind, 0, t, tq, ver, ...];
                             # the list is reused, so the sink copies or encodes it before returning
    edge.sample(t, tq, values, status)   # values: array('i') indexed CO2..XSW; status: bytearray(6)
    edge.close(t)            # close the periods that end at or before t; later samples are >= t
    edge.flush()             # close every open period (shutdown, or before the clock is set back)
    edge.rejected            # samples ignored for not being later than the one before

Channel units: CO2 0.001 %vol (wet or dry as configured), DP 0.01 Pa, TEMP 0.01 degC, PS Pa
(gauge), PA Pa, XSW 1e-4 (read only when ``xsw_measured``). Configuration: area 1e-4 m2; kp, kv,
xsw 1e-4; o2 0.01 %vol dry; period_s the seconds each sample stands for. A sample counts as valid
(N) when every channel it needs is N and inside the ranges LO..HI; only valid samples enter the
averages and the mass. ``sample`` allocates nothing. docs/edge.md has the formulas, scales, ranges.
"""
from micropython import const

from cemt.fixmath import (NAMES, NMM, NQ, RATIO_ONE, T0, Stats, density, dry_co2, flag_of,
                          molar_mass, muldiv, point_velocity, ratio, std_velocity)
from cemt.schema import (DAY, FIELDS, HEADER, HOUR, MIN_VALID, MINUTE, PRIORITY, TIME, TQ,
                         VER, D, N, T)

# Channels of ``values`` and ``status``.
CO2 = const(0)
DP = const(1)
TEMP = const(2)
PS = const(3)
PA = const(4)
XSW = const(5)
CHANNELS = const(6)
# Ranges the fixed-point scaling covers; a value outside makes its channel T (over range).
# Δp from -10 Pa up to 0 reads as no flow.
LO = (0, -1000, -2000, -10000, 60000, 0)
HI = (30000, 250000, 40000, 10000, 110000, 5000)

_VSN_BOUND = const(720000)  # largest Vsn (1e-4 m/s) in range at Kp = Kv = 1 (71.5 m/s)
_FLUX_DIV = const(256)      # CO2 flux = co2 (0.001 %vol) * Vsn (1e-4 m/s) / 256
_CO2D_MAX = const(60000)    # 30 %vol wet at 50 % moisture, dry basis
_MASS_TOP = const(1 << 29)  # per-sample mass scale: plus the carry, below 2**30

# A valid sample's quantities, in the order of fixmath.NAMES.
_Q_CO2 = const(0)   # 0.001 %vol dry
_Q_VEL = const(1)   # Vs, 1e-4 m/s
_Q_TEMP = const(2)  # 0.01 degC
_Q_QSN = const(3)   # Vsn (dry standard velocity), 1e-4 m/s: Qsn = 3600 F Vsn
_Q_PS = const(4)    # Pa
_Q_PA = const(5)    # Pa
_Q_XSW = const(6)   # 1e-4

# Position of each abnormal status in PRIORITY (N: 8, never chosen).
_RANK = bytearray(8)
_RANK[N] = 8
for _i, _s in enumerate(PRIORITY):
    _RANK[_s] = _i
del _i, _s


def _check(name, value, lo, hi):
    if type(value) is not int or not lo <= value <= hi:
        raise ValueError("edge config %s must be an integer in %d..%d, not %r"
                         % (name, lo, hi, value))
    return value


class EdgeConfig:
    """The stack and site settings the edge computes with (units in the module docstring)."""

    def __init__(self, area=10000, kp=8400, kv=10000, xsw=800, xsw_measured=False,
                 co2_wet=False, o2=600, period_s=1, ver=1):
        self.area = _check("area", area, 1, 1000000)        # up to 100 m2
        self.kp = _check("kp", kp, 5000, 12000)
        self.kv = _check("kv", kv, 5000, 15000)
        self.xsw = _check("xsw", xsw, LO[XSW], HI[XSW])
        self.o2 = _check("o2", o2, 0, 2100)
        self.period_s = _check("period_s", period_s, 1, 5)
        self.ver = _check("ver", ver, 0, 0x3FFFFFFF)
        self.xsw_measured = bool(xsw_measured)
        self.co2_wet = bool(co2_wet)


class _Period(Stats):
    """One open minute, hour or day, and the record it becomes."""

    def __init__(self, kind, length):
        super().__init__()
        self.length = length
        self.min_valid = MIN_VALID[kind]
        fields = FIELDS[kind]
        self.rec = [0] * (HEADER + len(fields))
        self.rec[0] = kind
        # Where each field between nv and mass comes from in Stats.convert's output, by name.
        self.layout = bytearray()
        for name in fields[3:-1]:
            base, _, ext = name.partition("_")
            i = NAMES.index(base)
            self.layout.append(i if not ext else NQ + i if ext == "min" else NQ + NMM + i)
        self.start = None

    def open(self, t):
        # Arithmetic on t happens only here: on 32-bit ports today's t is a long int.
        self.start = t - t % self.length
        self.end = self.start + self.length
        self.reset()


class Edge:
    """Turns samples into records for one configuration (make a new Edge to change it)."""

    def __init__(self, cfg, sink):
        self._sink = sink
        self._ver = cfg.ver
        self._kp = cfg.kp
        self._kv = cfg.kv
        self._o2 = cfg.o2
        self._xsw = cfg.xsw
        self._xsw_measured = cfg.xsw_measured
        self._co2_wet = cfg.co2_wet
        self._nch = CHANNELS if cfg.xsw_measured else XSW
        self._area = cfg.area
        # Mass per sample in 2**-me of 0.01 kg, me as large as the sums allow (computed once:
        # long ints allowed). 0.01 kg per flux unit and sample is
        # 256 * area * period * (44.01 / 22.414) * 1e-11.
        vsn_max = (_VSN_BOUND * cfg.kp * cfg.kv + 10 ** 8 - 1) // 10 ** 8
        self._mp, self._me = ratio(256 * 22005 * cfg.area * cfg.period_s, 11207 * 10 ** 11,
                                   vsn_max * _CO2D_MAX // _FLUX_DIV + 1, _MASS_TOP)
        self._macc = 1 << (self._me - 1)   # the carry starts at half a unit: masses round
        self.rejected = 0
        self._last = -1
        self._minute = _Period(MINUTE, 60)
        self._hour = _Period(HOUR, 3600)
        self._day = _Period(DAY, 86400)
        self._q = [0] * NQ     # this sample's quantities
        self._sum = [0] * NQ   # their sums over the minute
        self._out = [0] * (NQ + 2 * NMM)

    def retune(self, kp, kv, ver):
        """Take new pitot factors and a new version from the next sample on (a calibration).

        Open periods stay whole and carry ``ver`` when they close. The mass scale keeps the
        bound of the factors it was built with: larger factors stay exact, they may only cost
        a long-int allocation per sample on a 32-bit port.
        """
        self._kp = kp
        self._kv = kv
        self._ver = ver

    def sample(self, t, tq, values, status):
        if t <= self._last:
            self.rejected += 1
            return
        self._last = t
        m = self._minute
        if m.start is None or t >= m.end:
            # a new minute; its hour and day may have ended too (a gap, or after close())
            self._close_due(t)
            self._open(t)
        st = self._status(values, status)
        m.count(st, st == N, tq, 0)
        if st == N:
            self._measure(values)
            q = self._q
            s = self._sum
            for i in range(NQ):
                s[i] += q[i]
            lo = m.lo
            hi = m.hi
            for i in range(NMM):
                if q[i] < lo[i]:
                    lo[i] = q[i]
                if q[i] > hi[i]:
                    hi[i] = q[i]

    def _status(self, values, status):
        """N, or the first abnormal status by PRIORITY among the channels this sample needs."""
        best = 8
        for i in range(self._nch):
            s = status[i]
            if s == N:
                if LO[i] <= values[i] <= HI[i]:
                    continue
                s = T
            r = _RANK[s] if s < 8 else _RANK[D]
            if r < best:
                best = r
        return N if best == 8 else PRIORITY[best]

    def _measure(self, v):
        """Section 4 of the brief for one valid sample: fills self._q, adds to the mass."""
        xsw = v[XSW] if self._xsw_measured else self._xsw
        dry = 10000 - xsw
        co2 = v[CO2]
        if self._co2_wet:
            co2 = dry_co2(co2, dry)
        tk = v[TEMP] + T0
        pabs = v[PA] + v[PS]
        dp = v[DP]
        rho = density(molar_mass(co2, self._o2, xsw), pabs, tk)
        vs = muldiv(point_velocity(dp if dp > 0 else 0, rho, self._kp), self._kv, 10000)
        vsn = std_velocity(vs, pabs, tk, dry)
        # Mass of this sample, C * Qsn * Δt, in 2**-me of 0.01 kg; whole units go to the minute
        # and the remainder is carried, so minute masses add up to the integral.
        acc = self._macc + muldiv(muldiv(vsn, co2, _FLUX_DIV), self._mp, RATIO_ONE)
        whole = acc >> self._me
        self._macc = acc - (whole << self._me)
        self._minute.mass += whole
        q = self._q
        q[_Q_CO2] = co2
        q[_Q_VEL] = vs
        q[_Q_TEMP] = v[TEMP]
        q[_Q_QSN] = vsn
        q[_Q_PS] = v[PS]
        q[_Q_PA] = v[PA]
        q[_Q_XSW] = xsw

    def close(self, t):
        """Close every open period that ends at or before t; samples before t are then ignored."""
        self._close_due(t)
        if t - 1 > self._last:
            self._last = t - 1

    def flush(self):
        """Close every open period now, and accept any time from the next sample on."""
        if self._minute.start is not None:
            self._close_minute()
        if self._hour.start is not None:
            self._close_hour()
        if self._day.start is not None:
            self._close_day()
        self._last = -1

    def _close_due(self, t):
        if self._minute.start is not None and t >= self._minute.end:
            self._close_minute()
        if self._hour.start is not None and t >= self._hour.end:
            self._close_hour()
        if self._day.start is not None and t >= self._day.end:
            self._close_day()

    def _open(self, t):
        self._minute.open(t)
        for i in range(NQ):
            self._sum[i] = 0
        if self._hour.start is None:
            self._hour.open(t)
        if self._day.start is None:
            self._day.open(t)

    def _close_minute(self):
        m = self._minute
        m.fold(m.nv, self._sum, m.lo, m.hi)
        flag = self._emit(m)
        self._hour.fold(m.nv, self._sum, m.lo, m.hi)
        self._day.fold(m.nv, self._sum, m.lo, m.hi)
        self._hour.count(flag, m.nv >= m.min_valid, m.tq, m.mass)

    def _close_hour(self):
        h = self._hour
        flag = self._emit(h)
        self._day.count(flag, h.nv >= h.min_valid, h.tq, h.mass)

    def _close_day(self):
        self._emit(self._day)

    def _emit(self, p):
        """Send p's record to the sink and close p; returns its flag."""
        flag = flag_of(p.counts, p.n)
        p.convert(self._out, self._area)
        rec = p.rec
        rec[TIME] = p.start
        rec[TQ] = p.tq
        rec[VER] = self._ver
        rec[HEADER] = flag
        rec[HEADER + 1] = p.n
        rec[HEADER + 2] = p.nv
        out = self._out
        layout = p.layout
        for j in range(len(layout)):
            rec[HEADER + 3 + j] = out[layout[j]]
        rec[-1] = p.mass
        p.start = None
        self._sink(rec)
        return flag
