"""Parsers for the 3GPP replies the modem driver reads: CSQ, CEREG/CREG and CCLK.

Each takes one reply line (bytes, prefix included) and returns an int, or None when the line
does not hold a valid value. No floats, no ``time.mktime`` (its epoch differs between ports).
"""

# Registered states of +CEREG / +CREG <stat> (3GPP TS 27.007): 0 not searching, 2 searching,
# 3 denied, 4 unknown are the others.
REG_HOME = 1
REG_ROAMING = 5

_MDAYS = b"\x1f\x1c\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"
# CCLK years outside 2020..2069 are unsynced defaults (70/01/01, 80/01/06, 04/01/01).
_YEAR_MIN = 2020
_YEAR_MAX = 2069


def fields(line):
    """The comma-separated fields after ``+XXX: `` (a list of bytes)."""
    i = line.find(b":")
    return line[i + 1:].strip().split(b",")


def num(field):
    """A decimal field as int, or None."""
    try:
        return int(field)
    except ValueError:
        return None


def csq_dbm(line):
    """``+CSQ: <rssi>,<ber>`` to RSSI in dBm (-113..-51); None when unknown (99) or invalid."""
    f = fields(line)
    rssi = num(f[0])
    if rssi is None or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


def reg_stat(line):
    """``<stat>`` of a +CEREG/+CREG line, read reply (``n,stat[,...]``) or URC (``stat[,...]``)."""
    f = fields(line)
    if len(f) == 1 or f[1][:1] == b'"':
        stat = num(f[0])
    else:
        stat = num(f[1])
    if stat is None or not 0 <= stat <= 10:
        return None
    return stat


def registered(stat):
    return stat == REG_HOME or stat == REG_ROAMING


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_since_1970(y, m, d):
    """Days from 1970-01-01 to the given proleptic Gregorian date (y >= 1970)."""
    days = 365 * (y - 1970) + (y - 1969) // 4 - (y - 1901) // 100 + (y - 1601) // 400
    for i in range(m - 1):
        days += _MDAYS[i]
    if m > 2 and _leap(y):
        days += 1
    return days + d - 1


_CCLK = b"00/00/00,00:00:00+00"  # the layout of a CCLK time: 0 = a digit, 43 ('+') = the sign


def cclk_utc(line):
    """``+CCLK: "yy/MM/dd,hh:mm:ss±zz"`` (local time, zone in quarter hours) to UTC Unix seconds.

    None for a malformed line or an unsynced clock (a year outside 2020..2069).
    """
    q = line.find(b'"')
    s = line[q + 1:]
    if q < 0 or len(s) < 21 or s[20] != 34:
        return None
    for i in range(20):
        c = s[i]
        t = _CCLK[i]
        if not (48 <= c <= 57 if t == 48 else c == t or (t == 43 and c == 45)):
            return None
    y, mo, d, h, mi, sec, zq = [int(s[i:i + 2]) for i in range(0, 20, 3)]
    y += 2000
    if s[17] == 45:
        zq = -zq
    if not (_YEAR_MIN <= y <= _YEAR_MAX and 1 <= mo <= 12 and h < 24 and mi < 60 and sec < 60
            and -48 <= zq <= 56):
        return None
    if not 1 <= d <= _MDAYS[mo - 1] + (1 if mo == 2 and _leap(y) else 0):
        return None
    return (days_since_1970(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - zq * 900
