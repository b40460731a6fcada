"""Warning codes of the firmware's ``cemt.alarms``: code -> (name, description).

The specification is the code table of docs/alarms.md; ``tests/test_alarmcodes.py`` checks that
this dict is exactly that table. Alarm records (kind 18) carry the code; a code never changes
meaning once released.
"""
from __future__ import annotations

ALARMS: dict[int, tuple[str, str]] = {
    1: ("co2_high", "CO2 minute average above `alarms.co2_hi`"),
    2: ("rate_high", "CO2 emitted in a minute above `alarms.mass_min_hi`"),
    3: ("mass_hour_high", "CO2 emitted in an hour above `alarms.mass_hour_hi`"),
    11: ("fault_co2", "CO2 analyser in fault (status D or B) for `alarms.fault_n` samples in a row"),
    12: ("fault_dp", "pitot Δp transducer in fault for `alarms.fault_n` samples in a row"),
    13: ("fault_temp", "flue temperature sensor in fault for `alarms.fault_n` samples in a row"),
    14: ("fault_ps", "flue static pressure sensor in fault for `alarms.fault_n` samples in a row"),
    15: ("fault_pa", "ambient pressure sensor in fault for `alarms.fault_n` samples in a row"),
    20: ("stale", "no valid minute for `alarms.stale_min` minutes"),
    21: ("backlog", "unacknowledged records fill more than `alarms.backlog_pct` % of the minute log"),
    22: ("link_down",
         "uplink configured, records waiting and none delivered for `alarms.link_min` minutes"),
    31: ("cal_due_co2", "CO2 analyser not zeroed or spanned for more than `alarms.cal_days` days"),
    32: ("cal_due_dp", "Δp transducer not zeroed for more than `alarms.cal_days` days"),
    41: ("drift_co2", "CO2 calibration check drifted beyond ±2.5 % of full scale"),
    42: ("drift_dp", "Δp calibration check drifted beyond ±2.5 % of full scale"),
    46: ("drift_vel", "velocity calibration check drifted beyond ±2.5 % of full scale"),
    50: ("calibration_mode", "the node is in calibration mode: its samples are flagged C"),
    51: ("maintenance_mode", "the node is in maintenance mode: its samples are flagged M"),
}


def name(code: int) -> str:
    """The warning's name, or ``alarm_CODE`` for a code this table does not know (newer firmware)."""
    entry = ALARMS.get(code)
    return entry[0] if entry else f"alarm_{code}"
