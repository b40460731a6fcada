"""cemtool calibrate end to end (the fake node of tests/fw/cli_device_node.py under MicroPython),
and the pieces of cemtool.device behind the board commands, with fakes where time matters.
"""
from __future__ import annotations

import io
import json

import pytest

from cemtool import device as dv
from cemtool import records
from cemtool.link import LinkTimeout, Reply

from test_cli_device import Board, cli, one_error_line


@pytest.fixture
def zero_gas():
    b = Board(gas=0)
    yield b
    b.close()


def test_zero_waits_for_a_stable_reading_then_applies_and_verifies(zero_gas):
    res = cli("calibrate", "zero", port=zero_gas.port)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "CO2 zero: applied", "  reading 0.130 %vol", "  coefficient before 0, after 130",
        "  calibration version 2", "  verified: cal.co2_zero = 130, reading 0.00 %vol",
        "  calibration mode ended"]
    doc = json.loads(cli("config", "get", "cal", "--json", port=zero_gas.port).output)
    assert doc["sections"]["cal"]["co2_zero"] == 130 and doc["ver"] == 2


def test_span_after_zero(tmp_path):
    b = Board(gas=15000)
    try:
        res = cli("calibrate", "span", "--ref", "15", "--no-wait", "--json", port=b.port)
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert doc["result"] == 0 and doc["before"] == 10000 and doc["after"] == 9914
        assert doc["verified"] == "cal.co2_gain = 9914, reading 15.00 %vol"
    finally:
        b.close()


def test_zero_on_stack_gas_is_rejected(tmp_path):
    b = Board(gas=12000)  # nobody connected the zero gas
    try:
        line = one_error_line(cli("calibrate", "zero", "--no-wait", port=b.port))
        assert line == ("error: CO2 zero rejected by the device: reading 12.130 %vol against "
                        "reference 0.000 %vol is outside its limits; nothing changed")
        doc = json.loads(cli("config", "get", "cal", "--json", port=b.port).output)
        assert doc["sections"]["cal"]["co2_zero"] == 0 and doc["ver"] == 1
    finally:
        b.close()


def test_an_unstable_reading_is_refused_by_the_wait_and_by_the_device(tmp_path):
    b = Board(gas=0, noise=200)
    try:
        cal = json.loads(cli("config", "get", "cal", "--json", port=b.port).output)["sections"]
        limit = dv.CAL_CHANNELS["co2"].live_tolerance(cal["cal"])
        line = one_error_line(cli("calibrate", "zero", "--timeout", "2", port=b.port))
        assert line.startswith("error: reading did not settle within 2 s (spread 0.40 %vol "
                               "over the last ")
        assert line.endswith(f"readings, limit {dv.decimal_text(limit, 2)}); nothing sent")
        line = one_error_line(cli("calibrate", "zero", "--no-wait", port=b.port))
        assert line == ("error: CO2 zero: the device refused: reading not stable "
                        "(spread 400 over 10 samples)")
        assert json.loads(cli("config", "get", "cal", "--json", port=b.port).output)["ver"] == 1
    finally:
        b.close()


def test_check_records_drift_and_changes_nothing(tmp_path):
    b = Board(gas=12000)
    try:
        res = cli("calibrate", "check", "--ref", "12.13", "--no-wait", port=b.port)
        assert res.exit_code == 0, res.output
        assert res.output.splitlines() == [
            "CO2 check: checked", "  reading 12.130 %vol", "  drift 0.000 %vol (limit ±0.625 %vol)",
            "  calibration version 1", "  verified: nothing to read back",
            "  calibration mode ended"]
        res = cli("calibrate", "check", "--ref", "11.5", "--no-wait", "--json", port=b.port)
        assert res.exit_code == 0 and json.loads(res.output)["drift"] == 630
        res = cli("calibrate", "check", "--ref", "11.5", "--no-wait", port=b.port)
        assert "  drift beyond the limit: calibrate the channel" in res.output.splitlines()
        line = one_error_line(cli("calibrate", "check", "--channel", "dp", "--ref", "0",
                                  "--no-wait", port=b.port))
        assert line == "error: Δp check: calibrate: unsupported: no calibration for channel 2 action 4"
        doc = json.loads(cli("config", "get", "cal", "--json", port=b.port).output)
        assert doc["ver"] == 1 and doc["sections"]["cal"]["co2_zero"] == 0
    finally:
        b.close()


def test_pitot_factors_and_area(zero_gas):
    res = cli("calibrate", "pitot", "--kp", "0.83", "--kv", "0.95", "--area", "1.25",
              port=zero_gas.port)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "Kp: 0.8400 -> 0.8300, calibration version 2", "  verified: edge.kp = 8300",
        "Kv: 1.0000 -> 0.9500, calibration version 3", "  verified: edge.kv = 9500",
        "area: 1.2500 m², config version 4", "  verified: edge.area = 12500"]
    line = one_error_line(cli("calibrate", "pitot", "--kp", "2", port=zero_gas.port))
    assert line == "error: Kp 2.0000 rejected by the device (outside its limits); nothing changed"
    res = cli("calibrate", "pitot", "--area", "0.5", "--json", port=zero_gas.port)
    assert json.loads(res.output)["area"]["after"] == 5000


# -- cemtool.device pieces

def test_settle_counts_fresh_working_readings_only():
    s = dv.Settle(3, 5)
    assert not s.add(1, 100, "N") and not s.add(1, 100, "N")  # same sample twice: counted once
    assert not s.add(2, 104, "N")
    assert s.add(3, 105, "N") and s.spread == 5
    assert not s.add(4, 111, "N")  # 105..111 spread 6
    assert not s.add(5, 108, "C") and s.spread is None  # any other status starts again
    for t, v in ((6, 1), (7, 2), (8, 3)):
        s.add(t, v, "N")
    assert s.settled


class FakeLink:
    """Answers live from a list of readings (one per call), records from a list of seqs."""

    def __init__(self, readings=(), seqs=(), fail_after=None, lose=()):
        self.readings = list(readings)
        self.seqs = list(seqs)
        self.fail_after = fail_after
        self.lose = list(lose)  # part numbers (of all parts sent) lost on the way
        self.parts = 0
        self.calls = 0
        self.t = 100

    def call(self, op, args=None, on_part=None):
        self.calls += 1
        if op == "live":
            self.t += 1
            value = self.readings.pop(0) if self.readings else 0
            return Reply({"t": self.t, "tq": 1, "ch": {"co2": [value, 0]}})
        assert op == "records"
        todo = [s for s in self.seqs if s >= args["from"]][:args["max"]]
        for i in range(0, len(todo), 3):
            if self.fail_after is not None and i >= self.fail_after:
                raise LinkTimeout("records: the device stopped answering for 3 s")
            self.parts += 1
            if on_part and self.parts not in self.lose:
                on_part({"recs": [minute(s) for s in todo[i:i + 3]]})
        nxt = todo[-1] + 1 if todo else args["from"]
        return Reply({"next": nxt, "sent": len(todo) if on_part else 0,
                      "first": self.seqs[0], "last": self.seqs[-1], "acked": 0})


def minute(seq):
    return [1, seq, 1767225600 + 60 * seq, 2, 3, 0, 60, 60, 1200, 1100, 1300, 1500, 1480, -150,
            52000, 19635]


def test_settle_gives_up_at_the_timeout_with_the_spread():
    now = [0.0]
    link = FakeLink(readings=[0, 9] * 50)
    shown = []
    with pytest.raises(dv.CalError) as e:
        dv.settle(link, dv.CAL_CHANNELS["co2"], 5, 20, lambda v, st, s: shown.append(v),
                  clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + 1))
    assert str(e.value) == ("reading did not settle within 20 s (spread 0.09 %vol over the last "
                            "10 readings, limit 0.05)")
    assert shown[:4] == [0, 9, 0, 9] and 20 <= len(shown) <= 22
    link = FakeLink(readings=[50, 9, 0, 1, 2, 3, 4, 5, 4, 3, 2, 1, 0])
    s = dv.settle(link, dv.CAL_CHANNELS["co2"], 5, 60, clock=lambda: now[0],
                  sleep=lambda s: None)
    assert s.settled and list(s.values) == [0, 1, 2, 3, 4, 5, 4, 3, 2, 1]


def test_dump_finds_gaps_and_writes_whole_batches():
    seqs = [1, 2, 3, 7, 8, 9, 10, 20]
    out = io.BytesIO()
    s = dv.dump(FakeLink(seqs=seqs), "minute", 0, dv.DumpWriter(out, "cbor"))
    assert [r.seq for r in records.decode_stream(out.getvalue())] == seqs
    assert (s.records, s.first, s.last, s.gaps) == (8, 1, 20, [[4, 6], [11, 19]])
    assert s.lines()[0] == "minute: 8 records, seq 1-20, 2 gaps (12 seqs missing: 4-6, 11-19)"
    out = io.BytesIO()
    with pytest.raises(LinkTimeout) as e:
        dv.dump(FakeLink(seqs=list(range(1, 30)), fail_after=6), "long", 0,
                dv.DumpWriter(out, "jsonl"))
    assert e.value.summary.records == 6 and e.value.summary.last == 6
    assert [json.loads(x)["seq"] for x in out.getvalue().decode().splitlines()] == list(range(1, 7))


def test_dump_asks_again_for_what_a_lost_frame_held():
    seqs = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]  # 7 is a genuine skip
    for lose, order in (((2,), [1, 2, 3, 8, 9, 10, 11, 12, 13, 4, 5, 6]),  # a middle part
                        ((4,), [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13]),  # the tail
                        ((1, 2, 3, 4, 5), [4, 5, 6, 8, 9, 10, 11, 12, 13, 1, 2, 3])):
        out = io.BytesIO()
        s = dv.dump(FakeLink(seqs=seqs, lose=lose), "minute", 0, dv.DumpWriter(out, "cbor"))
        got = [r.seq for r in records.decode_stream(out.getvalue())]
        assert got == order, lose
        assert (s.records, s.first, s.last, s.gaps) == (12, 1, 13, [[7, 7]]), lose
    with pytest.raises(dv.ProtocolError, match="2 records of an answer did not arrive in 3 tries"):
        dv.dump(FakeLink(seqs=[1, 2, 3, 4, 5], lose=range(2, 99)), "minute", 0,
                dv.DumpWriter(io.BytesIO(), "cbor"))


def test_units_and_settings():
    assert dv.to_units("12.5", 3, "--ref") == 12500
    assert dv.to_units(" 0.84 ", 4, "--kp") == 8400
    for bad in ("x", "nan", "inf", "1e-5", "1.23456", ""):
        with pytest.raises(ValueError):
            dv.to_units(bad, 4, "--kp")
    with pytest.raises(ValueError, match="within 0-100"):
        dv.to_units("100.5", 3, "--ref", dv.Decimal(0), dv.Decimal(100))
    assert dv.parse_setting("kp=8300") == ("kp", 8300)
    assert dv.parse_setting("co2_wet=false") == ("co2_wet", False)
    assert dv.parse_setting("host=receiver.example") == ("host", "receiver.example")
    assert dv.parse_setting('id="007"') == ("id", "007")
    assert dv.parse_setting("host=") == ("host", "")
    for bad in ("kp", "=3"):
        with pytest.raises(ValueError):
            dv.parse_setting(bad)


def test_live_table_with_warnings_and_every_status():
    result = {"t": 1767225600, "tq": 2, "ch": {"temp": [-15, 6], "co2": [1234, 0],
                                               "pa": [101325, 7], "dp": [5, 4], "zz": [3, 9]},
              "alarms": [[1, 1300, 1200], [99, 5, 0]]}
    lines = dv.format_live(result)
    assert lines[0] == "2026-01-01T00:00:00Z  clock from network"
    assert lines[2].split() == ["CO2", "12.34", "%vol", "N", "normal"]
    assert lines[3].split() == ["Δp", "0.05", "Pa", "D", "fault"]
    assert lines[4].split() == ["temp", "-1.5", "°C", "T", "over", "range"]
    assert lines[5].split() == ["pa", "101325", "Pa", "B", "communication", "fault"]
    assert lines[6].split()[:3] == ["zz", "3", "?"]
    assert lines[7] == "warnings:" and lines[8] == "  co2_high (code 1): value 1300, limit 1200"
    assert lines[9] == "  alarm_99 (code 99): value 5, limit 0"
    doc = dv.live_json(result)
    assert doc["channels"]["temp"] == {"value": -1.5, "unit": "°C", "status": "T"}
    assert doc["alarms"][0] == {"code": 1, "name": "co2_high", "value": 1300, "limit": 1200,
                                "description": "CO2 minute average above `alarms.co2_hi`"}
    assert set(dv.STATUS) == set(records.FLAGS)


def test_check_summary_shows_drift_and_limit():
    res = {"result": 3, "reading": 15420, "before": 0, "after": 0, "ver": 4, "drift": 420,
           "limit": 625}
    assert dv.cal_summary("CO2 check", dv.CAL_CHANNELS["co2"], dv.CHECK, res) == [
        "CO2 check: checked", "  reading 15.420 %vol", "  drift 0.420 %vol (limit ±0.625 %vol)",
        "  calibration version 4"]


def test_the_wait_uses_the_nodes_own_steadiness_limit():
    co2, dp = dv.CAL_CHANNELS["co2"], dv.CAL_CHANNELS["dp"]
    # 10 per mille of 20 %vol = 0.200 %vol: 20 live units of 0.01, less one for rounding
    assert co2.live_tolerance({"co2_fs": 20000, "co2_spread": 10}) == 19
    assert co2.live_tolerance({"co2_fs": 50000, "co2_spread": 2}) == 9
    assert dp.live_tolerance({"dp_fs": 50000, "dp_spread": 1}) == 49
    assert co2.live_tolerance({}) == 19 and dp.live_tolerance(None) == 49
    assert co2.live_tolerance({"co2_fs": 0, "co2_spread": 10}) == 19  # nonsense: the default
