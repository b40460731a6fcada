"""Flue temperature: a PT100 (or PT1000) RTD through a MAX31865 converter on SPI (mode 1 or 3).

``start()`` writes the configuration register (bias on, automatic conversion, 3-wire bit, 50/60
Hz filter, fault status cleared), sets the fault thresholds to their full span and reads the
configuration back. Each ``read()`` is one 8-byte burst from register 1: RTD code (with its
fault bit), both thresholds and the fault status. The thresholds must read back as written, or
the bus is dead (B); a fault bit (open or shorted RTD, bad reference) reads D, keeps the fault
status in ``fault`` and clears it for the next conversion.

Resistance to temperature follows Callendar-Van Dusen (IEC 60751: A = 3.9083e-3, B = -5.775e-7,
C = -4.183e-12 below 0 degC), evaluated exactly in integers once, when the driver is built, as
the ADC code expected every 5 degC from -200 to 850 degC; a reading interpolates in that table
with small integers only (interpolation error < 0.003 degC). Outside the table reads T.

Config keys: wires (2, 3 or 4), filter_hz (50 or 60), rref_mohm (reference resistor, mOhm),
r0_mohm (RTD at 0 degC, mOhm).
"""
from array import array

from micropython import const

from cemt.schema import B, D, T
from cemt.sensors import Sensor, rdiv

_T_MIN = const(-200)
_STEP = const(5)
_POINTS = const(211)  # -200 .. 850 degC
_CFG_BIAS_AUTO = const(0xC0)
_CFG_3WIRE = const(0x10)
_CFG_CLEAR = const(0x02)
_CFG_50HZ = const(0x01)
_Q = const(8)  # table codes carry 8 fraction bits


def cvd_code_q8(t, r0, rref):
    """The MAX31865 code x 256 for an RTD at ``t`` degC (integer), rounded; long ints allowed."""
    w = 10 ** 15 + 3908300000000 * t - 577500000 * t * t
    if t < 0:
        w -= 4183 * (t - 100) * t * t * t
    num = w * r0 << (15 + _Q)
    den = rref * 10 ** 15
    return (num + den // 2) // den


class MAX31865(Sensor):
    NAME = "max31865"
    KEYS = ("wires", "filter_hz", "rref_mohm", "r0_mohm")
    WARMUP_MS = 100  # bias settling and the first conversion

    def __init__(self, cfg, spi, cs, clock):
        super().__init__(cfg, clock)
        wires = cfg.get("wires", 4)
        hz = cfg.get("filter_hz", 50)
        if wires not in (2, 3, 4) or hz not in (50, 60):
            raise ValueError("max31865: wires must be 2, 3 or 4 and filter_hz 50 or 60")
        if cs is None:
            raise ValueError("max31865: needs its chip-select pin")
        self._config = _CFG_BIAS_AUTO | (_CFG_3WIRE if wires == 3 else 0) | (_CFG_50HZ if hz == 50 else 0)
        r0 = cfg.get("r0_mohm", 100000)
        rref = cfg.get("rref_mohm", 430000)
        self._table = array("i", (cvd_code_q8(_T_MIN + _STEP * i, r0, rref) for i in range(_POINTS)))
        self._spi = spi
        self._cs = cs
        cs.value(1)
        self._w = bytearray(2)
        self._q = bytearray(b"\x01\xff\xff\xff\xff\xff\xff\xff")
        self._rx = bytearray(8)
        mv = memoryview(self._rx)
        self._rx2 = mv[:2]  # full-duplex: each reply buffer is as long as its request
        self._rx5 = mv[:5]
        self.fault = 0  # last fault status register

    def _xfer(self, out, into):
        self._cs.value(0)
        try:
            self._spi.write_readinto(out, into)
        finally:
            self._cs.value(1)

    def _write_config(self, value):
        self._w[0] = 0x80
        self._w[1] = value
        self._xfer(self._w, self._rx2)

    def _start(self):
        self._write_config(self._config | _CFG_CLEAR)
        self._xfer(b"\x83\xff\xff\x00\x00", self._rx5)
        self._w[0] = 0x00
        self._w[1] = 0xFF
        self._xfer(self._w, self._rx2)
        if self._rx[1] != self._config:
            return self._fail(B, "config")
        return True

    def celsius100(self, code):
        """Temperature in 0.01 degC for a 15-bit RTD code; None outside -200 .. 850 degC."""
        c = code << _Q
        tab = self._table
        if c < tab[0] or c > tab[_POINTS - 1]:
            return None
        lo, hi = 0, _POINTS - 1
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if tab[mid] <= c:
                lo = mid
            else:
                hi = mid
        return (_T_MIN + _STEP * lo) * 100 + rdiv((c - tab[lo]) * _STEP * 100, tab[hi] - tab[lo])

    def _read(self):
        rx = self._rx
        self._xfer(self._q, rx)
        if rx[3] != 0xFF or rx[4] != 0xFF or rx[5] or rx[6]:
            return self._fail(B, "spi")
        if rx[2] & 1:
            self.fault = rx[7]
            self._write_config(self._config | _CFG_CLEAR)
            return self._fail(D, "rtd")
        t = self.celsius100((rx[1] << 8 | rx[2]) >> 1)
        if t is None:
            return self._fail(T, "range")
        return t
