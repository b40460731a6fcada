"""cemtool.site: site.toml validation with one-line errors, bindings, the simulator's site, and
``cemtool site check`` against hand-built databases."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cemtool import site
from cemtool.cli import main
from cemtool.sim import scenario as scen
from cemtool.sim.truth import constant_hourly_kg
from cemtool.store import Store
from test_quality import H, T0, Device, iso, site_text, write_site


def test_example_site_loads(tmp_path):
    shut = '[["2025-01-10T00:00:00Z", "2025-01-11T06:00:00Z"]]'
    s = site.load(write_site(tmp_path, shutdowns=shut, source_extra="warn = {hourly_kg_h = 9000}",
                             point_extra="co2_full_scale_pct = 25"))
    assert s.enterprise.name == "Example Power Co." and s.enterprise.code == "91310000MA1FL0XXXX"
    [p] = list(s.points())
    assert (p.id, p.name, p.mn, p.source.id, p.facility.id) == (
        "P1", "Boiler 1 CEMS", "010000A8900016F000169DC0", "S1", "F1")
    src = p.source
    assert (src.kind, src.fuel, src.duct_area_m2, src.height_m, src.allowance_t) == (
        "combustion", "bituminous coal", 3.0, 80.0, 180000.0)
    assert src.shutdowns == [(T0 + 9 * 86400, T0 + 10 * 86400 + 6 * H)]
    assert src.hourly_kg_h == 9000 and p.co2_full_scale_pct == 25
    assert p.devices == (site.Binding("dev-a"),)


def test_point_of_follows_bindings_in_time(tmp_path):
    devices = (f'[{{id = "old", to = "{iso(T0 + H)}"}}, {{id = "new", from = "{iso(T0 + H)}"}}, '
               '"spare"]')
    s = site.load(write_site(tmp_path, devices=devices))
    assert s.point_of("old", T0).id == "P1"
    assert s.point_of("old", T0 + H) is None
    assert s.point_of("new", T0) is None and s.point_of("new", T0 + H).id == "P1"
    assert s.point_of("spare").id == "P1" and s.point_of("other") is None
    assert s.devices() == ["old", "new", "spare"]


BAD = [
    (lambda t: t.replace("duct_area_m2 = 3.0", "duct_area_m2 = -3"),
     "facility.F1.source.S1.duct_area_m2: must be a number > 0, not -3"),
    (lambda t: t.replace("duct_area_m2 = 3.0", 'duct_area_m2 = "3"'),
     "facility.F1.source.S1.duct_area_m2: must be a number > 0, not '3'"),
    (lambda t: t.replace("allowance_t = 180000", "allowance_t = -1"),
     "facility.F1.source.S1.allowance_t: must be a number >= 0, not -1"),
    (lambda t: t.replace('kind = "combustion"', 'kind = "boiler"'),
     "facility.F1.source.S1.kind: must be one of combustion, process, not 'boiler'"),
    (lambda t: t.replace("shutdowns = []", 'shutdowns = [["2025-01-02T00:00:00Z", "2025-01-01T00:00:00Z"]]'),
     "facility.F1.source.S1.shutdowns[0]: start must be before end"),
    (lambda t: t.replace("shutdowns = []", 'shutdowns = [["2025-01-02T00:00:00", "2025-01-03T00:00:00Z"]]'),
     "facility.F1.source.S1.shutdowns[0]: 2025-01-02T00:00:00 must be UTC (end it with Z)"),
    (lambda t: t.replace("shutdowns = []", 'shutdowns = [["yesterday", "2025-01-03T00:00:00Z"]]'),
     "facility.F1.source.S1.shutdowns[0]: 'yesterday' is not an ISO 8601 time"),
    (lambda t: t.replace("shutdowns = []", 'shutdowns = [["2025-01-01", "2025-01-03"], '
                                           '["2025-01-02", "2025-01-04"]]'),
     "facility.F1.source.S1.shutdowns: shutdowns overlap at 2025-01-02T00:00:00Z"),
    (lambda t: t.replace('mn = "010000A8900016F000169DC0"', 'mn = "010000A8900016F000169DC0X"'),
     "facility.F1.source.S1.point.P1.mn: must be at most 24 characters, not 25"),
    (lambda t: t.replace('mn = "010000A8900016F000169DC0"', 'mn = "01;CN=2011"'),
     "facility.F1.source.S1.point.P1.mn: must be letters and digits (HJ 212 MN), not '01;CN=2011'"),
    (lambda t: t.replace('devices = ["dev-a"]', "devices = []"),
     "facility.F1.source.S1.point.P1.devices: must be a non-empty array of device ids or tables"),
    (lambda t: t.replace('devices = ["dev-a"]',
                         'devices = [{id = "a", from = "2025-02-01", to = "2025-01-01"}]'),
     "facility.F1.source.S1.point.P1.devices[0]: from must be before to"),
    (lambda t: t.replace('name = "Plant 1"', 'nmae = "Plant 1"'),
     "facility[0].nmae: unknown key (known: id, name, source)"),
    (lambda t: t.replace('[enterprise]\nname = "Example Power Co."', "[enterprise]"),
     "enterprise.name: missing"),
    (lambda t: t + '\n    [[facility.source.point]]\n    id = "P1"\n    mn = "A"\n    devices = ["b"]\n',
     "facility.F1.source.S1.point[1].id: point id 'P1' is used twice "
     "(also facility.F1.source.S1.point[0])"),
    (lambda t: t.replace("[[facility.source]]", "[[facility.sources]]"),
     "facility[0].sources: unknown key (known: id, name, source)"),
    (lambda t: t + "\n[oops\n", "not valid TOML: "),
]


@pytest.mark.parametrize("change, message", BAD)
def test_mistakes_are_one_line_naming_file_and_key(tmp_path, change, message):
    path = tmp_path / "site.toml"
    path.write_text(change(site_text()))
    with pytest.raises(site.SiteError) as e:
        site.load(path)
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


def test_missing_file(tmp_path):
    with pytest.raises(site.SiteError, match="cannot read"):
        site.load(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", ["constant", "daily"])
def test_for_simulation_writes_a_site_that_loads(tmp_path, name):
    sc = scen.load(name)
    path = site.for_simulation(tmp_path, "sim-01", sc)
    assert path == tmp_path / "site.toml"
    s = site.load(path)
    [p] = list(s.points())
    assert p.device_ids == ("sim-01",) and p.since == sc.start and len(p.mn) <= 24
    assert p.source.duct_area_m2 == sc.area_m2 and p.source.shutdowns == []
    assert s.point_of("sim-01", sc.start) is p
    if name == "constant":  # an annual rate computed by hand: the constant hour × 8760
        assert p.source.allowance_t == round(1.1 * constant_hourly_kg(sc) * 8760 / 1000)


def test_for_simulation_declares_scenario_shutdowns(tmp_path):
    sc = scen.load("constant")
    sc.shutdowns = [(sc.start + 3600, sc.start + 7200)]
    s = site.load(site.for_simulation(tmp_path, "dev", sc))
    assert next(s.sources()).shutdowns == [(sc.start + 3600, sc.start + 7200)]


# -- cemtool site check ------------------------------------------------------------------------


def run_check(tmp_path, **kw):
    path = write_site(tmp_path, **kw)
    r = CliRunner().invoke(main, ["site", "check", "--db", str(tmp_path / "rx.sqlite"),
                                  "--site", path, "--json"])
    return r.exit_code, json.loads(r.output) if r.output.startswith("{") else r.output


def test_site_check_ok(tmp_path):
    with Store(tmp_path / "rx.sqlite") as db:
        Device(db, "dev-a").hour(T0, 100)
    code, out = run_check(tmp_path)
    assert code == 0 and out["ok"] and out["problems"] == []
    assert out["devices"] == [{"device": "dev-a", "records": 1, "first": iso(T0), "last": iso(T0),
                               "points": ["P1"], "unbound_records": 0}]


def test_site_check_finds_every_kind_of_problem(tmp_path):
    with Store(tmp_path / "rx.sqlite") as db:
        a = Device(db, "dev-a")
        for i in range(4):
            a.hour(T0 + i * H, 100)
        Device(db, "stranger").hour(T0, 100)
    devices = (f'[{{id = "dev-a", from = "{iso(T0 + H)}"}}, '
               f'{{id = "dev-a", from = "{iso(T0 + 3 * H)}"}}, "dev-b"]')
    code, out = run_check(tmp_path, devices=devices)
    assert code == 1 and not out["ok"]
    kinds = sorted(p["kind"] for p in out["problems"])
    assert kinds == ["double-binding", "shared-point", "shared-point", "unbound-records",
                     "unknown-device"]
    messages = " | ".join(p["message"] for p in out["problems"])
    assert f"device dev-a: 1 records from {iso(T0)} to {iso(T0)} fall outside its bindings" in messages
    assert f"device stranger (1 records from {iso(T0)} to {iso(T0)}) is bound to no monitoring point" \
        in messages


def test_site_check_lists_points_without_data(tmp_path):
    with Store(tmp_path / "rx.sqlite") as db:
        Device(db, "dev-z").hour(T0, 100)
    code, out = run_check(tmp_path)
    assert code == 1
    assert [p["kind"] for p in out["problems"]] == ["unknown-device", "no-data"]
    assert "point P1 has no records in the database (devices dev-a)" in out["problems"][1]["message"]


def test_site_check_bad_input_is_one_line_exit_2(tmp_path):
    Store(tmp_path / "rx.sqlite").close()
    bad = tmp_path / "bad.toml"
    bad.write_text(site_text().replace("duct_area_m2 = 3.0", "duct_area_m2 = 0"))
    r = CliRunner().invoke(main, ["site", "check", "--db", str(tmp_path / "rx.sqlite"),
                                  "--site", str(bad)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "duct_area_m2: must be a number > 0" in r.output
    r = CliRunner().invoke(main, ["site", "check", "--db", str(tmp_path / "none.sqlite"),
                                  "--site", write_site(tmp_path)])
    assert r.exit_code == 2 and r.output.strip() == f"error: no database at {tmp_path / 'none.sqlite'}"
