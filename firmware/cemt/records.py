"""Records on the wire: canonical CBOR encoding, validated decoding, validity, event builders.

A record is the flat list of ``cemt.schema``: ``[kind, seq, t, tq, ver, *fields]``, encoded as one
CBOR array of those values in that order (docs/records.md). The period field lists live in
``cemt.schema``; the event field lists live here. All values are integers except the event fields
marked as text below.
"""
from micropython import const

from cemt import cbor
from cemt.schema import (ALARM, BOOT, CALIBRATION, CONFIG, DAY, FIELDS as PERIOD_FIELDS, FLAGS,
                         HEADER, HEALTH, HOUR, KIND, KIND_NAMES, MIN_VALID, MINUTE, SEQ, TIME)

# Event fields after the header; units and codes in docs/records.md.
BOOT_FIELDS = ("boots", "reset", "safe", "fw")
CALIBRATION_FIELDS = ("channel", "action", "ref", "reading", "before", "after", "result")
ALARM_FIELDS = ("code", "state", "value", "limit")
CONFIG_FIELDS = ("key", "old", "new", "source")
HEALTH_FIELDS = ("boots", "uptime", "heap_free", "log_fill", "dropped", "acked", "csq",
                 "err_co2", "err_dp", "err_temp", "err_ps", "err_pa")

FIELDS = {MINUTE: PERIOD_FIELDS[MINUTE], HOUR: PERIOD_FIELDS[HOUR], DAY: PERIOD_FIELDS[DAY],
          BOOT: BOOT_FIELDS, CALIBRATION: CALIBRATION_FIELDS, ALARM: ALARM_FIELDS,
          CONFIG: CONFIG_FIELDS, HEALTH: HEALTH_FIELDS}
# Value types of the kinds that are not all integers, one letter per field:
# "i" integer, "s" text, "v" either.
_TYPES = {BOOT: "iiis", CONFIG: "svvi"}

# Reset causes (boot "reset", mapped by the board layer from machine.reset_cause()).
RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_HARD = const(2)
RESET_WATCHDOG = const(3)
RESET_DEEPSLEEP = const(4)
RESET_SOFT = const(5)
RESET_BROWNOUT = const(6)

# Measurement channels (calibration "channel"); health keeps one error counter per channel.
CH_CO2 = const(1)
CH_DP = const(2)
CH_TEMP = const(3)
CH_PS = const(4)
CH_PA = const(5)
CH_VEL = const(6)

# Calibration actions and results.
CAL_ZERO = const(1)
CAL_SPAN = const(2)
CAL_FACTOR = const(3)
CAL_APPLIED = const(0)
CAL_REJECTED = const(1)
CAL_ABORTED = const(2)

# Config change sources.
SRC_CONSOLE = const(0)
SRC_REMOTE = const(1)
SRC_DEFAULTS = const(2)

# The last second ISO-8601 can name (9999-12-31T23:59:59Z): the host renders t that way.
T_MAX = 253402300799
_FLAG = const(5)  # HEADER + index of "flag" in the period field lists
_NV = const(7)    # HEADER + index of "nv"


def _length(kind):
    fields = FIELDS.get(kind)
    if fields is None:
        raise ValueError("unknown record kind %r" % (kind,))
    return HEADER + len(fields)


def encode_into(buf, pos, rec):
    """Encode ``rec`` into ``buf`` at ``pos``; return the new pos.

    Period records of integers are written without allocating (the hot path of the edge).
    """
    n = len(rec)
    if n != _length(rec[KIND]):
        raise ValueError("record of kind %d needs %d values, not %d"
                         % (rec[KIND], _length(rec[KIND]), n))
    pos = cbor.put_head(buf, pos, cbor.ARRAY, n)
    for v in rec:
        if type(v) is int:
            pos = cbor.put_int(buf, pos, v)
        elif type(v) is str:
            pos = cbor.encode_into(buf, pos, v)
        else:
            raise ValueError("record values are integers or text, not %s" % type(v).__name__)
    return pos


def size(rec):
    """Bytes of the encoded record."""
    return cbor.size(rec)


def encode(rec):
    buf = bytearray(size(rec))
    encode_into(buf, 0, rec)
    return bytes(buf)


def decode(buf, pos=0):
    """Decode and validate one record at ``pos``: return ``(record list, pos after it)``.

    Raises ValueError naming the byte offset when the bytes are not a valid record.
    """
    start = pos
    end = len(buf)
    major, n, pos = cbor.head(buf, pos, end)
    if major != cbor.ARRAY:
        raise ValueError("record is not an array at byte %d" % start)
    if n < HEADER or n > end - pos:
        raise ValueError("record with %d values at byte %d" % (n, start))
    rec = []
    types = None
    for i in range(n):
        at = pos
        major, v, pos = cbor.head(buf, pos, end)
        if major == cbor.UINT:
            got = "i"
        elif major == cbor.NINT:
            v = -1 - v
            got = "i"
        elif major == cbor.TEXT:
            v, pos = cbor.text(buf, pos, v, end), pos + v
            got = "s"
        else:
            got = "x"
        if i == KIND:
            if got != "i" or v not in FIELDS:
                raise ValueError("unknown record kind at byte %d" % at)
            if n != _length(v):
                raise ValueError("%s record with %d values at byte %d" % (KIND_NAMES[v], n, start))
            types = _TYPES.get(v)
        want = "i" if types is None or i < HEADER else types[i - HEADER]
        if got != want and (want != "v" or got == "x"):
            raise ValueError("value %d of the record at byte %d must be %s"
                             % (i, start, "text" if want == "s" else "an integer"))
        rec.append(v)
    _check(rec, start)
    return rec, pos


def _check(rec, start):
    if rec[SEQ] < 0:
        raise ValueError("negative seq in the record at byte %d" % start)
    if not 0 <= rec[TIME] <= T_MAX:
        raise ValueError("time out of range in the record at byte %d" % start)
    if rec[KIND] in MIN_VALID and not 0 <= rec[_FLAG] < len(FLAGS):
        raise ValueError("unknown flag in the record at byte %d" % start)


def is_valid(rec):
    """True for a minute/hour/day record with enough valid inputs; False for events."""
    need = MIN_VALID.get(rec[KIND])
    return need is not None and rec[_NV] >= need


def boot(t, tq, ver, boots, reset, safe, fw):
    return [BOOT, 0, t, tq, ver, boots, reset, safe, fw]


def calibration(t, tq, ver, channel, action, ref, reading, before, after, result):
    return [CALIBRATION, 0, t, tq, ver, channel, action, ref, reading, before, after, result]


def alarm(t, tq, ver, code, state, value, limit):
    return [ALARM, 0, t, tq, ver, code, state, value, limit]


def config(t, tq, ver, key, old, new, source):
    return [CONFIG, 0, t, tq, ver, key, old, new, source]


def health(t, tq, ver, boots, uptime, heap_free, log_fill, dropped, acked, csq,
           err_co2, err_dp, err_temp, err_ps, err_pa):
    return [HEALTH, 0, t, tq, ver, boots, uptime, heap_free, log_fill, dropped, acked, csq,
            err_co2, err_dp, err_temp, err_ps, err_pa]
