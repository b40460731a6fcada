"""End-to-end modem session under MicroPython, driven by tests/test_modem_emulator.py.

    micropython modem_e2e.py SCENARIO FAMILY UART_PTY HOST PORT CTL_FIFO ACK_FIFO STORE_JSON

The real driver talks over the pty to the host's modem emulator and echoes a binary payload
through a TCP echo server. Faults are asked for on the control FIFO (one line, then an ack);
the PWRKEY pin reports its level the same way. Results are printed as ``KEY value`` lines.
"""
import asyncio
import json
import sys

from cemt.board import port
from cemt.board.clock import VirtualClock
from cemt.modem.driver import Modem

scenario, family, path, host, portno, ctl_path, ack_path, store_path = sys.argv[1:9]
ctl = open(ctl_path, "wb")
ack = open(ack_path, "rb")


def control(line):
    ctl.write(line.encode() + b"\n")
    ack.readline()


class Key:
    """PWRKEY: the emulator hears every level change."""

    def __init__(self):
        self.v = 0

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = 1 if v else 0
        control("KEY %d" % self.v)


class Store:
    def __init__(self, path):
        self.path = path
        try:
            with open(path) as f:
                self.d = json.load(f)
        except (OSError, ValueError):
            self.d = {}

    def get(self, key, default=None):
        return self.d.get(key, default)

    def set(self, key, value):
        self.d[key] = value
        with open(self.path, "w") as f:
            json.dump(self.d, f)


PAYLOAD = (b"\x00\x1a\r\n\r\nOK\r\n+CIPRXGET: 1,0\r\n>" + bytes(range(256)) * 8 + b"\xff\x00\x1a")
GOT = bytearray(len(PAYLOAD))  # allocated once, before the heap fragments


def make():
    m = Modem(port().uart(path, 115200), family, apn="cmnet", pwrkey=Key(), store=Store(store_path),
              clock=VirtualClock(0))
    m.at.poll_ms = 2
    m.t_cmd = m.t_close = 600
    m.t_probe = 300
    m.probes = 2
    m.t_boot = 1500
    m.t_reg = 3000
    m.t_reg_poll = 200
    m.t_net = m.t_open = m.t_send = m.t_recv = 2000
    m.t_power_gap = 100
    m.t_key_on = 100
    m.t_key_off = 300
    return m


async def echo(m, data):
    if not await m.send(data):
        return False
    mv = memoryview(GOT)
    pos = 0
    for _ in range(40):
        n = await m.recv(mv[pos:pos + 512], 1000)
        if n < 0:
            break
        pos += n
        if pos >= len(data):
            break
    return pos == len(data) and mv[:pos] == data


async def reconnect(m, tries):
    for i in range(tries):
        if await m.connect(host, int(portno)):
            return i + 1
        await asyncio.sleep_ms(100)
    return 0


async def main():
    m = make()
    print("CONNECT", await reconnect(m, 3))
    print("TIME", m.clock.now(), m.clock.quality)
    print("ECHO", await echo(m, PAYLOAD))
    if scenario == "outage":
        control("OUTAGE 1")
        print("DURING", await echo(m, b"lost?"), m.connected)
        control("OUTAGE 0")
        print("RECONNECT", await reconnect(m, 6))
        print("ECHO2", await echo(m, PAYLOAD))
    elif scenario == "hang":
        control("HANG power")
        print("DURING", await echo(m, b"hung?"))
        print("RECONNECT", await reconnect(m, 12))
        print("ECHO2", await echo(m, PAYLOAD))
    elif scenario == "garble":
        control("GARBLE 1")
        print("DURING", await echo(m, b"noise"))
        print("RECONNECT", 1 if m.connected else await reconnect(m, 6))
        print("ECHO2", await echo(m, PAYLOAD))
    await m.close()
    s = m.summary()
    print("SUMMARY", " ".join("%s=%d" % (k, s[k]) for k in sorted(s)))


asyncio.run(main())
