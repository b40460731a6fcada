"""Bosch BMP280 driver over the unix I2C bus: the datasheet's example, exact register traffic, faults."""
from cemt.board.bench import I2C  # first: compiling these two from source needs room
from sensor_models import RegisterChip

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N, T
from cemt.sensors import make

# The BMP280 datasheet's worked example (section 3.12): calibration and raw values giving
# 25.08 degC and 100653.27 Pa.
BMP280_EXAMPLE_CAL = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
BMP280_EXAMPLE_ADC_T = 519888
BMP280_EXAMPLE_ADC_P = 415148


class BMP280Model(RegisterChip):
    """Bosch BMP280: chip id, calibration NVM, reset, ctrl_meas/config, 20-bit data registers."""

    def __init__(self, chip_id=0x58, cal=BMP280_EXAMPLE_CAL,
                 adc_p=BMP280_EXAMPLE_ADC_P, adc_t=BMP280_EXAMPLE_ADC_T):
        super().__init__()
        self.regs[0xD0] = chip_id
        for i, v in enumerate(cal):
            v &= 0xFFFF
            self.regs[0x88 + 2 * i] = v & 0xFF
            self.regs[0x89 + 2 * i] = v >> 8
        self.adc_p = adc_p
        self.adc_t = adc_t
        self.resets = 0
        self.ctrl_sticks = True  # False: ctrl_meas ignores writes (a chip that is not listening)

    def on_write(self, reg, value):
        if reg == 0xE0:
            if value == 0xB6:
                self.resets += 1
                self.regs[0xF4] = self.regs[0xF5] = 0
        elif reg == 0xF4:
            if self.ctrl_sticks:
                self.regs[reg] = value
        elif reg == 0xF5:
            self.regs[reg] = value

    def before_read(self):
        # Data registers hold 0x80000 until the first conversion (normal mode running).
        p, t = (self.adc_p, self.adc_t) if self.regs[0xF4] & 3 == 3 else (0x80000, 0x80000)
        for base, v in ((0xF7, p), (0xFA, t)):
            self.regs[base] = v >> 12 & 0xFF
            self.regs[base + 1] = v >> 4 & 0xFF
            self.regs[base + 2] = (v & 0xF) << 4


def ready(model=None, cfg=None, warm=True):
    model = model or BMP280Model()
    bus = I2C()
    bus.attach(0x76, model)
    clock = VirtualClock(0)
    drv = make("bmp280", cfg or {}, bus, clock)
    drv.start()
    if warm:
        clock.advance(100)
    return drv, model


def float_reference(cal, adc_t, adc_p):
    """The datasheet's double-precision compensation (section 8.1): degC and Pa."""
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9 = cal
    v1 = (adc_t / 16384.0 - t1 / 1024.0) * t2
    d = adc_t / 131072.0 - t1 / 8192.0
    t_fine = v1 + d * d * t3
    v1 = t_fine / 2.0 - 64000.0
    v2 = v1 * v1 * p6 / 32768.0 + v1 * p5 * 2.0
    v2 = v2 / 4.0 + p4 * 65536.0
    v1 = (p3 * v1 * v1 / 524288.0 + p2 * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * p1
    p = (1048576.0 - adc_p - v2 / 4096.0) * 6250.0 / v1
    p += (p9 * p * p / 2147483648.0 + p * p8 / 32768.0 + p7) / 16.0
    return t_fine / 5120.0, p


def test_datasheet_example():
    drv, _ = ready()
    assert drv.read() == 100653 and drv.status == N   # datasheet: 100653.27 Pa
    assert drv.temp == 2508 and drv.t_fine == 128422  # datasheet: 25.08 degC, t_fine 128422
    q8 = drv.compensate_p(BMP280_EXAMPLE_ADC_P)
    assert abs(q8 - 25767237) <= 12                   # 100653.27 x 256, within 0.05 Pa


def test_integer_compensation_follows_the_float_formula():
    drv, _ = ready()
    for adc_t in range(480000, 560001, 20000):
        for adc_p in range(300000, 450001, 50000):
            t, p = float_reference(BMP280_EXAMPLE_CAL, adc_t, adc_p)
            assert abs(drv.compensate_t(adc_t) - t * 100) <= 1, (adc_t, t)
            assert abs((drv.compensate_p(adc_p) + 128 >> 8) - p) <= 1, (adc_p, p)


def test_register_traffic_is_byte_exact():
    drv, model = ready()
    assert model.writes == [b"\xd0", b"\xe0\xb6", b"\x88", b"\xf5\x48", b"\xf4\x57", b"\xf4"]
    assert model.resets == 1 and drv.chip_id == 0x58
    drv.read()
    assert model.writes[-1] == b"\xf7"


def test_chip_id():
    drv, _ = ready(BMP280Model(chip_id=0x55))
    assert not drv.ready and (drv.status, drv.reason) == (D, "id")
    drv, _ = ready(BMP280Model(chip_id=0x60))         # a BME280: same pressure part
    assert drv.ready and drv.read() == 100653


def test_blank_calibration_is_a_device_fault():
    drv, _ = ready(BMP280Model(cal=(0,) * 12))
    assert not drv.ready and (drv.status, drv.reason) == (D, "calibration")


def test_configuration_that_does_not_stick_is_a_communication_fault():
    model = BMP280Model()
    model.ctrl_sticks = False
    drv, _ = ready(model)
    assert not drv.ready and (drv.status, drv.reason) == (B, "config")


def test_missing_device_and_nak():
    bus = I2C()
    drv = make("bmp280", {"addr": 0x77}, bus, VirtualClock(0))
    assert not drv.start() and (drv.status, drv.reason) == (B, "bus")
    drv, model = ready()
    model.nak = True
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "bus")


def test_no_conversion_yet_and_warm_up():
    drv, model = ready(warm=False)
    assert drv.read() == 100653 and (drv.status, drv.reason) == (M, "warmup")
    model.adc_p = 0x80000                             # pressure measurement skipped
    drv.clock.advance(100)
    assert drv.read() == 0 and (drv.status, drv.reason) == (D, "nodata")


def test_implausible_pressure_is_over_range():
    drv, _ = ready(cfg={"lo": 90000, "hi": 100000})
    assert drv.read() == 100653 and (drv.status, drv.reason) == (T, "range")
