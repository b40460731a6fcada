"""Ambient (barometric) pressure from a Bosch BMP280 on I2C, with the datasheet's integer compensation.

``start()`` checks the chip id (register 0xD0: 0x58; a BME280's 0x60 is accepted, its pressure
part is the same), soft-resets it (0xE0 <- 0xB6), reads the 24 calibration bytes from 0x88,
writes ``config`` (0xF5) then ``ctrl_meas`` (0xF4, normal mode) and reads ctrl_meas back.
Each ``read()`` takes the 6 data bytes from 0xF7 (pressure and temperature, 20 bits each) and
compensates them with the datasheet's integer formulas: temperature in 0.01 degC (kept in
``temp``), pressure by the 64-bit formula in Pa/256 (the 32-bit one is off by ~3 Pa), rounded
to Pa. Those intermediates are long ints in MicroPython (so would the 32-bit formula's be on a
32-bit port): read this slow quantity every few seconds, not at every sample.

Config keys: addr (0x76, or 0x77 with SDO high), ctrl_meas (0x57: T x2, P x16, normal mode),
config (0x48: 125 ms standby, IIR filter 4), lo and hi (plausible Pa, else T).
"""
from micropython import const

from cemt.schema import B, D, T
from cemt.sensors import Sensor

_REG_ID = const(0xD0)
_REG_RESET = const(0xE0)
_REG_CTRL = const(0xF4)
_REG_CONFIG = const(0xF5)
_REG_DATA = const(0xF7)
_REG_CALIB = const(0x88)
_SKIPPED = const(0x80000)  # what a data register holds before its first conversion


def _u16(b, i):
    return b[i] | b[i + 1] << 8


def _s16(b, i):
    v = b[i] | b[i + 1] << 8
    return v - 0x10000 if v & 0x8000 else v


class BMP280(Sensor):
    NAME = "bmp280"
    KEYS = ("addr", "ctrl_meas", "config", "lo", "hi")
    WARMUP_MS = 100  # reset, then the first conversion (44 ms at P x16)

    def __init__(self, cfg, i2c, clock):
        super().__init__(cfg, clock)
        self.addr = cfg.get("addr", 0x76)
        self._ctrl = cfg.get("ctrl_meas", 0x57)
        self._conf = cfg.get("config", 0x48)
        self._lo = cfg.get("lo", 30000)
        self._hi = cfg.get("hi", 110000)
        self._i2c = i2c
        self._b1 = bytearray(1)
        self._cal = bytearray(24)
        self._raw = bytearray(6)
        self.chip_id = 0
        self.temp = 0
        self.t_fine = 0

    def _start(self):
        i2c = self._i2c
        addr = self.addr
        b1 = self._b1
        i2c.readfrom_mem_into(addr, _REG_ID, b1)
        self.chip_id = b1[0]
        if b1[0] not in (0x58, 0x60):
            return self._fail(D, "id")
        i2c.writeto_mem(addr, _REG_RESET, b"\xb6")
        self.clock.sleep_ms(3)  # start-up after reset: 2 ms
        c = self._cal
        i2c.readfrom_mem_into(addr, _REG_CALIB, c)
        self._t1 = _u16(c, 0)
        self._t2 = _s16(c, 2)
        self._t3 = _s16(c, 4)
        self._p1 = _u16(c, 6)
        self._p2 = _s16(c, 8)
        self._p3 = _s16(c, 10)
        self._p4 = _s16(c, 12)
        self._p5 = _s16(c, 14)
        self._p6 = _s16(c, 16)
        self._p7 = _s16(c, 18)
        self._p8 = _s16(c, 20)
        self._p9 = _s16(c, 22)
        if self._t1 == 0 or self._p1 == 0:  # a blank or unread NVM: compensation impossible
            return self._fail(D, "calibration")
        b1[0] = self._conf
        i2c.writeto_mem(addr, _REG_CONFIG, b1)  # config is written while still in sleep mode
        b1[0] = self._ctrl
        i2c.writeto_mem(addr, _REG_CTRL, b1)
        i2c.readfrom_mem_into(addr, _REG_CTRL, b1)
        if b1[0] != self._ctrl:
            return self._fail(B, "config")
        return True

    def compensate_t(self, adc_t):
        """Temperature in 0.01 degC from the raw 20-bit value; sets ``t_fine`` for pressure."""
        t1 = self._t1
        var1 = (((adc_t >> 3) - (t1 << 1)) * self._t2) >> 11
        d = (adc_t >> 4) - t1
        var2 = (((d * d) >> 12) * self._t3) >> 14
        self.t_fine = var1 + var2
        return (self.t_fine * 5 + 128) >> 8

    def compensate_p(self, adc_p):
        """Pressure in Pa/256 from the raw 20-bit value (after ``compensate_t``); 0 if impossible."""
        var1 = self.t_fine - 128000
        var2 = var1 * var1 * self._p6
        var2 += (var1 * self._p5) << 17
        var2 += self._p4 << 35
        var1 = ((var1 * var1 * self._p3) >> 8) + ((var1 * self._p2) << 12)
        var1 = (((1 << 47) + var1) * self._p1) >> 33
        if var1 <= 0:
            return 0
        num = (((1048576 - adc_p) << 31) - var2) * 3125
        p = num // var1 if num >= 0 else -(-num // var1)  # C divides towards zero
        var1 = (self._p9 * (p >> 13) * (p >> 13)) >> 25
        var2 = (self._p8 * p) >> 19
        return ((p + var1 + var2) >> 8) + (self._p7 << 4)

    def _read(self):
        r = self._raw
        self._i2c.readfrom_mem_into(self.addr, _REG_DATA, r)
        adc_p = r[0] << 12 | r[1] << 4 | r[2] >> 4
        adc_t = r[3] << 12 | r[4] << 4 | r[5] >> 4
        if adc_p == _SKIPPED or adc_t == _SKIPPED:
            return self._fail(D, "nodata")
        self.temp = self.compensate_t(adc_t)
        p = self.compensate_p(adc_p)
        if p <= 0:
            return self._fail(D, "calibration")
        p = (p + 128) >> 8
        if not self._lo <= p <= self._hi:
            self._fail(T, "range")
        return p
