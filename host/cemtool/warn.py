"""Emission warnings (碳排放预警): hourly rate thresholds and projections against the allowance.

``check(store, site, at)`` returns every ``EmissionWarning`` evaluated at ``at`` (active or not):

- ``rate``: measured hours of the last ``rate_hours`` before ``at`` above the hourly threshold
  of a point (``point.warn.hourly_kg_h``, or the option) or of a whole source (sum of its points,
  ``source.warn.hourly_kg_h``);
- ``month`` / ``year``: emissions from the start of the month / year to the newest hour with
  data (measured + substituted, ``cemtool.substitute``), projected linearly in hours to the end of
  the month / year, against the source's allowance (annual; monthly = annual × days in the month /
  days in the year unless site.toml sets ``monthly_allowance_t``).

The rules and their reasons are in docs/quality.md.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from cemtool.quality import HOUR_S, connection, first_hour, hour_start, hourly
from cemtool.records import HOUR, iso_utc
from cemtool.site import Point, Site, Source
from cemtool.store import Store
from cemtool.substitute import fill, series


@dataclass
class EmissionWarning:
    kind: str            # "rate", "month", "year"
    scope: str           # "point" or "source"
    id: str              # the point's or source's id
    active: bool
    message: str
    figures: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"kind": self.kind, "scope": self.scope, "id": self.id, "active": self.active,
                "message": self.message, **self.figures}


def month_start(t: int) -> int:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return calendar.timegm((d.year, d.month, 1, 0, 0, 0))


def year_start(t: int) -> int:
    return calendar.timegm((dt.datetime.fromtimestamp(t, dt.timezone.utc).year, 1, 1, 0, 0, 0))


def next_month(t: int) -> int:
    d = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def next_year(t: int) -> int:
    return calendar.timegm((dt.datetime.fromtimestamp(t, dt.timezone.utc).year + 1, 1, 1, 0, 0, 0))


def monthly_allowance_t(source: Source, t: int) -> float | None:
    """The allowance of the month of ``t``, in t CO2."""
    if source.monthly_allowance_t is not None:
        return source.monthly_allowance_t
    if source.allowance_t is None:
        return None
    days_year = (next_year(t) - year_start(t)) // 86400
    days_month = (next_month(t) - month_start(t)) // 86400
    return source.allowance_t * days_month / days_year


def data_through(store: Store, point: Point, at: int) -> int | None:
    """End of the newest hour record of the point that ended by ``at``."""
    newest = None
    for b in point.devices:
        row = connection(store).execute(
            "SELECT max(r.t) FROM records r JOIN devices d ON d.id = r.dev WHERE d.name = ? "
            "AND r.kind = ? AND r.t + ? <= ? AND r.t >= ? AND r.t < ?",
            (b.device, HOUR, HOUR_S, at, b.start or 0, b.end or 1 << 62)).fetchone()
        if row[0] is not None and (newest is None or row[0] > newest):
            newest = row[0]
    return None if newest is None else newest + HOUR_S


def rate_warnings(store: Store, site: Site, at: int, rate_hours: int = 24,
                  hourly_kg_h: float | None = None) -> list[EmissionWarning]:
    """Hourly thresholds over the hours [at − rate_hours h, at) that have valid measurements."""
    end = hour_start(at)
    start = end - rate_hours * HOUR_S
    out = []
    for source in site.sources():
        sums: dict[int, int] = {}
        for point in source.points:
            hours = [h for h in hourly(store, site, point, start, end) if h.status == "valid"]
            for h in hours:
                sums[h.t] = sums.get(h.t, 0) + h.mass
            limit = hourly_kg_h if hourly_kg_h is not None else point.hourly_kg_h
            if limit is not None:
                out.append(_rate("point", point.id, {h.t: h.mass for h in hours}, limit, start, end))
        if source.hourly_kg_h is not None:
            out.append(_rate("source", source.id, sums, source.hourly_kg_h, start, end))
    return out


def _rate(scope: str, ident: str, masses: dict[int, int], limit_kg_h: float,
          start: int, end: int) -> EmissionWarning:
    over = sorted(t for t, m in masses.items() if m / 100 > limit_kg_h)
    figures = {"limit_kg_h": limit_kg_h, "from": iso_utc(start), "to": iso_utc(end),
               "hours_checked": len(masses), "hours_over": len(over),
               "max_kg_h": max(masses.values()) / 100 if masses else None,
               "over": [iso_utc(t) for t in over]}
    if over:
        msg = (f"{len(over)} hour(s) above {limit_kg_h:g} kg/h from {iso_utc(over[0])} to "
               f"{iso_utc(over[-1])}, max {figures['max_kg_h']:,.2f} kg/h")
    else:
        msg = f"{len(masses)} measured hour(s) at or below {limit_kg_h:g} kg/h"
    return EmissionWarning("rate", scope, ident, bool(over), msg, figures)


def projection_warnings(store: Store, site: Site, at: int, rule: str = "hj75") -> list[EmissionWarning]:
    out = []
    y0, m0 = year_start(at), month_start(at)
    for source in site.sources():
        ends = [e for e in (data_through(store, p, at) for p in source.points) if e is not None]
        starts = [s for s in (first_hour(store, p) for p in source.points) if s is not None]
        if not ends or source.allowance_t is None and source.monthly_allowance_t is None:
            continue
        through = max(ends)
        begun = min(starts) if starts else y0
        kg: dict[int, float] = {}
        unfilled = 0
        for point in source.points:
            hours = series(store, site, point, y0, through)
            for f in fill(hours, rule, since=y0, max_rate_kg_h=source.max_rate_kg_h):
                if f.mass is None:
                    unfilled += 1
                else:
                    kg[f.t] = kg.get(f.t, 0) + f.mass / 100
        for kind, p0, p1, allowance in (
                ("month", m0, next_month(m0), monthly_allowance_t(source, at)),
                ("year", y0, next_year(y0), source.allowance_t)):
            if allowance is None or through <= max(p0, begun):
                continue
            out.append(_projection(kind, source, p0, p1, max(p0, begun), through, kg, allowance,
                                   unfilled))
    return out


def _projection(kind: str, source: Source, p0: int, p1: int, begun: int, through: int,
                kg: dict[int, float], allowance_t: float, unfilled: int) -> EmissionWarning:
    so_far = sum(v for t, v in kg.items() if p0 <= t < through)
    elapsed_h = (through - begun) // HOUR_S
    remaining_h = (p1 - through) // HOUR_S
    projected = so_far + so_far / elapsed_h * remaining_h
    active = projected > allowance_t * 1000
    figures = {"period_start": iso_utc(p0), "period_end": iso_utc(p1), "data_through": iso_utc(through),
               "elapsed_h": elapsed_h, "remaining_h": remaining_h, "to_date_kg": round(so_far, 2),
               "projected_kg": round(projected, 2), "allowance_kg": round(allowance_t * 1000, 2),
               "projected_pct": round(projected / (allowance_t * 1000) * 100, 2) if allowance_t else None,
               "unfilled_hours": unfilled}
    word = "exceeds" if active else "within"
    msg = (f"{kind} projection {projected / 1000:,.1f} t {word} allowance {allowance_t:,.1f} t "
           f"({so_far / 1000:,.1f} t to {iso_utc(through)}, {elapsed_h} h elapsed, "
           f"{remaining_h} h to go)")
    return EmissionWarning(kind, "source", source.id, active, msg, figures)


def check(store: Store, site: Site, at: int, rule: str = "hj75", rate_hours: int = 24,
          hourly_kg_h: float | None = None) -> list[EmissionWarning]:
    return (rate_warnings(store, site, at, rate_hours, hourly_kg_h)
            + projection_warnings(store, site, at, rule))
