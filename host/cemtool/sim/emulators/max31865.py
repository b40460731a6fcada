"""Maxim MAX31865 RTD-to-digital converter with a PT100, as an SPI register-level model.

Registers (read address, +0x80 to write): 0 configuration, 1-2 RTD code (15 bits, then the fault
bit), 3-4 high and 5-6 low fault thresholds, 7 fault status; the address auto-increments within
a transaction. The RTD code is R(T)/Rref × 2^15 with R(T) from Callendar–Van Dusen (IEC 60751),
converted at the current second while bias and automatic conversion are on (or by a one-shot).
Configuration bit 1 clears the fault status and bit 5 starts a one-shot; both read back 0.
"""
from __future__ import annotations

from ..simbus import World

A, B, C = 3.9083e-3, -5.775e-7, -4.183e-12
CFG_BIAS, CFG_AUTO, CFG_ONESHOT, CFG_CLEAR = 0x80, 0x40, 0x20, 0x02


def rtd_ohm(t: float, r0: float = 100.0) -> float:
    """Callendar–Van Dusen: platinum RTD resistance at ``t`` °C."""
    r = 1.0 + A * t + B * t * t
    if t < 0:
        r += C * (t - 100.0) * t ** 3
    return r0 * r


def rtd_code(t: float, r0: float = 100.0, rref: float = 430.0) -> int:
    """The 15-bit ADC code for an RTD at ``t`` °C."""
    return max(0, min(0x7FFF, round(rtd_ohm(t, r0) / rref * 32768)))


def temp_of_code(code: int, r0: float = 100.0, rref: float = 430.0) -> float:
    """Inverse of ``rtd_code`` (bisection on the CVD curve), for tests and diagnosis."""
    r = code / 32768 * rref
    lo, hi = -240.0, 1000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if rtd_ohm(mid, r0) < r:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class MAX31865:
    def __init__(self, world: World, cfg: dict | None = None, device: str = "temp"):
        cfg = cfg or {}
        self.world = world
        self.device = device
        self.r0 = cfg.get("r0_mohm", 100000) / 1000.0
        self.rref = cfg.get("rref_mohm", 430000) / 1000.0
        self.regs = bytearray(8)
        self.power_cycle()

    def power_cycle(self) -> None:
        self.regs[:] = bytes((0, 0, 0, 0xFF, 0xFF, 0, 0, 0))
        self._ptr = 0
        self._write = False

    def _convert(self) -> None:
        r = self.regs
        t, mode = self.world.measure(self.device)
        if mode == "overrange":
            t = 900.0   # beyond the PT100 range the driver tabulates
        code = rtd_code(t, self.r0, self.rref)
        hi = (r[3] << 8 | r[4]) >> 1
        lo = (r[5] << 8 | r[6]) >> 1
        if code >= hi:
            r[7] |= 0x80
        if code < lo:
            r[7] |= 0x40
        fault = 1 if r[7] else 0
        r[1], r[2] = code >> 7, (code << 1 & 0xFF) | fault

    def transfer(self, data: bytes, start: bool = True) -> bytes:
        f = self.world.fault(self.device)
        if f is not None and f.kind == "disconnect":
            return b"\xff" * len(data)   # no chip on the bus: the pull-up on MISO
        out = bytearray(len(data))
        i = 0
        if start and data:
            self._ptr = data[0] & 0x7F
            self._write = bool(data[0] & 0x80)
            i = 1
        r = self.regs
        if not self._write and r[0] & CFG_BIAS and r[0] & CFG_AUTO and self._ptr <= 2 < self._ptr + len(data):
            self._convert()
        for k in range(i, len(data)):
            p = self._ptr & 7
            if self._write:
                self._store(p, data[k])
            else:
                out[k] = r[p]
            self._ptr += 1
        if f is not None and f.kind == "garble" and len(out) > 3:
            out[3] ^= 0x08   # a flipped bit on MISO
        return bytes(out)

    def _store(self, p: int, v: int) -> None:
        r = self.regs
        if p == 0:
            if v & CFG_CLEAR:
                r[7] = 0
                r[2] &= 0xFE
            r[0] = v & ~(CFG_CLEAR | CFG_ONESHOT) & 0xFF
            if v & CFG_ONESHOT and v & CFG_BIAS:
                self._convert()
        elif 3 <= p <= 6:
            r[p] = v
        # the RTD and fault status registers are read-only
