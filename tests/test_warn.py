"""cemtool.warn and ``cemtool warn``: rate thresholds and allowance projections, exit codes."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cemtool import site, warn
from cemtool.cli import main
from cemtool.store import Store
from test_quality import H, T0, Device, iso, site_text

P2 = """
    [[facility.source.point]]
    id = "P2"
    mn = "P2"
    devices = ["dev-b"]
"""


def build(tmp_path, masses: dict[str, list], **site_kw) -> tuple[str, str]:
    """A database with hour records per device (None: missing) and its site file."""
    db = tmp_path / "rx.sqlite"
    with Store(db) as store:
        for name, series in masses.items():
            dev = Device(store, name)
            for i, m in enumerate(series):
                if m is not None:
                    dev.hour(T0 + i * H, m)
    path = tmp_path / "site.toml"
    path.write_text(site_text(**site_kw) + (P2 if "dev-b" in masses else ""))
    return str(db), str(path)


def run(db: str, path: str, *args: str):
    r = CliRunner().invoke(main, ["warn", "--db", db, "--site", path, "--json", *args])
    return r.exit_code, json.loads(r.output) if r.output.startswith("{") else r.output


def test_projection_against_the_allowance(tmp_path):
    # 1.2 t/h for a day against 8 760 t/year (1 t/h)
    db, path = build(tmp_path, {"dev-a": [120000] * 24}, allowance=8760)
    code, out = run(db, path, "--at", "2025-01-02T00:30:00Z")
    assert code == 1 and out["active"] == 2
    month, year = out["warnings"]
    assert (month["kind"], month["scope"], month["id"], month["active"]) == ("month", "source", "S1", True)
    assert month["to_date_kg"] == 28800 and month["elapsed_h"] == 24 and month["remaining_h"] == 720
    assert month["projected_kg"] == pytest.approx(1200 * 744)
    assert month["allowance_kg"] == pytest.approx(8760e3 * 31 / 365)
    assert year["projected_kg"] == pytest.approx(1200 * 8760) and year["allowance_kg"] == 8760e3
    assert year["data_through"] == iso(T0 + 24 * H) and year["remaining_h"] == 8736


def test_within_the_allowance_exits_0(tmp_path):
    db, path = build(tmp_path, {"dev-a": [90000] * 24}, allowance=8760)
    code, out = run(db, path, "--at", "2025-01-02")
    assert code == 0 and out["active"] == 0
    assert [w["projected_pct"] for w in out["warnings"]] == [90.0, 90.0]


def test_projection_counts_substituted_hours_and_a_monthly_allowance(tmp_path):
    # hour 5 missing: filled with the max of the preceding valid hours (2 t)
    masses = [100000] * 4 + [200000, None] + [100000] * 4
    db, path = build(tmp_path, {"dev-a": masses}, allowance=8760,
                     source_extra="monthly_allowance_t = 900")
    code, out = run(db, path, "--at", "2025-01-01T10:00:00Z")
    month = out["warnings"][0]
    assert month["to_date_kg"] == 4 * 1000 + 2000 + 2000 + 4 * 1000
    assert month["allowance_kg"] == 900e3
    assert month["projected_kg"] == pytest.approx(12000 / 10 * 744)
    # month 892.8 t < 900 t; year 10 512 t > 8 760 t
    assert code == 1 and [w["active"] for w in out["warnings"]] == [False, True]


def test_data_after_at_is_ignored(tmp_path):
    db, path = build(tmp_path, {"dev-a": [90000] * 5 + [900000] * 5}, allowance=8760)
    code, out = run(db, path, "--at", "2025-01-01T05:00:00Z")
    assert code == 0 and out["warnings"][0]["data_through"] == iso(T0 + 5 * H)


def test_rate_thresholds_per_point_and_per_source(tmp_path):
    masses = {"dev-a": [100000, 150000, 100000], "dev-b": [50000, 50000, 60000]}
    db, path = build(tmp_path, masses, allowance=1e9, source_extra="warn = {hourly_kg_h = 1550}")
    s = site.load(path)
    with Store(db, readonly=True) as store:
        found = warn.rate_warnings(store, s, T0 + 3 * H, rate_hours=3, hourly_kg_h=1200)
    by = {(w.scope, w.id): w for w in found}
    assert by["point", "P1"].active and by["point", "P1"].figures["over"] == [iso(T0 + H)]
    assert not by["point", "P2"].active and by["point", "P2"].figures["hours_checked"] == 3
    src = by["source", "S1"]   # 1 500, 2 000, 1 600 kg/h against 1 550
    assert src.active and src.figures["over"] == [iso(T0 + H), iso(T0 + 2 * H)]
    assert src.figures["max_kg_h"] == 2000
    code, out = run(db, path, "--at", "2025-01-01T03:00:00Z", "--hours", "3")
    assert code == 1 and [w["id"] for w in out["warnings"] if w["active"]] == ["S1"]


def test_rate_threshold_from_the_point_in_site_toml_text_output(tmp_path):
    db, path = build(tmp_path, {"dev-a": [100000, 300000]}, allowance=1e9,
                     point_extra="warn = {hourly_kg_h = 2500}")
    r = CliRunner().invoke(main, ["warn", "--db", db, "--site", path, "--at", "2025-01-01T02:00:00Z"])
    assert r.exit_code == 1
    assert (f"WARNING rate  point P1: 1 hour(s) above 2500 kg/h from {iso(T0 + H)} to {iso(T0 + H)}, "
            "max 3,000.00 kg/h") in r.output


def test_bad_at_is_one_line_exit_2(tmp_path):
    db, path = build(tmp_path, {"dev-a": [1]})
    r = CliRunner().invoke(main, ["warn", "--db", db, "--site", path, "--at", "soon"])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "--at: 'soon' is not a date" in r.output
