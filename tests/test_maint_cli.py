"""cemtool maint and calibration mode around cemtool calibrate, end to end against the real
console and dispatcher with the fake node of tests/fw/cli_device_node.py (its mode kept as the
app keeps it), and the pieces of cemtool.device behind them."""
from __future__ import annotations

import json

import pytest

from cemtool import device as dv
from cemtool.link import Link, LinkTimeout, SerialTransport

from test_cli_device import Board, cli, one_error_line

C, M = 5, 2


def node_stats(port: str) -> dict:
    with Link(SerialTransport(port), timeout=3) as link:
        return next(p["values"] for p in link.call("stats").parts if p.get("name") == "node")


def live(port: str) -> dict:
    with Link(SerialTransport(port), timeout=3) as link:
        return link.call("live").ok


@pytest.fixture
def zero_gas():
    b = Board(gas=0)
    yield b
    b.close()


def test_maint_cal_on_off_text_and_json(zero_gas):
    p = zero_gas.port
    res = cli("maint", "cal", "--minutes", "5", port=p)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("calibration mode until ") and \
        res.output.rstrip().endswith(": samples flagged C")
    got = live(p)
    assert got["ch"]["co2"][1] == C and got["sensor"]["co2"] == 0 and got["maint"][0] == "cal"
    assert got["maint"][1] == got["t"] + 300  # the fake clock moves at each live, after it
    info = cli("info", port=p).output
    assert "mode       calibration mode until " in info
    doc = json.loads(cli("maint", "on", "--json", port=p).output)
    assert doc["mode"] == "maint" and doc["utc"].endswith("Z") and isinstance(doc["until"], int)
    assert live(p)["ch"]["dp"][1] == M
    row = json.loads(cli("live", "--count", "1", "--json", port=p).output)
    assert row["maint"]["mode"] == "maint" and row["channels"]["co2"]["status"] == "M"
    res = cli("maint", "off", port=p)
    assert res.exit_code == 0 and res.output.strip() == "mode: none (normal measurement)"
    got = live(p)
    assert got["ch"]["co2"][1] == 0 and "maint" not in got and "sensor" not in got
    assert json.loads(cli("info", "--json", port=p).output)["maint"] is None


def test_maint_bad_arguments(zero_gas):
    assert one_error_line(cli("maint", "up", port=zero_gas.port), 2).startswith("Error: ")
    line = one_error_line(cli("maint", "cal", "--minutes", "0", port=zero_gas.port), 2)
    assert "--minutes" in line
    assert node_stats(zero_gas.port)["modes"] == 0


def test_calibrate_runs_in_calibration_mode_and_ends_it(zero_gas):
    res = cli("calibrate", "zero", "--json", port=zero_gas.port)
    assert res.exit_code == 0, res.output  # the wait settled on readings flagged C by the mode
    doc = json.loads(res.output)
    assert doc["result"] == 0 and doc["mode"] == "off"
    st = node_stats(zero_gas.port)
    assert st["modes"] == 2 and st["mode"] == 0  # started, then ended


def test_keep_mode_leaves_it_on_for_the_next_step(zero_gas):
    p = zero_gas.port
    res = cli("calibrate", "zero", "--keep-mode", port=p)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == \
        "  calibration mode still on (--keep-mode): cemtool maint off ends it"
    st = node_stats(p)
    assert st["modes"] == 1 and st["mode"] == C
    until = live(p)["maint"][1]
    assert until - live(p)["t"] > 1700  # --keep-mode: 30 minutes
    res = cli("calibrate", "check", "--ref", "0", "--no-wait", port=p)
    assert res.exit_code == 0, res.output
    st = node_stats(p)
    assert st["modes"] == 3 and st["mode"] == 0


def test_the_mode_ends_when_the_device_rejects_or_refuses():
    b = Board(gas=12000)  # stack gas where zero gas should be
    try:
        line = one_error_line(cli("calibrate", "zero", "--no-wait", port=b.port))
        assert line.startswith("error: CO2 zero rejected by the device")
        assert node_stats(b.port)["mode"] == 0
    finally:
        b.close()
    b = Board(gas=0, noise=200)
    try:
        line = one_error_line(cli("calibrate", "zero", "--timeout", "2", port=b.port))
        assert line.startswith("error: reading did not settle within 2 s")
        st = node_stats(b.port)
        assert st["modes"] == 2 and st["mode"] == 0
    finally:
        b.close()


def test_ctrl_c_in_the_wait_still_ends_the_mode(zero_gas, monkeypatch):
    def interrupted(*args, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr(dv, "settle", interrupted)
    res = cli("calibrate", "span", "--ref", "15", port=zero_gas.port)
    assert res.exit_code == 1 and res.output.strip() == "Aborted!"  # click's Ctrl-C
    st = node_stats(zero_gas.port)
    assert st["modes"] == 2 and st["mode"] == 0


def test_a_link_lost_in_the_middle_says_when_the_mode_ends(monkeypatch):
    b = Board(gas=0)

    def cut(*args, **kw):
        b.close()
        raise LinkTimeout("live: no answer within 3 s")
    monkeypatch.setattr(dv, "settle", cut)
    res = cli("calibrate", "zero", port=b.port)
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert lines[0].startswith("warning: calibration mode could not be ended (")
    assert lines[0].endswith("it ends by itself within 30 minutes, or run cemtool maint off")
    assert lines[1] == "error: live: no answer within 3 s" and len(lines) == 2


def test_firmware_without_the_mode_is_not_calibrated():
    b = Board(gas=0, mode=False)
    try:
        line = one_error_line(cli("calibrate", "zero", port=b.port))
        assert line == ("error: the board's firmware has no calibration mode (maint op): update "
                        "it with cemtool flash, so the gas is not recorded as flue data")
        doc = json.loads(cli("config", "get", "cal", "--json", port=b.port).output)
        assert doc["ver"] == 1  # nothing calibrated
        line = one_error_line(cli("maint", "cal", port=b.port))
        assert line.startswith("error: the board's firmware has no maintenance mode")
    finally:
        b.close()


def test_the_wait_takes_the_sensors_status_while_a_mode_is_on():
    ch = dv.CAL_CHANNELS["co2"]
    assert dv.sensor_status({"ch": {"co2": [0, C]}, "sensor": {"co2": 0}}, "co2", C) == 0
    assert dv.sensor_status({"ch": {"co2": [0, C]}, "sensor": {"co2": 4}}, "co2", C) == 4
    assert dv.sensor_status({"ch": {"co2": [0, C]}}, "co2", C) == C  # no sensor map: as flagged

    class FakeLink:
        def __init__(self, sensor):
            self.t = 0
            self.sensor = sensor

        def call(self, op, args=None):
            self.t += 1
            ok = {"t": self.t, "ch": {"co2": [0, C]}, "maint": ["cal", 99]}
            if self.sensor is not None:
                ok["sensor"] = {"co2": self.sensor}
            return type("R", (), {"ok": ok})()
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731

    def sleep(s):
        now[0] += s
    s = dv.settle(FakeLink(0), ch, 5, 60, clock=clock, sleep=sleep)
    assert s.settled and len(s.values) == dv.SETTLE_N
    for sensor in (4, None):  # a fault under the mode, or a mode that hides the sensor
        now[0] = 0.0
        with pytest.raises(dv.CalError, match="no steady readings"):
            dv.settle(FakeLink(sensor), ch, 5, 20, clock=clock, sleep=sleep)


def test_mode_text():
    assert dv.mode_of({}) is None and dv.mode_of({"maint": ["cal"]}) is None
    m = dv.mode_of({"maint": ["maint", 1767225600 + 1800]})
    assert m == {"mode": "maint", "until": 1767227400, "utc": "2026-01-01T00:30:00Z"}
    assert dv.format_mode(m, 1767225600) == \
        "maintenance mode until 2026-01-01T00:30:00Z (30 min left): samples flagged M"
    assert dv.format_mode(None) == "mode: none (normal measurement)"
    lines = dv.format_live({"t": 1767225600, "tq": 1, "ch": {"co2": [1200, C]},
                            "maint": ["cal", 1767225660]})
    assert "CO2      12.00  %vol  C calibration" in lines
    assert "calibration mode until 2026-01-01T00:01:00Z (1 min left): samples flagged C" in lines


def test_wait_for_app_retries_until_the_new_boot_answers():
    answers = [LinkTimeout("x"), {"boots": 4}, LinkTimeout("y"), {"boots": 5}]
    closed = []

    class L:
        def probe(self):
            a = answers.pop(0)
            if isinstance(a, Exception):
                raise a
            return a

        def close(self):
            closed.append(1)
    now = [0.0]

    def sleep(s):
        now[0] += s
    got = dv.wait_for_app(L, 15, lambda info: info["boots"] != 4, clock=lambda: now[0],
                          sleep=sleep)
    assert got == {"boots": 5} and len(closed) == 4 and answers == []
    answers[:] = [LinkTimeout("gone")] * 40
    now[0] = 0.0
    with pytest.raises(LinkTimeout, match="gone"):
        dv.wait_for_app(L, 15, clock=lambda: now[0], sleep=sleep)
