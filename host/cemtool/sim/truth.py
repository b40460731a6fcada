"""Ground truth: the CO2 mass the simulated stack really emitted, per UTC hour and in total.

Integrated in float, one simulated second at a time (the mass rate at second ``t`` counts for
``[t, t+1)``), from the model alone: nothing here knows the firmware. The physics keeps going while
the device is off, so truth is what the stack emitted, not what the device should have recorded.
``state()``/``restore()`` round-trip through JSON so a resumed run continues exactly.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .model import MG_PER_M3_PER_PCT, StackModel, density, dry_standard_flow, molar_mass
from .scenario import Scenario, iso


class Truth:
    def __init__(self, scenario: Scenario, model: StackModel | None = None):
        self.scenario = scenario
        self.model = model or StackModel(scenario)
        self.t = scenario.start          # next second to integrate
        self.hours: dict[int, float] = {}  # hour start (UTC s) -> kg
        self.total_kg = 0.0

    def advance_to(self, t: int) -> None:
        """Integrate every second from the last one up to (not including) ``t``."""
        rate = self.model.co2_kg_h
        hours = self.hours
        s = self.t
        while s < t:
            h = s - s % 3600
            end = min(t, h + 3600)
            kg = 0.0
            for u in range(s, end):
                kg += rate(u)
            kg /= 3600.0
            hours[h] = hours.get(h, 0.0) + kg
            self.total_kg += kg
            s = end
        self.t = max(self.t, t)

    def state(self) -> dict:
        return {"t": self.t, "total_kg": self.total_kg,
                "hours": [[h, kg] for h, kg in sorted(self.hours.items())]}

    def restore(self, saved: dict) -> None:
        self.t = int(saved["t"])
        self.total_kg = float(saved["total_kg"])
        self.hours = {int(h): float(kg) for h, kg in saved["hours"]}

    def to_json(self) -> dict:
        return {
            "hours": [{"t": iso(h), "co2_kg": kg} for h, kg in sorted(self.hours.items())],
            "total_kg": self.total_kg,
            "integrated_until": iso(self.t),
            "scenario": self.scenario.to_dict(),
            "state": self.state(),
        }

    def write(self, path: str | Path) -> None:
        """Write ``truth.json`` atomically (a kill mid-write leaves the previous file intact)."""
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: str | Path, scenario: Scenario) -> "Truth":
        truth = cls(scenario)
        with open(path) as f:
            truth.restore(json.load(f)["state"])
        return truth


def constant_hourly_kg(sc: Scenario) -> float:
    """Hourly CO2 mass of a noise-free constant scenario, straight from the brief's formulas."""
    abs_pa = sc.ambient_pa + sc.static_pa.value
    co2 = sc.co2_pct.value
    if sc.dp_pa is not None:
        rho = density(molar_mass(co2, sc.o2_pct, sc.moisture), abs_pa, sc.temp_c.value)
        vs = sc.kv * sc.kp * (2.0 * sc.dp_pa.value / rho) ** 0.5
    else:
        vs = sc.velocity_ms.value
    qsn = dry_standard_flow(sc.area_m2, vs, sc.temp_c.value, abs_pa, sc.moisture)
    return co2 * MG_PER_M3_PER_PCT * qsn * 1e-6

