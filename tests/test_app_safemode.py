"""Warnings, safe mode and the watchdog on the node: the node-level firmware tests
(tests/fw/alarms_node.py) from source and from .mpy, and the real app (main.py, .mpy) in a
crash loop: three boots that crash make the fourth a safe one that still serves the command
protocol on USB, says so in `info` and in its boot record, and the boot after it tries normal
mode again; a normal node shows its raised warnings in `info` and `live`, and a Ctrl-C on USB
is not counted as a crash.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import fwtest
from devpty import PtyDevice
from cemtool import build
from cemtool.link import Link, SerialTransport

HEAP = "256K"
T0 = 1767225600
STALE = 20  # docs/alarms.md


@pytest.mark.parametrize("mode", ["src", "mpy"])
def test_alarms_node(mode):
    proc = fwtest.run_micropython([str(fwtest.ROOT / "tools" / "fwrun.py"), "alarms_node"], mode,
                                  HEAP, timeout=120)
    out = proc.stdout + proc.stderr
    passed = [ln for ln in proc.stdout.splitlines() if ln.startswith("PASS ")]
    assert proc.returncode == 0 and "RESULT" in proc.stdout and "FAIL" not in proc.stdout, out
    assert len(passed) == 11, out


class Board:
    """A board's filesystem with the deployed firmware; ``boot()`` runs main.py once."""

    def __init__(self, fs: Path, speed: int = 600) -> None:
        self.fs = fs
        self.lib = build.compile_firmware(fs.parent / "lib")
        build.install_sources_only(fs)
        # No sensors: every sample is invalid, so minutes go stale; a clock that runs ``speed``x.
        (fs / "board.json").write_text(json.dumps({
            "name": "crashy", "port": "unix", "clock": {"start": T0, "speed": speed},
            "sensors": {}, "console": True, "watchdog_ms": 5000,
            "flash": {"main": {"path": "flash.img", "block_size": 4096, "blocks": 16}},
            "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 8},
                     "long": {"flash": "main", "first_block": 8, "blocks": 8}}}))

    def configure(self, **edge) -> None:
        (self.fs / "config.json").write_text(json.dumps({"edge": edge}))

    def env(self, reset: int | None = None) -> dict[str, str]:
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(self.lib)]))
        env.pop("CEMT_RESET", None)
        if reset is not None:
            env["CEMT_RESET"] = str(reset)
        return env

    def boot(self, reset: int | None = None) -> subprocess.CompletedProcess:
        """A boot with nothing on USB; returns when the app ends."""
        return subprocess.run([build.tool("micropython"), "-X", "heapsize=" + HEAP, "main.py"],
                              cwd=self.fs, env=self.env(reset), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)

    def state(self) -> dict:
        return json.loads((self.fs / "state.json").read_text())


class Usb(PtyDevice):
    """A boot with its console on a pty (as USB), reached through ``cemtool.link``."""

    def __init__(self, board: Board, reset: int | None = None) -> None:
        super().__init__(["main.py"], heap=HEAP, cwd=board.fs, env=board.env(reset))
        self.link = Link(SerialTransport(self.path), timeout=5)

    def probe(self) -> dict:
        return self.wait_app(self.link)

    def close(self) -> None:
        self.link.close()
        super().close()


def test_three_crashes_boot_safe_mode_then_normal_mode_is_tried_again(tmp_path):
    board = Board(tmp_path / "fs")
    board.configure(period_s=0)  # the edge refuses it: every normal boot crashes
    for n in (1, 2, 3):
        run = board.boot()
        assert run.returncode == 3, run.stdout + run.stderr  # a crash resets the board
        assert "period_s" in run.stdout + run.stderr
        assert board.state() == {"boots": n, "unhealthy": n}
    usb = Usb(board, reset=3)
    try:
        info = usb.probe()
        assert (info["safe"], info["boots"], info["reset"], info["alarms"]) == (1, 4, 3, [])
        live = usb.link.call("live").ok
        assert live["alarms"] == [] and live["ch"] == {}
        assert board.state() == {"boots": 4, "unhealthy": 0}
        recs = [r for p in usb.link.call("records", {"log": "long", "from": 0}).parts
                for r in p["recs"]]
        boots = [r[5:8] for r in recs if r[0] == 16]
        assert boots == [[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 3, 1]]
        time.sleep(1)  # 10 simulated minutes, were it sampling
        assert usb.link.call("stats").ok is not None
        node = {p["name"]: p["values"] for p in usb.link.call("stats").parts}["node"]
        assert node["samples"] == 0
    finally:
        usb.close()
    run = board.boot()  # the count started over: normal mode, and the same crash
    assert run.returncode == 3 and "period_s" in run.stdout + run.stderr
    assert board.state() == {"boots": 5, "unhealthy": 1}


def test_a_normal_node_shows_its_warnings_in_info_and_live(tmp_path):
    board = Board(tmp_path / "fs")
    board.configure(period_s=1)
    usb = Usb(board)
    try:
        info = usb.probe()
        assert (info["safe"], info["boots"], info["reset"]) == (0, 1, 0)
        deadline = time.monotonic() + 30
        while True:  # no sensor: no valid minute, stale after 10 simulated minutes (1 s)
            live = usb.link.call("live").ok
            if live["alarms"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [a[0] for a in live["alarms"]] == [STALE] and live["alarms"][0][2] == 10
        assert live["alarms"][0][1] >= 10
        assert [a[0] for a in usb.link.call("info").ok["alarms"]] == [STALE]
        assert usb.proc.poll() is None
    finally:
        usb.close()


def test_ctrl_c_on_usb_is_not_a_crash(tmp_path):
    board = Board(tmp_path / "fs", speed=1)  # real time: no health record within the test
    board.configure(period_s=1)
    usb = Usb(board)
    try:
        assert usb.probe()["safe"] == 0
        assert board.state() == {"boots": 1, "unhealthy": 1}  # unproven yet
        usb.link.transport.write(b"\x03")  # Ctrl-C: someone takes the board over (mpremote)
        usb.proc.wait(timeout=10)
        assert board.state() == {"boots": 1, "unhealthy": 0}
    finally:
        usb.close()
