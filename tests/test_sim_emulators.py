"""Sensor emulators: their exact bytes, and the real firmware drivers reading them.

The last group runs the firmware's own drivers (cemt.sensors.*) under MicroPython, through the
sim bus bridge or a pty UART, against these emulators: both sides agree on every protocol, and the
driver reads the model's value (or the status a fault should give).
"""
import os
import time
import tty

import pytest

import fwtest
from cemtool.sim import scenario
from cemtool.sim.emulators import bmp280
from cemtool.sim.emulators.bmp280 import BMP280
from cemtool.sim.emulators.current_loop import CurrentLoop
from cemtool.sim.emulators.gss import GssAnalyser
from cemtool.sim.emulators.max31865 import MAX31865, rtd_code, rtd_ohm, temp_of_code
from cemtool.sim.emulators.modbus import ModbusAnalyser
from cemtool.sim.emulators.sdp3x import SDP3x, crc8, words
from cemtool.sim.pty import Hub
from cemtool.sim.simbus import Absent, Nak, SimBus, World

STATUS = {c: i for i, c in enumerate("NFMSDCTB")}


def world(*faults, sets=(), name="constant"):
    return World(scenario.load(name, sets=list(sets), faults=list(faults)))


def at(w, rel_s):
    w.advance_to((w.scenario.start + rel_s) * 1000)
    return w


# --- SDP3x -----------------------------------------------------------------------------------

def test_sdp_crc8_check_value_and_words():
    assert crc8(b"\xbe\xef") == 0x92
    assert words(0xBEEF, -1) == b"\xbe\xef\x92\xff\xff\xac"


def test_sdp_identifier_and_measurement_bytes():
    w = world()
    s = SDP3x(w)
    with pytest.raises(Nak):
        s.read(9)                       # nothing started, nothing prepared
    s.write(b"\x36\x7c")
    s.write(b"\xe1\x02")
    ident = s.read(18)
    assert ident[0:2] == b"\x03\x02" and ident[3:5] == b"\x01\x01"
    assert all(crc8(ident[i:i + 2]) == ident[i + 2] for i in range(0, 18, 3))
    s.write(b"\x36\x15")
    m = s.read(9)
    ticks = int.from_bytes(m[0:2], "big", signed=True)
    assert ticks == round(133.757 * 60)
    assert int.from_bytes(m[3:5], "big") == 25 * 200 and int.from_bytes(m[6:8], "big") == 60
    with pytest.raises(Nak):
        s.write(b"\x36\x7c")           # while measuring, only stop is accepted
    s.write(b"\x3f\xf9")
    assert not s.measuring


def test_sdp_faults():
    w = world("dp:garble@10+10", "dp:overrange@20+10", "dp:disconnect@30+10")
    s = SDP3x(w)
    s.write(b"\x36\x15")
    m = at(w, 10) and s.read(9)
    assert crc8(m[0:2]) != m[2]
    at(w, 20)
    assert s.read(3)[:2] == b"\x7f\xff"
    at(w, 30)
    with pytest.raises(Absent):
        s.read(9)


# --- BMP280 ----------------------------------------------------------------------------------

def test_bmp280_datasheet_example():
    # Bosch BMP280 datasheet section 3.12: adc_T 519888 -> 25.08 degC, t_fine 128422;
    # adc_P 415148 -> 100653.27 Pa (floating-point formula; the integer ones agree within 3 Pa)
    assert bmp280.t_fine(519888) == 128422 and bmp280.temp_centi(519888) == 2508
    assert bmp280.pressure_int64(415148, 128422) == pytest.approx(100653.27, abs=0.05)
    assert bmp280.pressure_int32(415148, 128422) == pytest.approx(100653.27, abs=3)


@pytest.mark.parametrize("pa", [30000, 80000, 95123, 101325, 108765])
@pytest.mark.parametrize("temp_c", [-10.0, 25.0, 40.0])
def test_bmp280_raw_words_compensate_back_within_1pa(pa, temp_c):
    adc_p, adc_t = bmp280.raw_words(pa, temp_c)
    tf = bmp280.t_fine(adc_t)
    assert bmp280.temp_centi(adc_t) == pytest.approx(temp_c * 100, abs=1)
    assert abs(bmp280.pressure_int32(adc_p, tf) - pa) <= 1
    # the datasheet's 64-bit formula approximates differently: a few Pa apart at the extremes
    assert abs(bmp280.pressure_int64(adc_p, tf) - pa) <= 3


def test_bmp280_registers_modes_and_reset():
    w = world()
    b = BMP280(w)
    b.write(b"\xd0")
    assert b.read(1) == b"\x58"
    b.write(b"\xf7")
    assert b.read(6) == b"\x80\x00\x00\x80\x00\x00"     # no conversion yet
    b.write(b"\xf4\x55")                                # forced mode, P x16, T x2
    b.write(b"\xf4")
    assert b.read(1) == b"\x54"                          # back to sleep after the conversion
    b.write(b"\xf7")
    raw = b.read(6)
    adc_p = raw[0] << 12 | raw[1] << 4 | raw[2] >> 4
    adc_t = raw[3] << 12 | raw[4] << 4 | raw[5] >> 4
    assert bmp280.pressure_int32(adc_p, bmp280.t_fine(adc_t)) == 101325
    b.write(b"\xe0\xb6")
    b.write(b"\xf4")
    assert b.read(1) == b"\x00"


# --- MAX31865 --------------------------------------------------------------------------------

def test_callendar_van_dusen_points():
    assert rtd_ohm(0) == pytest.approx(100.0)
    assert rtd_ohm(100) == pytest.approx(138.5055, abs=1e-4)     # IEC 60751 table
    assert rtd_ohm(-100) == pytest.approx(60.2558, abs=1e-4)
    assert rtd_ohm(400) == pytest.approx(247.0920, abs=1e-4)
    assert rtd_code(0) == round(100 / 430 * 32768) == 7620
    for t in (-50.0, 0.0, 150.0, 600.0):
        assert temp_of_code(rtd_code(t)) == pytest.approx(t, abs=0.02)


def test_max31865_registers():
    w = world()
    m = MAX31865(w)
    assert m.transfer(b"\x00\xff") == b"\x00\x00"                # power-on: bias off
    m.transfer(b"\x80\xd3")                                      # bias, auto, 3-wire, clear, 50 Hz
    assert m.transfer(b"\x00\xff")[1] == 0xD1                    # the clear bit reads back 0
    rx = m.transfer(b"\x01" + b"\xff" * 7)
    code = (rx[1] << 8 | rx[2]) >> 1
    assert code == rtd_code(150.0) and rx[2] & 1 == 0
    assert rx[3:7] == b"\xff\xff\x00\x00" and rx[7] == 0
    # a split transaction: address then data, continued without a new start
    assert m.transfer(b"\x01", start=True) == b"\x00"
    assert m.transfer(b"\xff\xff", start=False) == rx[1:3]
    m.transfer(b"\x83\x20\x00")                                  # high threshold below the reading
    rx = m.transfer(b"\x01" + b"\xff" * 7)
    assert rx[2] & 1 and rx[7] & 0x80


def test_max31865_faults():
    w = world("temp:disconnect@10+10", "temp:overrange@20+10", "temp:garble@30+10")
    m = MAX31865(w)
    m.transfer(b"\x80\xc1")
    assert at(w, 10) and m.transfer(b"\x01" + b"\xff" * 7) == b"\xff" * 8
    at(w, 20)
    rx = m.transfer(b"\x01" + b"\xff" * 7)
    assert temp_of_code((rx[1] << 8 | rx[2]) >> 1) == pytest.approx(900, abs=0.1)
    at(w, 30)
    assert m.transfer(b"\x01" + b"\xff" * 7)[3] == 0xF7


# --- 4-20 mA ---------------------------------------------------------------------------------

def test_current_loop_scaling_saturation_and_faults():
    w = world("ps:disconnect@10+10", "ps:overrange@20+10", sets=["static_pa=-2000"])
    loop = CurrentLoop(w, {"lo": -2000, "hi": 2000, "shunt_ohm": 150})
    assert loop.current_ua() == pytest.approx(4000)
    assert loop.read_uv() == pytest.approx(4000 * 150, abs=806)
    w2 = world(sets=["static_pa=1000"])
    assert CurrentLoop(w2, {"lo": -2000, "hi": 2000}).current_ua() == pytest.approx(16000)
    w3 = world(sets=["static_pa=5000"])
    assert CurrentLoop(w3, {"lo": -2000, "hi": 2000}).current_ua() == 20500   # NE 43 saturation
    assert at(w, 10) and loop.current_ua() == 0
    assert at(w, 20) and loop.current_ua() == 21000
    dp_loop = CurrentLoop(world(), {"lo": 0, "hi": 50000}, device="dp")   # 0.01 Pa: 0..500 Pa
    assert dp_loop.current_ua() == pytest.approx(4000 + 16000 * 133.757 / 500, rel=1e-5)


# --- UART emulators on ptys ------------------------------------------------------------------

class Peer:
    """The device end of an emulator's pty, opened the way the firmware does (raw)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def ask(self, data, expect, wait=1.0):
        os.write(self.fd, data)
        got = b""
        end = time.monotonic() + wait
        os.set_blocking(self.fd, False)
        while len(got) < expect and time.monotonic() < end:
            try:
                got += os.read(self.fd, 256)
            except BlockingIOError:
                time.sleep(0.001)
        return got

    def close(self):
        os.close(self.fd)


@pytest.fixture
def hub():
    h = Hub().start()
    yield h
    h.stop()


def test_gss_protocol_on_a_pty(hub):
    w = world("co2:garble@10+10", "co2:disconnect@20+10", "co2:overrange@30+10", sets=["co2_pct=12.3456"])
    g = hub.add(GssAnalyser(w))
    p = Peer(g.path)
    try:
        assert p.ask(b"K 2\r\n", 10) == b" K 00002\r\n"
        assert p.ask(b".\r\n", 10) == b" . 00010\r\n"
        assert p.ask(b"@\r\n", 12) == b" @ 1.0 8.0\r\n"      # autozero on from the factory
        assert p.ask(b"@ 0\r\n", 6) == b" @ 0\r\n"
        assert p.ask(b"@\r\n", 6) == b" @ 0\r\n"
        assert p.ask(b"Z\r\n", 10) == b" Z 12346\r\n"        # 123456 ppm / 10, rounded
        assert p.ask(b"Q\r\n", 4) == b" ?\r\n"
        at(w, 10)
        assert p.ask(b"Z\r\n", 10) == b" Z x2346\r\n"
        at(w, 20)
        assert p.ask(b"Z\r\n", 10, wait=0.1) == b""
        at(w, 30)
        assert p.ask(b"Z\r\n", 10) == b" Z 25000\r\n"        # 1.25 x its 20 % range
    finally:
        p.close()


def test_gss_reads_stack_and_gases_with_the_analysers_error(hub):
    w = world("co2:gas=0@10+10", "co2:gas=15@20+10",
              sets=["co2_zero_error_pct=0.15", "co2_gain_error=0.02"])
    g = hub.add(GssAnalyser(w))
    p = Peer(g.path)
    try:
        assert p.ask(b"Z\r\n", 10) == b" Z 12390\r\n"        # 12 · 1.02 + 0.15 %vol
        at(w, 10)
        assert p.ask(b"Z\r\n", 10) == b" Z 00150\r\n"        # zero gas: the zero error
        at(w, 20)
        assert p.ask(b"Z\r\n", 10) == b" Z 15450\r\n"        # span gas: 15 · 1.02 + 0.15
    finally:
        p.close()


def modbus_crc(frame):
    c = 0xFFFF
    for x in frame:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return c.to_bytes(2, "little")


def test_modbus_crc_check_value():
    assert modbus_crc(bytes.fromhex("010400000001")) == b"\x31\xca"


def test_pymodbus_serves_hand_built_frames_on_a_pty(hub):
    w = world("co2:overrange@10+10", "co2:disconnect@20+10", "co2:garble@30+10")
    m = ModbusAnalyser(w, {"mul": 10, "div": 1})
    hub.call(m.start)
    p = Peer(m.path)

    def ask(hexreq, n, wait=1.0):
        req = bytes.fromhex(hexreq)
        return p.ask(req + modbus_crc(req), n, wait)
    try:
        r = ask("fe0400000004", 13)
        assert r[:3] == b"\xfe\x04\x08" and modbus_crc(r[:-2]) == r[-2:]
        assert r[3:5] == b"\x00\x00" and int.from_bytes(r[9:11], "big") == 1200   # 12.00 %vol
        assert ask("fe03001f0001", 7)[3:5] == (180).to_bytes(2, "big")             # ABC on
        assert ask("fe06001f0000", 8)[:6] == bytes.fromhex("fe06001f0000")          # ABC off
        assert ask("fe03001f0001", 7)[3:5] == b"\x00\x00"
        exc = ask("fe0400640001", 5)
        assert exc[:3] == b"\xfe\x84\x02"                                           # illegal address
        at(w, 10)
        r = ask("fe0400000004", 13)
        assert r[3:5] == b"\x00\x20" and r[9:11] == b"\xff\xff"
        at(w, 20)
        assert ask("fe0400000004", 13, wait=0.2) == b""
        at(w, 30)
        r = ask("fe0400000004", 13)
        assert len(r) == 13 and modbus_crc(r[:-2]) != r[-2:]
    finally:
        p.close()
        hub.call(m.stop)


def test_modbus_reads_stack_and_gases_with_the_analysers_error(hub):
    w = world("co2:gas=0@10+10", "co2:gas=15@20+10",
              sets=["co2_zero_error_pct=-0.05", "co2_gain_error=-0.03"])
    m = ModbusAnalyser(w, {"mul": 1, "div": 1})  # counts of 0.001 %vol
    hub.call(m.start)
    p = Peer(m.path)

    def co2():
        req = bytes.fromhex("fe0400000004")
        r = p.ask(req + modbus_crc(req), 13)
        assert modbus_crc(r[:-2]) == r[-2:]
        return int.from_bytes(r[9:11], "big")
    try:
        assert co2() == 11590                  # 12 · 0.97 − 0.05 %vol
        at(w, 10)
        assert co2() == 0                      # −0.05 %vol on zero gas: the register floors at 0
        at(w, 20)
        assert co2() == 14500                  # 15 · 0.97 − 0.05
    finally:
        p.close()
        hub.call(m.stop)


# --- the real firmware drivers, under MicroPython, against the emulators ---------------------

class Bench:
    """A hub with the sim bus and both analysers, and a runner for device-side driver code."""

    def __init__(self, *faults, name="constant"):
        self.world = world(*faults, name=name)
        self.hub = Hub().start()
        self.bus = self.hub.add(SimBus(self.world))
        self.bus.attach_i2c(0x25, SDP3x(self.world))
        self.bus.attach_i2c(0x76, BMP280(self.world))
        self.bus.attach_spi(5, MAX31865(self.world))
        self.bus.attach_adc(0, CurrentLoop(self.world, {"lo": -2000, "hi": 2000}, device="ps"))
        self.gss = self.hub.add(GssAnalyser(self.world))
        self.modbus = ModbusAnalyser(self.world, {"mul": 10, "div": 1})
        self.hub.call(self.modbus.start)

    def run(self, make, seconds=(0, 100)):
        """Build a driver with ``make`` (an expression), read it at each listed second."""
        code = (
            "from cemt.board import simbus, unix\n"
            "from cemt.sensors import make\n"
            f"bus = simbus.Bus({self.bus.path!r})\n"
            "clock = simbus.SimClock(bus)\n"
            "i2c = simbus.I2C(bus)\n"
            "spi = simbus.SPI(bus)\n"
            "cs = simbus.Pin(5)\n"
            "spi.attach(cs)\n"
            "adc = simbus.ADC(bus, 0)\n"
            f"gss = unix.UART({self.gss.path!r})\n"
            f"mb = unix.UART({self.modbus.path!r})\n"
            f"d = {make}\n"
            "print(d.start())\n"
            "t0 = clock.now()\n"
            f"for s in {tuple(seconds)!r}:\n"
            "    clock.sleep_ms((t0 + s - clock.now()) * 1000)\n"
            "    v = d.read()\n"
            "    print(s, v, d.status, d.reason or '-')\n")
        proc = fwtest.run_micropython(["-c", code], mode="mpy", timeout=60)  # as deployed
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.split("\n")
        assert lines[0] == "True", proc.stdout
        out = {}
        for line in lines[1:]:
            if line:
                s, v, st, why = line.split()
                out[int(s)] = (int(v), "NFMSDCTB"[int(st)], why)
        return out

    def state(self, rel):
        return self.world.model.state(self.world.scenario.start + rel)

    def close(self):
        self.hub.call(self.modbus.stop)
        self.hub.stop()


@pytest.fixture
def bench(request):
    b = Bench(*getattr(request, "param", ()), name="daily" if hasattr(request, "param") else "constant")
    yield b
    b.close()


def test_real_sdp_driver_reads_the_models_dp(bench):
    out = bench.run("make('sdp', {}, i2c, clock)")
    ticks = round(bench.state(100).dp_pa * 60)
    assert out[100] == ((ticks * 100 + 30) // 60, "N", "-")


def test_real_bmp280_driver_reads_the_models_ambient_pressure(bench):
    out = bench.run("make('bmp280', {}, i2c, clock)")
    assert out[100] == (101325, "N", "-")


def test_real_max31865_driver_reads_the_models_flue_temperature(bench):
    out = bench.run("make('max31865', {'wires': 3}, spi, clock, cs)")
    v, st, _ = out[100]
    assert st == "N" and v == pytest.approx(15000, abs=3)     # 150.00 degC within 0.03


def test_real_loop_driver_reads_the_models_static_pressure(bench):
    out = bench.run("make('loop_4_20', {'lo': -2000, 'hi': 2000}, adc, clock)")
    v, st, _ = out[100]
    assert st == "N" and v == pytest.approx(-200, abs=1.5)     # 12-bit ADC: 1.3 Pa a count


def test_real_gss_driver_reads_the_models_co2(bench):
    out = bench.run("make('gss_co2', {}, gss, clock)", seconds=(0, 61))
    assert out[0][1] == "M"                                   # warming up
    assert out[61] == (12000, "N", "-")                       # 12.000 %vol
    assert bench.gss.autozero is None                         # the driver switched ABC off


def test_real_modbus_driver_reads_the_models_co2(bench):
    out = bench.run("make('modbus_co2', {'mul': 10, 'div': 1}, mb, clock)", seconds=(0, 61))
    assert out[61] == (12000, "N", "-")
    assert bench.modbus.abc_period == 0                         # ABC period written 0


FAULTS = "dp:garble@100+10", "dp:overrange@200+10", "dp:disconnect@300+10", \
    "temp:disconnect@100+10", "temp:overrange@200+10", "ps:disconnect@100+10", \
    "ps:overrange@200+10", "co2:garble@100+10", "co2:overrange@200+10", "co2:disconnect@300+10", \
    "pa:disconnect@100+10", "pa:overrange@200+10", "dp:stuck@400+10", "dp:spike=1@500+10"


@pytest.mark.parametrize("bench", [FAULTS], indirect=True)
def test_real_sdp_driver_sees_each_injected_fault(bench):
    # the daily scenario's noise makes every second's value different, so stuck and spike show
    sdp = bench.run("make('sdp', {}, i2c, clock)", seconds=(1, 100, 200, 300, 320, 400, 405, 411, 500, 501))
    assert [sdp[s][1:] for s in (1, 100, 200, 300, 320)] == [
        ("N", "-"), ("B", "crc"), ("T", "range"), ("B", "bus"), ("N", "-")]
    assert sdp[200][0] == 32767 * 100 // 60 + 1

    def dp(rel):   # what the driver should read at second rel: ticks/60 in 0.01 Pa
        return (round(bench.state(rel).dp_pa * 60) * 100 + 30) // 60
    assert sdp[400][0] == sdp[405][0] == dp(400) != dp(405)    # stuck at its first second's value
    assert sdp[411][0] == dp(411)
    assert sdp[500][0] == pytest.approx(2 * dp(500), abs=2)    # a spike doubles the reading
    assert sdp[501][0] == dp(501)


@pytest.mark.parametrize("bench", [FAULTS], indirect=True)
@pytest.mark.parametrize("make, seconds, want", [
    ("make('max31865', {}, spi, clock, cs)", (1, 100, 200), ["N", "B spi", "T range"]),
    ("make('loop_4_20', {'lo': -2000, 'hi': 2000}, adc, clock)", (1, 100, 200), ["N", "D break", "T range"]),
    ("make('bmp280', {}, i2c, clock)", (1, 100, 200), ["N", "B bus", "T range"]),
    ("make('modbus_co2', {'mul': 10, 'div': 1}, mb, clock)", (61, 100, 200, 300, 320),
     ["N", "B crc", "T range", "B timeout", "N"]),
    ("make('gss_co2', {'max': 20000}, gss, clock)", (61, 100, 200, 300, 320),
     ["N", "B garbled", "T range", "B timeout", "N"]),
])
def test_real_drivers_see_each_injected_fault(bench, make, seconds, want):
    out = bench.run(make, seconds=seconds)
    got = [" ".join(x for x in out[s][1:] if x != "-") for s in seconds]
    assert got == want
