"""Calibration and maintenance mode on the real app (``Node.maint``): scripted sensors, real ring
logs and settings (the node of tests/fw/calib_app.py), the sampler's step driven by hand on a
virtual clock.

Run by tests/test_maint_app.py (``tools/fwrun.py maint_app``) with the device's heap: the app
does not fit 64K on the 64-bit unix port (tests/test_app.py says why).
"""
from cemt import app, records
from cemt.alarms import CAL_MODE, FAULT, MAINT_MODE
from cemt.config import Config
from cemt.edge import CO2, DP
from cemt.rpc import Rpc
from cemt.rpcops import BAD_REQUEST, FAILED
from cemt.schema import ALARM, C, CALIBRATION, D, M, N

import alarms_node
import calib_app
from alarms_node import _node as sampled_node
from alarms_node import _run
from calib_app import _long, _minutes, _node, _raises, _step
from rpc_client import call, err, ok

EDGE_CHANNELS = 5  # the scripted node has CO2, dp, temp, ps and pa
# Files of our own: those tests' nodes may be running at the same time
TMP = calib_app.TMP = "/tmp/cemt_test_maint_"
alarms_node.TMP = "/tmp/cemt_test_maint_sampled_"


def _alarms(node):
    return [r[5:9] for r in _long(node, ALARM)]  # code, state, value, limit


def test_a_mode_gives_the_edge_its_status_and_keeps_the_sensors_own():
    node = _node()
    _step(node, 3)
    assert list(node.status[:EDGE_CHANNELS]) == [N] * EDGE_CHANNELS
    t = node.clock.now()
    assert node.set_mode(C, 600) == (C, t + 600)
    _step(node, 1)
    assert list(node.status[:EDGE_CHANNELS]) == [C] * EDGE_CHANNELS
    assert list(node.sensor[:EDGE_CHANNELS]) == [N] * EDGE_CHANNELS
    assert node.live()["co2"] == (1200, C)  # 12.00 %vol, calibration
    assert node.raw[CO2].status[0] == N and node.raw[DP].status[0] == N
    node.sensors[DP].status = D  # a fault stays the sensor's own
    _step(node, 1)
    assert node.sensor[DP] == D and node.status[DP] == C
    assert node.set_mode(M, 60) == (M, node.clock.now() + 60)  # another mode: the first ends
    _step(node, 1)
    assert node.status[CO2] == M
    assert node.set_mode(0, 1800) == (0, 0)
    _step(node, 1)
    assert node.status[CO2] == N and node.status[DP] == D
    assert _alarms(node)[:2] == [[CAL_MODE, 1, 600, 600], [CAL_MODE, 0, 598, 600]]
    assert _alarms(node)[2:] == [[MAINT_MODE, 1, 60, 60], [MAINT_MODE, 0, 59, 60]]


def test_calibration_minutes_are_flagged_c_invalid_and_without_mass():
    node = _node()
    _step(node, 60)  # minute 0: normal
    node.set_mode(C, 1800)
    _step(node, 120)  # minutes 1 and 2 in calibration
    node.set_mode(0, 0)
    _step(node, 61)  # minute 3 normal again, closed by the first sample of minute 4
    mins = _minutes(node)
    assert len(mins) == 4, mins
    flag, n, nv, mass = 5, 6, 7, 15
    assert [m[flag] for m in mins] == [N, C, C, N], mins
    assert [m[n] for m in mins] == [60, 60, 60, 60]
    assert [m[nv] for m in mins] == [60, 0, 0, 60]
    assert mins[0][mass] > 0 and mins[1][mass] == 0 and mins[2][mass] == 0
    assert abs(mins[3][mass] - mins[0][mass]) <= 1  # the edge carries its rounding remainder


def test_a_calibration_in_calibration_mode_judges_the_sensor():
    node = _node()
    node.set_mode(C, 600)
    node.sensors[CO2].value = 170  # zero gas
    _step(node)
    res = node.calibrate({"channel": records.CH_CO2, "action": 1, "ref": 0})
    assert res["result"] == 0 and res["after"] == 170, res
    _step(node, 1)
    assert node.values[CO2] == 0 and node.status[CO2] == C
    assert len(_long(node, CALIBRATION)) == 1


def test_the_mode_ends_by_itself_at_its_time():
    node = _node()
    _step(node, 2)
    t = node.clock.now()
    node.set_mode(M, 30)
    _step(node, 29)
    assert node.maint_state() == (M, t + 30)
    _step(node, 1)  # the sample at t+29 is the last of the mode
    assert node.status[CO2] == M and node.maint_state() is None and node.mode == 0
    _step(node, 1)
    assert node.status[CO2] == N
    assert _alarms(node) == [[MAINT_MODE, 1, 30, 30], [MAINT_MODE, 0, 0, 30]]
    assert node.alarms.active() == []


def test_a_renewal_moves_the_end_and_logs_nothing():
    node = _node()
    node.set_mode(C, 30)
    _step(node, 20)
    t = node.clock.now()
    assert node.set_mode(C, 30) == (C, t + 30)
    _step(node, 30)
    assert node.status[CO2] == C and len(_alarms(node)) == 1
    _step(node, 1)
    assert node.status[CO2] == N and _alarms(node) == [[CAL_MODE, 1, 30, 30],
                                                       [CAL_MODE, 0, 0, 30]]


def test_a_mode_whose_time_is_up_is_ended_before_a_new_one_even_between_samples():
    node = _node()
    node.set_mode(C, 10)
    node.clock.advance(20000)  # no sample in between
    node.set_mode(C, 10)
    assert _alarms(node) == [[CAL_MODE, 1, 10, 10], [CAL_MODE, 0, 0, 10], [CAL_MODE, 1, 10, 10]]


def test_a_clock_set_back_before_the_start_ends_the_mode():
    node = _node()
    node.set_mode(C, 600)
    _step(node, 5)
    node.clock.set(node.clock.now() - 3600, 1)
    _step(node, 1)
    assert node.status[CO2] == N and node.mode == 0
    assert _alarms(node)[-1][:2] == [CAL_MODE, 0]


def test_a_reboot_ends_the_mode_with_its_record():
    node = _node()
    node.set_mode(C, 600)
    _step(node, 10)
    resets = []
    node.hw.reset = lambda: resets.append(1)
    node.reboot()
    assert resets == [1] and node.mode == 0
    assert _alarms(node) == [[CAL_MODE, 1, 600, 600], [CAL_MODE, 0, 590, 600]]
    # a new boot starts without it (the mode lives in RAM)
    again = app.Node(node.hw, Config(TMP + "config.json"), 2)
    assert again.mode == 0 and again.maint_state() is None


def test_info_and_live_over_the_protocol():
    node = _node()
    r = Rpc(node)
    _step(node, 2)
    assert "maint" not in ok(call(r, {"id": 1, "op": "info"}))
    until = ok(call(r, {"id": 2, "op": "maint", "mode": "cal", "s": 120}))["until"]
    assert until == node.clock.now() + 120
    _step(node, 1)
    info = ok(call(r, {"id": 3, "op": "info"}))
    assert info["maint"] == ["cal", until] and [50, 120, 120] in info["alarms"]
    live = ok(call(r, {"id": 4, "op": "live"}))
    assert live["maint"] == ["cal", until] and live["ch"]["co2"] == [1200, C]
    assert live["sensor"] == {"co2": N, "dp": N, "temp": N, "ps": N, "pa": N}
    assert ok(call(r, {"id": 5, "op": "maint", "mode": "off"})) == {"mode": "off", "until": 0}
    _step(node, 1)
    live = ok(call(r, {"id": 6, "op": "live"}))
    assert "maint" not in live and "sensor" not in live and live["ch"]["co2"] == [1200, N]


def test_the_op_names_its_modes_and_refuses_others():
    node = _node()
    t = node.clock.now()
    assert node.maint("cal", 60) == {"mode": "cal", "until": t + 60} and node.mode == C
    assert node.maint("maint", 60) == {"mode": "maint", "until": t + 60} and node.mode == M
    for bad in ("on", b"cal", None, 5):
        assert _raises(ValueError, node.maint, bad, 60) == 'mode must be "cal", "maint" or "off"'
    assert node.mode == M
    assert node.maint("off", 1800) == {"mode": "off", "until": 0} and node.mode == 0
    res = call(Rpc(node), {"id": 1, "op": "maint", "mode": "on"})
    assert err(res) == BAD_REQUEST


def test_a_safe_node_refuses_a_mode():
    node = _node(sensors=False)
    safe = app.Node(node.hw, Config(TMP + "config.json"), 4, safe=True)
    res = call(Rpc(safe), {"id": 1, "op": "maint", "mode": "cal"})
    assert err(res) == FAILED and res[0]["msg"] == "safe mode: nothing is sampled"


def test_the_sampler_gives_the_fault_watch_the_sensors_status():
    node = sampled_node(fault_n=30, stale_min=0, cal_days=0)
    _run(node, 5)
    node.set_mode(C, 600)
    node.hw.channels[0].driver.status = D
    _run(node, 40)  # the real sampler: the edge gets C, the fault watch the analyser's D
    assert node.status[CO2] == C and node.sensor[CO2] == D
    assert [a[0] for a in node.alarms.active()] == [FAULT + 1, CAL_MODE]
