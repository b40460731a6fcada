"""Missing-data substitution on the host: the hourly CO2 mass of every hour, measured or filled.

``fill(hours, rule)`` takes a point's hourly series (``cemtool.quality.hourly``, oldest first,
one entry per hour) and returns one ``FilledHour`` per hour: measured hours keep their stored mass,
declared shutdown hours are zero, every other hour is substituted by the rule and carries the
rule and its inputs. Stored records are never touched. Rules (docs/quality.md, with sources):

- ``hj75`` (default), HJ 75-2017 as summarised in the design brief §4.5: by the capture rate of
  the hour's calendar quarter, the maximum of the 180 (gap ≤ 24 h) or 720 (longer gap) valid hours
  before the gap; 75–90 %: of the 2160 before it; below 75 %: the rated maximum of the source, or
  the largest valid hour of the series.
- ``mrr``, EU 2018/2066: an hour is valid with ≥ 80 % of its readings (Art. 44(2)); a missing
  hour is the mean plus twice the standard deviation of the valid hours of the reporting period
  (Art. 45(3), Annex VIII equation 4), applied to the hourly mass.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cemtool.quality import HOUR_S, Hour, first_hour, hourly
from cemtool.records import iso_utc
from cemtool.site import Point, Site
from cemtool.store import Store

RULES = ("hj75", "mrr")
HJ75_SHORT_GAP_H = 24
HJ75_WINDOWS = {"short": 180, "long": 720, "mid": 2160}
HJ75_TIERS = (0.90, 0.75)
MRR_MIN_MINUTES = 48    # 80 % of the 60 possible minute values of an hour (Art. 44(2))


@dataclass(frozen=True)
class FilledHour:
    hour: Hour
    mass: int | None        # CO2 in 0.01 kg; None only when nothing could fill it ("unfilled")
    substituted: bool
    rule: str               # "measured", "shutdown", "hj75:180" …, "mrr:mean+2sd", "unfilled"
    inputs: dict | None     # what a substitute was computed from (None for measured/shutdown)

    @property
    def t(self) -> int:
        return self.hour.t

    @property
    def status(self) -> str:
        return self.hour.status

    @property
    def kg(self) -> float | None:
        return None if self.mass is None else self.mass / 100

    def to_json(self) -> dict:
        return {"t": iso_utc(self.t), "status": self.status, "kg": self.kg,
                "substituted": self.substituted, "rule": self.rule, "inputs": self.inputs}


class SubstituteError(ValueError):
    """Hours that cannot be filled as asked (unknown rule, not an hourly series)."""


def _check(hours: Sequence[Hour], rule: str) -> None:
    if rule not in RULES:
        raise SubstituteError(f"unknown substitution rule {rule!r} (one of {', '.join(RULES)})")
    for a, b in zip(hours, hours[1:]):
        if b.t != a.t + HOUR_S:
            raise SubstituteError(f"hours are not consecutive at {iso_utc(a.t)}")


def quarter(t: int) -> str:
    y, m = map(int, iso_utc(t)[:7].split("-"))
    return f"{y}Q{(m - 1) // 3 + 1}"


def fill(hours: Sequence[Hour], rule: str = "hj75", since: int | None = None,
         max_rate_kg_h: float | None = None) -> list[FilledHour]:
    """Every hour of ``hours`` from ``since`` on, measured or substituted by ``rule``.

    Hours before ``since`` serve only as look-back and for the capture rate of their quarter.
    ``max_rate_kg_h`` is the source's rated maximum (site.toml), used where the rule needs it.
    """
    _check(hours, rule)
    ok = [_valid(h, rule) for h in hours]
    filled = _hj75(hours, ok, max_rate_kg_h) if rule == "hj75" else _mrr(hours, ok, max_rate_kg_h)
    return [f for f in filled if since is None or f.t >= since]


def _valid(h: Hour, rule: str) -> bool:
    if h.status != "valid":
        return False
    return rule != "mrr" or h.record.fields["nv"] >= MRR_MIN_MINUTES


def _measured(h: Hour) -> FilledHour:
    return FilledHour(h, h.mass, False, "measured", None)


def _runs(hours: Sequence[Hour], ok: list[bool]) -> list[tuple[int, int]]:
    """[i, j) index ranges of consecutive hours to substitute (not valid, not shutdown)."""
    runs, i, n = [], 0, len(hours)
    while i < n:
        if ok[i] or hours[i].status == "shutdown":
            i += 1
            continue
        j = i
        while j < n and not ok[j] and hours[j].status != "shutdown":
            j += 1
        runs.append((i, j))
        i = j
    return runs


def _base(hours: Sequence[Hour], ok: list[bool]) -> list[FilledHour | None]:
    return [_measured(h) if k else FilledHour(h, 0, False, "shutdown", None)
            if h.status == "shutdown" else None for h, k in zip(hours, ok)]


def _rated(max_rate_kg_h: float | None) -> int | None:
    return None if max_rate_kg_h is None else math.ceil(max_rate_kg_h * 100)


def _pick(window: list[tuple[int, int]]) -> dict:
    """The largest of (t, mass) ``window`` and where it came from."""
    t, mass = max(window, key=lambda x: (x[1], x[0]))
    return {"used": len(window), "first": iso_utc(window[0][0]), "last": iso_utc(window[-1][0]),
            "chosen_t": iso_utc(t), "value_kg": mass / 100, "_mass": mass}


def _hj75(hours: Sequence[Hour], ok: list[bool], max_rate_kg_h: float | None) -> list[FilledHour]:
    out = _base(hours, ok)
    valid = [(h.t, h.mass) for h, k in zip(hours, ok) if k]
    before = [0] * (len(hours) + 1)  # valid hours before index i
    for i, k in enumerate(ok):
        before[i + 1] = before[i] + k
    quarters: dict[str, list[int]] = {}
    for h, k in zip(hours, ok):
        q = quarters.setdefault(quarter(h.t), [0, 0])
        q[0] += k
        q[1] += h.status != "shutdown"
    for i, j in _runs(hours, ok):
        gap = j - i
        picks: dict[int, tuple[str, dict | None]] = {}  # window size -> its pick, per gap
        for n in range(i, j):
            h = hours[n]
            v, base = quarters[quarter(h.t)]
            capture = v / base
            inputs = {"quarter": quarter(h.t), "capture_rate": capture, "gap_hours": gap,
                      "gap_start": iso_utc(hours[i].t)}
            if capture >= HJ75_TIERS[0]:
                size = HJ75_WINDOWS["short" if gap <= HJ75_SHORT_GAP_H else "long"]
            elif capture >= HJ75_TIERS[1]:
                size = HJ75_WINDOWS["mid"]
            else:
                size = None
            if size is not None:
                if size not in picks:
                    k = before[i]
                    window, direction = valid[max(0, k - size):k], "preceding"
                    if not window:  # nothing before the gap: the hours after it, same count
                        window, direction = valid[k:k + size], "following"
                    picks[size] = (direction, _pick(window) if window else None)
                direction, pick = picks[size]
                inputs.update(window=size, direction=direction)
                if pick is not None:
                    inputs.update(pick)
                    mass = inputs.pop("_mass")
                    out[n] = FilledHour(h, mass, True, f"hj75:{size}", inputs)
                    continue
            rated = _rated(max_rate_kg_h)
            if rated is not None:
                inputs.update(max_rate_kg_h=max_rate_kg_h, value_kg=rated / 100)
                out[n] = FilledHour(h, rated, True, "hj75:rated", inputs)
            elif size is None and valid:
                inputs.update(window="all", direction="series", **_pick(valid))
                mass = inputs.pop("_mass")
                out[n] = FilledHour(h, mass, True, "hj75:max", inputs)
            else:
                out[n] = FilledHour(h, None, True, "unfilled", inputs)
    return out


def _mrr(hours: Sequence[Hour], ok: list[bool], max_rate_kg_h: float | None) -> list[FilledHour]:
    out = _base(hours, ok)
    by_year: dict[str, list[int]] = {}
    for h, k in zip(hours, ok):
        if k:
            by_year.setdefault(iso_utc(h.t)[:4], []).append(h.mass)
    every = [m for ms in by_year.values() for m in ms]
    cache: dict[str, tuple[int, dict] | None] = {}
    for i, j in _runs(hours, ok):
        for n in range(i, j):
            h = hours[n]
            year = iso_utc(h.t)[:4]
            if year not in cache:
                ref, period = by_year.get(year), year
                if not ref:  # no valid hour that year: every valid hour of the series
                    ref, period = every, "series"
                cache[year] = _mean_2sd(ref, period) if ref else None
            got = cache[year]
            if got is not None:
                mass, inputs = got
                out[n] = FilledHour(h, mass, True, "mrr:mean+2sd", dict(inputs))
                continue
            rated = _rated(max_rate_kg_h)
            if rated is not None:
                out[n] = FilledHour(h, rated, True, "mrr:rated",
                                    {"max_rate_kg_h": max_rate_kg_h, "value_kg": rated / 100})
            else:
                out[n] = FilledHour(h, None, True, "unfilled", {"reference": year})
    return out


def _mean_2sd(masses: list[int], period: str) -> tuple[int, dict]:
    mean = statistics.fmean(masses)
    sd = statistics.stdev(masses) if len(masses) > 1 else 0.0
    mass = math.ceil(mean + 2 * sd)  # rounded up to the next 0.01 kg: conservative
    return mass, {"reference": period, "used": len(masses), "mean_kg": mean / 100,
                  "sd_kg": sd / 100, "value_kg": mass / 100}


def series(store: Store, site: Site, point: Point, start_s: int, end_s: int) -> list[Hour]:
    """The point's hours up to ``end_s`` from its monitoring start (look-back included), or from
    ``start_s`` when that is earlier."""
    first = first_hour(store, point)
    begin = start_s if first is None else min(start_s, first)
    return hourly(store, site, point, begin, end_s)


def filled(store: Store, site: Site, point: Point, start_s: int, end_s: int,
           rule: str = "hj75") -> list[FilledHour]:
    """The filled hours of ``point`` starting in [start_s, end_s), with all the look-back the
    rule needs from the database."""
    return fill(series(store, site, point, start_s, end_s), rule, since=start_s,
                max_rate_kg_h=point.source.max_rate_kg_h)
