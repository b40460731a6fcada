"""Bosch BMP280 barometric pressure sensor, as an I2C register-level model.

Registers as in the datasheet: chip id 0xD0 (0x58), reset 0xE0 (0xB6), status 0xF3, ctrl_meas
0xF4, config 0xF5, data 0xF7-0xFC (pressure then temperature, 20 bits each, 0x80000 before the
first conversion), trimming parameters 0x88-0x9F. Writes are (register, value) pairs; reads
auto-increment. The raw ADC words are chosen so that the datasheet's integer compensation
(32-bit version, as the firmware uses; the 64-bit one agrees within 3 Pa) gives the model's
ambient pressure at the current second, and ``temp_c`` for the temperature.
"""
from __future__ import annotations

from functools import lru_cache

from ..simbus import Nak, World, answer_or_absent

CHIP_ID = 0x58
# The datasheet's example trimming parameters (section 3.12).
TRIM = (27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
SKIPPED = 0x80000


def trim_bytes(trim=TRIM) -> bytes:
    # dig_T1 and dig_P1 are unsigned, the rest signed: both are little-endian 16-bit words
    return b"".join((v & 0xFFFF).to_bytes(2, "little") for v in trim)


def t_fine(adc_t: int, trim=TRIM) -> int:
    t1, t2, t3 = trim[0], trim[1], trim[2]
    var1 = (((adc_t >> 3) - (t1 << 1)) * t2) >> 11
    var2 = (((((adc_t >> 4) - t1) * ((adc_t >> 4) - t1)) >> 12) * t3) >> 14
    return var1 + var2


def temp_centi(adc_t: int, trim=TRIM) -> int:
    """Temperature in 0.01 °C (datasheet ``bmp280_compensate_T_int32``)."""
    return (t_fine(adc_t, trim) * 5 + 128) >> 8


def pressure_int32(adc_p: int, tf: int, trim=TRIM) -> int:
    """Pressure in Pa (datasheet ``bmp280_compensate_P_int32``); 0 when impossible."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = trim[3:]
    var1 = (tf >> 1) - 64000
    var2 = (((var1 >> 2) * (var1 >> 2)) >> 11) * p6
    var2 = var2 + ((var1 * p5) << 1)
    var2 = (var2 >> 2) + (p4 << 16)
    var1 = (((p3 * (((var1 >> 2) * (var1 >> 2)) >> 13)) >> 3) + ((p2 * var1) >> 1)) >> 18
    var1 = ((32768 + var1) * p1) >> 15
    if var1 == 0:
        return 0
    p = (((1048576 - adc_p) - (var2 >> 12)) * 3125) & 0xFFFFFFFF
    p = (p << 1) // var1 if p < 0x80000000 else (p // var1) * 2
    var1 = (p9 * (((p >> 3) * (p >> 3)) >> 13)) >> 12
    var2 = ((p >> 2) * p8) >> 13
    return p + ((var1 + var2 + p7) >> 4)


def pressure_int64(adc_p: int, tf: int, trim=TRIM) -> float:
    """Pressure in Pa (datasheet ``bmp280_compensate_P_int64``, Q24.8 divided out)."""
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = trim[3:]
    var1 = tf - 128000
    var2 = var1 * var1 * p6
    var2 = var2 + ((var1 * p5) << 17)
    var2 = var2 + (p4 << 35)
    var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12)
    var1 = (((1 << 47) + var1) * p1) >> 33
    if var1 == 0:
        return 0.0
    p = 1048576 - adc_p
    p = (((p << 31) - var2) * 3125) // var1
    var1 = (p9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (p8 * p) >> 19
    p = ((p + var1 + var2) >> 8) + (p7 << 4)
    return p / 256.0


def _search(f, target: float, lo: int, hi: int, increasing: bool) -> int:
    """The raw word in [lo, hi] whose compensated value is closest to ``target``."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return lo if abs(f(lo) - target) <= abs(f(hi) - target) else hi


@lru_cache(maxsize=64)
def raw_words(pressure_pa: float, temp_c: float, trim=TRIM) -> tuple[int, int]:
    """(adc_P, adc_T) that the 32-bit compensation turns into ``pressure_pa`` and ``temp_c``."""
    adc_t = _search(lambda a: temp_centi(a, trim), temp_c * 100, 0, (1 << 20) - 1, True)
    tf = t_fine(adc_t, trim)
    adc_p = _search(lambda a: pressure_int32(a, tf, trim), pressure_pa, 0, (1 << 20) - 1, False)
    return adc_p, adc_t


class BMP280:
    def __init__(self, world: World, cfg: dict | None = None, device: str = "pa",
                 temp_c: float = 25.0, trim=TRIM):
        cfg = cfg or {}
        self.world = world
        self.device = device
        self.addr = cfg.get("addr", 0x76)
        self.temp_c = temp_c
        self.trim = tuple(trim)
        self.regs = bytearray(256)
        self.power_cycle()

    def power_cycle(self) -> None:
        r = self.regs
        r[:] = bytes(256)
        r[0xD0] = CHIP_ID
        r[0x88:0xA0] = trim_bytes(self.trim)
        self._set_data(SKIPPED, SKIPPED)
        self._ptr = 0
        self._forced = False

    def _set_data(self, adc_p: int, adc_t: int) -> None:
        r = self.regs
        r[0xF7], r[0xF8], r[0xF9] = adc_p >> 12, (adc_p >> 4) & 0xFF, (adc_p & 0xF) << 4
        r[0xFA], r[0xFB], r[0xFC] = adc_t >> 12, (adc_t >> 4) & 0xFF, (adc_t & 0xF) << 4

    def _convert(self) -> None:
        """One conversion at the current second, as the oversampling settings allow."""
        ctrl = self.regs[0xF4]
        pa, mode = self.world.measure(self.device)
        if mode == "overrange":
            pa = 115000.0
        adc_p, adc_t = raw_words(round(pa), self.temp_c, self.trim)
        self._set_data(adc_p if ctrl >> 2 & 7 else SKIPPED, adc_t if ctrl >> 5 else SKIPPED)

    def write(self, data: bytes) -> None:
        answer_or_absent(self.world, self.device)
        if not data:
            return
        self._ptr = data[0]
        for i in range(0, len(data) - 1, 2):
            reg, val = data[i], data[i + 1]
            if reg == 0xE0:
                if val == 0xB6:
                    self.power_cycle()
            elif reg == 0xF4:
                self.regs[0xF4] = val
                if val & 3 in (1, 2):   # forced: one conversion now, then back to sleep
                    self._convert()
                    self.regs[0xF4] = val & 0xFC
            elif reg == 0xF5:
                self.regs[0xF5] = val & 0xFD
            elif reg < 0x80:
                raise Nak
            # writes to read-only registers are ignored, as on the chip

    def read(self, n: int) -> bytes:
        answer_or_absent(self.world, self.device)
        start = self._ptr
        if self.regs[0xF4] & 3 == 3 and start <= 0xFC and start + n > 0xF7:
            self._convert()   # normal mode: the data registers always hold a fresh conversion
        out = bytes(self.regs[(start + i) & 0xFF] for i in range(n))
        f = self.world.fault(self.device)
        if f is not None and f.kind == "garble":
            out = bytes(b ^ 0x10 for b in out)
        return out
