"""``Node.calibrate`` of the real app: scripted sensors on every edge channel, real ring logs on
a NOR image, real settings; the sampler's step is driven by hand on a virtual clock.

Run by tests/test_calib_app.py (``tools/fwrun.py calib_app``) with the device's heap: the app
does not fit 64K on the 64-bit unix port (tests/test_app.py says why).
"""
import os

from cemt import app, records
from cemt.config import Config
from cemt.edge import CO2, DP, PA, PS, TEMP
from cemt.hardware import Channel, Hardware
from cemt.rpc import Rpc
from cemt.rpcops import FAILED, UNSUPPORTED
from cemt.schema import CALIBRATION, CONFIG, MINUTE

from rpc_client import call, err, ok

T0 = 1767225600
TMP = "/tmp/cemt_test_calib_"
CH_CO2, CH_DP, CH_VEL = records.CH_CO2, records.CH_DP, records.CH_VEL
ZERO, SPAN, FACTOR, CHECK = 1, 2, 3, 4


class Sensor:
    """A driver reading ``value`` plus an alternating ``noise``, with ``status``."""

    def __init__(self, value):
        self.value = value
        self.noise = 0
        self.status = 0
        self.errors = (0,)
        self._n = 0

    def read(self):
        self._n += 1
        return self.value + (self.noise if self._n % 2 else -self.noise)


def _rm(*names):
    for n in names:
        for p in (TMP + n, TMP + n + ".new"):
            try:
                os.remove(p)
            except OSError:
                pass


def _node(sensors=True):
    _rm("flash.img", "flash.img.erases", "config.json")
    hw = Hardware({"name": "bench", "port": "unix", "clock": {"start": T0},
                   "flash": {"main": {"path": TMP + "flash.img", "block_size": 4096,
                                      "blocks": 12}},
                   "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 8},
                            "long": {"flash": "main", "first_block": 8, "blocks": 4}}})
    s = {}
    if sensors:
        # 12 %vol CO2, 100 Pa across the pitot, 150 degC, -150 Pa static, 101325 Pa ambient
        for index, value in ((CO2, 12000), (DP, 10000), (TEMP, 15000), (PS, -150), (PA, 101325)):
            s[index] = Sensor(value)
            hw.channels.append(Channel(index, s[index], 1))
    node = app.Node(hw, Config(TMP + "config.json"), 1)
    node.sensors = s
    return node


def _step(node, n=10):
    """``n`` samples, as the sampler takes them: read, feed the edge, one second on."""
    for _ in range(n):
        node.read_channels()
        node.edge.sample(node.clock.now(), node.clock.quality, node.values, node.status)
        node.samples += 1
        node.clock.advance(1000)


def _long(node, kind=None):
    lg = node.long_log
    return [r[:] for r in lg.iter_from(lg.first_seq) if kind is None or r[0] == kind]


def _minutes(node):
    lg = node.minute_log
    return [r[:] for r in lg.iter_from(lg.first_seq)]


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return str(e)
    raise AssertionError("no %s" % exc.__name__)


def _cal(ch, action, ref, **kw):
    req = {"channel": ch, "action": action, "ref": ref}
    req.update(kw)
    return req


class Spy:
    def __init__(self):
        self.calls = []

    def drift(self, channel, drift, limit):
        self.calls.append((channel, drift, limit))


def test_co2_zero_applies_at_once_saves_and_logs():
    node = _node()
    node.sensors[CO2].value = 170  # zero gas: the analyser reads 0.170 %vol
    _step(node)
    t = node.clock.now()
    res = node.calibrate(_cal(CH_CO2, ZERO, 0))
    assert res == {"result": 0, "reading": 170, "before": 0, "after": 170, "ver": 2}, res
    assert node.config.ver == 2 and node.cal["co2_zero"] == 170 and node.cal["co2_t"] == t
    saved = Config(TMP + "config.json")
    assert saved.ver == 2 and saved.get("cal", "co2_zero") == 170 and saved.get("cal", "co2_t") == t
    cfg = sorted(r[5:] for r in _long(node, CONFIG))
    assert cfg == [["cal.co2_t", 0, t, 0], ["cal.co2_zero", 0, 170, 0]], cfg
    assert all(r[4] == 2 for r in _long(node, CONFIG))
    cal = _long(node, CALIBRATION)
    assert cal == [[CALIBRATION, cal[0][1], t, 0, 2, CH_CO2, ZERO, 0, 170, 0, 170, 0]], cal
    assert node.long_log.last_seq == cal[0][1]  # the calibration record comes last
    _step(node, 1)
    assert node.values[CO2] == 0  # the next reading is corrected already


def test_co2_span_after_zero_reads_the_span_gas():
    node = _node()
    node.sensors[CO2].value = 230
    _step(node)
    node.calibrate(_cal(CH_CO2, ZERO, 0))
    node.sensors[CO2].value = 14230  # span gas of 15.000 %vol reads 14.000 above the zero
    _step(node)
    res = node.calibrate(_cal(CH_CO2, SPAN, 15000))
    assert res == {"result": 0, "reading": 14000, "before": 10000, "after": 10714, "ver": 3}, res
    _step(node, 1)
    assert abs(node.values[CO2] - 15000) <= 1 and node.cal["co2_gain"] == 10714
    assert Config(TMP + "config.json").get("cal", "co2_gain") == 10714
    assert [r[5:] for r in _long(node, CALIBRATION)] == [[1, 1, 0, 230, 0, 230, 0],
                                                        [1, 2, 15000, 14000, 10000, 10714, 0]]


def test_new_records_carry_the_new_version():
    node = _node()
    node.sensors[CO2].value = 100
    _step(node, 30)
    node.calibrate(_cal(CH_CO2, ZERO, 0))
    _step(node, 40)  # the minute closes after the calibration: it carries version 2
    node.sensors[CO2].value = 200
    _step(node, 50)  # to 2 minutes, exactly
    assert [m[4] for m in _minutes(node)] == [2]
    node.calibrate(_cal(CH_CO2, ZERO, 0))  # the minute that just ended keeps version 2
    assert [m[4] for m in _minutes(node)] == [2, 2] and node.edge._ver == 3
    _step(node, 1)  # and the sample at the start of the next one is taken
    assert node.edge.rejected == 0 and node.values[CO2] == 0


def test_a_rejected_zero_changes_nothing_but_is_logged():
    node = _node()
    node.sensors[CO2].value = 1500  # 1.5 %vol on "zero gas": beyond 5 % of full scale
    _step(node)
    with open(TMP + "config.json", "w") as f:
        f.write("{}")
    res = node.calibrate(_cal(CH_CO2, ZERO, 0))
    assert res == {"result": 1, "reading": 1500, "before": 0, "after": 1500, "ver": 1}, res
    assert node.config.ver == 1 and node.cal["co2_zero"] == 0 and node.cal["co2_t"] == 0
    assert node.config.get("cal", "co2_zero") == 0
    with open(TMP + "config.json") as f:
        assert f.read() == "{}"  # not saved
    assert _long(node, CONFIG) == []
    assert [r[4:] for r in _long(node, CALIBRATION)] == [[1, 1, 1, 0, 1500, 0, 1500, 1]]
    _step(node, 1)
    assert node.values[CO2] == 1500
    node.sensors[CO2].value = 15000
    _step(node)
    res = node.calibrate(_cal(CH_CO2, SPAN, 3000))  # span gas below 20 % of full scale
    assert res["result"] == 1 and res["ver"] == 1 and node.cal["co2_gain"] == 10000


def test_unsteady_or_faulty_readings_fail_and_log_nothing():
    node = _node()
    last = node.long_log.last_seq
    msg = _raises(RuntimeError, node.calibrate, _cal(CH_CO2, ZERO, 0))
    assert msg == "CO2 reading not ready: 0 of 10 readings since boot", msg
    node.sensors[CO2].value = 100
    node.sensors[CO2].noise = 175  # swings 0.350 %vol
    _step(node)
    msg = _raises(RuntimeError, node.calibrate, _cal(CH_CO2, ZERO, 0))
    assert msg == "CO2 reading not stable: spread 0.350 %vol over 10 s (limit 0.200)", msg
    node.sensors[DP].value = 3
    node.sensors[DP].status = 4
    _step(node)
    msg = _raises(RuntimeError, node.calibrate, _cal(CH_DP, CHECK, 0))
    assert msg == "\u0394p reading not usable: status D in the last 10 s", msg
    assert node.long_log.last_seq == last and node.config.ver == 1
    r = Rpc(node)  # through the command protocol: failed, the message says why
    e = call(r, {"id": 1, "op": "calibrate", "channel": 1, "action": 1, "ref": 0})
    assert err(e) == FAILED and "not stable" in e[-1]["msg"], e
    assert node.long_log.last_seq == last


def test_dp_zero_and_check_on_the_vented_lines():
    node = _node()
    node.sensors[DP].value = 37  # vented: 0.37 Pa offset
    _step(node)
    res = node.calibrate(_cal(CH_DP, ZERO, 0))
    assert res == {"result": 0, "reading": 37, "before": 0, "after": 37, "ver": 2}, res
    assert node.cal["dp_t"] == node.clock.now() and node.cal["co2_t"] == 0
    _step(node, 1)
    assert node.values[DP] == 0
    node.sensors[DP].value = 80
    _step(node)
    spy = Spy()
    node.alarms = spy
    res = node.calibrate(_cal(CH_DP, CHECK, 0))
    assert res == {"result": 3, "reading": 43, "before": 37, "after": 37, "ver": 2,
                   "drift": 43, "limit": 1250}, res
    assert spy.calls == [(CH_DP, 43, 1250)]
    assert node.cal["dp_zero"] == 37 and node.config.ver == 2
    assert _long(node, CALIBRATION)[-1][4:] == [2, CH_DP, CHECK, 0, 43, 37, 37, 3]


def test_co2_check_calls_the_alarms_hook_when_there_is_one():
    node = _node()
    node.sensors[CO2].value = 15700
    _step(node)
    spy = Spy()
    node.alarms = spy
    res = node.calibrate(_cal(CH_CO2, CHECK, 15000))
    assert res["result"] == 3 and res["drift"] == 700 and res["limit"] == 500
    assert res["before"] == res["after"] == 10000  # a span check: the gain
    assert spy.calls == [(CH_CO2, 700, 500)] and node.config.ver == 1
    node.alarms = None
    assert node.calibrate(_cal(CH_CO2, CHECK, 15000))["drift"] == 700
    assert len(_long(node, CALIBRATION)) == 2 and _long(node, CONFIG) == []


def test_factors_change_the_velocity_at_once():
    node = _node()
    _step(node, 60)
    node.calibrate(_cal(CH_DP, FACTOR, 10500))  # Kp 0.84 -> 1.05: velocities x 1.25
    node.calibrate(_cal(CH_VEL, FACTOR, 8000))  # Kv 1.0 -> 0.8: x 0.8, so x 1.0 overall
    _step(node, 60)
    node.calibrate(_cal(CH_VEL, FACTOR, 12000, source=1))  # x 1.5 from here, over RS485
    _step(node, 61)
    mins = _minutes(node)
    vel = [m[11] for m in mins]
    assert [m[4] for m in mins] == [1, 3, 4], mins
    assert vel[0] > 0 and abs(vel[1] - vel[0]) <= 1 and abs(vel[2] * 2 - vel[0] * 3) <= 2, vel
    assert node.edge._kp == 10500 and node.edge._kv == 12000
    saved = Config(TMP + "config.json")
    assert saved.get("edge", "kp") == 10500 and saved.get("edge", "kv") == 12000
    cfg = [r[5:] for r in _long(node, CONFIG)]
    assert cfg == [["edge.kp", 8400, 10500, 0], ["edge.kv", 10000, 8000, 0],
                   ["edge.kv", 8000, 12000, 1]], cfg
    assert [r[5:] for r in _long(node, CALIBRATION)] == [
        [CH_DP, FACTOR, 10500, 0, 8400, 10500, 0], [CH_VEL, FACTOR, 8000, 0, 10000, 8000, 0],
        [CH_VEL, FACTOR, 12000, 0, 8000, 12000, 0]]
    res = node.calibrate(_cal(CH_DP, FACTOR, 20000))  # beyond what the edge can compute with
    assert res == {"result": 1, "reading": 0, "before": 10500, "after": 20000, "ver": 4}, res
    assert node.edge._kp == 10500
    res = node.calibrate(_cal(CH_DP, FACTOR, 10500))  # the same again: applied, no new version
    assert res["result"] == 0 and res["ver"] == 4 and node.config.ver == 4


def test_settings_waiting_for_a_reboot_block_changes_but_not_checks():
    node = _node()
    node.sensors[CO2].value = 200
    _step(node)
    node.configure("edge", {"area": 20000}, 0)  # applies at the next boot
    msg = _raises(RuntimeError, node.calibrate, _cal(CH_CO2, ZERO, 0))
    assert msg == "edge.area was changed and applies at the next boot: reboot before calibrating"
    assert node.calibrate(_cal(CH_CO2, CHECK, 0))["result"] == 3
    node2 = _node()
    node2.configure("cal", {"co2_gain": 9000}, 0)
    assert "cal.co2_gain" in _raises(RuntimeError, node2.calibrate, _cal(CH_VEL, FACTOR, 9000))
    node2.configure("cal", {"co2_spread": 20}, 0)  # limits are read at each calibration


def test_a_calibration_that_cannot_be_saved_is_aborted():
    node = _node()
    node.sensors[CO2].value = 300
    _step(node)
    node.config.path = "/nonexistent/cemt/config.json"
    res = node.calibrate(_cal(CH_CO2, ZERO, 0))
    assert res == {"result": 2, "reading": 300, "before": 0, "after": 300, "ver": 1}, res
    assert node.config.ver == 1 and node.config.get("cal", "co2_zero") == 0
    assert node.config.get("cal", "co2_t") == 0 and node.cal["co2_zero"] == 0
    assert _long(node, CONFIG) == []
    assert _long(node, CALIBRATION)[-1][4:] == [1, CH_CO2, ZERO, 0, 300, 0, 300, 2]


def test_what_cannot_be_calibrated_is_unsupported():
    node = _node()
    for req in (_cal(3, ZERO, 0), _cal(CH_CO2, FACTOR, 9000), _cal(CH_DP, SPAN, 100),
                _cal(CH_VEL, CHECK, 500)):
        _raises(NotImplementedError, node.calibrate, req)
    bare = _node(sensors=False)
    msg = _raises(NotImplementedError, bare.calibrate, _cal(CH_CO2, ZERO, 0))
    assert msg == "this board has no co2 sensor", msg
    assert bare.calibrate(_cal(CH_VEL, FACTOR, 9000))["result"] == 0  # a factor needs none
    e = call(Rpc(bare), {"id": 2, "op": "calibrate", "channel": 2, "action": 4, "ref": 0})
    assert err(e) == UNSUPPORTED and e[-1]["msg"] == "this board has no dp sensor"
    res = ok(call(Rpc(bare), {"id": 3, "op": "calibrate", "channel": 6, "action": 3,
                              "ref": 9500}))
    assert res["result"] == 0 and res["after"] == 9500
    assert _long(bare, CALIBRATION)[-1][5:] == [CH_VEL, FACTOR, 9500, 0, 9000, 9500, 0]


def test_over_rs485_the_change_is_logged_as_remote():
    from rpc_client import nonce
    node = _node()
    node.key = b"k" * 32
    node.sensors[DP].value = -25
    _step(node)
    r = Rpc(node)
    req = {"id": 4, "op": "calibrate", "channel": 2, "action": 1, "ref": 0, "nonce": nonce(r)}
    res = ok(call(r, req, remote=True, addr=7, key=node.key))
    assert res["result"] == 0 and res["after"] == -25 and res["ver"] == 2
    assert sorted(r[5:] for r in _long(node, CONFIG)) == [
        ["cal.dp_t", 0, node.clock.now(), 1], ["cal.dp_zero", 0, -25, 1]]


def test_the_raw_ring_keeps_the_last_ten_without_allocating():
    import gc
    import micropython
    r = app.Recent()
    for v in range(25):
        r.add(v, 4 if v < 12 else 0)
    assert r.n == 10 and sorted(r.values) == list(range(15, 25)) and not any(r.status)
    gc.collect()
    micropython.heap_lock()
    try:
        for v in range(100):
            r.add(-v * 1000, 0)
    finally:
        micropython.heap_unlock()
    assert sorted(r.values) == [-99000 + 1000 * i for i in range(10)]
