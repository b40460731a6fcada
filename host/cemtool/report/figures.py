"""The figures of the carbon inventory report, computed once from the receiver's database.

Every mass is an exact integer in 0.01 kg, as stored: measured = the masses of the valid hour
records, substituted = the hours ``cemtool.substitute`` fills, total = measured + substituted,
summed per point, per source (the sum of its points), per day, per month and over the site.
Rendering (HTML, PDF, JSON) only formats these numbers; it never adds them up again differently.
"""
from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field

from cemtool.quality import HOUR_S, PointQuality, assess, connection
from cemtool.records import BOOT, CONFIG, HOUR, decode, iso_utc
from cemtool.site import Point, Site, Source
from cemtool.store import Store
from cemtool.substitute import FilledHour, fill, series

from .uncertainty import Uncertainty, estimate


class ReportError(ValueError):
    """A report that cannot be made (an empty period); the message is one line."""


@dataclass
class Tally:
    """Masses (0.01 kg) and hour counts of a set of hours."""
    measured: int = 0
    substituted: int = 0
    hours: int = 0
    valid: int = 0
    substituted_hours: int = 0
    shutdown: int = 0
    unfilled: int = 0

    @property
    def total(self) -> int:
        return self.measured + self.substituted

    @property
    def capture_rate(self) -> float | None:
        base = self.hours - self.shutdown
        return self.valid / base if base else None

    def add(self, f: FilledHour) -> None:
        self.hours += 1
        if f.rule == "measured":
            self.valid += 1
            self.measured += f.mass
        elif f.rule == "shutdown":
            self.shutdown += 1
        elif f.mass is None:
            self.unfilled += 1
            self.substituted_hours += 1
        else:
            self.substituted_hours += 1
            self.substituted += f.mass

    def merge(self, other: Tally) -> None:
        for k in ("measured", "substituted", "hours", "valid", "substituted_hours", "shutdown",
                  "unfilled"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class PointFigures:
    point: Point
    hours: list[FilledHour]
    quality: PointQuality
    tally: Tally

    @property
    def substituted(self) -> list[FilledHour]:
        return [f for f in self.hours if f.substituted]


@dataclass
class SourceFigures:
    source: Source
    points: list[PointFigures]
    tally: Tally


@dataclass(frozen=True)
class Row:
    """One line of the daily or monthly table: a label and its tally over all points."""
    label: str
    tally: Tally


@dataclass(frozen=True)
class DeviceTrace:
    device: str
    points: list[str]
    firmware: list[tuple[str, int, int, int]]    # (fw, boots seen, first t, last t)
    versions: list[tuple[int, int, int, int]]    # (config ver, period records, first t, last t)
    logs: list[tuple[str, int, int, int]]        # (log, first seq, last seq, records held)
    config_changes: list[dict]


@dataclass
class Report:
    site: Site
    db: str
    start: int
    end: int
    rule: str
    generated: int
    sources: list[SourceFigures]
    tally: Tally
    daily: list[Row]
    monthly: list[Row]
    uncertainty: Uncertainty
    devices: list[DeviceTrace] = field(default_factory=list)

    @property
    def data_through(self) -> int:
        """The end of the newest hour with a record (hours after it can only be substituted)."""
        return max(f.t + HOUR_S for p in self.points() for f in p.hours if f.hour.record)

    def points(self) -> list[PointFigures]:
        return [p for s in self.sources for p in s.points]

    def to_json(self) -> dict:
        """The figures of ``cemtool report --json``: exact kg (0.01 kg) as JSON numbers."""
        u = self.uncertainty
        return {
            "period": {"from": iso_utc(self.start), "to": iso_utc(self.end),
                       "hours": (self.end - self.start) // HOUR_S},
            "rule": self.rule,
            "data_through": iso_utc(self.data_through),
            "totals_kg": _kg_json(self.tally),
            "sources_kg": {s.source.id: _kg_json(s.tally) for s in self.sources},
            "points_kg": {p.point.id: _kg_json(p.tally) for p in self.points()},
            "capture_rate": {p.point.id: p.tally.capture_rate for p in self.points()},
            "substituted_hours": self.tally.substituted_hours,
            "unfilled_hours": self.tally.unfilled,
            "uncertainty": {"k": u.k, "expanded_pct": round(u.expanded_pct, 3),
                            "expanded_kg": round(u.expanded_kg, 2),
                            "measurement_pct": round(u.rel_standard_pct, 3)},
        }


def kg(mass: int) -> float:
    """0.01 kg units as kg; the float prints as the exact two-decimal value."""
    return mass / 100


def _kg_json(t: Tally) -> dict:
    return {"measured": kg(t.measured), "substituted": kg(t.substituted), "total": kg(t.total),
            "valid_hours": t.valid, "substituted_hours": t.substituted_hours,
            "shutdown_hours": t.shutdown, "hours": t.hours}


def build(store: Store, site: Site, start: int, end: int, rule: str = "hj75",
          db: str = "", now: int | None = None) -> Report:
    """The figures of the report for the hours starting in [start, end)."""
    if start % HOUR_S or end % HOUR_S:
        raise ReportError("the period must start and end on a whole UTC hour")
    if end <= start:
        raise ReportError(f"empty period: {iso_utc(start)} is not before {iso_utc(end)}")
    sources, total = [], Tally()
    for src in site.sources():
        figs, st = [], Tally()
        for point in src.points:
            pf = _point(store, site, point, start, end, rule)
            figs.append(pf)
            st.merge(pf.tally)
        sources.append(SourceFigures(src, figs, st))
        total.merge(st)
    if not any(f.hour.record is not None for s in sources for p in s.points for f in p.hours):
        raise ReportError(f"no hour records of the site's devices between {iso_utc(start)} "
                          f"and {iso_utc(end)}")
    points = [p for s in sources for p in s.points]
    report = Report(site, db, start, end, rule, int(time.time()) if now is None else now,
                    sources, total, _rows(points, _day), _rows(points, _month),
                    estimate(points))
    report.devices = [_trace(store, site, d, start, end) for d in site.devices()]
    return report


def _point(store: Store, site: Site, point: Point, start: int, end: int, rule: str
           ) -> PointFigures:
    # one pass over the hour records: the look-back series feeds the rule and the quality figures
    hours = series(store, site, point, start, end)
    filled = fill(hours, rule, since=start, max_rate_kg_h=point.source.max_rate_kg_h)
    quality = assess(store, site, point, start, end, hours=[h for h in hours if h.t >= start])
    tally = Tally()
    for f in filled:
        tally.add(f)
    return PointFigures(point, filled, quality, tally)


def _day(t: int) -> str:
    return iso_utc(t)[:10]


def _month(t: int) -> str:
    return iso_utc(t)[:7]


def _rows(points: list[PointFigures], key) -> list[Row]:
    rows: dict[str, Tally] = {}
    for p in points:
        for f in p.hours:
            rows.setdefault(key(f.t), Tally()).add(f)
    return [Row(label, rows[label]) for label in sorted(rows)]


# -- traceability ------------------------------------------------------------------------------


def _trace(store: Store, site: Site, device: str, start: int, end: int) -> DeviceTrace:
    db = connection(store)
    points = [p.id for p, _ in site.bindings(device)]
    row = db.execute("SELECT id FROM devices WHERE name = ?", (device,)).fetchone()
    if row is None:
        return DeviceTrace(device, points, [], [], [], [])
    dev = row[0]
    boots: dict[str, list[int]] = {}
    for t, blob in db.execute("SELECT t, cbor FROM records WHERE dev = ? AND kind = ? "
                              "AND t < ? ORDER BY seq", (dev, BOOT, end)):
        boots.setdefault(str(decode(blob).fields["fw"]), []).append(t)
    firmware = [(fw, len(ts), min(ts), max(ts)) for fw, ts in boots.items()]
    versions = db.execute(
        "SELECT ver, count(*), min(t), max(t) FROM records WHERE dev = ? AND kind = ? "
        "AND t >= ? AND t < ? GROUP BY ver ORDER BY min(t)", (dev, HOUR, start, end)).fetchall()
    logs = [({0: "minute", 1: "long"}[log], lo, hi, n) for log, lo, hi, n in db.execute(
        "SELECT log, min(seq), max(seq), count(*) FROM records WHERE dev = ? AND t >= ? "
        "AND t < ? GROUP BY log ORDER BY log", (dev, start, end))]
    changes = []
    for blob, in db.execute("SELECT cbor FROM records WHERE dev = ? AND kind = ? AND t < ? "
                            "ORDER BY seq", (dev, CONFIG, end)):
        r = decode(blob)
        changes.append({"t": r.t, "seq": r.seq, "ver": r.ver, **r.fields})
    return DeviceTrace(device, points, firmware, [tuple(v) for v in versions], logs, changes)


def distribution(points: list[PointFigures], name: str) -> list[int]:
    """The hourly averages of field ``name`` of the valid measured hours (record units)."""
    return [f.hour.record.fields[name] for p in points for f in p.hours if f.rule == "measured"]


def hourly_site(points: list[PointFigures]) -> list[tuple[int, int, bool]]:
    """(t, mass, any substituted) per hour over all points, oldest first."""
    mass: Counter = Counter()
    sub: dict[int, bool] = {}
    for p in points:
        for f in p.hours:
            mass[f.t] += f.mass or 0
            sub[f.t] = sub.get(f.t, False) or f.substituted
    return [(t, mass[t], sub[t]) for t in sorted(sub)]


def date_range(start: int, end: int) -> list[str]:
    d0 = dt.date.fromisoformat(_day(start))
    return [(d0 + dt.timedelta(days=i)).isoformat()
            for i in range((end - 1) // 86400 - start // 86400 + 1)]
