"""The record schema: kinds, field order and fixed-point units shared by every firmware module.

A record is a flat sequence of integers, the same order in RAM, in CBOR and (packed) in flash:
``[kind, seq, t, tq, ver, *fields]``. ``docs/records.md`` is the specification; this module is
its firmware copy. Units are the integer scales named in each field list.
"""
from micropython import const

# Instrument / data flags of HJ 212-2017 Table 8, by code. Only N counts as valid.
FLAGS = "NFMSDCTB"
N = const(0)  # normal
F = const(1)  # stopped
M = const(2)  # maintenance
S = const(3)  # manual value
D = const(4)  # fault
C = const(5)  # calibration
T = const(6)  # over range
B = const(7)  # communication fault
# When channels of one sample disagree, the sample takes the first abnormal status in this order.
PRIORITY = (F, M, C, D, B, T, S)

# Header positions shared by every kind.
KIND = const(0)
SEQ = const(1)
TIME = const(2)   # UTC seconds since 1970-01-01: start of the period, or time of the event
TQ = const(3)     # time quality, cemt.board.clock.TQ_*
VER = const(4)    # configuration/calibration version that produced the record
HEADER = const(5)

MINUTE = const(1)
HOUR = const(2)
DAY = const(3)
BOOT = const(16)
CALIBRATION = const(17)
ALARM = const(18)
CONFIG = const(19)
HEALTH = const(20)

# Body fields after the header. Units: co2 0.01 %vol dry; vel 0.01 m/s (section velocity);
# temp 0.1 degC; ps, pa Pa; xsw 1e-4 (moisture volume fraction); qsn m3/h dry standard;
# mass 0.01 kg (10 g) of CO2; n samples (minute) / minutes (hour) / hours (day); nv valid ones.
MINUTE_FIELDS = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "temp", "ps", "qsn", "mass")
PERIOD_FIELDS = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "vel_min", "vel_max",
                 "temp", "temp_min", "temp_max", "ps", "pa", "xsw", "qsn", "qsn_min", "qsn_max",
                 "mass")
FIELDS = {MINUTE: MINUTE_FIELDS, HOUR: PERIOD_FIELDS, DAY: PERIOD_FIELDS}

# Minimum valid inputs for a valid period (HJ 212-2017 App. C/D), and the 75 % flag rule.
MIN_VALID = {MINUTE: 12, HOUR: 45, DAY: 20}
NORMAL_SHARE_PCT = const(75)

KIND_NAMES = {MINUTE: "minute", HOUR: "hour", DAY: "day", BOOT: "boot",
              CALIBRATION: "calibration", ALARM: "alarm", CONFIG: "config", HEALTH: "health"}
