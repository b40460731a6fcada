"""Realistic stack records for the ring-log tests and bench, as pure functions of (seed, index).

A minute record is what the edge makes of a noisy 1 Hz signal averaged over 60 s: a slowly
changing process (load cycles of hours) plus per-sample noise of sigma ``noise``% of the nominal
figures below (CO2 0.2 %vol, velocity 0.5 m/s, temperature 0.5 degC, static pressure 10 Pa),
so the minute average carries noise sigma/sqrt(60) and the min/max sit about 2.3 sigma away from
it. Once a day the analyser calibrates for five minutes (flag C, no valid samples, all zeros);
now and then a minute has 59 or 61 samples or a gap follows a reset. Integer arithmetic only,
so MicroPython and CPython produce the same records.
"""
T0 = 1767225600  # 2026-01-01T00:00:00Z
_M = 0xFFFFFFFF


def _hash(seed, i, f):
    x = (i * 0x9E3779B1 + f * 0x85EBCA77 + seed * 0xC2B2AE3D) & _M
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M
    return x ^ (x >> 16)


def _gauss(seed, i, f, sigma100):
    """About normal, sigma = sigma100 / 100 units (a sum of three uniforms)."""
    x = _hash(seed, i, f)
    s = (x & 1023) + ((x >> 10) & 1023) + ((x >> 20) & 1023)
    return (2 * s - 3069) * sigma100 // 102400


def _tri(i, period):
    """Triangle wave in -1000..1000 with ``period`` steps."""
    p = (i % period) * 4000 // period
    return p - 1000 if p < 2000 else 3000 - p


def minute_time(i):
    return T0 + 60 * i + 300 * (i // 997)  # a five-minute gap (a reset) every 997 minutes


def minute(i, seed=1, noise=100):
    """The i-th minute record (seq 0) of a realistic stack at ``noise`` percent of nominal noise."""
    t = minute_time(i)
    if i % 1440 >= 1435:  # the daily five-minute calibration
        return [1, 0, t, 2, 3, 5, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    n = 60 + (_hash(seed, i, 99) % 3 - 1 if i % 211 == 0 else 0)
    s_co2 = 20 * noise  # per-sample sigma, hundredths of a unit
    s_vel = 50 * noise
    s_tmp = 5 * noise
    s_ps = 10 * noise
    co2 = 1200 + 40 * _tri(i, 480) // 1000 + _gauss(seed, i, 1, s_co2 * 100 // 775)
    spread = 232 * s_co2 // 10000
    co2_min = co2 - spread - _gauss(seed, i, 2, 42 * s_co2 // 100)
    co2_max = co2 + spread + _gauss(seed, i, 3, 42 * s_co2 // 100)
    vel = 1500 + 100 * _tri(i, 360) // 1000 + _gauss(seed, i, 4, s_vel * 100 // 775)
    temp = 1500 + 20 * _tri(i, 1440) // 1000 + _gauss(seed, i, 5, s_tmp * 100 // 775)
    ps = -150 + _gauss(seed, i, 6, s_ps * 100 // 775)
    qsn = vel * 72 * 27315 // (27315 + temp * 10) * 92 // 100
    mass = co2 * qsn * 32725 // 100000000 + _gauss(seed, i, 7, 2 * noise)
    return [1, 0, t, 2, 3, 0, n, n, co2, co2_min, co2_max, vel, temp, ps, qsn, mass]


def hour(i, seed=1, noise=100):
    """The i-th hour record: averages of minutes, with hour-long min/max spreads."""
    t = T0 + 3600 * i
    g = _gauss
    co2 = 1200 + 40 * _tri(i, 8) // 1000 + g(seed, i, 11, 3 * noise)
    vel = 1500 + 100 * _tri(i, 6) // 1000 + g(seed, i, 12, 6 * noise)
    temp = 1500 + 20 * _tri(i, 24) // 1000 + g(seed, i, 13, noise)
    qsn = vel * 72 * 27315 // (27315 + temp * 10) * 92 // 100
    return [2, 0, t, 2, 3, 0, 60, 60 - (i % 24 == 23) * 5,
            co2, co2 - 60 - g(seed, i, 14, 8 * noise), co2 + 60 + g(seed, i, 15, 8 * noise),
            vel, vel - 150 - g(seed, i, 16, 20 * noise), vel + 150 + g(seed, i, 17, 20 * noise),
            temp, temp - 15 - g(seed, i, 18, 3 * noise), temp + 15 + g(seed, i, 19, 3 * noise),
            -150 + g(seed, i, 20, noise), 101000 + 200 * _tri(i, 72) // 1000,
            800 + g(seed, i, 21, 10 * noise),
            qsn, qsn - 600 - g(seed, i, 22, 80 * noise), qsn + 600 + g(seed, i, 23, 80 * noise),
            co2 * qsn * 32725 * 60 // 100000000 + g(seed, i, 24, 20 * noise)]


def day(i, seed=1):
    t = T0 + 86400 * i
    h = hour(i * 24, seed)
    return [3, 0, t, 2, 3, 0, 24, 24] + h[8:]
