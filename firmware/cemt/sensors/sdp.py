"""Sensirion SDP3x / SDP8xx differential pressure sensor on I2C (the pitot tube's Δp).

``start()`` stops any measurement left running from before a reset (0x3FF9), reads the product
identifier (0x367C, 0xE102, then 18 bytes: 2 product-number words and 4 serial words, each
followed by its CRC) and starts continuous differential-pressure measurement with averaging
(0x3615). Each ``read()`` takes 9 bytes: Δp, temperature and scale-factor words, each with its
CRC-8 (poly 0x31, init 0xFF). Δp = ticks / scale factor, read every time (never assumed);
T = ticks / 200 degC, kept in ``temp`` (0.01 degC). A reading at the 16-bit limit means the
sensor saturated: T.

Config keys: addr (0x25 for SDP8x0, 0x21 for SDP3x), product (the expected product number
without its revision byte, e.g. 0x030201; default: any SDP3x 0x0301xxxx or SDP8xx 0x0302xxxx).
"""
from micropython import const

from cemt.schema import B, D, T
from cemt.sensors import Sensor, rdiv

_FAMILY_SDP3X = const(0x0301)
_FAMILY_SDP8XX = const(0x0302)


def crc8(buf, start, n):
    """Sensirion CRC-8 (poly 0x31, init 0xFF) of ``buf[start:start + n]``."""
    crc = 0xFF
    for i in range(start, start + n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x31) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def _words_ok(buf):
    for i in range(0, len(buf), 3):
        if crc8(buf, i, 2) != buf[i + 2]:
            return False
    return True


def _s16(hi, lo):
    v = hi << 8 | lo
    return v - 0x10000 if v & 0x8000 else v


class SDP(Sensor):
    NAME = "sdp"
    KEYS = ("addr", "product")
    WARMUP_MS = 20  # first result after 8 ms, within a few % after 20 ms

    def __init__(self, cfg, i2c, clock):
        super().__init__(cfg, clock)
        self.addr = cfg.get("addr", 0x25)
        self._product = cfg.get("product")
        self._i2c = i2c
        self._id = bytearray(18)
        self._m = bytearray(9)
        self.product = 0
        self.temp = 0

    def _start(self):
        i2c = self._i2c
        addr = self.addr
        try:
            i2c.writeto(addr, b"\x3f\xf9")
        except OSError:
            pass  # an idle sensor may refuse a stop; the identifier read below tells
        self.clock.sleep_ms(1)  # 0.5 ms before the sensor takes the next command
        i2c.writeto(addr, b"\x36\x7c")
        i2c.writeto(addr, b"\xe1\x02")
        b = self._id
        i2c.readfrom_into(addr, b)
        if not _words_ok(b):
            return self._fail(B, "crc")
        pn = b[0] << 24 | b[1] << 16 | b[3] << 8 | b[4]
        self.product = pn
        if self._product is None:
            if pn >> 16 not in (_FAMILY_SDP3X, _FAMILY_SDP8XX):
                return self._fail(D, "id")
        elif pn >> 8 != self._product:
            return self._fail(D, "id")
        i2c.writeto(addr, b"\x36\x15")
        return True

    def _read(self):
        m = self._m
        self._i2c.readfrom_into(self.addr, m)
        if not _words_ok(m):
            return self._fail(B, "crc")
        scale = m[6] << 8 | m[7]
        if scale == 0:
            return self._fail(D, "scale")
        ticks = _s16(m[0], m[1])
        self.temp = rdiv(_s16(m[3], m[4]), 2)  # ticks / 200 degC = ticks / 2 in 0.01 degC
        v = rdiv(ticks * 100, scale)
        if ticks >= 32767 or ticks <= -32768:
            self._fail(T, "range")
        return v
