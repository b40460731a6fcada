"""Warnings: which are raised now, and one alarm record per raise and per clear (docs/alarms.md).

``Alarms(emit, settings, channels)`` watches the running node. ``emit(code, state, value,
limit)`` is called once per transition (state 1 raised, 0 cleared); the node turns it into an
alarm record. ``settings`` is the ``alarms`` section of the configuration, ``channels`` the edge
indices of the sensors the board has. The node feeds it:

- ``sample(status)`` after every sample: consecutive fault samples per channel (no allocation);
- ``period(rec)`` with every minute and hour record it stores: thresholds, stale data, the link;
- ``housekeep(now, tq, minute_stats, cal)`` every health period: backlog, calibration due;
- ``drift(channel, drift, limit)`` after a calibration check;
- ``mode_on(code, seconds)`` / ``mode_off(code, remaining)`` when a calibration or maintenance
  mode starts and ends (the node keeps the mode; this keeps its record and its entry).

Every warning has hysteresis, so a value that wanders around a threshold raises it once: a level
is raised above its limit and cleared below ``clear_pct`` % of it; a count (fault samples, stale
minutes, minutes without delivery) is raised when it reaches its limit and cleared when the
condition has gone (for sensor faults: as many good samples in a row). Warnings live in RAM: at
boot every warning is clear and is raised again if its condition still holds.
"""
from micropython import const

from cemt.schema import B, D, HOUR, MIN_VALID, MINUTE

# Codes (docs/alarms.md); a code is never reused for another meaning.
CO2_HIGH = const(1)
RATE_HIGH = const(2)
MASS_HOUR_HIGH = const(3)
FAULT = const(10)      # + channel 1-5 (CO2, dp, temp, ps, pa): 11-15
STALE = const(20)
BACKLOG = const(21)
LINK_DOWN = const(22)
CAL_DUE = const(30)    # + channel: 31 CO2, 32 dp
DRIFT = const(40)      # + channel: 41 CO2, 42 dp, 46 velocity
CAL_MODE = const(50)   # the node is in calibration mode (its samples are status C)
MAINT_MODE = const(51)  # ... in maintenance mode (status M)

_NV = const(7)         # HEADER + index of nv, co2 in the period records
_CO2 = const(8)
_NCH = const(5)        # channels with a fault watch (the health record's error counters)
_DAY_S = const(86400)
_CAL_KEYS = ((0, "co2_t"), (1, "dp_t"))  # edge channel index, cal setting: time of the last zero/span


class Alarms:
    def __init__(self, emit, settings, channels=(0, 1, 2, 3, 4)):
        self._emit = emit
        self._on = {}  # code -> [value, limit] of every raised warning
        s = settings
        self._pct = s["clear_pct"]
        self._co2 = s["co2_hi"]
        self._rate = s["mass_min_hi"]
        self._mass = s["mass_hour_hi"]
        self._fault_n = s["fault_n"]
        self._stale_min = s["stale_min"]
        self._backlog = s["backlog_pct"]
        self._link_min = s["link_min"]
        self._cal_days = s["cal_days"]
        self._chs = tuple(i for i in channels if i < _NCH)
        self._run = [0] * _NCH     # samples in a row that disagree with the channel's fault state
        self._stale = 0            # minutes since the last valid one
        self.uplink = None         # set when the node has one: its acks tell delivery
        self._acks = 0
        self._quiet = 0            # minutes with a backlog and no delivery

    def active(self):
        """The raised warnings, ``[[code, value, limit], ...]`` by code."""
        return [[c, v[0], v[1]] for c, v in sorted(self._on.items())]

    def raised(self, code):
        return code in self._on

    # -- transitions

    def _set(self, code, value, limit):
        on = self._on.get(code)
        if on is None:
            self._on[code] = [value, limit]
            self._emit(code, 1, value, limit)
        else:
            on[0] = value

    def _clear(self, code, value):
        on = self._on.pop(code, None)
        if on is not None:
            self._emit(code, 0, value, on[1])

    def _level(self, code, value, limit):
        """Raise above ``limit``, clear below clear_pct % of it, hold in between; 0: off."""
        if not limit:
            return
        if value > limit:
            self._set(code, value, limit)
        elif code in self._on:
            if value * 100 < limit * self._pct:
                self._clear(code, value)
            else:
                self._on[code][0] = value

    def _count(self, code, n, limit, value):
        """Raise when the count ``n`` reaches ``limit`` (0: off), reporting ``value``."""
        if limit and n >= limit:
            self._set(code, value, limit)

    # -- inputs

    def sample(self, status):
        n = self._fault_n
        if not n:
            return
        run = self._run
        on = self._on
        for i in self._chs:
            s = status[i]
            code = FAULT + 1 + i
            if (s == D or s == B) == (code in on):
                run[i] = 0
                continue
            r = run[i] + 1
            if r < n:
                run[i] = r
                continue
            run[i] = 0
            if code in on:
                self._clear(code, s)
            else:
                self._set(code, s, n)

    def period(self, rec):
        kind = rec[0]
        if kind == MINUTE:
            if rec[_NV] >= MIN_VALID[MINUTE]:
                self._stale = 0
                self._clear(STALE, 0)
                self._level(CO2_HIGH, rec[_CO2], self._co2)
                self._level(RATE_HIGH, rec[-1], self._rate)
            else:
                self._stale += 1
                self._count(STALE, self._stale, self._stale_min, self._stale)
            self._link()
        elif kind == HOUR and rec[_NV] >= MIN_VALID[HOUR]:
            self._level(MASS_HOUR_HIGH, rec[-1], self._mass)

    def _link(self):
        up = self.uplink
        if up is None or not self._link_min:
            return
        if up.acks != self._acks or not up.backlog():
            self._acks = up.acks
            self._quiet = 0
            self._clear(LINK_DOWN, 0)
        else:
            self._quiet += 1
            self._count(LINK_DOWN, self._quiet, self._link_min, self._quiet)

    def housekeep(self, now, tq, minute_stats, cal):
        """Backlog from the minute log's ``stats()``; calibration due from the ``cal`` settings."""
        st = minute_stats
        held = st["newest"] - st["oldest"] + 1
        if st["newest"] and held > 0:
            unsent = st["newest"] - max(st["acked"], st["oldest"] - 1)
            self._level(BACKLOG, st["fill_pct"] * unsent // held, self._backlog)
        days = self._cal_days
        if not days:
            return
        for i, key in _CAL_KEYS:
            if i not in self._chs:
                continue
            code = CAL_DUE + 1 + i
            t = cal.get(key, 0)
            if not t:
                self._set(code, -1, days)  # never calibrated
            elif tq:  # an unset clock cannot tell the age of a calibration
                age = now - t
                if age > days * _DAY_S:
                    self._set(code, age // _DAY_S, days)
                else:
                    self._clear(code, age // _DAY_S)

    def drift(self, channel, drift, limit):
        """A calibration check's drift (channel unit) against its limit (±2.5 % of full scale)."""
        code = DRIFT + channel
        if -limit <= drift <= limit:
            self._clear(code, drift)
        else:
            self._set(code, drift, limit)

    def mode_on(self, code, seconds):
        """A calibration (50) or maintenance (51) mode of ``seconds`` began; renewing a mode
        already on logs nothing and takes the new duration."""
        on = self._on.get(code)
        if on is None:
            self._set(code, seconds, seconds)
        else:
            on[0] = on[1] = seconds

    def mode_off(self, code, remaining):
        """The mode ended, ``remaining`` seconds before its time (0: it ran out)."""
        self._clear(code, remaining)
