"""The stack model: the true state of the flue gas at every simulated second.

Physics of the design brief section 4 (EPA Method 2 molar mass, pitot velocity, dry standard flow),
evaluated in float and independently of the firmware. Time series and noise come from the
scenario (``cemtool.sim.scenario``); noise is a pure function of (seed, channel, second), so any
second can be recomputed exactly, in any order, after any resume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .scenario import Scenario, Series

R_GAS = 8314.46          # J/(kmol·K)
T0_K = 273.15            # standard temperature, K
P0_PA = 101325.0         # standard pressure, Pa
M_CO2 = 44.01            # g/mol
V_MOLAR = 22.414         # L/mol at 273.15 K, 101325 Pa
MG_PER_M3_PER_PCT = M_CO2 / V_MOLAR * 1e4   # 1 %vol CO2 in mg/m³ at standard state (≈ 19 635)

_M64 = (1 << 64) - 1
_SQRT3 = math.sqrt(3.0)
CHANNELS = {"co2_pct": 1, "velocity_ms": 2, "dp_pa": 3, "temp_c": 4, "static_pa": 5}


def unit_noise(seed: int, channel: int, t: int) -> float:
    """Deterministic zero-mean, unit-variance (uniform) noise for one channel at second ``t``."""
    z = (seed * 0x9E3779B97F4A7C15 + channel * 0xBF58476D1CE4E5B9 + t * 0x94D049BB133111EB) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    return ((z >> 11) * (2.0 / (1 << 53)) - 1.0) * _SQRT3


def molar_mass(co2_pct: float, o2_pct: float, moisture: float) -> float:
    """Wet flue-gas molar mass Ms (g/mol) from the dry composition and the moisture fraction."""
    md = 0.44 * co2_pct + 0.32 * o2_pct + 0.28 * (100.0 - co2_pct - o2_pct)
    return md * (1.0 - moisture) + 18.0 * moisture


def density(ms: float, abs_pa: float, temp_c: float) -> float:
    """Flue-gas density ρs (kg/m³) at absolute pressure ``abs_pa`` and ``temp_c``."""
    return ms * abs_pa / (R_GAS * (T0_K + temp_c))


def dp_from_velocity(vs: float, rho: float, kp: float, kv: float) -> float:
    """Pitot Δp (Pa) that a section velocity ``vs`` produces: Vs = Kv·Kp·√(2Δp/ρs) inverted."""
    return rho / 2.0 * (vs / (kv * kp)) ** 2


def velocity_from_dp(dp: float, rho: float, kp: float, kv: float) -> float:
    return kv * kp * math.sqrt(2.0 * max(dp, 0.0) / rho)


def dry_standard_flow(area: float, vs: float, temp_c: float, abs_pa: float, moisture: float) -> float:
    """Qsn in m³/h, dry, at 273.15 K and 101325 Pa."""
    return 3600.0 * area * vs * T0_K / (T0_K + temp_c) * abs_pa / P0_PA * (1.0 - moisture)


@dataclass(frozen=True)
class StackState:
    t: int               # UTC seconds
    co2_pct: float       # dry basis, %vol
    velocity_ms: float   # section velocity Vs
    temp_c: float        # flue temperature
    static_pa: float     # flue static pressure, gauge
    ambient_pa: float    # barometric pressure Ba
    moisture: float      # Xsw, volume fraction
    dp_pa: float         # pitot differential pressure
    rho: float           # flue-gas density, kg/m³
    qsn_m3h: float       # dry standard flow
    co2_mg_m3: float     # dry standard concentration
    co2_kg_h: float      # true CO2 mass rate

    @property
    def co2_wet_pct(self) -> float:
        return self.co2_pct * (1.0 - self.moisture)


class StackModel:
    """``state(t)`` of a scenario; ``t`` is UTC seconds (steps and faults count from ``start``)."""

    def __init__(self, scenario: Scenario):
        self.sc = scenario

    def series(self, name: str, s: Series, t: int) -> float:
        sc = self.sc
        v = s.value
        rel = t - sc.start
        for at, val in s.steps:
            if rel >= at:
                v = val
        if s.daily:
            day_s = t % 86400
            h, frac = divmod(day_s / 3600.0, 1.0)
            h = int(h)
            a, b = s.daily[h], s.daily[(h + 1) % 24]
            v *= a + (b - a) * frac
        amp = sc.noise * s.noise_scale
        if amp:
            v *= 1.0 + amp * unit_noise(sc.seed, CHANNELS[name], t)
        return v

    def state(self, t: int) -> StackState:
        sc = self.sc
        co2 = min(max(self.series("co2_pct", sc.co2_pct, t), 0.0), 100.0 - sc.o2_pct)
        temp = self.series("temp_c", sc.temp_c, t)
        ps = self.series("static_pa", sc.static_pa, t)
        abs_pa = sc.ambient_pa + ps
        rho = density(molar_mass(co2, sc.o2_pct, sc.moisture), abs_pa, temp)
        if sc.dp_pa is not None:
            dp = max(self.series("dp_pa", sc.dp_pa, t), 0.0)
            vs = velocity_from_dp(dp, rho, sc.kp, sc.kv)
        else:
            vs = max(self.series("velocity_ms", sc.velocity_ms, t), 0.0)
            dp = dp_from_velocity(vs, rho, sc.kp, sc.kv)
        qsn = dry_standard_flow(sc.area_m2, vs, temp, abs_pa, sc.moisture)
        conc = co2 * MG_PER_M3_PER_PCT
        return StackState(t, co2, vs, temp, ps, sc.ambient_pa, sc.moisture, dp, rho, qsn, conc,
                          conc * qsn * 1e-6)

    def co2_kg_h(self, t: int) -> float:
        return self.state(t).co2_kg_h
