"""The simulator's stack model, scenarios, faults and truth integration (host only)."""
import json

import pytest

from cemtool.sim import scenario
from cemtool.sim.model import StackModel, molar_mass, unit_noise, velocity_from_dp
from cemtool.sim.scenario import Fault, ScenarioError, load, parse_fault
from cemtool.sim.simbus import World
from cemtool.sim.truth import Truth, constant_hourly_kg


# Hand computation for the built-in constant scenario (12 %vol CO2 dry, 6 % O2, Xsw 0.08,
# 15 m/s, 150 degC, -200 Pa static, Ba 101325 Pa, F 3 m2, Kp 0.84, Kv 1):
#   Md = 0.44*12 + 0.32*6 + 0.28*82          = 30.16 g/mol
#   Ms = 30.16*0.92 + 18*0.08               = 29.1872 g/mol
#   rho = 29.1872*101125 / (8314.46*423.15)  = 0.838924 kg/m3
#   dp = rho/2 * (15/0.84)^2                 = 133.757 Pa
#   Qsn = 3600*3*15 * 273.15/423.15 * 101125/101325 * 0.92 = 96017.8 m3/h
#   C = 12 * 44.01/22.414 * 1e4              = 235620.6 mg/m3
#   G = C * Qsn * 1e-6                       = 22623.8 kg/h
def test_constant_state_matches_hand_computation():
    sc = load("constant")
    st = StackModel(sc).state(sc.start)
    assert molar_mass(12, 6, 0.08) == pytest.approx(29.1872, rel=1e-9)
    assert st.rho == pytest.approx(0.838924, rel=1e-5)
    assert st.dp_pa == pytest.approx(133.757, rel=1e-5)
    assert st.qsn_m3h == pytest.approx(96017.8, rel=1e-5)
    assert st.co2_mg_m3 == pytest.approx(235620.6, rel=1e-6)
    assert st.co2_kg_h == pytest.approx(22623.8, rel=1e-5)
    assert constant_hourly_kg(sc) == pytest.approx(22623.8, rel=1e-5)
    assert st.co2_wet_pct == pytest.approx(12 * 0.92)


def test_velocity_recovered_from_dp():
    sc = load("constant")
    st = StackModel(sc).state(sc.start)
    assert velocity_from_dp(st.dp_pa, st.rho, 0.84, 1.0) == pytest.approx(15.0, rel=1e-12)
    sc2 = load("constant", sets=[f"dp_pa={st.dp_pa}"])
    assert sc2.velocity_ms is None
    assert StackModel(sc2).state(sc2.start).velocity_ms == pytest.approx(15.0, rel=1e-9)
    assert constant_hourly_kg(sc2) == pytest.approx(constant_hourly_kg(sc), rel=1e-9)


def test_overrides_change_the_physics():
    sc = load("constant", sets=["co2_pct=6", "velocity_ms=7.5", "area_m2=1.5"])
    # half the CO2, half the velocity, half the area: an eighth of the mass (density does not
    # enter the mass when the velocity is given)
    assert constant_hourly_kg(sc) == pytest.approx(constant_hourly_kg(load("constant")) / 8, rel=1e-12)
    assert load("constant", sets=["co2_wet=true"]).co2_wet is True
    assert load("constant", sets=["co2_analyser='gss'"]).co2_analyser == "gss"
    assert load("constant", sets=["co2_analyser=gss"]).co2_analyser == "gss"   # bare word: a string


@pytest.mark.parametrize("item, message", [
    ("bogus=1", "unknown scenario key 'bogus'"),
    ("co2_pct=abc", "co2_pct: expected a number"),
    ("moisture=0.7", "moisture: must be a fraction"),
    ("area_m2=0", "area_m2: must be positive"),
    ("noise=-1", "noise: must be 0..0.5"),
    ("co2_analyser=winsen", "co2_analyser: 'winsen' is not one of modbus, gss"),
    ("co2_pct.wobble=1", "unknown scenario key 'co2_pct.wobble'"),
    ("velocity_ms", "bad --set 'velocity_ms'"),
    ("start=yesterday", "start: 'yesterday' is not an ISO 8601"),
    ("velocity_ms.daily=[1, 2]", "24 hourly factors"),
    ("co2_zero_error_pct=6", "co2_zero_error_pct: must be within ±5 %vol"),
    ("co2_gain_error=-0.6", "co2_gain_error: must be within ±0.5"),
    ("co2_gain_error=two", "co2_gain_error: expected a number"),
])
def test_bad_overrides_are_one_line_errors(item, message):
    with pytest.raises(ScenarioError) as e:
        load("constant", sets=[item])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unknown_scenario_and_bad_toml(tmp_path):
    with pytest.raises(ScenarioError, match="no scenario 'nope'.*constant, daily"):
        load("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("co2_pct = [\n")
    with pytest.raises(ScenarioError, match="bad.toml"):
        load(str(bad))
    both = tmp_path / "both.toml"
    both.write_text("area_m2=1\nkp=0.84\nkv=1\nambient_pa=101325\nmoisture=0\nco2_pct=10\ntemp_c=100\n"
                    "velocity_ms=10\ndp_pa=50\n")
    with pytest.raises(ScenarioError, match="exactly one of velocity_ms and dp_pa"):
        load(str(both))


def test_steps_daily_profile_and_start(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('start = 2025-06-01T00:00:00Z\narea_m2=1\nkp=1\nkv=1\nambient_pa=100000\nmoisture=0\n'
                 'temp_c=0\nstatic_pa=0\nco2_pct={value=10, steps=[["1h", 5], [7200, 8]]}\n'
                 'velocity_ms={value=10, daily=[1,2,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}\n')
    sc = load(str(f))
    assert sc.start == 1748736000
    m = StackModel(sc)
    assert [m.state(sc.start + t).co2_pct for t in (0, 3599, 3600, 7199, 7200)] == [10, 10, 5, 5, 8]
    # hourly factors interpolate linearly: 1 at 00:00, 2 at 01:00, back to 1 at 02:00
    assert m.state(sc.start).velocity_ms == pytest.approx(10)
    assert m.state(sc.start + 1800).velocity_ms == pytest.approx(15)
    assert m.state(sc.start + 3600).velocity_ms == pytest.approx(20)
    assert m.state(sc.start + 5400).velocity_ms == pytest.approx(15)


def test_noise_is_deterministic_zero_mean_unit_variance_and_switchable():
    xs = [unit_noise(7, 1, t) for t in range(20000)]
    assert xs == [unit_noise(7, 1, t) for t in range(20000)]
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / len(xs)
    assert abs(mean) < 0.03 and var == pytest.approx(1.0, abs=0.05)
    assert max(abs(x) for x in xs) <= 3 ** 0.5
    assert unit_noise(8, 1, 5) != unit_noise(7, 1, 5) != unit_noise(7, 2, 5)
    sc = load("daily")
    m = StackModel(sc)
    t = sc.start + 12345
    assert m.state(t) == StackModel(load("daily")).state(t)      # a fresh model: same values
    assert m.state(t).co2_pct != StackModel(load("daily", seed=2)).state(t).co2_pct
    quiet = StackModel(load("daily", sets=["noise=0"]))
    assert quiet.state(t).co2_pct == pytest.approx(quiet.state(t + 1).co2_pct, rel=1e-3)
    assert m.state(t).co2_pct != pytest.approx(m.state(t + 1).co2_pct, rel=1e-3)


@pytest.mark.parametrize("text, fault", [
    ("dp:disconnect@3600+600", Fault("dp", "disconnect", 3600, 600, 0.0)),
    ("co2:garble@1h+10m", Fault("co2", "garble", 3600, 600, 0.0)),
    ("temp:stuck@2h", Fault("temp", "stuck", 7200, None, 0.0)),
    ("ps:spike=0.5@90s+1m", Fault("ps", "spike", 90, 60, 0.5)),
    ("pa:drift@1d+1h", Fault("pa", "drift", 86400, 3600, 0.02)),
    ("co2:overrange@0+30", Fault("co2", "overrange", 0, 30, 0.0)),
    ("power@7200+45", Fault("power", "power", 7200, 45, 0.0)),
])
def test_fault_syntax(text, fault):
    assert parse_fault(text) == fault
    assert parse_fault(str(fault)) == fault


@pytest.mark.parametrize("text, message", [
    ("dp:melt@10", "kind must be one of"),
    ("fan:disconnect@10", "device must be one of"),
    ("dp:disconnect", "expected DEVICE:KIND"),
    ("dp:disconnect@soon", "bad fault start 'soon'"),
    ("dp:power@10", "power takes no device"),
])
def test_bad_faults(text, message):
    with pytest.raises(ScenarioError, match=message):
        load("constant", faults=[text])


def test_world_applies_value_faults_by_time():
    sc = load("daily", faults=["temp:stuck@100+50", "dp:drift=0.36@0", "co2:spike=1@200+20",
                               "ps:disconnect@10+5", "power@500+10"])
    w = World(sc)
    m = StackModel(sc)
    assert sc.power_cuts == [Fault("power", "power", 500, 10, 0.0)]
    for rel in (99, 100, 120, 149, 150):
        w.advance_to((sc.start + rel) * 1000)
        want = m.state(sc.start + (100 if 100 <= rel < 150 else rel)).temp_c
        assert w.measure("temp") == (pytest.approx(want), None)
    w.advance_to((sc.start + 1000) * 1000)
    assert w.measure("dp")[0] == pytest.approx(m.state(sc.start + 1000).dp_pa * 1.1)
    w2 = World(sc)
    w2.advance_to((sc.start + 210) * 1000)
    assert w2.measure("co2")[0] == pytest.approx(2 * m.state(sc.start + 210).co2_pct)
    w2.advance_to((sc.start + 211) * 1000)
    assert w2.measure("co2")[0] == pytest.approx(m.state(sc.start + 211).co2_pct)
    w3 = World(sc)
    w3.advance_to((sc.start + 12) * 1000)
    assert w3.measure("ps")[1] == "disconnect" and w3.measure("pa")[1] is None
    w3.advance_to((sc.start + 15) * 1000)
    assert w3.measure("ps")[1] is None


def test_world_time_only_moves_forward_and_tells_listeners():
    sc = load("constant")
    w = World(sc)
    seen = []
    w.listeners.append(seen.append)
    w.advance_to(sc.start * 1000 + 500)    # same second: nobody told
    w.advance_to(sc.start * 1000 + 2500)
    w.advance_to(sc.start * 1000 + 1000)   # backwards: ignored
    assert seen == [sc.start + 2] and w.t_ms == sc.start * 1000 + 2500


def test_truth_constant_hours_and_resume(tmp_path):
    sc = load("constant")
    tr = Truth(sc)
    tr.advance_to(sc.start + 3 * 3600 + 1800)
    hourly = constant_hourly_kg(sc)
    kgs = [tr.hours[sc.start + h * 3600] for h in range(4)]
    assert kgs[:3] == [pytest.approx(hourly, rel=1e-12)] * 3
    assert kgs[3] == pytest.approx(hourly / 2, rel=1e-12)
    assert tr.total_kg == pytest.approx(3.5 * hourly, rel=1e-12)
    path = tmp_path / "truth.json"
    tr.write(path)
    doc = json.loads(path.read_text())
    assert doc["hours"][0] == {"t": "2025-01-01T00:00:00Z", "co2_kg": pytest.approx(hourly)}
    assert doc["scenario"]["name"] == "constant" and doc["total_kg"] == pytest.approx(3.5 * hourly)
    resumed = Truth.read(path, sc)
    resumed.advance_to(sc.start + 5 * 3600)
    straight = Truth(sc)
    straight.advance_to(sc.start + 5 * 3600)
    assert resumed.hours == pytest.approx(straight.hours, rel=1e-12)
    assert resumed.total_kg == pytest.approx(5 * hourly, rel=1e-12)


def test_truth_of_noisy_daily_run_is_the_sum_of_its_seconds():
    sc = load("daily")
    m = StackModel(sc)
    tr = Truth(sc)
    tr.advance_to(sc.start + 100)
    tr.advance_to(sc.start + 7300)   # in two pieces, across an hour boundary
    first = sum(m.state(sc.start + s).co2_kg_h for s in range(3600)) / 3600
    assert tr.hours[sc.start] == pytest.approx(first, rel=1e-12)
    assert sorted(tr.hours) == [sc.start, sc.start + 3600, sc.start + 7200]


def test_analyser_errors_default_to_none_and_apply_to_what_it_reads():
    sc = load("constant")
    assert (sc.co2_zero_error_pct, sc.co2_gain_error) == (0.0, 0.0)
    assert sc.co2_read(12.0) == 12.0 and sc.co2_read(0.0) == 0.0
    sc = load("constant", sets=["co2_zero_error_pct=0.15", "co2_gain_error=0.02"])
    assert sc.co2_read(0.0) == pytest.approx(0.15)          # zero gas reads the zero error
    assert sc.co2_read(15.0) == pytest.approx(15.45)        # span gas: 15 · 1.02 + 0.15
    assert sc.co2_read(12.0) == pytest.approx(12.39)
    # the truth is the stack's: the model does not see the analyser's error
    assert StackModel(sc).state(sc.start).co2_pct == StackModel(load("constant")).state(
        sc.start).co2_pct


def test_defaults_replace_a_builtins_values_but_not_a_files_or_a_set(tmp_path):
    d = {"start": 1800000000, "co2_gain_error": 0.02}
    sc = load("constant", defaults=d)
    assert (sc.start, sc.co2_gain_error) == (1800000000, 0.02)
    assert load("constant", defaults=d, sets=["start=2025-06-01T00:00:00Z"]).start == 1748736000
    path = tmp_path / "own.toml"
    path.write_text((scenario.BUILTIN_DIR / "constant.toml").read_text())
    assert load(str(path), defaults=d).start == 1735689600           # the file's own start
    assert load(str(path), defaults=d).co2_gain_error == 0.02        # a key it does not have


def test_saved_scenario_round_trips():
    sc = load("daily", sets=["co2_pct.noise_scale=0.5", "co2_gain_error=0.01"],
              faults=["dp:garble@10+5"])
    again = scenario.from_dict(json.loads(json.dumps(sc.to_dict())))
    assert again == sc


def test_world_catches_up_with_its_wall_clock_forward_only():
    w = World(load("constant"))
    t0 = w.t_ms
    w.catch_up()                        # no wall clock (sim run): time moves with the device only
    assert w.t_ms == t0
    wall = [t0 + 5000]
    w.wall = lambda: wall[0]
    seen = []
    w.listeners.append(seen.append)
    w.catch_up()
    assert w.t_ms == t0 + 5000 and seen == [w.scenario.start + 5]
    w.advance_to(t0 + 9000)             # the device ran ahead of the wall clock (speed)
    w.catch_up()
    assert w.t_ms == t0 + 9000
