"""What the dashboard shows, as JSON-ready dicts: point status, hourly series, quality, warnings.

Every function reads an open (read-only) ``Store`` and a ``Site``; nothing here writes. Without a
site.toml, ``device_site`` makes one point per device of the database so the same views work.
Times are ISO 8601 UTC text; ``now`` is the dashboard's clock in UTC seconds.
"""
from __future__ import annotations

from pathlib import Path

from cemtool import alarmcodes, quality, substitute, warn
from cemtool.quality import HOUR_S, connection, hour_start
from cemtool.records import ALARM, HOUR, MINUTE, Record, decode, iso_utc
from cemtool.site import Binding, Enterprise, Facility, Point, Site, Source
from cemtool.store import Store

WINDOW_H = 48            # hours the chart shows when no day is chosen
LINK_FRESH_S = 15 * 60   # newest arrival at most this old: the link is "fresh"
LINK_LATE_S = 2 * 3600   # ... at most this old: "late"; older: "stale"
PERIOD_S = {MINUTE: 60, HOUR: HOUR_S}


class ViewError(ValueError):
    """A request the views cannot answer (unknown point, bad day); the message is one line."""


def device_site(store: Store) -> Site:
    """A site with one source and point per device of the database (points = devices)."""
    fac = Facility("devices", "Devices of the database")
    for (name,) in connection(store).execute("SELECT name FROM devices ORDER BY name"):
        src = Source(name, name, "combustion", "", 1.0, fac)
        src.points = [Point(name, name, "", src, fac, (Binding(name),))]
        fac.sources.append(src)
    return Site(Path(), Enterprise("Receiver database (no site.toml)"), [fac])


def point_of(site: Site, point_id: str) -> Point:
    try:
        return site.point(point_id)
    except KeyError:
        raise ViewError(f"no point {point_id!r}") from None


def _dev_id(store: Store, name: str) -> int | None:
    row = connection(store).execute("SELECT id FROM devices WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def _newest(store: Store, point: Point, kind: int) -> tuple[str, Record, int] | None:
    """(device, record, arrived ms) of the point's newest ``kind`` record by seq, each device
    within its binding."""
    best = None
    for b in point.devices:
        dev = _dev_id(store, b.device)
        if dev is None:
            continue
        # seq order walks the (dev, kind, seq) index backwards; the binding filters on t
        row = connection(store).execute(
            "SELECT cbor, arrived FROM records WHERE dev = ? AND kind = ? AND t >= ? AND t < ? "
            "ORDER BY seq DESC LIMIT 1",
            (dev, kind, b.start or 0, b.end or 1 << 62)).fetchone()
        if row is not None:
            rec = decode(row[0])
            if best is None or rec.t > best[1].t:
                best = (b.device, rec, row[1])
    return best


def _reading(device: str, rec: Record, now: float) -> dict:
    """The values of a minute or hour record as the status card shows them."""
    row = rec.row()
    period = PERIOD_S[rec.kind]
    mass = rec.fields["mass"]
    return {"kind": rec.kind_name, "device": device, "seq": rec.seq, "t": row["t"],
            "age_s": round(now - (rec.t + period)), "tq": rec.tq, "ver": rec.ver,
            "flag": row["flag"], "valid": row["valid"], "co2_pct": row["co2_pct"],
            "qsn_m3h": row["qsn_m3h"], "velocity_ms": row["velocity_ms"], "temp_c": row["temp_c"],
            "co2_kg": row["co2_kg"],
            # mass is 0.01 kg in the period; kg/h = mass × (3600 / period) / 100
            "rate_kg_h": mass * (HOUR_S // period) / 100}


def _link(store: Store, point: Point, now: float) -> dict:
    """When the newest record of the point's devices reached the receiver."""
    newest = None
    for name in point.device_ids:
        dev = _dev_id(store, name)
        if dev is None:
            continue
        row = connection(store).execute(
            "SELECT max(arrived) FROM records WHERE dev = ?", (dev,)).fetchone()
        if row[0] is not None and (newest is None or row[0] > newest):
            newest = row[0]
    if newest is None:
        return {"state": "none", "last_arrival": None, "age_s": None}
    age = now - newest / 1000
    state = "fresh" if age <= LINK_FRESH_S else "late" if age <= LINK_LATE_S else "stale"
    return {"state": state, "last_arrival": iso_utc(newest // 1000), "age_s": round(age)}


def active_alarms(store: Store, point: Point) -> list[dict]:
    """Device warnings raised and not cleared since: the newest alarm record of each
    (device, code) has state 1."""
    latest: dict[tuple[str, int], Record] = {}
    for b in point.devices:
        dev = _dev_id(store, b.device)
        if dev is None:
            continue
        for (blob,) in connection(store).execute(
                "SELECT cbor FROM records WHERE dev = ? AND kind = ? AND t >= ? AND t < ? "
                "ORDER BY seq", (dev, ALARM, b.start or 0, b.end or 1 << 62)):
            rec = decode(blob)
            latest[(b.device, rec.fields["code"])] = rec
    out = []
    for (device, code), rec in sorted(latest.items(), key=lambda kv: kv[1].t):
        if rec.fields["state"] == 1:
            described = alarmcodes.ALARMS.get(code, (None, ""))[1].replace("`", "")
            out.append({"device": device, "code": code, "name": alarmcodes.name(code),
                        "description": described, "since": iso_utc(rec.t),
                        "value": rec.fields["value"], "limit": rec.fields["limit"]})
    return out


def point_status(store: Store, point: Point, now: float) -> dict:
    minute = _newest(store, point, MINUTE)
    hour = _newest(store, point, HOUR)
    return {"id": point.id, "name": point.name, "mn": point.mn, "source": point.source.id,
            "source_name": point.source.name, "facility": point.facility.id,
            "devices": list(point.device_ids),
            "minute": None if minute is None else _reading(*minute[:2], now),
            "hour": None if hour is None else _reading(*hour[:2], now),
            "link": _link(store, point, now), "alarms": active_alarms(store, point)}


def status(store: Store, site: Site, now: float) -> dict:
    return {"at": iso_utc(int(now)), "enterprise": site.enterprise.name,
            "points": [point_status(store, p, now) for p in site.points()]}


def window(day: int | None, now: float) -> tuple[int, int]:
    """[start, end) of the chart: the chosen UTC day, else the last WINDOW_H completed hours."""
    if day is not None:
        return day, day + 86400
    end = hour_start(int(now))
    return end - WINDOW_H * HOUR_S, end


def _filled(store: Store, site: Site, point: Point, start: int, end: int, now: float,
            rule: str) -> tuple[list[substitute.FilledHour], int]:
    """The filled hours of [start, through) and ``through``. Hours before the point's monitoring
    start (``since``, else its first hour record) are not its hours; hours after its newest hour
    record are not due yet (they may still arrive): neither kind is missing nor filled."""
    first = quality.first_hour(store, point)
    through = warn.data_through(store, point, int(now))
    if first is None or through is None:
        return [], start
    begin = max(start, first)
    through = max(begin, min(end, through))
    if through == begin:
        return [], through
    return substitute.filled(store, site, point, begin, through, rule), through


def hourly(store: Store, site: Site, point: Point, day: int | None, now: float,
           rule: str = "hj75") -> dict:
    start, end = window(day, now)
    filled, through = _filled(store, site, point, start, end, now, rule)
    hours = [{"t": iso_utc(f.t), "status": f.status, "flag": f.hour.flag, "kg": f.kg,
              "substituted": f.substituted, "rule": f.rule} for f in filled]
    return {"point": point.id, "start": iso_utc(start), "end": iso_utc(end),
            "through": iso_utc(through), "rule": rule, "hours": hours,
            "total_kg": round(sum(h["kg"] or 0 for h in hours), 2)}


def point_quality(store: Store, site: Site, point: Point, day: int | None, now: float,
                  rule: str = "hj75") -> dict:
    """Data quality of the chart's period (up to the point's newest hour record)."""
    start, end = window(day, now)
    filled, through = _filled(store, site, point, start, end, now, rule)
    status, last = quality.calibration_status(store, point, int(now))
    out = {"point": point.id, "start": iso_utc(start), "end": iso_utc(through), "hours": 0,
           "capture_rate": None, "calibration_status": status,
           "last_calibration": None if last is None else iso_utc(last),
           "substituted_hours": 0, "substituted_kg": 0.0}
    if not filled:
        return out
    begin = filled[0].t
    out["start"] = iso_utc(begin)
    q = quality.assess(store, site, point, begin, through, hours=[f.hour for f in filled]).to_json()
    subs = [f for f in filled if f.substituted]
    for key in ("hours", "valid", "invalid", "missing", "shutdown", "capture_rate", "by_flag",
                "unsynced_hours", "timeliness", "calibrations", "gaps"):
        out[key] = q[key]
    out.update(substituted_hours=len(subs), substituted_kg=round(sum(f.kg or 0 for f in subs), 2))
    return out


def warnings(store: Store, site: Site, now: float, rule: str = "hj75",
             hourly_kg_h: float | None = None) -> dict:
    found = warn.check(store, site, int(now), rule, hourly_kg_h=hourly_kg_h)
    return {"at": iso_utc(int(now)), "active": sum(w.active for w in found),
            "warnings": [w.to_json() for w in found]}
