"""A 4–20 mA transmitter through a shunt resistor into an ADC channel.

The loop current is 4 mA at ``lo`` and 20 mA at ``hi`` (the driver's config, in the edge unit of
the quantity: Pa for static pressure, 0.01 Pa for Δp), saturating at 3.8 and 20.5 mA as NAMUR
NE 43 transmitters do; a broken wire reads 0 mA and an over-range fault drives 21 mA. The ADC
sees current × shunt, quantised to ``bits`` over ``vref_uv``, and reports microvolts.
"""
from __future__ import annotations

from ..simbus import World
from ..model import unit_noise

UNITS = {"co2": 1000, "dp": 100, "temp": 100, "pa": 1, "ps": 1}


class CurrentLoop:
    def __init__(self, world: World, cfg: dict, device: str = "ps", bits: int = 12,
                 vref_uv: int = 3_300_000):
        self.world = world
        self.device = device
        self.lo = cfg["lo"]
        self.hi = cfg["hi"]
        self.shunt = cfg.get("shunt_ohm", 150)
        self.unit = UNITS[device]
        self.full = (1 << bits) - 1
        self.vref = vref_uv

    def power_cycle(self) -> None:
        pass

    def current_ua(self) -> float:
        v, mode = self.world.measure(self.device)
        if mode == "disconnect":
            return 0.0
        if mode == "overrange":
            return 21000.0
        ua = 4000.0 + 16000.0 * (v * self.unit - self.lo) / (self.hi - self.lo)
        ua = min(max(ua, 3800.0), 20500.0)
        if mode == "garble":   # interference on the loop: a reading anywhere in the span
            ua = 4000.0 + 8000.0 * (1.0 + unit_noise(self.world.scenario.seed, 99, self.world.t) / 1.8)
        return ua

    def read_uv(self) -> int:
        uv = self.current_ua() * self.shunt
        counts = max(0, min(self.full, round(uv / self.vref * self.full)))
        return counts * self.vref // self.full
