"""The uncertainty of the reported CO2 total: a stated budget, combined as in the GUM.

Measurement: each input of the mass (CO2 concentration, the pitot coefficients Kp·Kv, Δp,
temperature, pressures, duct area, moisture) contributes a relative standard uncertainty to the
hourly mass; its sensitivity is the exponent of that input in m = C·Qsn·Δt (√Δp: ½; temperature
and pressure enter density and the standard-state correction: ½ each). The measurement errors are
systematic (one calibration, one pitot, one area for the whole period), so they are taken as fully
correlated across hours: u_meas = u_rel · total.

Substitution: a filled hour differs from the unknown true hour by about the spread of the point's
valid hours plus the rule's conservative bias, u_h = √(sd² + (value − mean)²) over the valid hours
of the point in the period. Hours of one gap share their value, so they add linearly; gaps add in
quadrature. Unfilled hours count with value 0. The expanded uncertainty is U = k·√(u_meas² + u_sub²)
with k = 2 (about 95 %). Numbers and sources: docs/report.md §5.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

K = 2.0
SQRT3 = math.sqrt(3.0)

# (input, stated bound or standard uncertainty in %, distribution, sensitivity, basis)
# A "rect" bound b is a rectangular distribution: u = b/√3; "normal" values are already 1σ.
BUDGET = (
    ("CO2 concentration (NDIR analyser)", 2.0, "normal", 1.0,
     "certified span gas ±2 % (k=2: 1 %) and the analyser's linearity, repeatability and drift "
     "between checks (±2.5 % of full scale allowed, observed far less): 2 % of reading, 1σ"),
    ("Pitot and velocity-field coefficients Kp·Kv", 5.0, "rect", 1.0,
     "set from the site's comparison test against a reference method; ±5 % bound"),
    ("Differential pressure Δp (SDP3x)", 3.0, "rect", 0.5,
     "Sensirion SDP3x accuracy 3 % of reading; velocity ∝ √Δp"),
    ("Flue temperature (PT100 class B)", 0.25, "rect", 0.5,
     "±(0.3 + 0.005·|t|) °C ≈ ±1.05 K at 150 °C = 0.25 % of 423 K; mass ∝ T^-½"),
    ("Absolute pressure (BMP280 + static)", 0.1, "rect", 0.5,
     "BMP280 ±1 hPa absolute = 0.1 % of 1013 hPa; mass ∝ P^½"),
    ("Duct cross-section F", 1.0, "rect", 1.0,
     "area from the measured duct dimensions, ±0.5 % per dimension"),
    ("Moisture Xsw (configured)", 1.1, "rect", 1.0,
     "±0.01 absolute on Xsw ≈ 0.08: ±1.1 % on the dry factor 1 − Xsw"),
)

# EU MRR 2018/2066 Annex VIII tiers for measurement-based CO2 (maximum expanded uncertainty, %)
MRR_TIERS = ((4, 2.5), (3, 5.0), (2, 7.5), (1, 10.0))


@dataclass(frozen=True)
class Component:
    name: str
    bound_pct: float
    distribution: str
    sensitivity: float
    basis: str

    @property
    def standard_pct(self) -> float:
        u = self.bound_pct / SQRT3 if self.distribution == "rect" else self.bound_pct
        return u * self.sensitivity


@dataclass(frozen=True)
class Gap:
    point: str
    start: int
    hours: int
    value: int          # 0.01 kg: the substituted mass of the gap (unfilled hours count 0)
    u: float            # standard uncertainty of the gap's mass, 0.01 kg


@dataclass(frozen=True)
class Uncertainty:
    components: tuple[Component, ...]
    rel_standard_pct: float     # combined relative standard uncertainty of measurement
    total: int                  # the reported total, 0.01 kg
    u_measurement: float        # 0.01 kg
    u_substitution: float       # 0.01 kg
    gaps: tuple[Gap, ...]
    k: float = K

    @property
    def expanded(self) -> float:
        """U in 0.01 kg."""
        return self.k * math.hypot(self.u_measurement, self.u_substitution)

    @property
    def expanded_kg(self) -> float:
        return self.expanded / 100

    @property
    def expanded_pct(self) -> float:
        return self.expanded / self.total * 100 if self.total else 0.0

    @property
    def tier(self) -> int | None:
        """The highest EU MRR tier whose limit the expanded uncertainty meets (None: below 1)."""
        for tier, limit in MRR_TIERS:
            if self.expanded_pct <= limit:
                return tier
        return None


def components() -> tuple[Component, ...]:
    return tuple(Component(*c) for c in BUDGET)


def estimate(points) -> Uncertainty:
    """The uncertainty of the report's total over ``points`` (their filled hours)."""
    comps = components()
    rel = math.sqrt(sum(c.standard_pct ** 2 for c in comps))
    total = 0
    gaps: list[Gap] = []
    for p in points:
        valid = [f.mass for f in p.hours if f.rule == "measured"]
        mean = statistics.fmean(valid) if valid else 0.0
        sd = statistics.pstdev(valid) if len(valid) > 1 else 0.0
        total += sum(f.mass or 0 for f in p.hours)
        run: list = []
        for f in p.hours + [None]:
            if f is not None and f.substituted:
                run.append(f)
                continue
            if run:
                u = sum(math.hypot(sd, (h.mass or 0) - mean) for h in run)
                gaps.append(Gap(p.point.id, run[0].t, len(run), sum(h.mass or 0 for h in run), u))
                run = []
    u_meas = rel / 100 * total
    u_sub = math.sqrt(sum(g.u ** 2 for g in gaps))
    return Uncertainty(comps, rel, total, u_meas, u_sub, tuple(gaps))
