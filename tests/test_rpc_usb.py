"""The USB command link end to end: cemtool.link against a real MicroPython process serving
cemt.console on its stdin/stdout (a pty), and the REPL still reachable with Ctrl-C.

The device runs ``tests/fw/rpc_usb.py`` (a fake node behind the real dispatcher and console,
firmware as deployed .mpy) under ``micropython -i``, so a break leaves the REPL on the port as
a board's main.py does. Its pty is relayed by a one-device ``BusHub``, which gives the host a
port path that ``cemtool.link`` and ``mpremote`` open like a USB serial port.
"""
from __future__ import annotations

import subprocess
import time

import pytest

import fwtest
from devpty import PtyDevice
from cemtool import auth
from cemtool.link import AtRepl, FdTransport, Link, RemoteError, SerialTransport
from cemtool.records import Record

KEY = b"k" * 16 + bytes(range(16))  # tests/fw/rpc_fake.py
T0 = 1767225600
MINUTE = (1, 0, 0, 2, 3, 0, 60, 60, 1200, 1100, 1300, 1500, 1480, -150, 52000, 19635)
MINUTES = 300


def expected_minute(seq: int) -> list[int]:
    """Record ``seq`` of the fake node's minute log (tests/fw/rpc_logs.py, FakeLog.fill)."""
    rec = list(MINUTE)
    rec[1], rec[2], rec[8], rec[-1] = seq, T0 + 60 * (seq - 1), 1200 + seq % 50, MINUTE[-1] + seq
    return rec


class Device(PtyDevice):
    """A MicroPython process running the console, behind a relay pty at ``path``."""

    def __init__(self) -> None:
        # 72K: the console, the dispatcher with every op (calibrate, maint) and a fake node with
        # 300 records run in 64K, but the REPL a break leaves must still compile a line after it.
        super().__init__(["-i", "tests/fw/rpc_usb.py", str(MINUTES)], heap="72K")
        self.port = SerialTransport(self.path)
        self.received = bytearray()  # everything the device sent, for checks on raw bytes
        read = self.port.read

        def recording_read(timeout: float) -> bytes:
            data = read(timeout)
            self.received += data
            return data
        self.port.read = recording_read
        self.link = Link(self.port, timeout=5)

    def start(self) -> dict:
        try:
            return self.wait_app(self.link)
        except AtRepl:
            raise AssertionError(f"the app did not start: {bytes(self.received)!r}") from None

    def read_until(self, marker: bytes, timeout: float = 5) -> bytes:
        got = b""
        deadline = time.monotonic() + timeout
        while marker not in got and time.monotonic() < deadline:
            got += self.port.read(0.1)
        assert marker in got, (got, bytes(self.received[-600:]))
        return got

    def to_repl(self, keys: bytes, marker: bytes) -> bytes:
        """Type ``keys`` at the REPL until ``marker`` comes back (a few tries).

        The unix port's REPL discards input that comes while it sets up its terminal (a
        board's does not), so a key sent at that moment must be sent again.
        """
        for _ in range(5):
            self.port.write(keys)
            got = b""
            deadline = time.monotonic() + 1
            while marker not in got and time.monotonic() < deadline:
                got += self.port.read(0.1)
            if marker in got:
                return got
        raise AssertionError(f"no {marker!r} after {keys!r}: {bytes(self.received[-300:])!r}")

    def close(self) -> None:
        self.port.close()
        super().close()


@pytest.fixture
def dev():
    d = Device()
    try:
        yield d
    finally:
        d.close()


def test_probe_and_read_ops(dev):
    info = dev.start()
    assert info == {"device": "dev-1", "site": "plant", "point": "stack-2", "fw": "cemt 0.1.0",
                    "board": "unix", "cfg": 1, "proto": 1, "files": 0}
    live = dev.link.call("live").ok
    assert live["ch"] == {"co2": [1234, 0], "dp": [5210, 0], "temp": [1500, 7]}
    files = dev.link.call("info", {"files": True})
    hashes = [f for p in files.parts for f in p["files"]]
    assert len(hashes) == files.ok["files"] == 40 and len(files.parts) > 1
    assert all(len(d) == 32 for _, d in hashes)
    stats = {p["name"]: p["values"] for p in dev.link.call("stats").parts}
    assert stats["link.usb"]["frames"] == 4 and stats["rpc"]["requests"] == 4


def test_records_stream_over_the_port_exactly_as_stored(dev):
    dev.start()
    got: list[Record] = []
    sizes = []

    def part(msg):
        sizes.append(len(msg["recs"]))
        got.extend(Record.from_list(v) for v in msg["recs"])
    ok = dev.link.call("records", {"log": "minute", "from": 1, "max": 1000}, on_part=part).ok
    assert [r.seq for r in got] == list(range(1, MINUTES + 1))
    assert [r.to_list() for r in got] == [expected_minute(s) for s in range(1, MINUTES + 1)]
    assert len(sizes) > 5 and ok["next"] == MINUTES + 1 and ok["sent"] == MINUTES
    again = dev.link.call("records", {"log": "minute", "from": 101, "max": 50})
    assert [v[1] for p in again.parts for v in p["recs"]] == list(range(101, 151))
    assert again.ok["next"] == 151


def test_settings_time_and_errors(dev):
    dev.start()
    link = dev.link
    assert link.call("config.set", {"section": "edge", "changes": {"kp": 8100}}).ok == \
        {"ver": 2, "changed": True}
    edge = [p for p in link.call("config.get").parts if p["name"] == "edge"][0]["values"]
    assert edge["kp"] == 8100
    with pytest.raises(RemoteError) as e:
        link.call("config.set", {"section": "edge", "changes": {"kp": "fast"}})
    assert e.value.name == "invalid" and str(e.value).startswith("config.set: invalid: ")
    assert link.call("time.set", {"t": 1800000000}).ok["t"] == 1800000000
    assert link.call("time.get").ok == {"t": 1800000000, "tq": 1}
    with pytest.raises(RemoteError) as e:
        link.call("calibrate", {"channel": 6, "action": 3, "ref": 100})
    assert e.value.name == "unsupported"
    with pytest.raises(RemoteError) as e:
        link.call("dance")
    assert e.value.code == 2 and "\n" not in str(e.value)


def test_signed_requests_and_provisioning(dev):
    dev.start()
    link = dev.link
    assert link.call("ack", {"log": "minute", "seq": 10}, key=KEY).ok == {"acked": 10}
    with pytest.raises(RemoteError) as e:
        link.call("ack", {"log": "minute", "seq": 20}, key=auth.new_key())
    assert e.value.name == "auth_failed"
    new = auth.new_key()
    before = len(dev.received)
    ok = link.call("provision", {"device": "dev-9", "site": "s", "point": "p", "key": new}).ok
    assert ok == {"device": "dev-9", "ver": 1}
    assert new not in bytes(dev.received[before:])  # a key is never echoed
    assert link.call("ack", {"log": "minute", "seq": 20}, key=new).ok == {"acked": 20}
    assert link.call("info").ok["device"] == "dev-9"


def test_ctrl_c_gives_the_repl_back_and_the_link_says_so(dev):
    dev.start()
    dev.port.write(b"hello\r\n")  # keystrokes outside frames: ignored, counted as garbage
    assert dev.link.call("time.get").ok["tq"] == 0
    dev.port.write(b"\r\x03")
    assert b"KeyboardInterrupt" in dev.read_until(b">>> ")
    dev.to_repl(b"\x01", b"raw REPL; CTRL-B to exit\r\n>")
    dev.to_repl(b"\x02", b">>> ")
    with pytest.raises(AtRepl, match="MicroPython REPL"):
        dev.link.probe()
    dev.to_repl(b"\x02", b">>> ")  # the link has sent one already: the REPL is as it was
    dev.to_repl(b"print(6 * 7)\r", b"42")


def test_a_frame_cut_off_does_not_swallow_a_later_ctrl_c(dev):
    dev.start()
    wire = dev.link._frame({"id": 1, "op": "info"}, None)
    dev.port.write(wire[:len(wire) // 2])
    time.sleep(0.3)  # longer than the console's 100 ms inter-byte limit
    dev.port.write(b"\x03")
    out = dev.read_until(b">>> ")
    assert b"KeyboardInterrupt" in out


def test_mpremote_breaks_in_while_the_app_runs(dev):
    dev.start()
    dev.port.close()  # mpremote needs the port to itself
    run = subprocess.run([fwtest.tool("mpremote"), "connect", dev.path, "resume", "exec",
                          "print('from mpremote', 6 * 7)"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "from mpremote 42"
    dev.port = SerialTransport(dev.path)
    with pytest.raises(AtRepl):
        Link(dev.port, timeout=3).probe()


def test_any_byte_stream_will_do():
    # the console on plain pipes (no terminal), the link on their file descriptors
    proc = subprocess.Popen(
        [fwtest.tool("micropython"), "-X", "heapsize=64K", "tests/fw/rpc_usb.py", "50"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=fwtest.micropython_env("mpy"),
        cwd=fwtest.ROOT)
    try:
        link = Link(FdTransport(proc.stdout.fileno(), proc.stdin.fileno()), timeout=10)
        assert link.probe()["device"] == "dev-1"
        parts = link.call("records", {"log": "minute", "from": 1}).parts
        assert [v[1] for p in parts for v in p["recs"]] == list(range(1, 51))
        proc.stdin.close()  # end of input ends the console, and the process
        assert proc.wait(10) == 0
    finally:
        proc.kill()
