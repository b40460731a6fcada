"""Calibration on the real app under MicroPython.

- ``tests/fw/calib_app.py``: ``Node.calibrate`` with scripted sensors, from source and from .mpy,
  with the device's heap (the app does not fit 64K on the 64-bit unix port; tests/test_app.py).
- End to end: the real app (``tests/fw/calib_device.py``: ``Node.run`` with its sampler and USB
  console) in a MicroPython process behind a pty, calibrated through ``cemtool.link`` while the
  host changes what its analyser and pitot sensor read; the records it logged read back with the
  host's own decoder.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import fwtest
from devpty import PtyDevice
from cemtool.link import Link, RemoteError, SerialTransport
from cemtool.records import Record

HEAP = "256K"
CALIBRATION, CONFIG = 17, 19


@pytest.mark.parametrize("mode", ["src", "mpy"])
def test_node_calibrate(mode):
    proc = fwtest.run_micropython([str(fwtest.ROOT / "tools" / "fwrun.py"), "calib_app"], mode,
                                  HEAP, timeout=120)
    out = proc.stdout + proc.stderr
    passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("PASS ")]
    assert proc.returncode == 0 and "RESULT" in proc.stdout and "FAIL" not in proc.stdout, out
    assert len(passed) == 13, out


class Board(PtyDevice):
    """The app with file-scripted sensors (tests/fw/calib_device.py), behind a relay pty."""

    def __init__(self, d: Path) -> None:
        self.dir = d
        self.set("co2", 170)
        self.set("dp", 12)
        super().__init__([str(fwtest.ROOT / "tests" / "fw" / "calib_device.py"), str(d)], heap=HEAP)
        self.port = SerialTransport(self.path)
        self.link = Link(self.port, timeout=5)
        self.wait_app(self.link)

    def set(self, sensor: str, value: int, noise: int = 0) -> None:
        tmp = self.dir / (sensor + ".new")
        tmp.write_text(f"{value} {noise}\n")
        tmp.replace(self.dir / sensor)  # the device never reads half a file

    def settle(self) -> None:
        """Wait for 10 fresh samples (20 simulated seconds at 20 times real time: 1 s)."""
        time.sleep(1.2)

    def calibrate(self, channel: int, action: int, ref: int) -> dict:
        return self.link.call("calibrate", {"channel": channel, "action": action,
                                            "ref": ref}).ok

    def setting(self, key: str) -> int:
        parts = self.link.call("config.get", {"section": "cal"}).parts
        return parts[0]["values"][key]

    def events(self, kind: int) -> list[Record]:
        recs = []
        for p in self.link.call("records", {"log": "long", "from": 0}).parts:
            recs.extend(Record.from_list(v) for v in p["recs"])
        return [r for r in recs if r.kind == kind]

    def close(self) -> None:
        self.port.close()
        super().close()


@pytest.fixture
def board(tmp_path):
    b = Board(tmp_path)
    try:
        yield b
    finally:
        b.close()


def test_zero_span_check_and_refusals_through_the_link(board):
    board.settle()
    res = board.calibrate(1, 1, 0)  # zero gas: the analyser reads 0.170 %vol
    assert res == {"result": 0, "reading": 170, "before": 0, "after": 170, "ver": 2}
    assert board.setting("co2_zero") == 170 and board.setting("co2_t") > 0
    time.sleep(0.2)
    assert board.link.call("live").ok["ch"]["co2"] == [0, 0]  # 0.00 %vol at once

    board.set("co2", 14170)  # span gas 15 %vol reads 14.000 above the zero
    board.settle()
    res = board.calibrate(1, 2, 15000)
    assert res == {"result": 0, "reading": 14000, "before": 10000, "after": 10714, "ver": 3}
    time.sleep(0.2)
    assert board.link.call("live").ok["ch"]["co2"] == [1500, 0]

    res = board.calibrate(1, 4, 15000)  # a span check on the same gas
    assert res["result"] == 3 and abs(res["drift"]) <= 1 and res["limit"] == 500
    assert res["ver"] == 3

    board.set("co2", 14170, noise=200)  # the gas is not flowing steadily
    board.settle()
    with pytest.raises(RemoteError) as e:
        board.calibrate(1, 2, 15000)
    assert e.value.name == "failed"
    assert "CO2 reading not stable: spread 0.400 %vol over 10 s (limit 0.200)" in str(e.value)

    board.set("dp", 700)  # "vented" lines that read 7 Pa: beyond 1 % of 500 Pa
    board.settle()
    res = board.calibrate(2, 1, 0)
    assert res == {"result": 1, "reading": 700, "before": 0, "after": 700, "ver": 3}
    assert board.setting("dp_zero") == 0

    with pytest.raises(RemoteError) as e:
        board.calibrate(3, 1, 0)
    assert e.value.name == "unsupported"

    cal = [r.fields for r in board.events(CALIBRATION)]
    assert cal == [
        {"channel": 1, "action": 1, "ref": 0, "reading": 170, "before": 0, "after": 170,
         "result": 0},
        {"channel": 1, "action": 2, "ref": 15000, "reading": 14000, "before": 10000,
         "after": 10714, "result": 0},
        {"channel": 1, "action": 4, "ref": 15000, "reading": cal[2]["reading"], "before": 10714,
         "after": 10714, "result": 3},
        {"channel": 2, "action": 1, "ref": 0, "reading": 700, "before": 0, "after": 700,
         "result": 1}]
    assert [r.ver for r in board.events(CALIBRATION)] == [2, 3, 3, 3]
    keys = [r.fields["key"] for r in board.events(CONFIG)]
    assert sorted(keys) == ["cal.co2_gain", "cal.co2_t", "cal.co2_t", "cal.co2_zero"]


def test_factors_through_the_link(board):
    res = board.calibrate(2, 3, 8100)
    assert res == {"result": 0, "reading": 0, "before": 8400, "after": 8100, "ver": 2}
    res = board.calibrate(6, 3, 16000)  # Kv 1.6: beyond what the edge computes with
    assert res == {"result": 1, "reading": 0, "before": 10000, "after": 16000, "ver": 2}
    edge = board.link.call("config.get", {"section": "edge"}).parts[0]["values"]
    assert edge["kp"] == 8100 and edge["kv"] == 10000
