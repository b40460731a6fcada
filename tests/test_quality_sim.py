"""site check, quality, substitution and warnings on one real simulator run (the firmware on the
sim board, a one-hour link outage, the receiver's database), as a user would run them."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from cemtool import site, substitute
from cemtool.sim import scenario as scen
from cemtool.store import Store

CEMTOOL = [sys.executable, "-m", "cemtool"]


def cemtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(CEMTOOL + list(args), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    proc = cemtool("sim", "run", "--out", str(out), "--hours", "3", "--fault", "link:outage@1h+1h",
                   "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    if not (out / "site.toml").exists():   # until the runner writes it itself
        site.for_simulation(out, "sim-01", scen.load("constant"))
    return out


def args(out, *more: str) -> list[str]:
    return ["--db", str(out / "receiver.sqlite"), "--site", str(out / "site.toml"), *more]


def db_hour_masses(db) -> dict[int, int]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT t, mass FROM records WHERE kind = 2"))
    finally:
        con.close()


def test_site_check_passes(run):
    proc = cemtool("site", "check", *args(run, "--json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["ok"] and [d["device"] for d in out["devices"]] == ["sim-01"]
    assert out["devices"][0]["unbound_records"] == 0


def test_quality_of_the_run(run):
    proc = cemtool("quality", *args(run, "--json"))
    assert proc.returncode == 0, proc.stderr
    [q] = json.loads(proc.stdout)["points"]
    masses = db_hour_masses(run / "receiver.sqlite")
    # the outage delays delivery but loses nothing: every hour is in the database
    assert q["hours"] == len(masses) == 3 and q["missing"] == 0
    assert q["valid"] + q["invalid"] == 3 and q["capture_rate"] == q["valid"] / 3
    assert q["gaps"] == [] and q["timeliness"]["minute"]["records"] == 180
    assert sum(q["by_flag"][f] for f in "NFMSDCTB") == 3


def test_filled_hours_equal_the_database_to_the_kilogram(run):
    s = site.load(run / "site.toml")
    p = s.point("P1")
    masses = db_hour_masses(run / "receiver.sqlite")
    with Store(run / "receiver.sqlite", readonly=True) as db:
        out = substitute.filled(db, s, p, min(masses), max(masses) + 3600)
    measured = [f for f in out if not f.substituted]
    assert sum(f.mass for f in measured) == sum(masses[f.t] for f in measured)


def test_a_deleted_record_is_found_and_substituted(run, tmp_path):
    db = tmp_path / "rx.sqlite"
    shutil.copy(run / "receiver.sqlite", db)
    for suffix in ("-wal", "-shm"):
        if (run / f"receiver.sqlite{suffix}").exists():
            shutil.copy(run / f"receiver.sqlite{suffix}", tmp_path / f"rx.sqlite{suffix}")
    con = sqlite3.connect(db)
    t, seq = con.execute("SELECT t, seq FROM records WHERE kind = 2 ORDER BY t LIMIT 1 OFFSET 1").fetchone()
    con.execute("DELETE FROM records WHERE kind = 2 AND seq = ?", (seq,))
    con.commit()
    con.close()
    proc = cemtool("quality", "--db", str(db), "--site", str(run / "site.toml"), "--json")
    [q] = json.loads(proc.stdout)["points"]
    assert q["missing"] == 1
    [gap] = q["gaps"]
    assert (gap["device"], gap["log"], gap["first"], gap["last"]) == ("sim-01", "long", seq, seq)
    [sub] = q["substituted"]
    assert sub["t"] == site.iso(t) and sub["substituted"] and sub["rule"].startswith("hj75:")


def test_warn_runs_on_the_simulator_output(run):
    proc = cemtool("warn", *args(run, "--at", "2025-01-01T03:00:00Z", "--json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr   # allowance: 1.1 × the annual rate
    out = json.loads(proc.stdout)
    assert [w["kind"] for w in out["warnings"]] == ["month", "year"]
    assert all(not w["active"] and 85 < w["projected_pct"] < 95 for w in out["warnings"])
