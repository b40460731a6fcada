"""The real firmware modem driver (under MicroPython) against the modem emulator on a real pty,
through a TCP echo server on loopback: binary echo, network time, outage, hang and garble recovery.
"""
from __future__ import annotations

import json
import os
import select
import socket
import socketserver
import threading
import time
from pathlib import Path

import pytest

import fwtest
from cemtool.sim.modem import ModemEmulator

SCRIPT = Path(__file__).parent / "fw" / "modem_e2e.py"
SIM_NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
HEAP = os.environ.get("MODEM_E2E_HEAP", fwtest.DEFAULT_HEAP)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_server():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address
    srv.shutdown()
    srv.server_close()


class Control:
    """Serves the script's control FIFO: faults and PWRKEY levels go to the emulator."""

    def __init__(self, tmp: Path, emu: ModemEmulator):
        self.ctl_path, self.ack_path = str(tmp / "ctl"), str(tmp / "ack")
        os.mkfifo(self.ctl_path)
        os.mkfifo(self.ack_path)
        self.ctl = os.open(self.ctl_path, os.O_RDWR | os.O_NONBLOCK)
        self.ack = os.open(self.ack_path, os.O_RDWR)
        self.emu = emu
        self.seen: list[str] = []
        self._run = True
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        buf = b""
        while self._run:
            if not select.select([self.ctl], [], [], 0.05)[0]:
                continue
            buf += os.read(self.ctl, 256)
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._apply(line.decode())
                os.write(self.ack, b"ok\n")

    def _apply(self, line: str):
        self.seen.append(line)
        word, arg = line.split()
        if word == "KEY":
            self.emu.pwrkey(arg == "1")
        elif word == "OUTAGE":
            self.emu.outage(arg == "1")
        elif word == "HANG":
            self.emu.hang(arg)
        elif word == "GARBLE":
            self.emu.garble(int(arg))

    def close(self):
        self._run = False
        self._t.join(2)
        os.close(self.ctl)
        os.close(self.ack)


def run_session(tmp_path, echo_server, family, scenario, mode="mpy", heap=None):
    emu = ModemEmulator(family, clock=lambda: SIM_NOW, reg_delay=0.3, boot_delay=0.2, rssi=23,
                        tz_q=32, pwrkey_on_s=0.05, pwrkey_off_s=0.25).start()
    ctl = Control(tmp_path, emu)
    store = tmp_path / "modem.json"
    try:
        proc = fwtest.run_micropython(
            [str(SCRIPT), scenario, family, emu.path, echo_server[0], str(echo_server[1]),
             ctl.ctl_path, ctl.ack_path, str(store)], mode=mode, heap=heap or HEAP, timeout=60)
    finally:
        ctl.close()
        emu.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    persisted = json.loads(store.read_text()) if store.exists() else {}
    return out, emu, ctl, persisted


def summary(out):
    return {k: int(v) for k, v in (kv.split("=") for kv in out["SUMMARY"].split())}


@pytest.mark.parametrize("family", ["simcom", "quectel"])
def test_binary_echo_and_network_time(tmp_path, echo_server, family):
    out, emu, _, _ = run_session(tmp_path, echo_server, family, "echo")
    assert out["CONNECT"] == "1"
    assert out["TIME"] == f"{SIM_NOW} 2"  # network time set on the device clock, quality 2
    assert out["ECHO"] == "True"
    s = summary(out)
    assert s["rssi"] == -113 + 2 * 23 and s["ready"] == 1 and s["err"] == 0
    assert emu.counts["sent"] == emu.counts["received"] >= 2048
    assert b"ATE0" in emu.log


@pytest.mark.parametrize("family", ["simcom", "quectel"])
def test_link_outage_closes_the_session_and_recovers(tmp_path, echo_server, family):
    out, emu, _, _ = run_session(tmp_path, echo_server, family, "outage")
    assert out["ECHO"] == "True"
    assert out["DURING"] == "False False"  # the send fails, the socket is gone
    assert out["RECONNECT"] == "1" and out["ECHO2"] == "True"  # re-registered, data network reopened
    s = summary(out)
    assert s["err"] == 6 * 16 + 8 and s["fails"] == 0  # a lost link is not the modem's fault


def test_hung_modem_recovers_through_reset_and_power_cycle(tmp_path, echo_server):
    t0 = time.monotonic()
    out, emu, ctl, persisted = run_session(tmp_path, echo_server, "simcom", "hang")
    assert out["ECHO"] == "True" and out["DURING"] == "False"
    assert int(out["RECONNECT"]) >= 1 and out["ECHO2"] == "True"
    s = summary(out)
    assert s["resets"] == 1 and s["power"] == 1  # the reset did not cure it, the power-cycle did
    assert persisted["mdm_reset"] == 1 and persisted["mdm_power"] == 1
    assert b"AT+CRESET" in emu.log
    assert emu.counts["power_ons"] == 2 and emu.counts["resets"] == 0  # hung: the reset was ignored
    assert ctl.seen.count("KEY 1") == 2
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("family", ["simcom", "quectel"])
def test_garbled_reply_is_a_typed_failure_and_the_next_session_works(tmp_path, echo_server, family):
    out, _, _, _ = run_session(tmp_path, echo_server, family, "garble")
    assert out["ECHO"] == "True" and out["DURING"] == "False"
    assert out["RECONNECT"] == "1" and out["ECHO2"] == "True"  # the half-open socket was closed first
    s = summary(out)
    assert s["err"] == 6 * 16 + 5 and s["fails"] == 1 and s["resets"] == 0
