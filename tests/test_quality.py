"""cemtool.quality against small hand-built receiver databases (records written through
cemtool.store as the receiver writes them). The builders here are shared by test_substitute,
test_warn and test_site."""
from __future__ import annotations

import calendar
import json
import sqlite3

import pytest
from click.testing import CliRunner

from cemtool import quality, site
from cemtool.cli import main
from cemtool.records import ALARM, CALIBRATION, FLAGS, HOUR, MINUTE, Record
from cemtool.store import Store, log_of

T0 = calendar.timegm((2025, 1, 1, 0, 0, 0))
H = 3600


def hour_fields(mass: int, nv: int = 60, flag: str | None = None) -> list[int]:
    f = FLAGS.index(flag) if flag else (0 if nv >= 45 else FLAGS.index("D"))
    return [f, 60, nv, 1200, 1100, 1300, 1500, 1400, 1600, 1500, 1400, 1600, -200, 101325, 800,
            100000, 90000, 110000, mass]


def minute_fields(mass: int) -> list[int]:
    return [0, 60, 60, 1200, 1100, 1300, 1500, 1500, -200, 100000, mass]


def hour_record(t: int, mass: int, nv: int = 60, flag: str | None = None, tq: int = 2) -> Record:
    return Record.from_list([HOUR, 0, t, tq, 1, *hour_fields(mass, nv, flag)])


class Device:
    """One device's logs: seqs as its ring log assigns them; ``lost`` records take a seq but
    never reach the store."""

    def __init__(self, store: Store, name: str):
        self.store, self.name = store, name
        self.seq = {0: 0, 1: 0}

    def put(self, kind: int, t: int, fields: list, delay: float = 60, tq: int = 2,
            lost: bool = False) -> Record:
        log = log_of(kind)
        self.seq[log] += 1
        rec = Record.from_list([kind, self.seq[log], t, tq, 1, *fields])
        if not lost:
            end = t + {HOUR: H, MINUTE: 60}.get(kind, 0)
            self.store.commit(self.name, log, [rec], arrived_ms=round((end + delay) * 1000))
        return rec

    def hour(self, t: int, mass: int, nv: int = 60, flag: str | None = None, **kw) -> Record:
        return self.put(HOUR, t, hour_fields(mass, nv, flag), **kw)

    def calibration(self, t: int, channel: int, action: int, ref: int, reading: int,
                    result: int = 0) -> Record:
        return self.put(CALIBRATION, t, [channel, action, ref, reading, 0, 0, result], delay=0)


SITE = """
[enterprise]
name = "Example Power Co."
code = "91310000MA1FL0XXXX"

[[facility]]
id = "F1"
name = "Plant 1"

  [[facility.source]]
  id = "S1"
  name = "Boiler 1 stack"
  kind = "combustion"
  fuel = "bituminous coal"
  duct_area_m2 = 3.0
  height_m = 80
  allowance_t = {allowance}
  shutdowns = {shutdowns}
  {source_extra}

    [[facility.source.point]]
    id = "P1"
    name = "Boiler 1 CEMS"
    mn = "010000A8900016F000169DC0"
    devices = {devices}
    {point_extra}
"""


def site_text(devices: str = '["dev-a"]', shutdowns: str = "[]", allowance: float = 180000,
              source_extra: str = "", point_extra: str = "") -> str:
    return SITE.format(devices=devices, shutdowns=shutdowns, allowance=allowance,
                       source_extra=source_extra, point_extra=point_extra)


def write_site(tmp_path, **kw) -> str:
    path = tmp_path / "site.toml"
    path.write_text(site_text(**kw))
    return str(path)


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "rx.sqlite")
    yield store
    store.close()


def iso(t: int) -> str:
    return site.iso(t)


# -- the hourly series -------------------------------------------------------------------------


def test_hourly_statuses_records_and_delays(db, tmp_path):
    dev = Device(db, "dev-a")
    dev.hour(T0, 100_00, delay=30)
    dev.hour(T0 + H, 120_00, nv=40, delay=90)          # invalid: 40 valid minutes
    # T0 + 2H missing
    dev.hour(T0 + 3 * H, 130_00, delay=4 * H)         # arrived late
    s = site.load(write_site(tmp_path))
    hours = quality.hourly(db, s, s.point("P1"), T0, T0 + 4 * H)
    assert [h.t for h in hours] == [T0 + i * H for i in range(4)]
    assert [h.status for h in hours] == ["valid", "invalid", "missing", "valid"]
    assert [h.mass for h in hours] == [10000, 12000, None, 13000]
    assert [h.flag for h in hours] == ["N", "D", None, "N"]
    assert [h.arrival_delay_s for h in hours] == [30, 90, None, 4 * H]
    assert hours[0].device == "dev-a" and hours[2].device is None


def test_hourly_starts_on_the_next_whole_hour_and_at_since(db, tmp_path):
    s = site.load(write_site(tmp_path))
    assert [h.t for h in quality.hourly(db, s, s.point("P1"), T0 + 1, T0 + 3 * H)] == [
        T0 + H, T0 + 2 * H]
    s = site.load(write_site(tmp_path, point_extra='since = "2025-01-01T05:00:00Z"'))
    assert [h.t for h in quality.hourly(db, s, s.point("P1"), T0, T0 + 7 * H)] == [
        T0 + 5 * H, T0 + 6 * H]


def test_shutdown_hours_are_whole_hours_inside_a_declared_shutdown(db, tmp_path):
    dev = Device(db, "dev-a")
    dev.hour(T0 + 3 * H, 50_00)   # measured inside the shutdown: the measurement wins
    shut = f'[["{iso(T0 + H)}", "{iso(T0 + 4 * H + 1800)}"]]'
    s = site.load(write_site(tmp_path, shutdowns=shut))
    hours = quality.hourly(db, s, s.point("P1"), T0, T0 + 6 * H)
    assert [h.status for h in hours] == ["missing", "shutdown", "shutdown", "valid", "missing",
                                        "missing"]
    assert quality.capture_rate(hours) == 1 / 4


def test_replaced_device_records_count_only_within_their_binding(db, tmp_path):
    old, new = Device(db, "dev-a"), Device(db, "dev-b")
    for i in range(4):
        old.hour(T0 + i * H, 10_00 + i)
        new.hour(T0 + i * H, 20_00 + i)
    devices = (f'[{{id = "dev-a", to = "{iso(T0 + 2 * H)}"}}, '
               f'{{id = "dev-b", from = "{iso(T0 + 2 * H)}"}}]')
    s = site.load(write_site(tmp_path, devices=devices))
    hours = quality.hourly(db, s, s.point("P1"), T0, T0 + 4 * H)
    assert [(h.device, h.mass) for h in hours] == [("dev-a", 1000), ("dev-a", 1001),
                                                   ("dev-b", 2002), ("dev-b", 2003)]


def test_two_devices_at_once_a_valid_record_wins(db, tmp_path):
    a, b = Device(db, "dev-a"), Device(db, "dev-b")
    a.hour(T0, 10_00, nv=10)
    b.hour(T0, 20_00)
    a.hour(T0 + H, 11_00)
    b.hour(T0 + H, 21_00)
    s = site.load(write_site(tmp_path, devices='["dev-a", "dev-b"]'))
    hours = quality.hourly(db, s, s.point("P1"), T0, T0 + 2 * H)
    assert [(h.device, h.status) for h in hours] == [("dev-b", "valid"), ("dev-a", "valid")]


# -- assessment ----------------------------------------------------------------------------------


def test_capture_rate_completeness_and_timeliness(db, tmp_path):
    dev = Device(db, "dev-a")
    flags = ["N"] * 6 + ["M", "C", "D"]
    for i, flag in enumerate(flags):
        dev.hour(T0 + i * H, 10_00, nv=60 if flag == "N" else 20, flag=flag, delay=10 * (i + 1))
    shut = f'[["{iso(T0 + 10 * H)}", "{iso(T0 + 12 * H)}"]]'
    s = site.load(write_site(tmp_path, shutdowns=shut))
    q = quality.assess(db, s, s.point("P1"), T0, T0 + 14 * H)
    # 14 hours: 6 valid, 3 invalid, hour 9 and 12, 13 missing, 10-11 shut down
    assert (q.hours, q.valid, q.invalid, q.missing, q.shutdown) == (14, 6, 3, 3, 2)
    assert q.capture_rate == 6 / 12
    assert q.by_flag == {"N": 6, "F": 0, "M": 1, "S": 0, "D": 1, "C": 1, "T": 0, "B": 0,
                         "missing": 3, "shutdown": 2}
    t = q.timeliness["hour"]
    assert (t.records, t.median_s, t.p95_s, t.max_s) == (9, 50, 90, 90)
    assert q.timeliness["minute"].records == 0


def test_timeliness_percentiles():
    t = quality.timeliness([float(i) for i in range(1, 101)])
    assert (t.median_s, t.p95_s, t.max_s) == (50.5, 95, 100)
    assert quality.timeliness([]).median_s is None


def test_calibrations_drift_and_status(db, tmp_path):
    dev = Device(db, "dev-a")
    dev.calibration(T0 + 100, 1, 4, 12000, 12300, result=3)  # check: +0.3 %vol = 1.2 % of 25 %
    dev.calibration(T0 + 200, 1, 2, 12000, 11000)            # span: -1.0 %vol = -4 % FS
    dev.calibration(T0 + 300, 2, 1, 0, 5)                    # Δp zero: no full scale
    dev.calibration(T0 + 86400 * 9, 1, 2, 12000, 12000, result=1)   # rejected: not "done"
    s = site.load(write_site(tmp_path, point_extra="co2_full_scale_pct = 25"))
    p = s.point("P1")
    cals = quality.calibrations(db, p, T0, T0 + 86400 * 10)
    assert [c.drift for c in cals] == [300, -1000, 5, 0]
    assert [c.drift_pct_fs for c in cals] == [pytest.approx(1.2), pytest.approx(-4.0), None, 0.0]
    assert [c.over_limit for c in cals] == [False, True, False, False]
    assert quality.calibration_status(db, p, T0 + 86400 * 7) == ("ok", T0 + 200)
    assert quality.calibration_status(db, p, T0 + 86400 * 8) == ("overdue", T0 + 200)
    assert quality.calibration_status(db, p, T0 + 150) == ("ok", T0 + 100)   # the check counts
    assert quality.calibration_status(db, p, T0 + 100) == ("never", None)


def test_alarms_listed(db, tmp_path):
    dev = Device(db, "dev-a")
    dev.put(ALARM, T0 + 10, [3, 1, 2600, 2500], delay=0)
    dev.put(ALARM, T0 + 70, [3, 0, 2400, 2500], delay=0)
    s = site.load(write_site(tmp_path))
    got = quality.alarms(db, s.point("P1"), T0, T0 + H)
    assert [(a.t, a.code, a.state, a.value, a.limit) for a in got] == [
        (T0 + 10, 3, 1, 2600, 2500), (T0 + 70, 3, 0, 2400, 2500)]


def test_sequence_gaps_never_delivered_and_deleted(db, tmp_path):
    dev = Device(db, "dev-a")
    dev.put(MINUTE, T0, minute_fields(1), lost=True)          # seq 1: never delivered
    for i in range(1, 10):
        dev.put(MINUTE, T0 + 60 * i, minute_fields(1), lost=i in (3, 4))
    for i in range(3):
        dev.hour(T0 + i * H, 10_00)
    # someone deletes minute seq 8 and the newest hour record from the database
    con = sqlite3.connect(tmp_path / "rx.sqlite")
    con.execute("DELETE FROM records WHERE (log = 0 AND seq = 8) OR (log = 1 AND seq = 3)")
    con.commit()
    con.close()
    gaps = quality.seq_gaps(db, "dev-a")
    got = [(g.log, g.first, g.last, g.count, g.after_t, g.before_t) for g in gaps]
    assert got == [
        ("minute", 1, 1, 1, None, T0 + 60),
        ("minute", 4, 5, 2, T0 + 120, T0 + 300),
        ("minute", 8, 8, 1, T0 + 360, T0 + 480),
        ("long", 3, 3, 1, T0 + H, None),        # beyond the newest held, up to the cursor
    ]
    assert quality.seq_gaps(db, "nobody") == []


def test_quality_cli_json_and_text(db, tmp_path):
    dev = Device(db, "dev-a")
    for i in range(5):
        if i != 2:
            dev.hour(T0 + i * H, 10_00 * (i + 1))
    path = write_site(tmp_path)
    args = ["quality", "--db", str(tmp_path / "rx.sqlite"), "--site", path]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    q = json.loads(r.output)["points"][0]
    assert (q["start"], q["end"]) == (iso(T0), iso(T0 + 5 * H))
    assert (q["hours"], q["valid"], q["missing"], q["capture_rate"]) == (5, 4, 1, 0.8)
    [sub] = q["substituted"]
    assert sub["t"] == iso(T0 + 2 * H) and sub["rule"] == "hj75:2160" and sub["kg"] == 20.0
    r = CliRunner().invoke(main, [*args, "--from", "2025-01-01", "--to", "2025-01-01"])
    assert r.exit_code == 0, r.output
    assert "hours        24: valid 4, invalid 0, missing 20" in r.output
    assert "capture rate 16.67 %" in r.output
