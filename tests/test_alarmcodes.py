"""host/cemtool/alarmcodes.py is exactly the code table of docs/alarms.md, and the firmware's
code constants agree with it."""
from __future__ import annotations

import re
from pathlib import Path

from cemtool.alarmcodes import ALARMS, name

ROOT = Path(__file__).resolve().parent.parent


def doc_table() -> dict[int, tuple[str, str]]:
    """The rows of the table under '### Codes' in docs/alarms.md."""
    text = (ROOT / "docs" / "alarms.md").read_text(encoding="utf-8")
    section = text.split("### Codes", 1)[1]
    rows: dict[int, tuple[str, str]] = {}
    started = False
    for line in section.splitlines():
        if not line.startswith("|"):
            if started:
                break
            continue
        started = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("code", "---"):
            continue
        assert len(cells) == 3, line
        code = int(cells[0])
        assert code not in rows, f"code {code} twice in docs/alarms.md"
        rows[code] = (cells[1].strip("`"), cells[2])
    return rows


def test_the_dict_is_the_documented_table():
    table = doc_table()
    assert len(table) >= 16
    assert ALARMS == table


def test_names_are_unique_identifiers():
    names = [n for n, _ in ALARMS.values()]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)


def test_unknown_codes_get_a_name_instead_of_an_error():
    assert name(20) == "stale" and name(99) == "alarm_99"


def test_the_firmware_constants_name_the_same_codes():
    src = (ROOT / "firmware" / "cemt" / "alarms.py").read_text(encoding="utf-8")
    consts = {k: int(v) for k, v in re.findall(r"^([A-Z][A-Z0-9_]*) = const\((\d+)\)", src, re.M)}
    assert consts["CO2_HIGH"] == 1 and ALARMS[1][0] == "co2_high"
    assert consts["RATE_HIGH"] == 2 and ALARMS[2][0] == "rate_high"
    assert consts["MASS_HOUR_HIGH"] == 3 and ALARMS[3][0] == "mass_hour_high"
    assert consts["STALE"] == 20 and consts["BACKLOG"] == 21 and consts["LINK_DOWN"] == 22
    assert [ALARMS[consts["FAULT"] + ch][0] for ch in range(1, 6)] == [
        "fault_co2", "fault_dp", "fault_temp", "fault_ps", "fault_pa"]
    assert [ALARMS[consts["CAL_DUE"] + ch][0] for ch in (1, 2)] == ["cal_due_co2", "cal_due_dp"]
    assert [ALARMS[consts["DRIFT"] + ch][0] for ch in (1, 2, 6)] == [
        "drift_co2", "drift_dp", "drift_vel"]
    assert ALARMS[consts["CAL_MODE"]][0] == "calibration_mode"
    assert ALARMS[consts["MAINT_MODE"]][0] == "maintenance_mode"
