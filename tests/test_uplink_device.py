"""The firmware uplink (real MicroPython, ring logs on a NOR flash image) against the real receiver.

Each test starts ``cemtool receive`` as a process on 127.0.0.1 and runs
``tests/fw/uplink_device.py`` under the unix port; faults are injected by the device's transport
(cut mid-batch, drop before the ack, hang between send and ack) or by killing the receiver.
The firmware runs from its .mpy files with a 128K heap: the ring log, its packer (which loads the
record encoder for events), CBOR, frames, HMAC, asyncio and the uplink, all held as bytecode in RAM
by the unix port, take more than 64K together (on a board they are frozen in flash).
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import fwtest
import pytest

from cemtool import auth, keys

ROOT = Path(__file__).resolve().parent.parent
DEVICE = str(ROOT / "tests" / "fw" / "uplink_device.py")
HEAP = "128K"
T0 = 1767225600
E_SEND, E_CLOSED, E_NAK = 2, 4, 16


def minute(i: int) -> list[int]:
    """tests/fw/uplink_device.py's minute(i), written again here."""
    co2 = 1200 + i % 97
    return [1, 0, T0 + 60 * i, 2, 3, 0, 60, 60 - i % 3, co2, co2 - 40, co2 + 35, 1500 + i % 13,
            1805, -150, 52000 + i % 500, 19000 + i % 1000]


def boot(i: int) -> list:
    return [16, 0, T0 + 3600 * i, 2, 3, i, 1, 0, f"cemt-test {i}"]


class Receiver:
    def __init__(self, tmp: Path, keyfile: Path, port: int = 0) -> None:
        self.db = tmp / "receiver.sqlite"
        self.log = tmp / f"receiver-{time.monotonic_ns()}.log"
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cemtool", "receive", "--listen", f"127.0.0.1:{port}",
                 "--db", str(self.db), "--keys", str(keyfile)], stderr=err)
        deadline = time.monotonic() + 10
        while True:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log.read_text())
            if m:
                self.port = int(m.group(1))
                break
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(10)

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def firmware() -> dict[str, str]:
    return fwtest.micropython_env("mpy")


@pytest.fixture
def setup(tmp_path: Path):
    key = auth.new_key()
    keyfile = tmp_path / "keys.json"
    keys.save(keyfile, {"stack-01": key})
    receivers: list[Receiver] = []

    def start(port: int = 0) -> Receiver:
        r = Receiver(tmp_path, keyfile, port)
        receivers.append(r)
        return r
    yield tmp_path, key, start
    for r in receivers:
        r.stop(signal.SIGKILL)


def device(env, image: Path, port: int, key: bytes, minutes: int, events: int, fault: str = "",
           device_id: str = "stack-01", **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [fwtest.tool("micropython"), "-X", "heapsize=" + HEAP, DEVICE, str(image), "127.0.0.1",
         str(port), device_id, key.hex(), str(minutes), str(events), fault],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def stats(proc: subprocess.Popen, timeout: float = 30) -> dict:
    out, err = proc.communicate(timeout=timeout)
    m = re.search(r"^STATS (.*)$", out, re.M)
    assert m, out + err
    return json.loads(m.group(1))


def stored(db: Path) -> dict[tuple[int, int], tuple[int, bytes]]:
    """(kind, seq) -> (how many rows, cbor) for every stored record of stack-01."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT r.kind, r.seq, count(*), r.cbor FROM records r JOIN devices d"
                           " ON d.id = r.dev WHERE d.name = 'stack-01' GROUP BY r.kind, r.seq")
        return {(k, s): (n, blob) for k, s, n, blob in rows}
    finally:
        con.close()


def check_all_once(db: Path, minutes: int, events: int) -> None:
    import cbor2
    got = stored(db)
    assert len(got) == minutes + events
    for seq in range(1, minutes + 1):
        n, blob = got[(1, seq)]
        assert n == 1
        want = minute(seq - 1)
        want[1] = seq
        assert cbor2.loads(blob) == want
    for seq in range(1, events + 1):
        n, blob = got[(16, seq)]
        want = boot(seq - 1)
        want[1] = seq
        assert n == 1 and cbor2.loads(blob) == want


def test_device_delivers_every_record_once(setup, firmware):
    tmp, key, start = setup
    rx = start()
    s = stats(device(firmware, tmp / "flash.img", rx.port, key, 400, 5))
    assert s["backlog"] == 0 and s["acked"] == [400, 5] and s["errors"] == 0
    assert s["acks"] == s["batches"] >= 400 // 30
    check_all_once(rx.db, 400, 5)
    # a second run of the same device finds nothing new to send: no session at all
    s = stats(device(firmware, tmp / "flash.img", rx.port, key, 0, 0))
    assert s["sessions"] == 0 and s["acked"] == [400, 5]
    assert rx.stop() == 0
    assert "stopped: 1 sessions" in rx.text()


def test_link_cut_mid_batch_then_resent(setup, firmware):
    tmp, key, start = setup
    rx = start()
    s = stats(device(firmware, tmp / "flash.img", rx.port, key, 200, 2, "cut:3:300"))
    assert s["errors"] == 1 and s["last_error"] == E_SEND and s["backlog"] == 0
    check_all_once(rx.db, 200, 2)


def test_link_lost_after_commit_before_ack(setup, firmware):
    tmp, key, start = setup
    rx = start()
    s = stats(device(firmware, tmp / "flash.img", rx.port, key, 200, 2, "noack:3"))
    assert s["errors"] == 1 and s["last_error"] == E_CLOSED and s["backlog"] == 0
    check_all_once(rx.db, 200, 2)
    rx.stop()
    # the second batch was committed, its ack lost, and it came again: acked, not stored twice
    assert re.search(r"stopped: 2 sessions, \d+ batches, 202 records stored, ([1-9]\d*) duplicates",
                     rx.text()), rx.text()


def test_device_killed_between_send_and_ack_resends_after_restart(setup, firmware):
    tmp, key, start = setup
    rx = start()
    proc = device(firmware, tmp / "flash.img", rx.port, key, 150, 1, "hang:4")
    assert proc.stdout.readline().strip() == "HUNG"
    deadline = time.monotonic() + 10
    while len(stored(rx.db)) < 3 * 20 and time.monotonic() < deadline:
        time.sleep(0.05)  # batches 1-3 committed (the third one's ack is never read)
    held = len(stored(rx.db))
    proc.kill()
    proc.wait()
    s = stats(device(firmware, tmp / "flash.img", rx.port, key, 0, 0))  # power back on
    assert s["backlog"] == 0 and s["acked"] == [150, 1] and s["errors"] == 0
    assert s["records"] < 151  # it resent from its cursor, not from the start
    assert s["records"] > 151 - held  # and the batch whose ack it never saw came again
    check_all_once(rx.db, 150, 1)


def test_receiver_restart_mid_session(setup, firmware):
    tmp, key, start = setup
    rx = start()
    proc = device(firmware, tmp / "flash.img", rx.port, key, 300, 3, "pause:3",
                  stdin=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "PAUSED"
    rx.stop(signal.SIGKILL)
    rx2 = start(rx.port)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    s = stats(proc)
    assert s["errors"] >= 1 and s["last_error"] == E_CLOSED and s["backlog"] == 0
    assert s["sessions"] == 2
    check_all_once(rx2.db, 300, 3)


def test_unknown_device_is_refused_and_logged(setup, firmware):
    tmp, key, start = setup
    rx = start()
    proc = device(firmware, tmp / "flash.img", rx.port, key, 10, 0, "errors:2",
                  device_id="stack-99")
    s = stats(proc)
    assert s["last_error"] == E_NAK + 1 and s["naks"] >= 1 and s["acked"] == [0, 0]
    assert stored(rx.db) == {}
    assert "stack-99 is not in the key file" in rx.text()


def test_device_with_another_key_trusts_no_welcome(setup, firmware):
    tmp, key, start = setup
    rx = start()
    s = stats(device(firmware, tmp / "flash.img", rx.port, auth.new_key(), 10, 0, "errors:2"))
    assert s["last_error"] == 6 and s["batches"] == 0 and s["acked"] == [0, 0]
    assert stored(rx.db) == {}
