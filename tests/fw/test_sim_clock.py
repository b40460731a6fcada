"""The sim board's clock at a speed, and the profile's ``<name>`` values, without a host."""
import json
import os
import time

import asyncio

from cemt.board import simbus, unix
from cemt.board.simpace import PacedClock

PORTS = "/tmp/cemt_test_sim_ports.json"
IMAGE = "/tmp/cemt_test_sim_ports.img"
T0 = 1735689600000  # ms


class FakeBus:
    """Answers HELLO with ``t_ms`` and records the time of every TIME barrier."""

    def __init__(self, t_ms):
        self.t_ms = t_ms
        self.barriers = []
        self._v = 0

    def hello(self):
        return self.t_ms

    def put_u64(self, pos, v):
        self._v = v

    def call(self, op, n):
        assert op == simbus.OP_TIME and n == 8
        self.barriers.append(self._v)
        return 0


def test_without_speed_time_moves_only_by_sleeps():
    bus = FakeBus(T0)
    c = simbus.SimClock(bus)
    time.sleep_ms(20)
    assert c.ticks_ms() == T0 and c.now() == T0 // 1000
    c.sleep_ms(400)
    assert c.ticks_ms() == T0 + 400 and bus.barriers == []
    c.sleep_ms(2500)
    assert c.ticks_ms() == T0 + 2900 and bus.barriers == [T0 + 2900]


def test_with_speed_a_sleep_waits_its_real_share_and_time_follows_the_real_clock():
    bus = FakeBus(T0)
    c = PacedClock(bus, 0, 20)
    r0 = time.ticks_ms()
    c.sleep_ms(2000)  # 100 ms of real time
    real = time.ticks_diff(time.ticks_ms(), r0)
    t1 = c.ticks_ms()
    assert 95 <= real < 2000, real
    assert t1 >= T0 + 2000
    time.sleep_ms(100)  # no sleep of the clock's: simulated time still follows the real one
    t2 = c.ticks_ms()
    assert t2 - t1 >= 1900, t2 - t1
    # one barrier per simulated second entered, in order, each at the time it was entered
    seconds = [b // 1000 for b in bus.barriers]
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds)
    assert seconds[-1] == t2 // 1000


def test_set_moves_utc_not_simulated_time():
    bus = FakeBus(T0)
    c = PacedClock(bus, 0, 1)
    c.set(1800000000, 1)
    assert c.now() in (1800000000, 1800000001) and c.quality == 1
    assert c.ticks_ms() - T0 < 1000


def test_asleep_at_speed_lets_other_tasks_run():
    bus = FakeBus(T0)
    c = PacedClock(bus, 0, 10)
    runs = [0]

    async def other():
        while True:
            runs[0] += 1
            await asyncio.sleep_ms(10)

    async def main():
        t = asyncio.create_task(other())
        await c.asleep_ms(1000)  # 100 ms real
        t.cancel()

    asyncio.run(main())
    assert runs[0] >= 4, runs[0]
    assert c.ticks_ms() >= T0 + 1000


def _ports(doc):
    with open(PORTS, "w") as f:
        json.dump(doc, f)
    unix.PORTS = PORTS
    unix._ports = None  # read again


def test_placeholders_come_from_the_boards_ports_file():
    _ports({"speed": 7, "flash": IMAGE})
    try:
        assert unix.fill("<speed>") == 7
        assert unix.fill("/dev/ttyUSB0") == "/dev/ttyUSB0" and unix.fill(5) == 5
        assert unix.fill(None) is None and unix.fill("<>") == "<>"
        clock = unix.clock(start=1000, speed="<speed>")
        assert clock._speed == 7
        dev = unix.flash("<flash>", 4096, 2)
        assert dev.ioctl(4, 0) == 2
        assert os.stat(IMAGE)[6] == 2 * 4096
    finally:
        for path in (IMAGE, IMAGE + ".erases", PORTS):
            try:
                os.remove(path)
            except OSError:
                pass


def test_a_missing_placeholder_is_a_clear_error():
    _ports({"bridge": "/dev/null"})
    try:
        try:
            unix.uart("<co2>", 9600)
        except OSError as e:
            msg = str(e)
            assert "<co2>" in msg and PORTS in msg, msg
        else:
            raise AssertionError("an unknown placeholder was opened")
    finally:
        os.remove(PORTS)
