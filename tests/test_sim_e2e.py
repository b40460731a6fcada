"""End to end through the simulator: the real firmware (.mpy, 64-bit unix port) on the sim board.

Each scenario runs once per module (``cemtool sim run`` as a user would call it) and the tests read
its outputs: the records decoded from the flash image and the model's own truth.
"""
import json
import subprocess
import sys

import pytest

from cemtool.sim import scenario as scen
from cemtool.sim.truth import constant_hourly_kg

CEMTOOL = [sys.executable, "-m", "cemtool"]


def sim(out, *args, hours=3):
    proc = subprocess.run(CEMTOOL + ["sim", "run", "--out", str(out), "--hours", str(hours), "--json",
                                     *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    summary = json.loads(proc.stdout)
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    truth = json.loads((out / "truth.json").read_text())
    return summary, rows, {h["t"]: h["co2_kg"] for h in truth["hours"]}


def kind(rows, name):
    return [r for r in rows if r["kind"] == name]


@pytest.fixture(scope="module")
def constant(tmp_path_factory):
    return sim(tmp_path_factory.mktemp("constant"), "--scenario", "constant", hours=3)


def test_constant_hours_match_the_hand_computed_mass(constant):
    summary, rows, _ = constant
    expected = constant_hourly_kg(scen.load("constant"))
    # Brief section 4 by hand for the constant stack: rho = 29.9*101125/(8314.46*423.15) = 0.8389;
    # Qsn = 3600*3*15*273.15/423.15*101125/101325*0.92 = 96 018 m3/h; C = 12*19 635 mg/m3;
    # G = 235 620 mg/m3 * 96 018 m3/h * 1e-6 = 22 624 kg/h.
    assert expected == pytest.approx(22624, rel=2e-4)
    hours = kind(rows, "hour")
    assert len(hours) == 3 and summary["hours_recorded"] == 3
    for h in hours[1:]:  # the first hour holds the analysers' one-minute warm-up
        assert h["valid"] and h["flag"] == "N" and h["n"] == 60
        assert h["co2_kg"] == pytest.approx(expected, rel=0.005)
        assert h["co2_pct"] == pytest.approx(12.0, abs=0.02)
        assert h["velocity_ms"] == pytest.approx(15.0, rel=0.005)


def test_constant_minutes_add_up_to_their_hours(constant):
    _, rows, _ = constant
    for h in kind(rows, "hour"):
        inside = [m for m in kind(rows, "minute") if m["t"][:13] == h["t"][:13]]
        assert len(inside) == 60
        assert sum(round(m["co2_kg"] * 100) for m in inside) == round(h["co2_kg"] * 100)


def test_warm_up_minute_is_flagged_and_invalid(constant):
    _, rows, _ = constant
    first = kind(rows, "minute")[0]
    assert first["flag"] == "M" and not first["valid"]
    assert kind(rows, "boot")[0]["boots"] == 1


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    return sim(tmp_path_factory.mktemp("daily"), "--scenario", "daily", "--set", 'co2_analyser="gss"',
               hours=6)


def test_daily_profile_with_noise_matches_truth(daily):
    summary, rows, truth = daily
    hours = kind(rows, "hour")[1:]
    device = sum(h["co2_kg"] for h in hours)
    true = sum(truth[h["t"]] for h in hours)
    assert device == pytest.approx(true, rel=0.01)
    for h in hours:
        assert h["co2_kg"] == pytest.approx(truth[h["t"]], rel=0.02)
    assert summary["records"] == len(rows)


@pytest.fixture(scope="module")
def faulted(tmp_path_factory):
    return sim(tmp_path_factory.mktemp("faults"), "--fault", "dp:disconnect@1h+30m",
               "--fault", "co2:overrange@7800+5m", "--fault", "temp:garble@9000+20m", hours=3)


def in_window(rows, start_min, end_min):
    minutes = kind(rows, "minute")
    t0 = scen.load("constant").start
    return [m for m in minutes if start_min * 60 <= _epoch(m["t"]) - t0 < end_min * 60]


def _epoch(iso):
    import datetime as dt
    return int(dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp())


def test_disconnected_dp_makes_minutes_and_hour_invalid_with_flag_b(faulted):
    _, rows, _ = faulted
    window = in_window(rows, 61, 90)
    assert window and all(m["flag"] == "B" and not m["valid"] for m in window)
    second_hour = kind(rows, "hour")[1]
    assert not second_hour["valid"] and second_hour["flag"] == "B" and second_hour["n"] == 30


def test_over_range_is_flagged_t(faulted):
    _, rows, _ = faulted
    window = in_window(rows, 131, 135)
    assert window and all(m["flag"] == "T" and not m["valid"] for m in window)


def test_garbled_temperature_is_a_communication_fault(faulted):
    _, rows, _ = faulted
    window = in_window(rows, 151, 170)
    # MAX31865 garble flips MISO bits: the fault register or a failed plausibility check shows
    # up as B or D; either way those minutes are not valid
    assert window and all(m["flag"] in "BD" and not m["valid"] for m in window)


def test_recovered_minutes_are_valid_again(faulted):
    _, rows, _ = faulted
    assert all(m["valid"] and m["flag"] == "N" for m in in_window(rows, 92, 130))


@pytest.fixture(scope="module")
def power_cut(tmp_path_factory):
    out = tmp_path_factory.mktemp("power")
    return out, sim(out, "--fault", "power@4800+5m", "--fault", "power@7517+1m", hours=3)


def test_power_cuts_lose_no_committed_record(power_cut):
    out, (summary, rows, _) = power_cut
    assert summary["power_cuts"] == 2
    assert len(kind(rows, "boot")) == 3
    minutes = kind(rows, "minute")
    seqs = [m["seq"] for m in minutes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no duplicate
    times = [_epoch(m["t"]) for m in minutes]
    assert times == sorted(set(times))
    t0 = scen.load("constant").start
    missing = {t for t in range(t0, t0 + 3 * 3600, 60)} - set(times)
    # Only the minutes the device was off (and the minute each cut interrupted) are missing.
    off = {t0 + 80 * 60 + 60 * k for k in range(-1, 6)} | {t0 + 125 * 60 + 60 * k for k in range(0, 3)}
    assert missing <= off and len(missing) >= 6
    # Restarts keep the hours whole: each still sums every minute recorded in it.
    for h in kind(rows, "hour"):
        inside = [m for m in minutes if m["t"][:13] == h["t"][:13]]
        assert h["n_total"] == len(inside)
        assert sum(round(m["co2_kg"] * 100) for m in inside) == round(h["co2_kg"] * 100)


def test_resume_after_sigkill_continues_the_run(tmp_path):
    import os
    import signal
    import time
    out = tmp_path / "resume"
    cmd = CEMTOOL + ["sim", "run", "--out", str(out), "--hours", "2", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "flash.img").exists():
        time.sleep(0.05)
    time.sleep(1.5)  # somewhere in the first simulated hour
    os.killpg(proc.pid, signal.SIGKILL)  # the whole bench loses power
    proc.wait()
    before = json.loads((out / "truth.json").read_text())["state"]["t"]
    done = subprocess.run(CEMTOOL + ["sim", "run", "--out", str(out), "--resume", "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    minutes = kind(rows, "minute")
    seqs = [m["seq"] for m in minutes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    times = [_epoch(m["t"]) for m in minutes]
    assert times == sorted(set(times)) and times[-1] >= before
    assert _epoch(kind(rows, "hour")[-1]["t"]) == scen.load("constant").start + 3600


def test_the_sim_boards_rs485_port_can_be_polled_during_a_run(tmp_path):
    import time
    out = tmp_path / "rs485"
    run = subprocess.Popen(CEMTOOL + ["sim", "run", "--out", str(out), "--hours", "48", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / "rs485.path").exists():
            time.sleep(0.05)
        time.sleep(3)  # a couple of simulated hours
        master = (out / "rs485.path").read_text().strip()
        db = tmp_path / "polled.sqlite"
        res = subprocess.run(CEMTOOL + ["poll", "--port", master, "--addr", "1", "--db", str(db),
                                        "--baud", "115200", "--timeout", "2", "--once"],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "node 1 sim-01: minute +" in res.stdout
    finally:
        run.kill()
        run.wait()
    from cemtool.store import Store
    with Store(db) as store:
        minutes = [r.seq for dev, r in store.records() if r.kind == 1]
    assert len(minutes) >= 30 and minutes == list(range(1, len(minutes) + 1))
