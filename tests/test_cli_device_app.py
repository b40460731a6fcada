"""cemtool calibrate, live and dump against the real app: ``Node.run`` with its sampler, its
calibration provider (cemt.calib) and the USB console, in MicroPython behind a pty, its CO2 and
Δp sensors scripted through files (tests/fw/calib_device.py, 20 times real time).
"""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

import fwtest
from devpty import PtyDevice
from cemtool import records
from cemtool.link import Link, SerialTransport

from test_cli_device import cli, one_error_line


class AppBoard(PtyDevice):
    def __init__(self, d: Path) -> None:
        self.dir = d
        self.set("co2", 12000)
        self.set("dp", 12)
        super().__init__([str(fwtest.ROOT / "tests" / "fw" / "calib_device.py"), str(d)],
                         heap="256K")
        self.port = self.path
        with Link(SerialTransport(self.port), timeout=1) as link:
            self.wait_app(link)
        time.sleep(0.8)  # 16 simulated seconds: more than the 10 samples a calibration needs

    def set(self, sensor: str, value: int, noise: int = 0) -> None:
        tmp = self.dir / (sensor + ".new")
        tmp.write_text(f"{value} {noise}\n")
        tmp.replace(self.dir / sensor)


@pytest.fixture
def app(tmp_path):
    b = AppBoard(tmp_path)
    yield b
    b.close()


def settings(app, section):
    return json.loads(cli("config", "get", section, "--json", port=app.port).output)["sections"][section]


def test_zero_span_check_pitot_on_the_real_app(app):
    app.set("co2", 170)  # zero gas; the analyser reads 0.170 %vol
    res = cli("calibrate", "zero", port=app.port)  # with the stability wait
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "CO2 zero: applied" and lines[1] == "  reading 0.170 %vol"
    assert lines[2] == "  coefficient before 0, after 170"
    assert lines[-2:] == ["  verified: cal.co2_zero = 170, reading 0.00 %vol",
                          "  calibration mode ended"]
    assert settings(app, "cal")["co2_zero"] == 170

    app.set("co2", 15320)  # span gas of 15 %vol
    time.sleep(0.8)
    res = cli("calibrate", "span", "--ref", "15", "--no-wait", "--json", port=app.port)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["result"] == 0 and doc["before"] == 10000 and doc["after"] == 9901
    assert doc["verified"] == "cal.co2_gain = 9901, reading 15.00 %vol"

    app.set("co2", 15420)
    time.sleep(0.8)
    res = cli("calibrate", "check", "--ref", "15", "--no-wait", "--json", port=app.port)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["result"] == 3 and doc["drift"] == 99 and doc["limit"] == 500
    assert settings(app, "cal")["co2_gain"] == 9901
    res = cli("calibrate", "check", "--ref", "14", "--no-wait", port=app.port)
    assert res.exit_code == 0, res.output
    assert "  drift 1.099 %vol (limit ±0.500 %vol)" in res.output.splitlines()
    assert "  drift beyond the limit: calibrate the channel" in res.output.splitlines()
    # the board raised its drift warning: live and info show it by name
    assert "  drift_co2 (code 41): value 1099, limit 500" in \
        cli("live", "--count", "1", port=app.port).output.splitlines()
    doc = json.loads(cli("info", "--json", port=app.port).output)
    assert [(a["code"], a["name"]) for a in doc["alarms"]] == [(41, "drift_co2")]

    res = cli("calibrate", "dp-zero", "--no-wait", port=app.port)
    assert res.exit_code == 0, res.output
    assert settings(app, "cal")["dp_zero"] == 12

    res = cli("calibrate", "pitot", "--kp", "0.83", "--area", "2.5", port=app.port)
    assert res.exit_code == 0, res.output
    edge = settings(app, "edge")
    assert edge["kp"] == 8300 and edge["area"] == 25000

    # every calibration is a record in the long log, as dump brings it
    res = cli("dump", "--log", "long", "--out", str(app.dir / "long.cbor"), port=app.port)
    assert res.exit_code == 0, res.output
    recs = list(records.decode_stream((app.dir / "long.cbor").read_bytes()))
    cals = [r for r in recs if r.kind == records.CALIBRATION]
    # each step but pitot ran in calibration mode: started before it, ended after it
    steps = [("mode", r.fields["state"]) if r.kind == records.ALARM else ("cal", r.fields["action"])
             for r in recs if r.kind == records.CALIBRATION or
             r.kind == records.ALARM and r.fields["code"] == 50]
    assert steps == [("mode", 1), ("cal", 1), ("mode", 0), ("mode", 1), ("cal", 2), ("mode", 0),
                     ("mode", 1), ("cal", 4), ("mode", 0), ("mode", 1), ("cal", 4), ("mode", 0),
                     ("mode", 1), ("cal", 1), ("mode", 0), ("cal", 3)]
    assert [(r.fields["channel"], r.fields["action"], r.fields["result"]) for r in cals] == \
        [(1, 1, 0), (1, 2, 0), (1, 4, 3), (1, 4, 3), (2, 1, 0), (2, 3, 0)]
    assert cals[0].fields["after"] == 170 and cals[1].fields["ref"] == 15000


def test_refusals_of_the_real_app(app):
    line = one_error_line(cli("calibrate", "zero", "--no-wait", port=app.port))
    assert line == ("error: CO2 zero rejected by the device: reading 12.000 %vol against "
                    "reference 0.000 %vol is outside its limits; nothing changed")
    # a reading that wanders between host reads (the sensor's own noise alternates per
    # sample, and at 20 times real time the host sees every 20th sample)
    app.set("co2", 170)
    time.sleep(0.8)
    stop = threading.Event()

    def wander():
        while not stop.is_set():
            for v in (170, 970):
                app.set("co2", v)
                time.sleep(0.3)
    walker = threading.Thread(target=wander)
    walker.start()
    try:
        line = one_error_line(cli("calibrate", "zero", "--timeout", "3", port=app.port))
    finally:
        stop.set()
        walker.join()
    spread = re.match(r"error: reading did not settle within 3 s \(spread (\d+\.\d\d) %vol", line)
    assert spread and float(spread.group(1)) == 0.8, line
    assert line.endswith("limit 0.19); nothing sent")
    app.set("co2", 170, noise=400)
    time.sleep(0.8)
    line = one_error_line(cli("calibrate", "zero", "--no-wait", port=app.port))
    assert line.startswith("error: CO2 zero: the device refused: CO2 reading not stable")
    line = one_error_line(cli("calibrate", "pitot", "--kp", "1.3", port=app.port))
    assert line == "error: Kp 1.3000 rejected by the device (outside its limits); nothing changed"
    cal = settings(app, "cal")
    assert cal["co2_zero"] == 0 and settings(app, "edge")["kp"] == 8400


def test_live_on_the_real_app(app):
    res = cli("live", "--count", "2", "--interval", "0.2", "--json", port=app.port)
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in res.output.splitlines()]
    assert rows[0]["channels"]["co2"] == {"value": 12.0, "unit": "%vol", "status": "N"}
    assert rows[0]["channels"]["temp"]["value"] == 150.0 and rows[1]["t"] > rows[0]["t"]
    res = cli("info", port=app.port)
    assert res.exit_code == 0 and "board      calib-bench" in res.output
