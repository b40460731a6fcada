"""The monitoring boundary: ``site.toml`` read, validated and queried (docs/site.md).

Enterprise → facilities → emission sources (stacks) → monitoring points → devices. ``load(path)``
returns a ``Site`` or raises ``SiteError`` with one line naming the file, the key and the problem.
``Site.point_of(device, t)`` tells which monitoring point a device's record at ``t`` belongs to.
``for_simulation(out, device_id, scenario)`` writes the site of a simulator run.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SOURCE_KINDS = ("combustion", "process")
MN_MAX = 24  # HJ 212-2017: the MN field holds at most 24 characters


class SiteError(ValueError):
    """A site file that cannot be used; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class Binding:
    """A device bound to a point from ``start`` (inclusive) to ``end`` (exclusive), UTC seconds;
    None: open-ended."""
    device: str
    start: int | None = None
    end: int | None = None

    def covers(self, t: int) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def overlaps(self, other: Binding) -> bool:
        lo = max(_lo(self.start), _lo(other.start))
        hi = min(_hi(self.end), _hi(other.end))
        return lo < hi


def _lo(t: int | None) -> float:
    return -math.inf if t is None else t


def _hi(t: int | None) -> float:
    return math.inf if t is None else t


@dataclass(frozen=True)
class Enterprise:
    name: str
    code: str = ""
    address: str = ""
    contact: str = ""


@dataclass(eq=False)
class Point:
    id: str
    name: str
    mn: str
    source: Source = field(repr=False)
    facility: Facility = field(repr=False)
    devices: tuple[Binding, ...]
    since: int | None = None          # monitoring start (UTC s); None: from the first record
    hourly_kg_h: float | None = None  # rate warning threshold of this point (docs/quality.md)
    co2_full_scale_pct: float | None = None   # analyser range, for drift in % of full scale
    drift_limit_pct_fs: float = 2.5
    calibration_days: float = 7.0     # a CO2 check or calibration is due this often

    @property
    def device_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.device for b in self.devices))


@dataclass(eq=False)
class Source:
    id: str
    name: str
    kind: str
    fuel: str
    duct_area_m2: float
    facility: Facility = field(repr=False)
    height_m: float | None = None
    allowance_t: float | None = None          # annual allowance, t CO2
    monthly_allowance_t: float | None = None  # overrides annual × days-in-month / days-in-year
    shutdowns: list[tuple[int, int]] = field(default_factory=list)  # declared, [start, end)
    hourly_kg_h: float | None = None          # rate warning threshold of the whole source
    max_rate_kg_h: float | None = None        # rated maximum, for substitution (docs/quality.md)
    points: list[Point] = field(default_factory=list)

    def in_shutdown(self, start: int, end: int) -> bool:
        """[start, end) lies wholly inside one declared shutdown."""
        return any(a <= start and end <= b for a, b in self.shutdowns)


@dataclass(eq=False)
class Facility:
    id: str
    name: str
    sources: list[Source] = field(default_factory=list)


@dataclass(eq=False)
class Site:
    path: Path
    enterprise: Enterprise
    facilities: list[Facility]

    def sources(self) -> Iterator[Source]:
        for f in self.facilities:
            yield from f.sources

    def points(self) -> Iterator[Point]:
        for s in self.sources():
            yield from s.points

    def point(self, point_id: str) -> Point:
        for p in self.points():
            if p.id == point_id:
                return p
        raise KeyError(point_id)

    def point_of(self, device: str, t: int | None = None) -> Point | None:
        """The point ``device`` is bound to at ``t`` (at any time when ``t`` is None)."""
        for p in self.points():
            for b in p.devices:
                if b.device == device and (t is None or b.covers(t)):
                    return p
        return None

    def bindings(self, device: str) -> list[tuple[Point, Binding]]:
        return [(p, b) for p in self.points() for b in p.devices if b.device == device]

    def devices(self) -> list[str]:
        return list(dict.fromkeys(b.device for p in self.points() for b in p.devices))


# -- reading ---------------------------------------------------------------------------------


class _Reader:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> SiteError:
        return SiteError(f"{self.path}: {key}: {problem}")

    def table(self, raw: dict, key: str, known: dict[str, bool]) -> dict:
        """Check ``raw`` is a table with only ``known`` keys (True: required)."""
        if not isinstance(raw, dict):
            raise self.fail(key, f"must be a table, not {_type(raw)}")
        for k in raw:
            if k not in known:
                raise self.fail(f"{key}.{k}", f"unknown key (known: {', '.join(known)})")
        for k, required in known.items():
            if required and k not in raw:
                raise self.fail(f"{key}.{k}", "missing")
        return raw

    def text(self, raw: dict, key: str, name: str, default: str | None = None,
             max_len: int | None = None) -> str:
        v = raw.get(name, default)
        if not isinstance(v, str) or (not v.strip() and default is None):
            raise self.fail(f"{key}.{name}", f"must be a non-empty string, not {v!r}")
        if max_len is not None and len(v) > max_len:
            raise self.fail(f"{key}.{name}", f"must be at most {max_len} characters, not {len(v)}")
        return v

    def number(self, raw: dict, key: str, name: str, positive: bool,
               required: bool = False) -> float | None:
        if name not in raw:
            if required:
                raise self.fail(f"{key}.{name}", "missing")
            return None
        v = raw[name]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (v <= 0 if positive else v < 0):
            want = "a number > 0" if positive else "a number >= 0"
            raise self.fail(f"{key}.{name}", f"must be {want}, not {v!r}")
        return float(v)

    def time(self, v: object, key: str) -> int:
        """UTC seconds of an ISO 8601 time with Z (or +00:00), a TOML datetime, or a date."""
        if isinstance(v, str):
            try:
                v = dt.datetime.fromisoformat(v.replace("Z", "+00:00")) if "T" in v \
                    else dt.date.fromisoformat(v)
            except ValueError:
                raise self.fail(key, f"{v!r} is not an ISO 8601 time") from None
        if isinstance(v, dt.datetime):
            if v.tzinfo is None or v.utcoffset() != dt.timedelta(0):
                raise self.fail(key, f"{v.isoformat()} must be UTC (end it with Z)")
            return calendar.timegm(v.utctimetuple())
        if isinstance(v, dt.date):
            return calendar.timegm(v.timetuple())
        raise self.fail(key, f"must be an ISO 8601 UTC time, not {_type(v)}")


def _type(v: object) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__)


def _items(rd: _Reader, raw: dict, key: str, name: str) -> list:
    v = raw.get(name)
    if not isinstance(v, list) or not v:
        raise rd.fail(f"{key}.{name}", f"needs at least one [[{name}]] table")
    return v


def load(path: str | Path) -> Site:
    """The site of ``path``; SiteError with one line on any mistake."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SiteError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise SiteError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise SiteError(f"{path}: not valid TOML: {e}") from None
    return parse(raw, path)


def parse(raw: dict, path: str | Path = "site.toml") -> Site:
    rd = _Reader(Path(path))
    rd.table(raw, "(top)", {"enterprise": True, "facility": True})
    ent = rd.table(raw["enterprise"], "enterprise",
                   {"name": True, "code": False, "address": False, "contact": False})
    enterprise = Enterprise(rd.text(ent, "enterprise", "name"),
                            *(rd.text(ent, "enterprise", k, "") for k in ("code", "address", "contact")))
    ids: dict[str, dict[str, str]] = {"facility": {}, "source": {}, "point": {}}
    facilities = [_facility(rd, f, f"facility[{i}]", ids)
                  for i, f in enumerate(_items(rd, raw, "(top)", "facility"))]
    return Site(rd.path, enterprise, facilities)


def _unique(rd: _Reader, ids: dict[str, dict[str, str]], what: str, key: str, raw: dict) -> str:
    ident = rd.text(raw, key, "id")
    if ident in ids[what]:
        raise rd.fail(f"{key}.id", f"{what} id {ident!r} is used twice (also {ids[what][ident]})")
    ids[what][ident] = key
    return ident


def _facility(rd: _Reader, raw: dict, key: str, ids) -> Facility:
    rd.table(raw, key, {"id": True, "name": False, "source": True})
    fid = _unique(rd, ids, "facility", key, raw)
    key = f"facility.{fid}"
    fac = Facility(fid, rd.text(raw, key, "name", fid))
    fac.sources = [_source(rd, s, f"{key}.source[{i}]", fac, ids)
                   for i, s in enumerate(_items(rd, raw, key, "source"))]
    return fac


def _source(rd: _Reader, raw: dict, key: str, fac: Facility, ids) -> Source:
    rd.table(raw, key, {"id": True, "name": False, "kind": True, "fuel": False,
                        "duct_area_m2": True, "height_m": False, "allowance_t": False,
                        "monthly_allowance_t": False, "shutdowns": False, "max_rate_kg_h": False,
                        "warn": False, "point": True})
    sid = _unique(rd, ids, "source", key, raw)
    key = f"{key.rsplit('[', 1)[0]}.{sid}"
    kind = raw["kind"]
    if kind not in SOURCE_KINDS:
        raise rd.fail(f"{key}.kind", f"must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}")
    src = Source(sid, rd.text(raw, key, "name", sid), kind, rd.text(raw, key, "fuel", ""),
                 rd.number(raw, key, "duct_area_m2", positive=True, required=True), fac,
                 height_m=rd.number(raw, key, "height_m", positive=True),
                 allowance_t=rd.number(raw, key, "allowance_t", positive=False),
                 monthly_allowance_t=rd.number(raw, key, "monthly_allowance_t", positive=False),
                 max_rate_kg_h=rd.number(raw, key, "max_rate_kg_h", positive=True))
    src.shutdowns = _shutdowns(rd, raw.get("shutdowns", []), f"{key}.shutdowns")
    if "warn" in raw:
        warn = rd.table(raw["warn"], f"{key}.warn", {"hourly_kg_h": False})
        src.hourly_kg_h = rd.number(warn, f"{key}.warn", "hourly_kg_h", positive=True)
    src.points = [_point(rd, p, f"{key}.point[{i}]", src, ids)
                  for i, p in enumerate(_items(rd, raw, key, "point"))]
    return src


def _shutdowns(rd: _Reader, raw: object, key: str) -> list[tuple[int, int]]:
    if not isinstance(raw, list):
        raise rd.fail(key, f"must be an array of [start, end] pairs, not {_type(raw)}")
    out = []
    for i, pair in enumerate(raw):
        k = f"{key}[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise rd.fail(k, f"must be a [start, end] pair, not {pair!r}")
        start, end = rd.time(pair[0], k), rd.time(pair[1], k)
        if start >= end:
            raise rd.fail(k, "start must be before end")
        out.append((start, end))
    out.sort()
    for (a0, a1), (b0, b1) in zip(out, out[1:]):
        if b0 < a1:
            raise rd.fail(key, f"shutdowns overlap at {iso(b0)}")
    return out


def _point(rd: _Reader, raw: dict, key: str, src: Source, ids) -> Point:
    rd.table(raw, key, {"id": True, "name": False, "mn": True, "devices": True, "since": False,
                        "co2_full_scale_pct": False, "drift_limit_pct_fs": False,
                        "calibration_days": False, "warn": False})
    pid = _unique(rd, ids, "point", key, raw)
    key = f"{key.rsplit('[', 1)[0]}.{pid}"
    mn = rd.text(raw, key, "mn", max_len=MN_MAX)
    if not mn.isascii() or not mn.isalnum():
        raise rd.fail(f"{key}.mn", f"must be letters and digits (HJ 212 MN), not {mn!r}")
    devices = raw["devices"]
    if not isinstance(devices, list) or not devices:
        raise rd.fail(f"{key}.devices", "must be a non-empty array of device ids or tables")
    bindings = []
    for i, d in enumerate(devices):
        k = f"{key}.devices[{i}]"
        if isinstance(d, str):
            if not d.strip():
                raise rd.fail(k, "must be a non-empty device id")
            bindings.append(Binding(d))
            continue
        rd.table(d, k, {"id": True, "from": False, "to": False})
        b = Binding(rd.text(d, k, "id"),
                    rd.time(d["from"], f"{k}.from") if "from" in d else None,
                    rd.time(d["to"], f"{k}.to") if "to" in d else None)
        if b.start is not None and b.end is not None and b.start >= b.end:
            raise rd.fail(k, "from must be before to")
        bindings.append(b)
    point = Point(pid, rd.text(raw, key, "name", pid), mn, src, src.facility, tuple(bindings),
                  since=rd.time(raw["since"], f"{key}.since") if "since" in raw else None,
                  co2_full_scale_pct=rd.number(raw, key, "co2_full_scale_pct", positive=True))
    limit = rd.number(raw, key, "drift_limit_pct_fs", positive=True)
    if limit is not None:
        point.drift_limit_pct_fs = limit
    days = rd.number(raw, key, "calibration_days", positive=True)
    if days is not None:
        point.calibration_days = days
    if "warn" in raw:
        warn = rd.table(raw["warn"], f"{key}.warn", {"hourly_kg_h": False})
        point.hourly_kg_h = rd.number(warn, f"{key}.warn", "hourly_kg_h", positive=True)
    return point


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the simulator's site ----------------------------------------------------------------------

ANNUAL_SAMPLE_S = 600   # the model's rate is averaged over one day at this step for the allowance
ALLOWANCE_MARGIN = 1.1  # the simulated site's allowance: 1.1 × its annual emission


def annual_t(scenario) -> float:
    """The scenario's annual CO2 in t: its first day's mean rate × the hours of that year."""
    from cemtool.sim.model import StackModel
    model = StackModel(scenario)
    t0 = scenario.start
    rates = [model.co2_kg_h(t0 + s) for s in range(0, 86400, ANNUAL_SAMPLE_S)]
    year = dt.datetime.fromtimestamp(t0, dt.timezone.utc).year
    hours = (366 if calendar.isleap(year) else 365) * 24
    return sum(rates) / len(rates) * hours / 1000


def simulation_toml(device_id: str, scenario) -> str:
    """site.toml text of a simulated stack: one enterprise, facility, source and point."""
    name = scenario.name
    mn = ("SIM" + "".join(c for c in device_id.upper() if c.isalnum()))[:MN_MAX]
    shutdowns = getattr(scenario, "shutdowns", None) or []
    allowance = round(ALLOWANCE_MARGIN * annual_t(scenario))
    q = json.dumps  # a JSON string is a valid TOML basic string
    lines = [
        "# Monitoring boundary of a simulated stack, written by cemtool sim run (docs/site.md).",
        "[enterprise]",
        f"name = {q('Simulated enterprise')}",
        f"code = {q('SIM')}",
        "",
        "[[facility]]",
        'id = "F1"',
        f"name = {q('Simulated plant')}",
        "",
        "  [[facility.source]]",
        '  id = "S1"',
        f"  name = {q(f'Stack of scenario {name}')}",
        '  kind = "combustion"',
        f"  fuel = {q('simulated')}",
        f"  duct_area_m2 = {scenario.area_m2!r}",
        f"  allowance_t = {allowance}   # {ALLOWANCE_MARGIN} x the scenario's annual emission",
        "  shutdowns = [" + ", ".join(f"[{q(iso(a))}, {q(iso(b))}]" for a, b in shutdowns) + "]",
        "",
        "    [[facility.source.point]]",
        '    id = "P1"',
        f"    name = {q(f'CEMS of scenario {name}')}",
        f"    mn = {q(mn)}",
        f"    since = {q(iso(scenario.start))}",
        f"    devices = [{q(device_id)}]",
        "",
    ]
    return "\n".join(lines)


def for_simulation(out: str | Path, device_id: str, scenario) -> Path:
    """Write ``OUT/site.toml`` for a simulator run; return its path."""
    path = Path(out) / "site.toml"
    path.write_text(simulation_toml(device_id, scenario), encoding="utf-8")
    return path
