"""The report on simulated runs of the real firmware: the 30-day fixture (tests/data/sim30, made by
tools/sim30.py) and a 30-hour run made here, live, with sensor faults, a link outage and a power
cut. Totals equal the database to the 0.01 kg, the simulator's truth within the report's stated
uncertainty, and substitutions sit exactly on the hours without a valid record."""
from __future__ import annotations

import calendar
import json
import lzma
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pypdfium2
import pytest

from cemtool import site as sitemod
from cemtool.sim import scenario as scen

from test_report import cents, column, parse_page

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "sim30"
T0 = 1_735_689_600          # 2025-01-01T00:00:00Z, the daily scenario's start
H = 3600
LIVE_FAULTS = ("co2:disconnect@5h+2h", "dp:garble@8h+1h", "link:outage@12h+3h", "power@20h+3h")


def cemtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cemtool", *args], capture_output=True,
                          text=True, timeout=900)


def database(db: Path) -> tuple[dict[int, int], set[int]]:
    """(mass of each valid hour record by t, t of every hour record) straight from SQL."""
    con = sqlite3.connect(db)
    try:
        valid = dict(con.execute("SELECT t, mass FROM records WHERE kind = 2 AND valid = 1"))
        held = {t for t, in con.execute("SELECT t FROM records WHERE kind = 2")}
    finally:
        con.close()
    return valid, held


def utc(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def truth_kg(path: Path, start: int, end: int) -> float:
    hours = json.loads(path.read_text())["hours"]
    return sum(h["co2_kg"] for h in hours if start <= utc(h["t"]) < end)


def check(run: Path, start: str, end: str, t0: int, t1: int, tmp: Path) -> dict:
    """Build the report of ``run`` (HTML and PDF) and check it against SQL and the truth."""
    db, site = run / "receiver.sqlite", run / "site.toml"
    html = tmp / "report.html"
    proc = cemtool("report", "--db", str(db), "--site", str(site), "--from", start, "--to", end,
                   "--out", str(html), "--json")
    assert proc.returncode == 0, proc.stderr
    fig = json.loads(proc.stdout, parse_float=Decimal)
    assert fig["period"]["hours"] == (t1 - t0) // H

    valid, held = database(db)
    in_period = {t: m for t, m in valid.items() if t0 <= t < t1}
    totals = fig["totals_kg"]
    # measured = the database's valid hour masses, to the 0.01 kg; total = measured + substituted
    assert cents(str(totals["measured"])) == sum(in_period.values())
    assert totals["total"] == totals["measured"] + totals["substituted"]
    assert fig["sources_kg"]["S1"]["total"] == totals["total"]
    # substitutions exactly where there is no valid hour record (the sim declares no shutdown)
    expected = sorted(t for t in range(t0, t1, H) if t not in in_period)
    assert fig["substituted_hours"] == len(expected) > 0
    page = parse_page(html.read_text())
    subs = page.tables["substitutions-table"]
    when = [utc(v) for v in column(subs, "hour")]
    assert when == expected
    statuses = set(column(subs, "status"))
    assert statuses <= {"missing", "invalid"}
    assert {t for t in expected if t not in held} == {
        w for w, s in zip(when, column(subs, "status")) if s == "missing"}
    assert sum(cents(v) for v in column(subs, "kg")) == cents(str(totals["substituted"]))
    kg = dict(zip(column(page.tables["totals-table"], "source"),
                  column(page.tables["totals-table"], "total kg")))
    assert cents(kg["all"]) == cents(str(totals["total"]))
    assert float(fig["capture_rate"]["P1"]) == pytest.approx(len(in_period) / ((t1 - t0) // H))
    # the simulator's truth lies within the stated expanded uncertainty
    truth = truth_kg(run / "truth.json", t0, t1)
    u = fig["uncertainty"]
    assert abs(float(totals["total"]) - truth) <= float(u["expanded_kg"]), (totals, truth, u)
    # and the PDF of the same report renders
    pdf = tmp / "report.pdf"
    proc = cemtool("report", "--db", str(db), "--site", str(site), "--from", start, "--to", end,
                   "--out", str(pdf))
    assert proc.returncode == 0, proc.stderr
    image = pypdfium2.PdfDocument(str(pdf))[0].render(scale=0.5).to_pil().convert("L")
    hist = image.histogram()
    assert 0.005 < sum(hist[:128]) / sum(hist) < 0.5
    return {"fig": fig, "statuses": statuses, "truth": truth}


@pytest.fixture(scope="module")
def sim30(tmp_path_factory):
    if not (FIXTURE / "receiver.sqlite.xz").exists():
        pytest.fail("tests/data/sim30 is missing: run tools/sim30.py")
    out = tmp_path_factory.mktemp("sim30")
    (out / "receiver.sqlite").write_bytes(lzma.decompress(
        (FIXTURE / "receiver.sqlite.xz").read_bytes()))
    for name in ("truth.json", "site.toml"):
        (out / name).write_bytes((FIXTURE / name).read_bytes())
    return out


def test_thirty_days(sim30, tmp_path):
    got = check(sim30, "2025-01-01", "2025-01-30", T0, T0 + 720 * H, tmp_path)
    # the power cut leaves hours never measured, the sensor faults leave invalid hours
    assert got["statuses"] == {"missing", "invalid"}
    assert got["fig"]["rule"] == "hj75"


def test_thirty_days_mrr(sim30, tmp_path):
    hj = cemtool("report", "--db", str(sim30 / "receiver.sqlite"), "--site",
                 str(sim30 / "site.toml"), "--from", "2025-01-01", "--to", "2025-01-30",
                 "--out", str(tmp_path / "a.html"), "--json")
    mrr = cemtool("report", "--db", str(sim30 / "receiver.sqlite"), "--site",
                  str(sim30 / "site.toml"), "--from", "2025-01-01", "--to", "2025-01-30",
                  "--out", str(tmp_path / "b.html"), "--json", "--rule", "mrr")
    assert hj.returncode == 0 and mrr.returncode == 0, hj.stderr + mrr.stderr
    a, b = json.loads(hj.stdout), json.loads(mrr.stdout)
    # MRR needs 48 valid minutes, HJ 75 45: never fewer substituted hours, the same measured
    # hours otherwise
    assert b["substituted_hours"] >= a["substituted_hours"]
    assert b["totals_kg"]["measured"] <= a["totals_kg"]["measured"]
    assert b["rule"] == "mrr"


def test_live_thirty_hours(tmp_path):
    """The whole chain now: firmware on the sim board, faults, receiver, site, report."""
    out = tmp_path / "run"
    args = ["sim", "run", "--out", str(out), "--scenario", "daily", "--hours", "30", "--json"]
    for f in LIVE_FAULTS:
        args += ["--fault", f]
    proc = cemtool(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if not (out / "site.toml").exists():   # until the runner writes it itself
        sitemod.for_simulation(out, "sim-01", scen.load("daily", faults=list(LIVE_FAULTS)))
    got = check(out, "2025-01-01T00:00:00Z", "2025-01-02T06:00:00Z", T0, T0 + 30 * H, tmp_path)
    assert got["statuses"] == {"missing", "invalid"}
