"""cemt.calib: steadiness of the last readings, and the arithmetic and limits of every action."""
from cemt.edge import EdgeConfig  # first: compiling it from source needs the most heap

from array import array

from cemt import calib
from cemt.calib import CAL_CHECK, CAL_CHECKED, needs_reading, plan, steady
from cemt.config import DEFAULTS
from cemt.records import (CAL_APPLIED, CAL_FACTOR, CAL_REJECTED, CAL_SPAN, CAL_ZERO, CH_CO2,
                          CH_DP, CH_PS, CH_TEMP, CH_VEL)


def _cal(**kw):
    c = dict(DEFAULTS["cal"])
    c.update(kw)
    return c


def _edge():
    return dict(DEFAULTS["edge"])


def _hist(values, status=0):
    """The app's ring of the last 10 readings after ``values`` were read (in ring order)."""
    v = array("i", bytes(40))
    st = bytearray(10)
    for i, x in enumerate(values):
        v[i % 10] = x
        st[i % 10] = status
    return v, st, min(len(values), 10)


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return str(e)
    raise AssertionError("no %s" % exc.__name__)


def test_steady_gives_the_rounded_mean():
    cal = _cal()
    assert steady(CH_CO2, *_hist([15000] * 5 + [15001] * 5), cal, 10) == 15001  # 15000.5 up
    assert steady(CH_CO2, *_hist([100, 100, 101, 100, 100, 100, 100, 100, 100, 100]), cal, 10) == 100
    assert steady(CH_DP, *_hist([-3, -4, -3, -4, -3, -4, -3, -4, -3, -5]), cal, 10) == -4
    # the spread limit is inclusive: 1 % of 20 %vol = 0.200 %vol
    assert steady(CH_CO2, *_hist([1000] * 9 + [1200]), cal, 10) == 1020


def test_unsteady_readings_are_refused_with_the_reason():
    cal = _cal()
    msg = _raises(RuntimeError, steady, CH_CO2, *_hist([15000] * 9 + [15350]), cal, 10)
    assert msg == "CO2 reading not stable: spread 0.350 %vol over 10 s (limit 0.200)", msg
    msg = _raises(RuntimeError, steady, CH_DP, *_hist([0] * 9 + [51]), cal, 20)
    assert msg == "\u0394p reading not stable: spread 0.51 Pa over 20 s (limit 0.50)", msg
    msg = _raises(RuntimeError, steady, CH_CO2, *_hist([15000] * 4), cal, 10)
    assert msg == "CO2 reading not ready: 4 of 10 readings since boot", msg
    v, st, n = _hist([15000] * 10)
    st[3] = 4  # one D among them
    msg = _raises(RuntimeError, steady, CH_CO2, v, st, n, cal, 10)
    assert msg == "CO2 reading not usable: status D in the last 10 s", msg
    st[3] = 0  # the fault left the window: usable again
    assert steady(CH_CO2, v, st, n, cal, 10) == 15000
    # limits follow the full scale: 1 % of a 5 %vol analyser is 0.050 %vol
    msg = _raises(RuntimeError, steady, CH_CO2, *_hist([0] * 9 + [60]), _cal(co2_fs=5000), 10)
    assert msg.endswith("spread 0.060 %vol over 10 s (limit 0.050)"), msg
    assert "co2_fs" in _raises(ValueError, steady, CH_CO2, *_hist([0] * 10), _cal(co2_fs=0), 10)


def test_which_actions_exist():
    for ch, act in ((CH_CO2, CAL_ZERO), (CH_CO2, CAL_SPAN), (CH_CO2, CAL_CHECK),
                    (CH_DP, CAL_ZERO), (CH_DP, CAL_CHECK)):
        assert needs_reading(ch, act) is True
    assert needs_reading(CH_DP, CAL_FACTOR) is False and needs_reading(CH_VEL, CAL_FACTOR) is False
    for ch, act in ((CH_CO2, CAL_FACTOR), (CH_DP, CAL_SPAN), (CH_VEL, CAL_ZERO), (CH_VEL, CAL_SPAN),
                    (CH_VEL, CAL_CHECK), (CH_TEMP, CAL_ZERO), (CH_PS, CAL_CHECK)):
        msg = _raises(NotImplementedError, needs_reading, ch, act)
        assert msg.startswith("no ") and ("channel %d" % ch) in msg, msg


def _same(out, result, reading, before, after):
    got = (out.result, out.reading, out.before, out.after)
    assert got == (result, reading, before, after), got


def test_co2_zero_sets_the_offset_that_reads_the_zero_gas_as_its_value():
    out = plan(CH_CO2, CAL_ZERO, 0, _cal(co2_zero=40), _edge(), 170)
    _same(out, CAL_APPLIED, 130, 40, 170)
    assert out.section == "cal" and out.changes == {"co2_zero": 170} and out.stamp == "co2_t"
    assert out.drift is None and out.limit is None
    # a zero gas with a trace of CO2, under a gain of 1.25: 0.100 %vol reads 80 raw units
    out = plan(CH_CO2, CAL_ZERO, 100, _cal(co2_gain=12500), _edge(), 380)
    _same(out, CAL_APPLIED, 475, 0, 300)
    assert calib.co2_value(380, 300, 12500) == 100


def test_co2_zero_limits_reject_and_change_nothing():
    cal = _cal()
    # ±5 % of 20 %vol = ±1.000 %vol offset, inclusive
    _same(plan(CH_CO2, CAL_ZERO, 0, cal, _edge(), 1000), CAL_APPLIED, 1000, 0, 1000)
    for raw in (1001, -1001):
        out = plan(CH_CO2, CAL_ZERO, 0, cal, _edge(), raw)
        _same(out, CAL_REJECTED, raw, 0, raw)  # after: what it computed and refused
        assert out.changes is None and out.section is None and out.stamp is None
    _same(plan(CH_CO2, CAL_ZERO, 1500, cal, _edge(), 1500), CAL_REJECTED, 1500, 0, 0)  # not a zero gas
    assert plan(CH_CO2, CAL_ZERO, 0, _cal(co2_zero_max=20), _edge(), 401).result == CAL_REJECTED
    assert cal == _cal()  # plan never touches the settings


def test_co2_span_sets_the_gain_that_reads_the_span_gas_as_its_value():
    cal = _cal(co2_zero=200)
    out = plan(CH_CO2, CAL_SPAN, 15000, cal, _edge(), 14200)  # net 14000 reads 15000
    _same(out, CAL_APPLIED, 14000, 10000, 10714)
    assert out.changes == {"co2_gain": 10714} and out.stamp == "co2_t"
    assert abs(calib.co2_value(14200, 200, 10714) - 15000) <= 1
    # rounding: 1 / 1.0001 = 0.99990001 -> 9999
    _same(plan(CH_CO2, CAL_SPAN, 10000, _cal(), _edge(), 10001), CAL_APPLIED, 10001, 10000, 9999)


def test_co2_span_limits():
    cal = _cal()
    edge = _edge()
    # gain 0.80 .. 1.20 inclusive
    assert plan(CH_CO2, CAL_SPAN, 12000, cal, edge, 10000).result == CAL_APPLIED
    assert plan(CH_CO2, CAL_SPAN, 8000, cal, edge, 10000).result == CAL_APPLIED
    _same(plan(CH_CO2, CAL_SPAN, 12010, cal, edge, 10000), CAL_REJECTED, 10000, 10000, 12010)
    _same(plan(CH_CO2, CAL_SPAN, 7990, cal, edge, 10000), CAL_REJECTED, 10000, 10000, 7990)
    # span gas at least 20 % of full scale (4.000 %vol) and at most full scale
    assert plan(CH_CO2, CAL_SPAN, 4000, cal, edge, 4000).result == CAL_APPLIED
    _same(plan(CH_CO2, CAL_SPAN, 3999, cal, edge, 3999), CAL_REJECTED, 3999, 10000, 10000)
    _same(plan(CH_CO2, CAL_SPAN, 20001, cal, edge, 20001), CAL_REJECTED, 20001, 10000, 10000)
    # nothing above the offset: no gain to compute
    _same(plan(CH_CO2, CAL_SPAN, 15000, _cal(co2_zero=500), edge, 500), CAL_REJECTED, 0, 10000,
          10000)
    out = plan(CH_CO2, CAL_SPAN, 15000, _cal(gain_max=13000), edge, 11600)
    assert out.result == CAL_APPLIED and out.after == 12931


def test_dp_zero_with_the_lines_vented():
    out = plan(CH_DP, CAL_ZERO, 0, _cal(dp_zero=10), _edge(), 37)
    _same(out, CAL_APPLIED, 27, 10, 37)
    assert out.changes == {"dp_zero": 37} and out.stamp == "dp_t"
    # ±1 % of 500 Pa = ±5.00 Pa
    assert plan(CH_DP, CAL_ZERO, 0, _cal(), _edge(), -500).result == CAL_APPLIED
    out = plan(CH_DP, CAL_ZERO, 0, _cal(), _edge(), 501)
    _same(out, CAL_REJECTED, 501, 0, 501)
    assert out.changes is None
    # a reference of +1.00 Pa across the lines (a manometer)
    _same(plan(CH_DP, CAL_ZERO, 100, _cal(), _edge(), 130), CAL_APPLIED, 130, 0, 30)
    assert plan(CH_DP, CAL_ZERO, 0, _cal(dp_fs=100000), _edge(), 1000).result == CAL_APPLIED


def test_factors_set_kp_and_kv_within_the_edge_ranges():
    edge = _edge()
    out = plan(CH_DP, CAL_FACTOR, 8123, _cal(), edge, None)
    _same(out, CAL_APPLIED, 0, 8400, 8123)
    assert out.section == "edge" and out.changes == {"kp": 8123} and out.stamp is None
    out = plan(CH_VEL, CAL_FACTOR, 9600, _cal(), edge, None)
    _same(out, CAL_APPLIED, 0, 10000, 9600)
    assert out.changes == {"kv": 9600}
    for ch, lo, hi, before in ((CH_DP, calib.KP_MIN, calib.KP_MAX, 8400),
                               (CH_VEL, calib.KV_MIN, calib.KV_MAX, 10000)):
        for ref in (lo, hi):
            assert plan(ch, CAL_FACTOR, ref, _cal(), edge, None).result == CAL_APPLIED
        for ref in (lo - 1, hi + 1, 0, -8400):
            out = plan(ch, CAL_FACTOR, ref, _cal(), edge, None)
            _same(out, CAL_REJECTED, 0, before, ref)
            assert out.changes is None


def test_factor_limits_are_what_the_edge_accepts():
    EdgeConfig(kp=calib.KP_MIN, kv=calib.KV_MIN)
    EdgeConfig(kp=calib.KP_MAX, kv=calib.KV_MAX)
    for kw in ({"kp": calib.KP_MIN - 1}, {"kp": calib.KP_MAX + 1}, {"kv": calib.KV_MIN - 1},
               {"kv": calib.KV_MAX + 1}):
        _raises(ValueError, lambda: EdgeConfig(**kw))


def test_checks_record_drift_and_change_nothing():
    cal = _cal(co2_zero=100, co2_gain=10500)
    out = plan(CH_CO2, CAL_CHECK, 0, cal, _edge(), 350)  # a zero check: reads 0.262 %vol
    _same(out, CAL_CHECKED, 262, 100, 100)
    assert (out.drift, out.limit) == (262, 500) and out.changes is None and out.stamp is None
    out = plan(CH_CO2, CAL_CHECK, 15000, cal, _edge(), 14000)  # a span check: on the gain
    _same(out, CAL_CHECKED, 14595, 10500, 10500)
    assert (out.drift, out.limit) == (-405, 500) and out.changes is None
    out = plan(CH_DP, CAL_CHECK, 0, _cal(dp_zero=-20), _edge(), -1400)
    _same(out, CAL_CHECKED, -1380, -20, -20)
    assert (out.drift, out.limit) == (-1380, 1250)  # 2.5 % of 500 Pa
    # a check beyond every zero/span limit is still only a check
    out = plan(CH_CO2, CAL_CHECK, 0, _cal(), _edge(), 9000)
    assert out.result == CAL_CHECKED and out.drift == 9000
