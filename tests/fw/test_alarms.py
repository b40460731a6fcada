"""cemt.alarms: every warning's raise and clear, hysteresis at the thresholds, no allocation on
the per-sample and per-minute paths."""
import gc

from cemt import alarms as A
from cemt.config import DEFAULTS
from cemt.schema import B, D, HOUR, M, MINUTE, N, T

T0 = 1767225600


def _alarms(channels=(0, 1, 2, 3, 4), **over):
    s = dict(DEFAULTS["alarms"])
    s.update(over)
    out = []
    a = A.Alarms(lambda code, state, value, limit: out.append((code, state, value, limit)), s,
                 channels)
    return a, out


def minute(co2=1000, mass=50, nv=60):
    return [MINUTE, 0, T0, 1, 1, 0, 60, nv, co2, co2, co2, 1500, 1800, -150, 52000, mass]


def hour(mass, nv=60):
    rec = [0] * 24
    rec[0] = HOUR
    rec[7] = nv
    rec[-1] = mass
    return rec


def test_defaults_name_every_setting_the_module_reads():
    a, out = _alarms()
    assert a.active() == [] and out == []
    assert DEFAULTS["alarms"]["co2_hi"] == 0 and DEFAULTS["alarms"]["clear_pct"] == 90


def test_co2_raises_above_the_limit_clears_below_the_clear_level_and_never_chatters():
    a, out = _alarms(co2_hi=1200)
    for co2 in (1000, 1200, 1199):
        a.period(minute(co2))
    assert out == []  # at the limit is not above it
    for co2 in (1201, 1199, 1250, 1181, 1080, 1150):
        a.period(minute(co2))
    assert out == [(A.CO2_HIGH, 1, 1201, 1200)]  # 1080 is 90 %: held, not cleared
    assert a.active() == [[A.CO2_HIGH, 1150, 1200]]  # the latest value while raised
    a.period(minute(1079))
    assert out[1:] == [(A.CO2_HIGH, 0, 1079, 1200)] and a.active() == []
    for co2 in (1150, 1199, 1200):
        a.period(minute(co2))
    assert len(out) == 2


def test_invalid_minutes_neither_raise_nor_clear_a_level():
    a, out = _alarms(co2_hi=1200)
    a.period(minute(5000, nv=11))
    assert out == []
    a.period(minute(1300))
    a.period(minute(0, nv=0))
    assert out == [(A.CO2_HIGH, 1, 1300, 1200)] and a.raised(A.CO2_HIGH)


def test_a_zero_limit_is_off():
    a, out = _alarms()
    a.period(minute(20000, mass=10 ** 6))
    a.period(hour(10 ** 8))
    assert out == []


def test_minute_rate_and_hour_mass():
    a, out = _alarms(mass_min_hi=300, mass_hour_hi=15000)
    a.period(minute(mass=301))
    a.period(hour(15001))
    a.period(hour(99999, nv=44))  # an invalid hour counts for nothing
    a.period(minute(mass=269))
    assert out == [(A.RATE_HIGH, 1, 301, 300), (A.MASS_HOUR_HIGH, 1, 15001, 15000),
                   (A.RATE_HIGH, 0, 269, 300)]
    a.period(hour(13499))
    assert out[-1] == (A.MASS_HOUR_HIGH, 0, 13499, 15000) and a.active() == []


def _feed(a, statuses, ch=0):
    st = bytearray(6)
    for s in statuses:
        st[ch] = s
        a.sample(st)


def test_sensor_fault_after_n_bad_samples_in_a_row_cleared_by_n_good_ones():
    a, out = _alarms(fault_n=3)
    _feed(a, (D, D, N, B, D, M, T, D, D))
    assert out == []  # never 3 in a row; M and T are no faults
    _feed(a, (B,))
    assert out == [(A.FAULT + 1, 1, B, 3)] and a.active() == [[11, B, 3]]
    _feed(a, (N, N, D, N, M, B, B))
    assert len(out) == 1
    _feed(a, (N, N, N))
    assert out[1] == (A.FAULT + 1, 0, N, 3) and a.active() == []
    _feed(a, (D, D, D), ch=4)
    assert out[2] == (15, 1, D, 3)


def test_only_the_boards_channels_are_watched():
    a, out = _alarms(channels=(0, 2, 5), fault_n=2)
    for ch in (1, 3, 4, 5):
        _feed(a, (B, B, B), ch)
    assert out == []
    _feed(a, (D, D), ch=2)
    assert out == [(13, 1, D, 2)]


def test_stale_after_minutes_without_a_valid_one():
    a, out = _alarms(stale_min=3)
    for _ in range(2):
        a.period(minute(nv=5))
    a.period(minute())  # a valid minute restarts the count
    for _ in range(3):
        a.period(minute(nv=0))
    assert out == [(A.STALE, 1, 3, 3)]
    a.period(minute(nv=11))
    assert a.active() == [[A.STALE, 4, 3]]
    a.period(minute(nv=12))
    assert out[1:] == [(A.STALE, 0, 0, 3)]


class _Uplink:
    acks = 0
    waiting = 0

    def backlog(self):
        return self.waiting


def test_link_down_with_a_backlog_and_no_delivery():
    a, out = _alarms(link_min=3)
    for _ in range(5):
        a.period(minute())  # no uplink: never
    up = _Uplink()
    a.uplink = up
    for _ in range(5):
        a.period(minute())  # nothing to send: the link is not missed
    up.waiting = 40
    for _ in range(3):
        a.period(minute())
    assert out == [(A.LINK_DOWN, 1, 3, 3)]
    a.period(minute())
    up.acks += 1  # a delivery
    a.period(minute())
    assert out[1:] == [(A.LINK_DOWN, 0, 0, 3)]
    for _ in range(2):
        a.period(minute())
    assert len(out) == 2


def _stats(newest, acked, fill, oldest=1):
    return {"oldest": oldest, "newest": newest, "acked": acked, "fill_pct": fill}


def test_backlog_share_of_the_minute_log_with_hysteresis():
    a, out = _alarms(cal_days=0)
    a.housekeep(T0, 1, _stats(0, 0, 0, oldest=0), {})  # an empty log
    a.housekeep(T0, 1, _stats(1000, 500, 80), {})     # 40 % unsent
    assert out == []
    a.housekeep(T0, 1, _stats(1000, 200, 80), {})     # 800 of 1000 held, 80 % full: 64 %
    assert out == [(A.BACKLOG, 1, 64, 50)]
    a.housekeep(T0, 1, _stats(1000, 420, 80), {})     # 46 %: above 45, held
    assert a.active() == [[A.BACKLOG, 46, 50]]
    a.housekeep(T0, 1, _stats(1000, 440, 80), {})     # 44 %: below 45, cleared
    assert out[1:] == [(A.BACKLOG, 0, 44, 50)] and a.active() == []


def test_backlog_counts_records_never_acknowledged_when_the_log_wrapped():
    a, out = _alarms(cal_days=0)
    a.housekeep(T0, 1, _stats(9000, 0, 100, oldest=8001), {})
    assert out == [(A.BACKLOG, 1, 100, 50)]
    a.housekeep(T0, 1, _stats(9000, 8600, 100, oldest=8001), {})
    assert out[1:] == [(A.BACKLOG, 0, 40, 50)]


def test_calibration_due_never_calibrated_then_calibrated_then_old():
    a, out = _alarms(cal_days=30, backlog_pct=0)
    st = _stats(10, 0, 1)
    a.housekeep(T0, 0, st, {})
    assert out == [(31, 1, -1, 30), (32, 1, -1, 30)]
    cal = {"co2_t": T0 - 10 * 86400, "dp_t": T0 - 40 * 86400}
    a.housekeep(T0, 0, st, cal)  # an unset clock tells nothing about the age
    assert len(out) == 2
    a.housekeep(T0, 1, st, cal)
    assert out[2:] == [(31, 0, 10, 30)] and a.active() == [[32, 40, 30]]
    a.housekeep(T0 + 20 * 86400, 1, st, cal)  # exactly 30 days: not above
    a.housekeep(T0 + 20 * 86400 + 1, 1, st, cal)
    assert out[3:] == [(31, 1, 30, 30)]


def test_calibration_due_off_and_only_for_fitted_sensors():
    a, out = _alarms(cal_days=0, backlog_pct=0)
    a.housekeep(T0, 1, _stats(10, 0, 1), {})
    assert out == []
    a, out = _alarms(channels=(1, 2), cal_days=7, backlog_pct=0)
    a.housekeep(T0, 1, _stats(10, 0, 1), {})
    assert out == [(32, 1, -1, 7)]


def test_drift_raised_beyond_the_limit_cleared_by_a_check_within():
    a, out = _alarms()
    a.drift(1, 250, 250)
    a.drift(1, -250, 250)
    assert out == []
    a.drift(1, 251, 250)
    a.drift(1, -300, 250)
    assert out == [(41, 1, 251, 250)] and a.active() == [[41, -300, 250]]
    a.drift(6, -9, 8)
    a.drift(1, 3, 250)
    assert out[1:] == [(46, 1, -9, 8), (41, 0, 3, 250)] and a.active() == [[46, -9, 8]]


def test_samples_and_quiet_minutes_allocate_nothing():
    a, out = _alarms(co2_hi=1200, mass_min_hi=300, fault_n=3, link_min=5, stale_min=5)
    a.uplink = _Uplink()
    st = bytearray(6)
    st[2] = D  # channel 2 stays faulty; channel 1 flickers, never 3 in a row
    rec = minute(1100)
    _feed(a, (D, D, D), ch=2)
    a.period(minute(1300))  # two warnings raised: their values are updated in place
    gc.collect()
    before = gc.mem_alloc()
    for i in range(500):
        st[1] = D if i % 2 else N
        a.sample(st)
        a.period(rec)
    assert gc.mem_alloc() == before
    assert len(out) == 2
