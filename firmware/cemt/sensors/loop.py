"""A 4-20 mA transmitter read through a shunt resistor and an ADC channel.

The board's ADC gives microvolts (``read_uv()``); the loop current is uV / shunt ohms in uA, and
the value scales linearly from ``lo`` at 4 mA to ``hi`` at 20 mA, in the edge unit of whatever
the transmitter measures (Δp in 0.01 Pa, CO2 in 0.001 %vol...). After NAMUR NE 43: below
``break_ua`` (3.6 mA) the loop is open or the transmitter failed (D, value 0); above
``over_ua`` (20.5 mA) the reading is over range (T, value kept); 3.6-4 mA reads below ``lo``.

Config keys: lo, hi, shunt_ohm (150), samples (ADC readings averaged, 4), break_ua, over_ua.
"""
from micropython import const

from cemt.schema import D, T
from cemt.sensors import Sensor

_UA_4MA = const(4000)
_UA_SPAN = const(16000)


class CurrentLoop(Sensor):
    NAME = "loop_4_20"
    KEYS = ("lo", "hi", "shunt_ohm", "samples", "break_ua", "over_ua")

    def __init__(self, cfg, adc, clock):
        super().__init__(cfg, clock)
        if "lo" not in cfg or "hi" not in cfg:
            raise ValueError("loop_4_20: lo and hi (values at 4 and 20 mA) are required")
        self._lo = cfg["lo"]
        self._shunt = cfg.get("shunt_ohm", 150)
        self._samples = cfg.get("samples", 4)
        self._break = cfg.get("break_ua", 3600)
        self._over = cfg.get("over_ua", 20500)
        if self._shunt <= 0 or self._samples <= 0 or cfg["hi"] == self._lo:
            raise ValueError("loop_4_20: shunt_ohm and samples must be positive, hi differ from lo")
        # value = lo + (uA - 4000) * (hi - lo) / 16000, split so every product stays a small int
        self._q, self._r = divmod(cfg["hi"] - self._lo, _UA_SPAN)
        self._adc = adc
        self.ua = 0  # last loop current, uA

    def _start(self):
        return True

    def _read(self):
        adc = self._adc
        uv = 0
        for _ in range(self._samples):
            uv += adc.read_uv()
        ua = self.ua = (uv // self._samples + (self._shunt >> 1)) // self._shunt
        if ua < self._break:
            return self._fail(D, "break")
        d = ua - _UA_4MA
        v = self._lo + d * self._q + (d * self._r + (_UA_SPAN >> 1)) // _UA_SPAN
        if ua > self._over:
            self._fail(T, "range")
        return v
