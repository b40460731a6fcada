"""The sim bus bridge end to end: real MicroPython (cemt.board.simbus) against the host server."""
import binascii

import pytest

import fwtest
from cemtool.sim import scenario
from cemtool.sim.emulators.bmp280 import BMP280
from cemtool.sim.emulators.current_loop import CurrentLoop
from cemtool.sim.emulators.max31865 import MAX31865, temp_of_code
from cemtool.sim.emulators.sdp3x import SDP3x
from cemtool.sim.pty import Hub
from cemtool.sim.simbus import ST_BAD, SimBus, World, crc16, frame
from cemtool.sim.truth import Truth


def test_crc16_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1


def test_frame_layout():
    f = frame(0x02, b"\x01\x02")
    assert f[:4] == b"\x02\x02\x01\x02"
    assert int.from_bytes(f[4:], "big") == binascii.crc_hqx(f[:4], 0xFFFF)


class Rig:
    """A world, a bus server in a hub, and a helper to run device code under MicroPython."""

    def __init__(self, sets=(), faults=()):
        self.sc = scenario.load("constant", sets=list(sets), faults=list(faults))
        self.world = World(self.sc)
        self.hub = Hub().start()
        self.bus = self.hub.add(SimBus(self.world))

    def run(self, body, mode="src", timeout=30):
        code = ("from cemt.board import simbus\n"
                f"bus = simbus.Bus({self.bus.path!r})\n" + body)
        proc = fwtest.run_micropython(["-c", code], mode=mode, timeout=timeout)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.split()

    def close(self):
        self.hub.stop()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def test_hello_returns_host_time_and_barrier_moves_the_world(rig):
    truth = Truth(rig.sc)
    rig.world.listeners.append(truth.advance_to)
    out = rig.run(
        "clock = simbus.SimClock(bus)\n"
        "print(clock.now())\n"
        "clock.sleep_ms(400)\n"      # same second: no barrier needed
        "clock.sleep_ms(700)\n"      # enters the next second
        "for _ in range(9): clock.sleep_ms(1000)\n"
        "print(clock.now(), clock.ticks_ms() % 1000)\n")
    start = rig.sc.start
    assert out == [str(start), str(start + 10), "100"]
    assert rig.world.t == start + 10
    assert rig.bus.hellos == 1 and rig.bus.exchanges == 11   # HELLO + one barrier per second
    assert truth.t == start + 10
    assert truth.total_kg == pytest.approx(rig.world.state().co2_kg_h * 10 / 3600, rel=1e-12)


def test_restarted_device_resumes_at_host_time(rig):
    rig.run("c = simbus.SimClock(bus)\nc.sleep_ms(5000)\n")
    rig.world.advance_to((rig.sc.start + 65) * 1000)   # e.g. the bench was off for a minute
    out = rig.run("print(simbus.SimClock(bus).now())\n")
    assert out == [str(rig.sc.start + 65)]


def test_set_moves_device_utc_not_simulated_time(rig):
    out = rig.run("c = simbus.SimClock(bus)\nc.set(1000, 1)\nc.sleep_ms(2000)\n"
                  "print(c.now(), c.quality)\n")
    assert out == ["1002", "1"]
    assert rig.world.t == rig.sc.start + 2


def test_i2c_reads_the_emulated_sdp_and_nak_raises_oserror(rig):
    rig.bus.attach_i2c(0x25, SDP3x(rig.world))
    out = rig.run(
        "i2c = simbus.I2C(bus)\n"
        "print(i2c.scan())\n"
        "i2c.writeto(0x25, b'\\x36\\x15')\n"
        "b = bytearray(9)\n"
        "i2c.readfrom_into(0x25, b)\n"
        "print(b.hex())\n"
        "for addr, cmd in ((0x25, b'\\x36\\x7c'), (0x40, b'\\x00')):\n"
        "    try:\n"
        "        i2c.writeto(addr, cmd)\n"
        "        print('ack')\n"
        "    except OSError as e:\n"
        "        print('err', e.errno)\n")
    assert out[0] == "[37]"
    raw = bytes.fromhex(out[1])
    ticks = int.from_bytes(raw[0:2], "big", signed=True)
    assert ticks == round(rig.world.state().dp_pa * 60)
    assert int.from_bytes(raw[6:8], "big") == 60
    assert out[2:] == ["err", "5", "err", "19"]   # busy measuring: NAK (EIO); nobody there: ENODEV


def test_i2c_mem_access_reaches_bmp280_registers(rig):
    rig.bus.attach_i2c(0x76, BMP280(rig.world))
    out = rig.run(
        "i2c = simbus.I2C(bus)\n"
        "print(i2c.readfrom_mem(0x76, 0xD0, 1).hex())\n"
        "i2c.writeto_mem(0x76, 0xF4, b'\\x57')\n"
        "b = bytearray(1)\n"
        "i2c.readfrom_mem_into(0x76, 0xF4, b)\n"
        "print(b.hex(), i2c.readfrom_mem(0x76, 0x88, 24).hex())\n")
    assert out[0] == "58" and out[1] == "57"
    assert bytes.fromhex(out[2])[:2] == (27504).to_bytes(2, "little")


def test_spi_transactions_and_cs_routing(rig):
    rig.bus.attach_spi(5, MAX31865(rig.world))
    out = rig.run(
        "spi = simbus.SPI(bus)\n"
        "cs = simbus.Pin(5)\n"
        "spi.attach(cs)\n"
        "rx = bytearray(2)\n"
        "cs(0); spi.write_readinto(b'\\x80\\xc1', rx); cs(1)\n"
        "cs(0); spi.write(b'\\x01'); r = spi.read(2, 0xff); cs(1)\n"   # one transaction, two calls
        "print(r.hex())\n"
        "print(spi.read(2).hex())\n")                                 # nobody selected: pull-up
    code = int(out[0], 16) >> 1
    assert temp_of_code(code) == pytest.approx(rig.world.state().temp_c, abs=0.05)
    assert out[1] == "ffff"


def test_adc_reads_loop_current(rig):
    rig.bus.attach_adc(2, CurrentLoop(rig.world, {"lo": -2000, "hi": 2000}, device="ps"))
    out = rig.run("a = simbus.ADC(bus, 2)\nprint(a.read_uv(), a.read_u16())\n"
                  "try:\n    simbus.ADC(bus, 3).read_uv()\nexcept OSError as e:\n    print(e.errno)\n")
    uv = int(out[0])
    ua = 4000 + 16000 * (rig.world.state().static_pa + 2000) / 4000   # 7.2 mA at -200 Pa
    assert uv == pytest.approx(ua * 150, abs=3300000 / 4095)
    assert int(out[1]) == uv * 65535 // 3300000
    assert out[2] == "19"


def test_garbage_gets_st_bad_and_the_bridge_recovers(rig):
    import os
    fd = os.open(rig.bus.path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"\x02\x00\x00\x00")   # a TIME frame with a wrong CRC
        got = b""
        while len(got) < 4:
            got += os.read(fd, 16)
        assert got == frame(ST_BAD)
    finally:
        os.close(fd)
    out = rig.run("print(simbus.SimClock(bus).now())\n")
    assert out == [str(rig.sc.start)]


def test_bridge_runs_from_mpy_too(rig):
    rig.bus.attach_i2c(0x25, SDP3x(rig.world))
    out = rig.run("print(simbus.I2C(bus).scan())\n", mode="mpy")
    assert out == ["[37]"]


def test_transactions_do_not_allocate(rig):
    rig.bus.attach_i2c(0x25, SDP3x(rig.world))
    rig.bus.attach_i2c(0x76, BMP280(rig.world))
    rig.bus.attach_spi(5, MAX31865(rig.world))
    rig.bus.attach_adc(0, CurrentLoop(rig.world, {"lo": -2000, "hi": 2000}))
    out = rig.run(
        "import micropython\n"
        "clock = simbus.SimClock(bus)\n"
        "i2c = simbus.I2C(bus)\n"
        "spi = simbus.SPI(bus)\n"
        "cs = simbus.Pin(5)\n"
        "spi.attach(cs)\n"
        "adc = simbus.ADC(bus, 0)\n"
        "i2c.writeto(0x25, b'\\x36\\x15')\n"
        "m = bytearray(9)\n"
        "r = bytearray(6)\n"
        "q = bytearray(b'\\x01\\xff\\xff\\xff\\xff\\xff\\xff\\xff')\n"
        "rx = bytearray(8)\n"
        "i2c.writeto_mem(0x76, 0xF4, b'\\x57')\n"
        "def once():\n"
        "    clock.sleep_ms(1000)\n"
        "    i2c.readfrom_into(0x25, m)\n"
        "    i2c.readfrom_mem_into(0x76, 0xF7, r)\n"
        "    cs(0)\n"
        "    spi.write_readinto(q, rx)\n"
        "    cs(1)\n"
        "    return adc.read_uv()\n"
        "once()\n"
        "micropython.heap_lock()\n"
        "for _ in range(50):\n"
        "    uv = once()\n"
        "micropython.heap_unlock()\n"
        "print(uv > 0, m[6:8] == b'\\x00\\x3c')\n")
    assert out == ["True", "True"]


def test_async_sleeps_drive_the_barrier(rig):
    out = rig.run(
        "import asyncio\n"
        "clock = simbus.SimClock(bus)\n"
        "async def main():\n"
        "    for _ in range(5):\n"
        "        await clock.asleep_ms(1000)\n"
        "    clock.sleep_ms(-500)\n"           # never backwards
        "asyncio.run(main())\n"
        "print(clock.now())\n")
    assert out == [str(rig.sc.start + 5)] and rig.world.t == rig.sc.start + 5
