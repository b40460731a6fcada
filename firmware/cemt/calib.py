"""Calibration of the CO2 analyser and the pitot channel: readings, arithmetic and limits.

Pure and in integers (docs/calibration.md); ``cemt.app``'s ``Node.calibrate`` applies the result::

    needs_reading(channel, action)     # NotImplementedError for what cannot be calibrated
    raw = steady(channel, values, status, n, cal, seconds)
                                       # the mean of the channel's last raw readings (kept by the
                                       # app's sampler), RuntimeError if they are not steady
    out = plan(channel, action, ref, cal, edge, raw)   # an Outcome: what to log and to change

The app imports this module only when a calibration runs: a node that is not being calibrated
does not keep it in its heap.

Channels and units (docs/protocol.md, ``calibrate``): 1 CO2 (0.001 %vol), 2 pitot Δp (0.01 Pa),
6 velocity (0.01 m/s). ``cal`` and ``edge`` are the config sections of those names
(``cemt.config``): coefficients, full scales and the limits in per mille of full scale.
"""
from micropython import const

from cemt.records import (CAL_APPLIED, CAL_FACTOR, CAL_REJECTED, CAL_SPAN, CAL_ZERO, CH_CO2,
                          CH_DP, CH_VEL)

CAL_CHECK = const(4)
CAL_CHECKED = const(3)
DRIFT_PM = const(25)    # a check's drift limit: 2.5 % of full scale (HJ 75/76-2017)
ONE = const(10000)      # gains and factors in 1e-4
# Site factors: the ranges the edge's fixed-point scaling covers (docs/edge.md, EdgeConfig).
KP_MIN = const(5000)
KP_MAX = const(12000)
KV_MIN = const(5000)
KV_MAX = const(15000)

# Per channel: name, unit and decimals for messages, the cal keys of its full scale, offset,
# offset limit and spread limit.
_CO2 = ("CO2", "%vol", 3, "co2_fs", "co2_zero", "co2_zero_max", "co2_spread")
_DP = ("\u0394p", "Pa", 2, "dp_fs", "dp_zero", "dp_zero_max", "dp_spread")


def co2_value(raw, zero, gain):
    """A calibrated CO2 reading: (raw - zero) * gain, gain in 1e-4."""
    return (raw - zero) * gain // ONE


class Outcome:
    """What one calibration does: the record's fields, and the settings it changes.

    ``section``/``changes``: the config section and the settings to apply (None: nothing);
    ``stamp``: the cal setting that takes the time of an applied zero or span (or None);
    ``drift``/``limit``: a check's drift and its limit (channel unit), else None.
    """

    def __init__(self, result, reading, before, after, section=None, changes=None, stamp=None,
                 drift=None, limit=None):
        self.result = result
        self.reading = reading
        self.before = before
        self.after = after
        self.section = section
        self.changes = changes
        self.stamp = stamp
        self.drift = drift
        self.limit = limit


def needs_reading(channel, action):
    """True if ``action`` on ``channel`` reads the channel, False for a factor;
    NotImplementedError for a pair with no calibration."""
    if action == CAL_FACTOR and (channel == CH_DP or channel == CH_VEL):
        return False
    if channel == CH_CO2 and action in (CAL_ZERO, CAL_SPAN, CAL_CHECK):
        return True
    if channel == CH_DP and action in (CAL_ZERO, CAL_CHECK):
        return True
    raise NotImplementedError("no %s calibration for channel %d"
                              % (("zero", "span", "factor", "check")[action - 1], channel))


def _spec(channel):
    return _CO2 if channel == CH_CO2 else _DP


def _fixed(v, places):
    s = "-" if v < 0 else ""
    v = -v if v < 0 else v
    p = 10 ** places
    return "%s%d.%0*d" % (s, v // p, places, v % p)


def _per_mille(cal, key, fs):
    return cal[key] * fs // 1000


def _full_scale(cal, key):
    fs = cal[key]
    if fs <= 0:
        raise ValueError("cal.%s must be positive" % key)
    return fs


def steady(channel, values, status, n, cal, seconds):
    """The mean of the raw readings ``values`` (``n`` of them taken so far, at most
    ``len(values)``), rounded, if they are steady.

    Steady: the buffer is full, every status is N (0) and the spread (max - min) is within the
    channel's spread limit (per mille of full scale). Otherwise RuntimeError saying why;
    ``seconds`` is the time the readings span, for the message.
    """
    name, unit, places, fs_key, _, _, spread_key = _spec(channel)
    size = len(values)
    if n < size:
        raise RuntimeError("%s reading not ready: %d of %d readings since boot"
                           % (name, n, size))
    for s in status:
        if s:
            raise RuntimeError("%s reading not usable: status %s in the last %d s"
                               % (name, "NFMSDCTB"[s] if s < 8 else "?", seconds))
    lo = hi = values[0]
    total = 0
    for x in values:
        total += x
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    limit = _per_mille(cal, spread_key, _full_scale(cal, fs_key))
    if hi - lo > limit:
        raise RuntimeError("%s reading not stable: spread %s %s over %d s (limit %s)"
                           % (name, _fixed(hi - lo, places), unit, seconds,
                              _fixed(limit, places)))
    return (2 * total + size) // (2 * size)


def _ratio(num, den):
    # round(num / den) for den > 0, halves up
    return (2 * num + den) // (2 * den)


def plan(channel, action, ref, cal, edge, raw):
    """The Outcome of ``action`` on ``channel`` with reference ``ref`` and the mean ``raw``
    reading (None for a factor). ``cal``/``edge``: the config sections, not changed here."""
    if action == CAL_FACTOR:
        key, lo, hi = ("kp", KP_MIN, KP_MAX) if channel == CH_DP else ("kv", KV_MIN, KV_MAX)
        before = edge[key]
        if not lo <= ref <= hi:
            return Outcome(CAL_REJECTED, 0, before, ref)
        return Outcome(CAL_APPLIED, 0, before, ref, "edge", {key: ref})
    _, _, _, fs_key, zero_key, zero_max_key, _ = _spec(channel)
    fs = _full_scale(cal, fs_key)
    zero = cal[zero_key]
    zero_max = _per_mille(cal, zero_max_key, fs)
    if channel == CH_CO2:
        gain = cal["co2_gain"]
        reading = co2_value(raw, zero, gain)
        span_min = _per_mille(cal, "span_min", fs)
    else:
        reading = raw - zero
    stamp = fs_key[:-2] + "t"  # co2_t, dp_t
    if action == CAL_CHECK:
        drift = reading - ref
        on_gain = channel == CH_CO2 and ref >= span_min
        before = gain if on_gain else zero
        return Outcome(CAL_CHECKED, reading, before, before, drift=drift,
                       limit=DRIFT_PM * fs // 1000)
    if action == CAL_ZERO:
        # the offset that makes the zero gas read ref under the gain in force
        after = raw - (_ratio(ref * ONE, gain) if channel == CH_CO2 else ref)
        ok = -zero_max <= ref <= zero_max and -zero_max <= after <= zero_max
        return _outcome(ok, reading, zero, after, zero_key, stamp)
    # span (CO2 only): the gain that makes the span gas read ref with the offset in force
    net = raw - zero
    if net <= 0:
        return Outcome(CAL_REJECTED, reading, gain, gain)
    after = _ratio(ref * ONE, net)
    ok = span_min <= ref <= fs and cal["gain_min"] <= after <= cal["gain_max"]
    return _outcome(ok, reading, gain, after, "co2_gain", stamp)


def _outcome(ok, reading, before, after, key, stamp):
    if not ok:
        return Outcome(CAL_REJECTED, reading, before, after)
    return Outcome(CAL_APPLIED, reading, before, after, "cal", {key: after}, stamp)
