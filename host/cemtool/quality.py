"""Data quality of a monitoring point, from the receiver's database (docs/quality.md).

``hourly(store, site, point, start_s, end_s)`` is the point's hourly series: one ``Hour`` per UTC
hour, valid / invalid / missing / shutdown, with its record and how late it arrived.
``assess(...)`` adds up a period: capture rate, completeness by flag, timeliness, calibrations
and drift, alarms, and the sequence gaps of the point's devices (records absent from the store).
Nothing here writes to the database.
"""
from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import asdict, dataclass, field

from cemtool.records import ALARM, CALIBRATION, FLAGS, HOUR, MINUTE, Record, decode, iso_utc
from cemtool.site import Binding, Point, Site
from cemtool.store import LOGS, Store

HOUR_S = 3600
STATUSES = ("valid", "invalid", "missing", "shutdown")
CO2_CHANNEL = 1
DONE = (0, 3)        # calibration results that completed: 0 applied, 3 checked (docs/records.md)
CO2_UNITS_PER_PCT = 1000   # calibration records carry CO2 in 0.001 %vol (docs/records.md)
PERIOD_S = {MINUTE: 60, HOUR: HOUR_S}
LOG_NAMES = {0: "minute", 1: "long"}


@dataclass(frozen=True)
class Hour:
    t: int                             # start of the hour, UTC s
    status: str                        # one of STATUSES
    record: Record | None = None       # the hour record (None when missing)
    device: str | None = None          # the device whose record it is
    arrival_delay_s: float | None = None   # receiver arrival − end of the hour

    @property
    def mass(self) -> int | None:
        """Measured CO2 of the hour in 0.01 kg (None without a record)."""
        return None if self.record is None else self.record.fields["mass"]

    @property
    def flag(self) -> str | None:
        return None if self.record is None else FLAGS[self.record.fields["flag"]]


def connection(store: Store) -> sqlite3.Connection:
    # read-only queries through the store's own connection (see docs/quality.md)
    return store._db


def hour_start(t: int) -> int:
    return t - t % HOUR_S


def hour_ceil(t: int) -> int:
    return -(-t // HOUR_S) * HOUR_S


def _span(b: Binding, start: int, end: int) -> tuple[int, int]:
    return (start if b.start is None else max(start, b.start),
            end if b.end is None else min(end, b.end))


def first_hour(store: Store, point: Point) -> int | None:
    """Where the point's series begins: ``since`` of site.toml, else its first hour record."""
    if point.since is not None:
        return hour_ceil(point.since)
    first = None
    for b in point.devices:
        lo, hi = _span(b, 0, 1 << 62)
        row = connection(store).execute(
            "SELECT min(r.t) FROM records r JOIN devices d ON d.id = r.dev "
            "WHERE d.name = ? AND r.kind = ? AND r.t >= ? AND r.t < ?",
            (b.device, HOUR, lo, hi)).fetchone()
        if row[0] is not None and (first is None or row[0] < first):
            first = row[0]
    return first


def _rows(store: Store, point: Point, kind: int, start: int, end: int):
    """(device, t, cbor, arrived ms) of ``kind`` records of the point's devices in [start, end),
    each within its binding."""
    for b in point.devices:
        lo, hi = _span(b, start, end)
        if lo >= hi:
            continue
        for t, blob, arrived in connection(store).execute(
                "SELECT r.t, r.cbor, r.arrived FROM records r JOIN devices d ON d.id = r.dev "
                "WHERE d.name = ? AND r.kind = ? AND r.t >= ? AND r.t < ? ORDER BY r.t, r.seq",
                (b.device, kind, lo, hi)):
            yield b.device, t, blob, arrived


def hourly(store: Store, site: Site, point: Point, start_s: int, end_s: int) -> list[Hour]:
    """One Hour per UTC hour starting in [start_s, end_s), not before ``point.since``.

    Of several records for one hour (two devices bound at once) a valid one wins, then the
    device listed first. A declared shutdown that covers the whole hour makes it "shutdown"
    unless a valid record says the stack was measured.
    """
    if point.since is not None:
        start_s = max(start_s, point.since)
    first = hour_ceil(start_s)
    found: dict[int, tuple[str, Record, int]] = {}
    for device, t, blob, arrived in _rows(store, point, HOUR, first, end_s):
        if t % HOUR_S:
            continue  # not a period of this series (schema: hours start on the hour)
        rec = decode(blob)
        held = found.get(t)
        if held is None or (rec.valid and not held[1].valid):
            found[t] = (device, rec, arrived)
    source = point.source
    out = []
    for t in range(first, end_s, HOUR_S):
        held = found.get(t)
        if held is not None and held[1].valid:
            status = "valid"
        elif source.in_shutdown(t, t + HOUR_S):
            status = "shutdown"
        else:
            status = "missing" if held is None else "invalid"
        if held is None:
            out.append(Hour(t, status))
        else:
            device, rec, arrived = held
            out.append(Hour(t, status, rec, device, arrived / 1000 - (t + HOUR_S)))
    return out


# -- assessment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeliness:
    records: int
    median_s: float | None
    p95_s: float | None
    max_s: float | None


def timeliness(delays: list[float]) -> Timeliness:
    """Median, 95th percentile (nearest rank) and maximum of arrival delays."""
    if not delays:
        return Timeliness(0, None, None, None)
    d = sorted(delays)
    n = len(d)
    median = d[n // 2] if n % 2 else (d[n // 2 - 1] + d[n // 2]) / 2
    p95 = d[max(0, -(-95 * n // 100) - 1)]
    return Timeliness(n, median, p95, d[-1])


@dataclass(frozen=True)
class Calibration:
    t: int
    device: str
    seq: int
    ver: int
    channel: int
    action: int
    ref: int
    reading: int
    before: int
    after: int
    result: int
    drift: int                       # reading − ref, channel unit (docs/records.md)
    drift_pct_fs: float | None       # CO2 only, when the point's full scale is known
    over_limit: bool


@dataclass(frozen=True)
class Alarm:
    t: int
    device: str
    seq: int
    code: int
    state: int
    value: int
    limit: int


@dataclass(frozen=True)
class Gap:
    """Seqs ``first``..``last`` of a device log absent from the store."""
    device: str
    log: str
    first: int
    last: int
    after_t: int | None    # time of the held record before the gap
    before_t: int | None   # time of the held record after it (None: beyond the newest held)

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass
class PointQuality:
    point: str
    start: int
    end: int
    hours: int
    valid: int
    invalid: int
    missing: int
    shutdown: int
    capture_rate: float | None
    by_flag: dict[str, int]
    unsynced_hours: int
    timeliness: dict[str, Timeliness]
    calibration_status: str
    last_calibration: int | None
    calibrations: list[Calibration] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def to_json(self) -> dict:
        d = asdict(self)
        d["start"], d["end"] = iso_utc(self.start), iso_utc(self.end)
        d["last_calibration"] = None if self.last_calibration is None else iso_utc(self.last_calibration)
        for c in d["calibrations"] + d["alarms"]:
            c["t"] = iso_utc(c["t"])
        for g, gap in zip(d["gaps"], self.gaps):
            g["count"] = gap.count
            for k in ("after_t", "before_t"):
                g[k] = None if g[k] is None else iso_utc(g[k])
        return d


def capture_rate(hours: list[Hour]) -> float | None:
    """valid hours / (hours − declared shutdown hours); None when every hour is shut down."""
    shut = sum(h.status == "shutdown" for h in hours)
    base = len(hours) - shut
    return sum(h.status == "valid" for h in hours) / base if base else None


def completeness(hours: list[Hour]) -> dict[str, int]:
    """Hours per flag of their record (N F M S D C T B), plus missing and shutdown."""
    out = dict.fromkeys(FLAGS, 0)
    out.update(missing=0, shutdown=0)
    for h in hours:
        if h.record is not None:
            out[h.flag] += 1
        elif h.status in ("missing", "shutdown"):
            out[h.status] += 1
    return out


def calibrations(store: Store, point: Point, start: int, end: int) -> list[Calibration]:
    out = []
    for device, t, blob, _ in _rows(store, point, CALIBRATION, start, end):
        r = decode(blob)
        f = r.fields
        drift = f["reading"] - f["ref"]
        pct = None
        if f["channel"] == CO2_CHANNEL and point.co2_full_scale_pct:
            pct = drift / CO2_UNITS_PER_PCT / point.co2_full_scale_pct * 100
        over = pct is not None and abs(pct) > point.drift_limit_pct_fs
        out.append(Calibration(t, device, r.seq, r.ver, f["channel"], f["action"], f["ref"],
                               f["reading"], f["before"], f["after"], f["result"], drift, pct, over))
    return sorted(out, key=lambda c: (c.t, c.device, c.seq))


def alarms(store: Store, point: Point, start: int, end: int) -> list[Alarm]:
    out = []
    for device, t, blob, _ in _rows(store, point, ALARM, start, end):
        r = decode(blob)
        out.append(Alarm(t, device, r.seq, **r.fields))
    return sorted(out, key=lambda a: (a.t, a.device, a.seq))


def calibration_status(store: Store, point: Point, end: int) -> tuple[str, int | None]:
    """("ok" | "overdue" | "never", time of the last completed CO2 calibration or check)."""
    done = [c.t for c in calibrations(store, point, 0, end)
            if c.channel == CO2_CHANNEL and c.result in DONE]
    if not done:
        return "never", None
    last = max(done)
    return ("ok" if end - last <= point.calibration_days * 86400 else "overdue"), last


_GAPS = """
SELECT seq, t, ps, pt FROM (
    SELECT seq, t, lag(seq) OVER w AS ps, lag(t) OVER w AS pt
    FROM records WHERE dev = ? AND log = ? WINDOW w AS (ORDER BY seq))
WHERE (ps IS NULL AND seq > 1) OR seq - ps > 1
"""


def seq_gaps(store: Store, device: str) -> list[Gap]:
    """Seq ranges of ``device``'s logs absent from the store: before the first held record
    (seqs start at 1), between held records, and up to the receiver's cursor."""
    db = connection(store)
    row = db.execute("SELECT id FROM devices WHERE name = ?", (device,)).fetchone()
    if row is None:
        return []
    dev = row[0]
    out = []
    for log in LOGS:
        name = LOG_NAMES[log]
        for seq, t, ps, pt in db.execute(_GAPS, (dev, log)):
            out.append(Gap(device, name, 1 if ps is None else ps + 1, seq - 1, pt, t))
        top = db.execute("SELECT max(seq), (SELECT seq FROM cursors WHERE dev = ? AND log = ?) "
                         "FROM records WHERE dev = ? AND log = ?", (dev, log, dev, log)).fetchone()
        held, cursor = top
        if cursor is not None and (held is None or cursor > held):
            after = None if held is None else db.execute(
                "SELECT t FROM records WHERE dev = ? AND log = ? AND seq = ?",
                (dev, log, held)).fetchone()[0]
            out.append(Gap(device, name, (held or 0) + 1, cursor, after, None))
    return out


def _delays(store: Store, point: Point, kind: int, start: int, end: int) -> list[float]:
    period = PERIOD_S[kind]
    out = []
    for b in point.devices:
        lo, hi = _span(b, start, end)
        if lo < hi:
            out += [a / 1000 - (t + period) for t, a in connection(store).execute(
                "SELECT r.t, r.arrived FROM records r JOIN devices d ON d.id = r.dev "
                "WHERE d.name = ? AND r.kind = ? AND r.t >= ? AND r.t < ?",
                (b.device, kind, lo, hi))]
    return out


def assess(store: Store, site: Site, point: Point, start_s: int, end_s: int,
           hours: list[Hour] | None = None) -> PointQuality:
    """The data quality of ``point`` over the hours starting in [start_s, end_s)."""
    if hours is None:
        hours = hourly(store, site, point, start_s, end_s)
    count = Counter(h.status for h in hours)
    status, last = calibration_status(store, point, end_s)
    gaps = [g for d in point.device_ids for g in seq_gaps(store, d)
            if (g.after_t is None or g.after_t < end_s)
            and (g.before_t is None or g.before_t >= start_s)]
    return PointQuality(
        point=point.id, start=start_s, end=end_s, hours=len(hours),
        valid=count["valid"], invalid=count["invalid"], missing=count["missing"],
        shutdown=count["shutdown"], capture_rate=capture_rate(hours),
        by_flag=completeness(hours),
        unsynced_hours=sum(h.record is not None and h.record.tq == 0 for h in hours),
        timeliness={"hour": timeliness([h.arrival_delay_s for h in hours
                                        if h.arrival_delay_s is not None]),
                    "minute": timeliness(_delays(store, point, MINUTE, start_s, end_s))},
        calibration_status=status, last_calibration=last,
        calibrations=calibrations(store, point, start_s, end_s),
        alarms=alarms(store, point, start_s, end_s), gaps=gaps)



# -- the site against the database -----------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    kind: str     # unknown-device, unbound-records, double-binding, shared-point, no-data
    message: str


@dataclass
class SiteCheck:
    devices: list[dict]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {"ok": self.ok, "devices": self.devices,
                "problems": [asdict(p) for p in self.problems]}


def _when(b: Binding) -> str:
    lo = "the beginning" if b.start is None else iso_utc(b.start)
    return f"from {lo}" + ("" if b.end is None else f" to {iso_utc(b.end)}")


def _inside(bindings: list[Binding]) -> tuple[str, list[int]]:
    """SQL condition (and its arguments) for t inside any of ``bindings``."""
    parts, args = [], []
    for b in bindings:
        cond = []
        if b.start is not None:
            cond.append("t >= ?")
            args.append(b.start)
        if b.end is not None:
            cond.append("t < ?")
            args.append(b.end)
        parts.append("(" + (" AND ".join(cond) or "1") + ")")
    return "(" + (" OR ".join(parts) or "0") + ")", args


def check_site(store: Store, site: Site) -> SiteCheck:
    """Every device of the database bound to exactly one point at each of its record times."""
    db = connection(store)
    problems: list[Problem] = []
    for device in site.devices():
        pairs = site.bindings(device)
        for i, (p, a) in enumerate(pairs):
            for q, b in pairs[i + 1:]:
                if a.overlaps(b):
                    problems.append(Problem("double-binding", f"device {device} is bound to point "
                                            f"{p.id} {_when(a)} and to point {q.id} {_when(b)}"))
    for point in site.points():
        for i, a in enumerate(point.devices):
            for b in point.devices[i + 1:]:
                if a.device != b.device and a.overlaps(b):
                    problems.append(Problem("shared-point", f"point {point.id} has devices "
                                            f"{a.device} ({_when(a)}) and {b.device} ({_when(b)}) "
                                            "bound at the same time"))
    devices = []
    held = db.execute("SELECT d.id, d.name, count(*), min(r.t), max(r.t) FROM records r "
                      "JOIN devices d ON d.id = r.dev GROUP BY d.id ORDER BY d.name").fetchall()
    names = set()
    for dev, name, n, lo, hi in held:
        names.add(name)
        bindings = [b for _, b in site.bindings(name)]
        entry = {"device": name, "records": n, "first": iso_utc(lo), "last": iso_utc(hi),
                 "points": list(dict.fromkeys(p.id for p, _ in site.bindings(name)))}
        devices.append(entry)
        if not bindings:
            problems.append(Problem("unknown-device", f"device {name} ({n} records from "
                                    f"{iso_utc(lo)} to {iso_utc(hi)}) is bound to no monitoring point"))
            continue
        cond, args = _inside(bindings)
        out, o_lo, o_hi = db.execute(f"SELECT count(*), min(t), max(t) FROM records "
                                     f"WHERE dev = ? AND NOT {cond}", (dev, *args)).fetchone()
        entry["unbound_records"] = out
        if out:
            problems.append(Problem("unbound-records", f"device {name}: {out} records from "
                                    f"{iso_utc(o_lo)} to {iso_utc(o_hi)} fall outside its bindings"))
    for point in site.points():
        got = 0
        for b in point.devices:
            if b.device in names:
                cond, args = _inside([b])
                got += db.execute(f"SELECT count(*) FROM records r JOIN devices d ON d.id = r.dev "
                                  f"WHERE d.name = ? AND {cond}", (b.device, *args)).fetchone()[0]
        if not got:
            problems.append(Problem("no-data", f"point {point.id} has no records in the database "
                                    f"(devices {', '.join(point.device_ids)})"))
    return SiteCheck(devices, problems)
