"""RS485 multi-drop end to end: four MicroPython nodes (cemt.rs485 + cemt.rpc over real ring
logs on NOR-flash images, tests/fw/rpc_node.py) on the simulated bus, polled by the real
``cemtool poll`` into SQLite.

The node processes run with a 128K heap: the dispatcher, the ring log, the slave, asyncio and
the unix board seam together take about 63K on this 64-bit port (about half on a 32-bit board).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fwtest
from cemtool import auth, keys
from cemtool.link import Link, SerialTransport
from cemtool.sim.rs485 import BusHub
from cemtool.store import LONG_LOG, MINUTE_LOG, Store

T0 = 1767225600
ADDRS = (1, 2, 3, 4)
MINUTES = 240
BAUD = 115200


def minute(addr: int, i: int) -> list:
    """The i-th minute record of node ``addr`` with its seq (tests/fw/rpc_node.py)."""
    return [1, i + 1, T0 + 60 * i, 2, 1, 0, 60, 60, 1000 + 10 * addr + i % 50, 900, 1200, 1500,
            1480 + i % 7, -150, 52000 + i, 19000 + addr * 100 + i]


def long_log(addr: int, minutes: int) -> list[list]:
    recs = [[16, 1, T0, 2, 1, 1, 1, 0, "cemt bus test"]]
    for i in range(minutes // 60):
        recs.append([2, i + 2, T0 + 3600 * i, 2, 1, 0, 60, 60, 1000 + 10 * addr, 900, 1200, 1500,
                     1400, 1600, 1480, 1470, 1490, -150, 101325, 800, 52000, 51000, 53000,
                     1140000 + addr + i])
    return recs


def device(addr: int) -> str:
    return f"bus-{addr:02d}"


class Bus:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.hub = BusHub(len(ADDRS), seed=7).start()
        self.keys = {device(a): auth.new_key() for a in ADDRS}
        self.key_file = tmp / "keys.json"
        keys.save(self.key_file, self.keys)
        self.db = tmp / "records.sqlite"
        self.procs: dict[int, subprocess.Popen] = {}

    def start(self, addr: int, minutes: int = MINUTES) -> None:
        proc = subprocess.Popen(
            [fwtest.tool("micropython"), "-X", "heapsize=128K", "tests/fw/rpc_node.py",
             self.hub.device_paths[addr - 1], str(addr), device(addr),
             str(self.tmp / f"node{addr}.img"), str(minutes), self.keys[device(addr)].hex()],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=fwtest.micropython_env("mpy"),
            cwd=fwtest.ROOT)
        line = proc.stdout.readline()
        assert line == f"ready {addr}\n".encode(), line + proc.stdout.read()
        self.procs[addr] = proc

    def stop(self, addr: int) -> None:
        proc = self.procs.pop(addr)
        proc.kill()
        proc.wait()

    def poll(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cemtool", "poll", "--port", self.hub.master_path,
             "--addr", "1-4", "--db", str(self.db), "--baud", str(BAUD), "--timeout", "2",
             *args], capture_output=True, text=True, timeout=60)

    def node_view(self, addr: int, log: str) -> dict:
        """The end marker of an empty ``records`` request: the node's seqs and cursor."""
        with Link(SerialTransport(self.hub.master_path, BAUD), addr, 2) as link:
            return link.call("records", {"log": log, "from": 10**6}).ok

    def close(self) -> None:
        for addr in list(self.procs):
            self.stop(addr)
        self.hub.stop()


@pytest.fixture
def bus(tmp_path):
    b = Bus(tmp_path)
    try:
        for addr in ADDRS:
            b.start(addr)
        yield b
    finally:
        b.close()


def stored(db: Path) -> dict[str, list[list]]:
    out: dict[str, list[list]] = {}
    with Store(db) as s:
        for dev, rec in s.records():
            out.setdefault(dev, []).append(rec.to_list())
    return out


def test_every_record_once_then_nothing_new_then_only_what_is_new(bus):
    first = bus.poll("--keys", str(bus.key_file))
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert len(lines) == 4 and first.stderr == ""
    for addr, line in zip(ADDRS, lines):
        assert line.startswith(f"node {addr} {device(addr)}: minute +{MINUTES}, ")
        assert f"acked {MINUTES}" in line and "long +5, store at 5/5, acked 5" in line
    held = stored(bus.db)
    assert sorted(held) == [device(a) for a in ADDRS]
    for addr in ADDRS:
        recs = held[device(addr)]
        want = [minute(addr, i) for i in range(MINUTES)] + long_log(addr, MINUTES)
        assert sorted(recs, key=lambda r: (r[0] != 1, r[1])) == want
        # the nodes' cursors moved only to what the store committed
        assert bus.node_view(addr, "minute")["acked"] == MINUTES
        assert bus.node_view(addr, "long")["acked"] == 5

    second = bus.poll("--keys", str(bus.key_file))
    assert second.returncode == 0, second.stdout + second.stderr
    assert all("minute +0," in line and "long +0," in line for line in second.stdout.splitlines())
    assert stored(bus.db) == held

    bus.stop(2)
    bus.start(2, MINUTES + 90)  # the same flash image, 90 minutes later
    third = bus.poll("--keys", str(bus.key_file))
    assert third.returncode == 0, third.stdout + third.stderr
    assert third.stdout.splitlines()[1].startswith(f"node 2 {device(2)}: minute +90, ")
    now = stored(bus.db)
    new = [minute(2, i) for i in range(MINUTES, MINUTES + 90)]
    assert now[device(2)][MINUTES:MINUTES + 90] == new
    assert sum(len(v) for v in now.values()) == sum(len(v) for v in held.values()) + 90 + 1
    with Store(bus.db) as s:
        assert s.committed(device(2)) == {MINUTE_LOG: MINUTES + 90, LONG_LOG: 6}


def test_an_absent_node_times_out_and_the_others_are_polled(bus):
    bus.stop(3)
    t0 = time.monotonic()
    run = bus.poll("--keys", str(bus.key_file))
    elapsed = time.monotonic() - t0
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 4
    assert lines[2] == "node 3: info: no answer from node 3 within 2 s"
    for i in (0, 1, 3):
        assert f"minute +{MINUTES}," in lines[i] and "acked" in lines[i]
    assert sorted(stored(bus.db)) == [device(a) for a in (1, 2, 4)]
    assert elapsed < 30  # one timeout, not a stall (generous: a loaded machine is slow)


def test_without_keys_nothing_is_acknowledged(bus):
    run = bus.poll()
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(line.endswith("not acked") for line in run.stdout.splitlines())
    assert all(bus.node_view(a, "minute")["acked"] == 0 for a in ADDRS)
    assert sum(len(v) for v in stored(bus.db).values()) == 4 * (MINUTES + 5)
    # a key file that lacks a device: that node is read but not acknowledged
    partial = bus.tmp / "partial.json"
    keys.save(partial, {device(1): bus.keys[device(1)]})
    bus.stop(1)
    bus.start(1, MINUTES + 1)
    run = bus.poll("--keys", str(partial))
    lines = run.stdout.splitlines()
    assert "minute +1," in lines[0] and f"acked {MINUTES + 1}" in lines[0]
    assert "no key for this device" in lines[1] and "not acked" in lines[1]


def test_line_noise_costs_retries_never_wrong_or_missing_records(bus):
    bus.hub.inject(os.urandom(3000))  # garbage on the bus before the poll
    bus.hub.noise = 3e-4              # then a stray byte after one byte in 3333
    noisy = bus.poll("--keys", str(bus.key_file), "--batch", "60")
    bus.hub.noise = 0.0
    clean = bus.poll("--keys", str(bus.key_file))
    assert clean.returncode == 0, noisy.stdout + clean.stdout + clean.stderr
    held = stored(bus.db)
    for addr in ADDRS:
        recs = sorted(held[device(addr)], key=lambda r: (r[0] != 1, r[1]))
        assert recs == [minute(addr, i) for i in range(MINUTES)] + long_log(addr, MINUTES)
    assert bus.hub.corrupted > 0


def test_a_forged_ack_on_the_bus_moves_no_cursor(bus):
    with Link(SerialTransport(bus.hub.master_path, BAUD), 1, 2) as link:
        with pytest.raises(Exception, match="auth_failed"):
            link.call("ack", {"log": "minute", "seq": 100}, key=auth.new_key())
        with pytest.raises(Exception, match="auth_required"):
            link.call("ack", {"log": "minute", "seq": 100})
    assert bus.node_view(1, "minute")["acked"] == 0
