"""Calibration/maintenance mode and reboot on the simulator's board (cemtool.sim.board.Board):
the real firmware as deployed, driven by cemtool as on a bench."""
from __future__ import annotations

import json
import time

from cemtool import records

from test_cli_device import cli
from test_cli_device_sim import calibrate, wait_for_app

from cemtool.sim.board import Board

CAL_MODE = 50
C = 5


def live(port: str) -> dict:
    return json.loads(cli("live", "--count", "1", "--json", port=port).output)


def board_time(port: str) -> int:
    return json.loads(cli("time", "get", "--json", port=port).output)["t"]


def dump(port: str, log: str, path) -> list[records.Record]:
    res = cli("dump", "--log", log, "--out", str(path), port=port)
    assert res.exit_code == 0, res.output
    return list(records.decode_stream(path.read_bytes()))


def alarms(recs: list[records.Record], code: int) -> list[tuple]:
    return [(r.t, r.fields["state"], r.fields["value"], r.fields["limit"]) for r in recs
            if r.kind == records.ALARM and r.fields["code"] == code]


def test_calibration_minutes_are_flagged_c_the_mode_expires_and_reboot_works(tmp_path):
    with Board(tmp_path / "board", speed=10) as b:
        p = b.port
        wait_for_app(p)
        res = cli("maint", "cal", "--minutes", "2", "--json", port=p)
        assert res.exit_code == 0, res.output
        until = json.loads(res.output)["until"]
        start = until - 120
        assert live(p)["maint"] == {"mode": "cal", "until": until,
                                    "utc": records.iso_utc(until)}
        deadline = time.monotonic() + 60
        # the mode over, and the first whole minute after it closed (the board's clock starts on
        # the host's second, so `until` need not be on a minute)
        while board_time(p) < (until // 60 + 2) * 60 + 5:
            assert time.monotonic() < deadline, "the board's clock stopped"
            time.sleep(1)
        assert live(p)["maint"] is None  # ended by itself

        minutes = dump(p, "minute", tmp_path / "m.cbor")
        inside = [m for m in minutes if start <= m.t and m.t + 60 <= until]
        assert inside, [m.t for m in minutes]
        for m in inside:
            assert (m.fields["flag"], m.fields["nv"], m.fields["mass"]) == (C, 0, 0), m
            assert not m.valid
        after = [m for m in minutes if m.t >= until]
        assert after and after[0].fields["flag"] == 0 and after[0].valid
        assert after[0].fields["mass"] > 0
        longs = dump(p, "long", tmp_path / "l.cbor")
        assert alarms(longs, CAL_MODE) == [(start, 1, 120, 120), (until, 0, 0, 120)]

        # a calibration: the mode covers it and is ended at once after it
        b.inject("dp:gas=0")
        res = calibrate("dp-zero", "--timeout", "60", port=p)
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[-1] == "  calibration mode ended"
        b.clear("dp:gas")
        longs = dump(p, "long", tmp_path / "l2.cbor")
        modes = alarms(longs, CAL_MODE)[2:]
        cal = [r for r in longs if r.kind == records.CALIBRATION]
        assert len(modes) == 2 and len(cal) == 1
        assert modes[0][1] == 1 and modes[1][1] == 0 and modes[0][0] <= cal[0].t <= modes[1][0]
        assert 0 < modes[1][2] < modes[0][2]  # ended before its time
        assert live(p)["maint"] is None

        boots = json.loads(cli("info", "--json", port=p).output)["boots"]
        res = cli("reboot", port=p)
        assert res.exit_code == 0, res.output
        assert res.output.strip() == f"rebooted: boot {boots + 1}"
        assert json.loads(cli("info", "--json", port=p).output)["boots"] == boots + 1
        res = cli("reboot", "--json", port=p)
        assert res.exit_code == 0, res.output
        doc = json.loads(res.output)
        assert doc["boots"] == boots + 2 and doc["was"] == boots + 1 and doc["safe"] == 0


def test_a_reboot_ends_a_mode_and_a_board_that_is_gone_is_one_error_line(tmp_path):
    with Board(tmp_path / "board", speed=10) as b:
        p = b.port
        wait_for_app(p)
        assert cli("maint", "on", port=p).exit_code == 0
        assert cli("reboot", port=p).exit_code == 0
        assert live(p)["maint"] is None
        longs = dump(p, "long", tmp_path / "l.cbor")
        assert [a[1] for a in alarms(longs, 51)] == [1, 0]
    res = cli("reboot", port=p)
    assert res.exit_code == 1 and res.output.startswith("error: ") and \
        len(res.output.strip().splitlines()) == 1
