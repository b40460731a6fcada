"""NDIR CO2 analyser on Modbus RTU: input registers for status and CO2, ABC held off.

The defaults fit Senseair analysers (S8, K30, K33...): "any sensor" address 0xFE, input register
0 the meter status (bits 0-4 and 6 errors, bit 5 out of range), input register 3 the CO2 in ppm,
holding register 31 the ABC period in hours (0 = automatic baseline correction off). A stack
never sees fresh air, so ABC must be off: ``start()`` reads the ABC period, writes 0 if it is
not 0, and reads it back; an analyser that cannot confirm ABC off reports D.

Config keys: addr, status_reg (None: no status register), co2_reg, mul and div (CO2 register
count x mul / div = 0.001 %vol; ppm: 1/10), fault_mask, range_mask, abc_reg (None: no ABC),
max (0.001 %vol above which the reading is T), timeout_ms.
"""
from micropython import const

from cemt.schema import B, D, T
from cemt.sensors import Sensor, rdiv
from cemt.sensors.uartio import Link

_READ_HOLDING = const(0x03)
_READ_INPUT = const(0x04)
_WRITE_SINGLE = const(0x06)
_MAX_REGS = const(8)


def crc16(buf, n):
    """Modbus CRC-16 (poly 0xA001 reflected, init 0xFFFF) of ``buf[:n]``."""
    crc = 0xFFFF
    for i in range(n):
        crc ^= buf[i]
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


class ModbusCO2(Sensor):
    NAME = "modbus_co2"
    KEYS = ("addr", "status_reg", "co2_reg", "mul", "div", "fault_mask", "range_mask",
            "abc_reg", "max", "timeout_ms")
    WARMUP_MS = 60000

    def __init__(self, cfg, uart, clock):
        super().__init__(cfg, clock)
        self.addr = cfg.get("addr", 0xFE)
        self._status_reg = cfg.get("status_reg", 0)
        self._co2_reg = cfg.get("co2_reg", 3)
        self._mul = cfg.get("mul", 1)
        self._div = cfg.get("div", 10)
        self._fault_mask = cfg.get("fault_mask", 0x5F)
        self._range_mask = cfg.get("range_mask", 0x20)
        self._abc_reg = cfg.get("abc_reg", 31)
        self._max = cfg.get("max")
        lo = hi = self._co2_reg
        if self._status_reg is not None:
            lo = min(lo, self._status_reg)
            hi = max(hi, self._status_reg)
        if hi - lo >= _MAX_REGS:
            raise ValueError("modbus_co2: status_reg and co2_reg are more than %d registers apart"
                             % (_MAX_REGS - 1))
        if self._div <= 0 or self._mul <= 0:
            raise ValueError("modbus_co2: mul and div must be positive")
        self._first = lo
        self._count = hi - lo + 1
        self._req = bytearray(8)
        self.link = Link(uart, clock, cfg.get("timeout_ms", 250), 5 + 2 * _MAX_REGS)
        self.meter_status = 0  # last status word, for diagnosis
        self.exception = 0     # last Modbus exception code

    def _exchange(self, fn, reg, val):
        """One request; True when a well-formed, matching reply is in ``link.buf``."""
        q = self._req
        q[0] = self.addr
        q[1] = fn
        q[2] = reg >> 8
        q[3] = reg & 0xFF
        q[4] = val >> 8
        q[5] = val & 0xFF
        crc = crc16(q, 6)
        q[6] = crc & 0xFF
        q[7] = crc >> 8
        link = self.link
        r = link.buf
        link.request(q)
        got = link.recv(0, 3)
        if got == 0:
            return self._fail(B, "timeout")
        if got == 3:
            if r[1] == fn | 0x80:
                need = 5
            elif fn == _WRITE_SINGLE:
                need = 8
            else:
                need = 5 + min(r[2], 2 * _MAX_REGS)
            got = link.recv(got, need)
        if got < 3 or got < need:
            return self._fail(B, "short")
        if crc16(r, need):  # the CRC over a frame and its own CRC leaves 0
            return self._fail(B, "crc")
        if r[0] != self.addr:
            return self._fail(B, "address")
        if r[1] == fn | 0x80:
            self.exception = r[2]
            return self._fail(D, "exception")
        if r[1] != fn:
            return self._fail(B, "function")
        if fn == _WRITE_SINGLE:
            for i in range(6):
                if r[i] != q[i]:
                    return self._fail(B, "echo")
        elif r[2] != 2 * val:
            return self._fail(B, "length")
        return True

    def _word(self, i):
        r = self.link.buf
        return r[3 + 2 * i] << 8 | r[4 + 2 * i]

    def _abc_period(self):
        if not self._exchange(_READ_HOLDING, self._abc_reg, 1):
            return -1
        return self._word(0)

    def _start(self):
        if self._abc_reg is None:
            return True
        period = self._abc_period()
        if period < 0:
            return False
        if period:
            if not self._exchange(_WRITE_SINGLE, self._abc_reg, 0):
                return False
            period = self._abc_period()
            if period < 0:
                return False
        if period:
            return self._fail(D, "abc")
        return True

    def _read(self):
        if not self._exchange(_READ_INPUT, self._first, self._count):
            return 0
        v = rdiv(self._word(self._co2_reg - self._first) * self._mul, self._div)
        if self._status_reg is not None:
            st = self.meter_status = self._word(self._status_reg - self._first)
            if st & self._fault_mask:
                self._fail(D, "status")
                return v
            if st & self._range_mask:
                self._fail(T, "range")
                return v
        if self._max is not None and v > self._max:
            self._fail(T, "range")
        return v
