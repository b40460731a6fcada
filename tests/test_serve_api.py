"""cemtool serve: the dashboard's JSON API over plain HTTP (urllib) against a small receiver
database, and the command's start, errors and stop. The builders here are shared by
test_serve_browser."""
from __future__ import annotations

import calendar
import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cemtool import site as sitemod
from cemtool import substitute
from cemtool.records import ALARM, CALIBRATION, HOUR, MINUTE, Record, decode, iso_utc
from cemtool.serve.server import Dashboard, DashboardServer
from cemtool.store import Store, log_of

ROOT = Path(__file__).resolve().parent.parent
CEMTOOL = [sys.executable, "-m", "cemtool"]
NOW = calendar.timegm((2025, 3, 10, 12, 30, 0))
H = 3600
H0 = NOW - NOW % H             # the current hour: hours before it are complete
FIRST = H0 - 30 * H            # dev-a's first hour
LOST_HOUR = FIRST + 20 * H     # never reached the store: missing, substituted
INVALID_HOUR = FIRST + 25 * H  # 30 valid minutes: invalid, substituted
HIGH_HOUR = FIRST + 27 * H     # 2 500 kg, above P1's 2 000 kg/h threshold

SITE = """
[enterprise]
name = "Serve Test Co."

[[facility]]
id = "F1"

  [[facility.source]]
  id = "S1"
  name = "Boiler stack"
  kind = "combustion"
  duct_area_m2 = 3.0
  allowance_t = 1000

    [[facility.source.point]]
    id = "P1"
    name = "Boiler CEMS"
    mn = "MN0001"
    devices = ["dev-a"]
    warn = { hourly_kg_h = 2000 }

  [[facility.source]]
  id = "S2"
  name = "Kiln stack"
  kind = "process"
  duct_area_m2 = 2.0

    [[facility.source.point]]
    id = "P2"
    name = "Kiln CEMS"
    mn = "MN0002"
    devices = ["dev-b"]
"""


def hour_fields(mass: int, nv: int = 60) -> list[int]:
    flag = 0 if nv >= 45 else 4  # N, else D
    return [flag, 60, nv, 1200, 1100, 1300, 1500, 1400, 1600, 1500, 1400, 1600, -200, 101325,
            800, 100000, 90000, 110000, mass]


def minute_fields(co2: int, qsn: int, mass: int, vel: int = 1510, temp: int = 1480,
                  flag: int = 0) -> list[int]:
    return [flag, 60, 60, co2, co2 - 10, co2 + 10, vel, temp, -200, qsn, mass]


class Device:
    """One device's two logs, with seqs as its ring log assigns them; a ``lost`` record takes a
    seq but never reaches the store."""

    def __init__(self, store: Store, name: str):
        self.store, self.name, self.seq = store, name, {0: 0, 1: 0}

    def put(self, kind: int, t: int, fields: list, lost: bool = False, delay: int = 30) -> Record:
        log = log_of(kind)
        self.seq[log] += 1
        rec = Record.from_list([kind, self.seq[log], t, 2, 1, *fields])
        if not lost:
            end = t + {HOUR: H, MINUTE: 60}.get(kind, 0)
            self.store.commit(self.name, log, [rec], arrived_ms=(end + delay) * 1000)
        return rec


@dataclass
class Built:
    db: Path
    site: Path


def hour_mass(t: int) -> int:
    return 250000 if t == HIGH_HOUR else 100000 + (t - FIRST) // H * 100


def build(tmp_path: Path) -> Built:
    """dev-a (P1): 30 hours, one lost and one invalid, minutes after them, a fault_co2 alarm
    raised and a co2_high alarm raised and cleared, a CO2 calibration 2 days ago; dev-b (P2):
    3 hours and one minute. S1's allowance (1 000 t/year) is far below its pace."""
    db = tmp_path / "rx.sqlite"
    with Store(db) as store:
        a = Device(store, "dev-a")
        a.put(CALIBRATION, H0 - 48 * H, [1, 1, 12000, 12010, 0, 0, 0])
        for t in range(FIRST, H0, H):
            a.put(HOUR, t, hour_fields(hour_mass(t), 30 if t == INVALID_HOUR else 60),
                  lost=t == LOST_HOUR)
        a.put(ALARM, H0 - 5 * H, [1, 1, 1300, 1250])
        a.put(ALARM, H0 - 4 * H, [1, 0, 1200, 1250])
        a.put(ALARM, H0 - 3 * H, [11, 1, 5, 10])
        for k in (6, 5, 4, 3, 2):
            a.put(MINUTE, NOW - 60 * k, minute_fields(1234 + k, 98765 + k, 1700 + k))
        b = Device(store, "dev-b")
        for t in range(H0 - 3 * H, H0, H):
            b.put(HOUR, t, hour_fields(50000))
        b.put(MINUTE, NOW - 2400, minute_fields(2100, 50000, 900))
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    return Built(db, path)


# -- the database read on its own, to compare with ---------------------------------------------


def newest(db: Path, device: str, kind: int) -> Record:
    with sqlite3.connect(db) as c:
        (blob,), = c.execute("SELECT r.cbor FROM records r JOIN devices d ON d.id = r.dev "
                             "WHERE d.name = ? AND r.kind = ? ORDER BY r.t DESC LIMIT 1",
                             (device, kind)).fetchall()
    return decode(blob)


def hour_masses(db: Path, device: str) -> dict[str, tuple[int, bool]]:
    """ISO hour -> (mass in 0.01 kg, valid) of the device's hour records."""
    with sqlite3.connect(db) as c:
        return {iso_utc(t): (m, bool(v)) for t, m, v in c.execute(
            "SELECT r.t, r.mass, r.valid FROM records r JOIN devices d ON d.id = r.dev "
            "WHERE d.name = ? AND r.kind = ?", (device, HOUR))}


def last_arrival(db: Path, device: str) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT max(r.arrived) FROM records r JOIN devices d ON d.id = r.dev "
                         "WHERE d.name = ?", (device,)).fetchone()[0]


# -- a server in this process ------------------------------------------------------------------


@contextmanager
def serving(db: Path, site: Path | None, clock=lambda: NOW, **kw):
    dashboard = Dashboard(db, None if site is None else sitemod.load(site), clock=clock, **kw)
    server = DashboardServer(("127.0.0.1", 0), dashboard)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def built(tmp_path) -> Built:
    return build(tmp_path)


@pytest.fixture
def url(built):
    with serving(built.db, built.site) as u:
        yield u


# -- status -------------------------------------------------------------------------------------


def test_status_of_each_point_equals_the_database(built, url):
    code, body = get(url + "/api/status")
    assert code == 200
    assert body["at"] == iso_utc(NOW) and body["enterprise"] == "Serve Test Co."
    assert body["site"] == str(built.site)
    assert [p["id"] for p in body["points"]] == ["P1", "P2"]
    for point, device in zip(body["points"], ("dev-a", "dev-b")):
        assert point["devices"] == [device]
        rec = newest(built.db, device, MINUTE)
        row = rec.row()
        m = point["minute"]
        assert (m["t"], m["seq"], m["flag"], m["valid"]) == (row["t"], rec.seq, row["flag"], True)
        for key in ("co2_pct", "qsn_m3h", "velocity_ms", "temp_c", "co2_kg"):
            assert m[key] == row[key], key
        assert m["rate_kg_h"] == pytest.approx(rec.fields["mass"] * 60 / 100)
        assert m["age_s"] == NOW - (rec.t + 60)
        hour = newest(built.db, device, HOUR)
        assert point["hour"]["t"] == iso_utc(hour.t) == iso_utc(H0 - H)
        assert point["hour"]["rate_kg_h"] == hour.fields["mass"] / 100
    p1, p2 = body["points"]
    assert (p1["minute"]["co2_pct"], p1["minute"]["qsn_m3h"]) == (12.36, 98767)
    assert p1["source"] == "S1" and p1["mn"] == "MN0001" and p2["source"] == "S2"


def test_link_freshness_from_arrival_times(built, url):
    _, body = get(url + "/api/status")
    p1, p2 = body["points"]
    for point, device in ((p1, "dev-a"), (p2, "dev-b")):
        arrived = last_arrival(built.db, device)
        assert point["link"]["last_arrival"] == iso_utc(arrived // 1000)
        assert point["link"]["age_s"] == NOW - arrived // 1000
    assert p1["link"]["state"] == "fresh"           # 90 s ago
    assert p2["link"]["state"] == "late"            # its 11:00 hour, 29.5 min ago
    with serving(built.db, built.site, clock=lambda: NOW + 3 * H) as later:
        _, body = get(later + "/api/status")
    assert [p["link"]["state"] for p in body["points"]] == ["stale", "stale"]


def test_device_warnings_are_the_alarms_raised_and_not_cleared(url):
    _, body = get(url + "/api/status")
    p1, p2 = body["points"]
    assert [(a["code"], a["name"], a["device"], a["since"], a["value"], a["limit"])
            for a in p1["alarms"]] == [(11, "fault_co2", "dev-a", iso_utc(H0 - 3 * H), 5, 10)]
    assert "analyser" in p1["alarms"][0]["description"]
    assert p2["alarms"] == []


# -- hourly series ----------------------------------------------------------------------------


def test_hourly_measured_hours_equal_the_database_and_gaps_are_substituted(built, url):
    code, body = get(url + "/api/hourly?point=P1")
    assert code == 200
    assert (body["start"], body["end"]) == (iso_utc(H0 - 48 * H), iso_utc(H0))
    assert body["through"] == iso_utc(H0) and body["rule"] == "hj75"
    hours = body["hours"]
    # from the point's first hour record to its newest: no hour before it is "missing"
    assert [h["t"] for h in hours] == [iso_utc(t) for t in range(FIRST, H0, H)]
    held = hour_masses(built.db, "dev-a")
    for h in hours:
        mass, valid = held.get(h["t"], (None, False))
        if valid:
            assert (h["status"], h["substituted"], h["rule"]) == ("valid", False, "measured")
            assert h["kg"] == mass / 100
        else:
            assert h["substituted"] and h["rule"].startswith("hj75")
    subs = {h["t"]: h for h in hours if h["substituted"]}
    assert set(subs) == {iso_utc(LOST_HOUR), iso_utc(INVALID_HOUR)}
    assert subs[iso_utc(LOST_HOUR)]["status"] == "missing"
    assert subs[iso_utc(INVALID_HOUR)]["status"] == "invalid"
    # the same figures the report and cemtool quality use
    site = sitemod.load(built.site)
    with Store(built.db, readonly=True) as store:
        expected = substitute.filled(store, site, site.point("P1"), FIRST, H0)
    assert [(h["t"], h["kg"], h["rule"]) for h in hours] == \
        [(iso_utc(f.t), f.kg, f.rule) for f in expected]
    assert body["total_kg"] == pytest.approx(sum(f.kg for f in expected))


def test_hourly_of_a_chosen_day(built, url):
    day = iso_utc(FIRST)[:10]
    code, body = get(url + f"/api/hourly?point=P1&day={day}")
    assert code == 200 and body["start"] == day + "T00:00:00Z"
    day0 = calendar.timegm((2025, 3, 9, 0, 0, 0))
    assert [h["t"] for h in body["hours"]] == [iso_utc(t) for t in range(FIRST, day0 + 24 * H, H)]
    code, body = get(url + "/api/hourly?point=P2&day=2025-03-01")
    assert code == 200 and body["hours"] == [] and body["total_kg"] == 0


def test_hours_not_yet_due_are_not_substituted(built):
    # at 14:10 the 12:00 and 13:00 hours of dev-a have not arrived: they are not "missing"
    with serving(built.db, built.site, clock=lambda: H0 + 2 * H + 600) as u:
        _, body = get(u + "/api/hourly?point=P1")
    assert body["end"] == iso_utc(H0 + 2 * H) and body["through"] == iso_utc(H0)
    assert body["hours"][-1]["t"] == iso_utc(H0 - H)


# -- quality and warnings ---------------------------------------------------------------------


def test_quality_capture_rate_gaps_and_calibration(url):
    code, q = get(url + "/api/quality?point=P1")
    assert code == 200
    assert (q["hours"], q["valid"], q["invalid"], q["missing"]) == (30, 28, 1, 1)
    assert q["capture_rate"] == pytest.approx(28 / 30)
    assert q["substituted_hours"] == 2
    assert [(g["device"], g["log"], g["count"]) for g in q["gaps"]] == [("dev-a", "long", 1)]
    assert q["calibration_status"] == "ok" and q["last_calibration"] == iso_utc(H0 - 48 * H)
    assert q["by_flag"]["N"] == 28 and q["by_flag"]["D"] == 1
    _, q2 = get(url + "/api/quality?point=P2")
    assert (q2["hours"], q2["capture_rate"], q2["gaps"], q2["calibration_status"]) == \
        (3, 1.0, [], "never")


def test_warnings_rate_and_allowance_projection(url):
    code, w = get(url + "/api/warnings")
    assert code == 200 and w["at"] == iso_utc(NOW)
    active = {(x["kind"], x["id"]) for x in w["warnings"] if x["active"]}
    assert active == {("rate", "P1"), ("month", "S1"), ("year", "S1")}
    assert w["active"] == 3
    rate = next(x for x in w["warnings"] if x["kind"] == "rate")
    assert rate["over"] == [iso_utc(HIGH_HOUR)] and rate["max_kg_h"] == 2500


def test_without_a_site_points_are_devices(built):
    with serving(built.db, None) as u:
        _, status = get(u + "/api/status")
        _, hourly = get(u + "/api/hourly?point=dev-b")
        _, warnings = get(u + "/api/warnings")
        _, config = get(u + "/api/config")
    assert [p["id"] for p in status["points"]] == ["dev-a", "dev-b"] and status["site"] is None
    rec = newest(built.db, "dev-a", MINUTE)
    assert (status["points"][0]["minute"]["seq"], status["points"][0]["minute"]["co2_pct"]) == \
        (rec.seq, rec.row()["co2_pct"])
    assert [h["kg"] for h in hourly["hours"]] == [500.0] * 3
    assert warnings == {"at": iso_utc(NOW), "active": 0, "warnings": []}
    assert config["site"] is None and config["refresh_s"] == 30


def test_a_threshold_for_every_point_without_a_site(built):
    with serving(built.db, None, hourly_kg_h=600) as u:
        _, w = get(u + "/api/warnings")
    assert {x["id"]: x["active"] for x in w["warnings"]} == {"dev-a": True, "dev-b": False}


# -- errors and the database ------------------------------------------------------------------


@pytest.mark.parametrize("path,code,error", [
    ("/api/hourly?point=P9", 400, "no point 'P9'"),
    ("/api/quality", 400, "missing ?point=ID"),
    ("/api/hourly?point=P1&day=2025-02-30", 400, "day '2025-02-30' is not YYYY-MM-DD"),
    ("/api/nothing", 404, "no API /api/nothing"),
    ("/etc/passwd", 404, "no page /etc/passwd"),
])
def test_bad_requests_get_one_line(url, path, code, error):
    assert get(url + path) == (code, {"error": error})


def test_static_page_and_assets_are_served_locally(url):
    for path, ctype, marker in (("/", "text/html", b'<script src="/app.js"'),
                                ("/app.js", "text/javascript", b"setInterval(refresh"),
                                ("/style.css", "text/css", b".bar.measured")):
        with urllib.request.urlopen(url + path) as r:
            body = r.read()
            assert r.headers["Content-Type"].startswith(ctype) and marker in body
            # nothing is fetched from another host
            assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
            assert b"https://" not in body


def test_a_database_that_goes_away_is_a_503_and_the_server_goes_on(built, tmp_path):
    moved = tmp_path / "moved.sqlite"
    with serving(built.db, built.site) as u:
        assert get(u + "/api/status")[0] == 200
        built.db.rename(moved)
        assert get(u + "/api/status") == (503, {"error": f"no database at {built.db}"})
        moved.rename(built.db)
        assert get(u + "/api/status")[0] == 200


def test_reads_while_the_receiver_writes_and_never_writes(built):
    before = built.db.read_bytes()
    with Store(built.db) as writer, serving(built.db, built.site) as u:
        writer._db.execute("BEGIN IMMEDIATE")  # the receiver in the middle of a commit
        try:
            code, body = get(u + "/api/status")
        finally:
            writer._db.execute("ROLLBACK")
    assert code == 200 and body["points"][0]["minute"]["t"] == iso_utc(NOW - 120)
    assert built.db.read_bytes() == before


# -- the command --------------------------------------------------------------------------------


def run_cemtool(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*CEMTOOL, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


@contextmanager
def cemtool_serve(*args: str):
    """``cemtool serve`` in a subprocess; yields (process, base URL)."""
    proc = subprocess.Popen([*CEMTOOL, "serve", "--listen", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + proc.stderr.read()
        yield proc, line.split()[1].rstrip("/")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_command_serves_and_stops_cleanly_on_sigterm(built):
    with cemtool_serve("--db", str(built.db), "--site", str(built.site),
                       "--at", iso_utc(NOW), "--refresh", "7") as (proc, base):
        _, config = get(base + "/api/config")
        _, status = get(base + "/api/status")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert config["refresh_s"] == 7 and status["at"] == iso_utc(NOW)
    assert proc.returncode == 0 and out == "stopped\n" and err == ""


def test_command_stops_cleanly_on_ctrl_c(built):
    with cemtool_serve("--db", str(built.db)) as (proc, base):
        assert get(base + "/api/status")[0] == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and out == "stopped\n" and "Traceback" not in err


def test_missing_database_is_one_line(tmp_path):
    r = run_cemtool("serve", "--db", str(tmp_path / "none.sqlite"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"error: no database at {tmp_path / 'none.sqlite'}\n"


def test_not_a_receiver_database_is_one_line(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE x (y)")
    r = run_cemtool("serve", "--db", str(other))
    assert r.returncode == 2
    assert r.stderr == f"error: {other} is not a cemtool receiver database\n"


def test_bad_site_is_one_line(built, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[enterprise]\n")
    r = run_cemtool("serve", "--db", str(built.db), "--site", str(bad))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith(f"error: {bad}: ")


def test_port_in_use_is_one_line(built):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cemtool("serve", "--db", str(built.db), "--listen", f"127.0.0.1:{port}")
    assert r.returncode == 1
    assert r.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_bad_listen_address_is_a_usage_error(built):
    r = run_cemtool("serve", "--db", str(built.db), "--listen", "localhost")
    assert r.returncode == 2 and "'localhost' is not HOST:PORT" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_is_a_cemtool_command():
    r = run_cemtool("serve", "--help")
    assert r.returncode == 0 and "--db" in r.stdout and "--site" in r.stdout


def test_a_commit_is_seen_by_the_next_request(built):
    # the costly views are kept per database version and hour: a commit must show at once
    clock = [H0 + 2 * H + 600]
    with serving(built.db, built.site, clock=lambda: clock[0]) as u:
        _, before = get(u + "/api/hourly?point=P1")
        _, quality_before = get(u + "/api/quality?point=P1")
        with Store(built.db) as store:
            seq = store.committed("dev-a")[1] + 1
            store.commit("dev-a", 1, [Record.from_list([HOUR, seq, H0, 2, 1, *hour_fields(300000)])],
                         arrived_ms=(H0 + H + 30) * 1000)
        _, after = get(u + "/api/hourly?point=P1")
        _, quality_after = get(u + "/api/quality?point=P1")
        clock[0] += 60
        _, warnings = get(u + "/api/warnings")
    assert before["through"] == iso_utc(H0) and after["through"] == iso_utc(H0 + H)
    assert after["hours"][-1] == {"t": iso_utc(H0), "status": "valid", "flag": "N", "kg": 3000.0,
                                  "substituted": False, "rule": "measured"}
    assert (quality_before["hours"], quality_after["hours"]) == (30, 31)
    assert warnings["at"] == iso_utc(H0 + 2 * H + 660)
