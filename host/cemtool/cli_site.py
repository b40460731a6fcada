"""``cemtool site check``, ``cemtool quality`` and ``cemtool warn`` (docs/site.md, docs/quality.md).

Bad input (a database or site file that cannot be used, a bad date) is one line on stderr and
exit 2; ``site check`` exits 1 when it finds a problem, ``warn`` when a warning is active.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from cemtool import quality, site as sitemod, substitute, warn as warnmod
from cemtool.cliopts import fail
from cemtool.records import iso_utc
from cemtool.store import Store, StoreError

DB = click.option("--db", "db_path", required=True, type=click.Path(dir_okay=False),
                  help="SQLite database written by cemtool receive (or a simulator run).")
SITE = click.option("--site", "site_path", required=True, type=click.Path(dir_okay=False),
                    help="The monitoring boundary, site.toml (docs/site.md).")
JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
RULE = click.option("--rule", type=click.Choice(substitute.RULES), default="hj75",
                    show_default=True, help="Missing-data substitution rule (docs/quality.md).")


def parse_time(text: str, option: str, end: bool = False) -> int:
    """UTC seconds of ``YYYY-MM-DD`` (with ``end``: the following midnight, so the day counts)
    or of ``YYYY-MM-DDTHH:MM[:SS]Z``."""
    try:
        if "T" not in text:
            day = dt.date.fromisoformat(text)
            return calendar.timegm(day.timetuple()) + (86400 if end else 0)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD) or UTC time (YYYY-MM-DDTHH:MM:SSZ)", 2)
    if when.tzinfo is None or when.utcoffset() != dt.timedelta(0):
        fail(f"{option}: {text!r} must be UTC (end it with Z)", 2)
    return calendar.timegm(when.utctimetuple())


@contextmanager
def opened(db_path: str, site_path: str) -> Iterator[tuple[Store, sitemod.Site]]:
    try:
        site = sitemod.load(site_path)
    except sitemod.SiteError as e:
        fail(str(e), 2)
    if not os.path.isfile(db_path):
        fail(f"no database at {db_path}", 2)
    try:
        store = Store(db_path, readonly=True)
    except StoreError as e:
        fail(str(e), 2)
    try:
        yield store, site
    finally:
        store.close()


@click.group("site")
def site_group() -> None:
    """The monitoring boundary: enterprise, facilities, sources, points, devices (site.toml)."""


@site_group.command("check")
@DB
@SITE
@JSON
def site_check(db_path: str, site_path: str, as_json: bool) -> None:
    """Check that every device of the database is bound to exactly one monitoring point at each
    of its record times; list unknown devices and points without data. Exit 1 on any problem."""
    with opened(db_path, site_path) as (store, site):
        result = quality.check_site(store, site)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        points = sum(1 for _ in site.points())
        click.echo(f"site {site.enterprise.name}: {len(site.facilities)} facilities, "
                   f"{sum(1 for _ in site.sources())} sources, {points} points")
        for d in result.devices:
            where = ", ".join(d["points"]) or "no point"
            click.echo(f"device {d['device']}: {d['records']} records {d['first']} .. {d['last']} "
                       f"-> {where}")
        for p in result.problems:
            click.echo(f"problem: {p.message}")
        click.echo("ok" if result.ok else f"{len(result.problems)} problem(s)")
    sys.exit(0 if result.ok else 1)


def _period(store: Store, point: sitemod.Point, start: int | None, end: int | None
            ) -> tuple[int, int] | None:
    """The requested period, or the point's data from its first to its last hour record."""
    first = quality.first_hour(store, point)
    if start is None:
        start = first
    if end is None:
        row = quality.connection(store).execute(
            "SELECT max(r.t) FROM records r JOIN devices d ON d.id = r.dev WHERE r.kind = 2 AND "
            f"d.name IN ({','.join('?' * len(point.device_ids))})", point.device_ids).fetchone()
        end = None if row[0] is None else row[0] + quality.HOUR_S
    if start is None or end is None or start >= end:
        return None
    return start, end


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f} s"


@click.command("quality")
@DB
@SITE
@click.option("--from", "start_text", default=None, metavar="DATE",
              help="First day (YYYY-MM-DD) or UTC time [default: the point's first hour record].")
@click.option("--to", "end_text", default=None, metavar="DATE",
              help="Last day, inclusive, or UTC time, exclusive [default: its last hour record].")
@click.option("--point", "point_ids", multiple=True, help="Only this point (repeatable).")
@RULE
@JSON
def quality_cmd(db_path: str, site_path: str, start_text: str | None, end_text: str | None,
                point_ids: tuple[str, ...], rule: str, as_json: bool) -> None:
    """Data quality per monitoring point: capture rate, completeness by flag, timeliness,
    calibrations and drift, alarms, sequence gaps, and the hours substitution fills."""
    start = parse_time(start_text, "--from") if start_text else None
    end = parse_time(end_text, "--to", end=True) if end_text else None
    report = []
    with opened(db_path, site_path) as (store, site):
        points = list(site.points())
        for pid in point_ids:
            if pid not in {p.id for p in points}:
                fail(f"--point: no point {pid!r} in {site_path}", 2)
        for point in points:
            if point_ids and point.id not in point_ids:
                continue
            period = _period(store, point, start, end)
            if period is None:
                report.append(({"point": point.id, "hours": 0}, []))
                continue
            filled = substitute.filled(store, site, point, *period, rule=rule)
            q = quality.assess(store, site, point, *period, hours=[f.hour for f in filled])
            report.append((q.to_json(), [f for f in filled if f.substituted]))
    if as_json:
        click.echo(json.dumps({"rule": rule, "points": [
            {**q, "substituted": [f.to_json() for f in subs],
             "substituted_kg": round(sum(f.kg or 0 for f in subs), 2)} for q, subs in report]}))
        return
    for q, subs in report:
        if not q["hours"]:
            click.echo(f"point {q['point']}: no hours with data in the period")
            continue
        rate = "-" if q["capture_rate"] is None else f"{q['capture_rate'] * 100:.2f} %"
        click.echo(f"point {q['point']}  {q['start']} .. {q['end']}")
        click.echo(f"  hours        {q['hours']}: valid {q['valid']}, invalid {q['invalid']}, "
                   f"missing {q['missing']}, shutdown {q['shutdown']}; capture rate {rate}")
        click.echo("  by flag      " + "  ".join(f"{k} {v}" for k, v in q["by_flag"].items()))
        for kind, t in q["timeliness"].items():
            click.echo(f"  timeliness   {kind}: {t['records']} records, median {_secs(t['median_s'])}, "
                       f"p95 {_secs(t['p95_s'])}, max {_secs(t['max_s'])}")
        over = sum(c["over_limit"] for c in q["calibrations"])
        click.echo(f"  calibration  {q['calibration_status']} (last CO2: {q['last_calibration'] or '-'}); "
                   f"{len(q['calibrations'])} in period, {over} over the drift limit")
        for c in q["calibrations"]:
            pct = "" if c["drift_pct_fs"] is None else f" ({c['drift_pct_fs']:+.2f} % FS)"
            click.echo(f"    {c['t']} {c['device']} channel {c['channel']} action {c['action']} "
                       f"ref {c['ref']} reading {c['reading']} drift {c['drift']:+d}{pct} "
                       f"result {c['result']}")
        click.echo(f"  alarms       {sum(a['state'] == 1 for a in q['alarms'])} raised, "
                   f"{sum(a['state'] == 0 for a in q['alarms'])} cleared")
        click.echo(f"  seq gaps     {len(q['gaps'])}")
        for g in q["gaps"]:
            click.echo(f"    {g['device']} {g['log']} log: seq {g['first']}-{g['last']} "
                       f"({g['count']} records) between {g['after_t'] or 'the start'} and "
                       f"{g['before_t'] or 'the receiver cursor'}")
        kg = sum(f.kg or 0 for f in subs)
        unfilled = sum(f.mass is None for f in subs)
        click.echo(f"  substituted  {len(subs)} hour(s), {kg:,.2f} kg ({rule})"
                   + (f"; {unfilled} hour(s) could not be filled" if unfilled else ""))


@click.command("warn")
@DB
@SITE
@click.option("--at", "at_text", default=None, metavar="TIME",
              help="Evaluate at this UTC time or date (YYYY-MM-DD: its midnight) [default: now].")
@click.option("--hours", "rate_hours", type=click.IntRange(1, 24 * 366), default=24,
              show_default=True, help="Hours before --at checked against the rate thresholds.")
@click.option("--hourly-kg-h", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Rate threshold for every point, kg/h (overrides site.toml).")
@RULE
@JSON
def warn_cmd(db_path: str, site_path: str, at_text: str | None, rate_hours: int,
             hourly_kg_h: float | None, rule: str, as_json: bool) -> None:
    """Emission warnings: hourly rate thresholds, and month/year-to-date emissions projected
    against the allowance. Exit 1 when any warning is active (for cron), else 0."""
    at = parse_time(at_text, "--at") if at_text else int(time.time())
    with opened(db_path, site_path) as (store, site):
        found = warnmod.check(store, site, at, rule, rate_hours, hourly_kg_h)
    active = [w for w in found if w.active]
    if as_json:
        click.echo(json.dumps({"at": iso_utc(at), "rule": rule, "active": len(active),
                               "warnings": [w.to_json() for w in found]}))
    else:
        for w in found:
            state = "WARNING" if w.active else "ok     "
            click.echo(f"{state} {w.kind:<5} {w.scope} {w.id}: {w.message}")
        if not found:
            click.echo("nothing to check: no thresholds or allowances with data")
    sys.exit(1 if active else 0)
