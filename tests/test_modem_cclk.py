"""Property: the firmware's CCLK parser (under MicroPython) agrees with CPython's calendar on
random local times and zones, and rejects what a modem would never send."""
from calendar import timegm
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

import fwtest

SCRIPT = """
import sys
from cemt.modem.parse import cclk_utc
for line in sys.stdin:
    print(cclk_utc(line.strip().encode()))
"""

local_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2069, 12, 31, 23, 59, 59))
zones = st.integers(min_value=-48, max_value=56)


def cclk(local: datetime, zq: int) -> str:
    return '+CCLK: "%s%s%02d"' % (local.strftime("%y/%m/%d,%H:%M:%S"), "+" if zq >= 0 else "-", abs(zq))


def run(lines):
    proc = fwtest.run_micropython(["-c", SCRIPT], input="\n".join(lines) + "\n", timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(local_times, zones), min_size=50, max_size=50))
def test_cclk_matches_calendar(samples):
    got = run([cclk(t, z) for t, z in samples])
    want = [str(timegm((t - timedelta(minutes=15 * z)).timetuple())) for t, z in samples]
    assert got == want


@settings(max_examples=5, deadline=None)
@given(st.lists(st.tuples(local_times, zones, st.integers(0, 19), st.sampled_from("x:/ -+9")),
                min_size=50, max_size=50))
def test_cclk_with_a_damaged_character(samples):
    lines, want = [], []
    for t, z, pos, ch in samples:
        line = cclk(t, z)
        body = line[8:28]
        damaged = body[:pos] + ch + body[pos + 1:]
        lines.append(line[:8] + damaged + '"')
        try:  # what a correct parser must answer for the damaged text
            sign = {"+": 1, "-": -1}[damaged[17]]
            local = datetime.strptime("20" + damaged[:17], "%Y/%m/%d,%H:%M:%S")  # yy means 20yy
            assert damaged[18:].isdigit() and damaged[:17].replace("/", "").replace(",", "").replace(":", "").isdigit()
            zq = sign * int(damaged[18:])
            assert 2020 <= local.year <= 2069 and -48 <= zq <= 56
            want.append(str(timegm((local.replace(tzinfo=timezone.utc) - timedelta(minutes=15 * zq)).timetuple())))
        except (KeyError, ValueError, AssertionError):
            want.append("None")
    assert run(lines) == want
