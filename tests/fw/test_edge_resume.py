"""Restarts: today's stored records folded back into the edge keep hours and days whole."""
from edge_util import T_DAY, Run, field  # first: compiling the edge from source needs room
import gc

gc.collect()
from cemt.restore import fold  # noqa: E402
from cemt.schema import DAY, HOUR, MINUTE  # noqa: E402


class Since(Run):
    """A Run that keeps every record but minutes before ``since`` (a whole day's would not fit)."""

    def __init__(self, since):
        Run.__init__(self)
        self.since = since

    def keep(self, rec):
        if rec[0] != MINUTE or rec[2] >= self.since:
            self.recs.append(list(rec))


def _restart(first, cut, keep_since=None):
    """A new Edge after a power cut at ``cut``: resumed from what ``first`` had stored."""
    stored = [r for r in first.recs if r[2] + (60 if r[0] == MINUTE else 3600) <= cut]
    second = Since(cut - cut % 3600 if keep_since is None else keep_since)
    hours = {r[2] for r in stored if r[0] == HOUR}
    for r in stored:
        if r[0] == HOUR:
            fold(second.edge, r)
    for r in stored:
        if r[0] == MINUTE:
            fold(second.edge, r, r[2] - r[2] % 3600 not in hours)
    return stored, second


def test_an_hour_cut_in_the_middle_still_sums_its_minutes():
    first = Since(T_DAY + 3600)
    first.feed(T_DAY, 5430)  # to 01:30:30, then the power fails
    stored, second = _restart(first, T_DAY + 5430)
    second.feed(T_DAY + 5430, 3600)  # the rest of the hour and beyond
    [hour1] = [r for r in second.hours() if r[2] == T_DAY + 3600]
    minutes = [r for r in stored + second.minutes() if T_DAY + 3600 <= r[2] < T_DAY + 7200]
    assert field(hour1, "n") == 60 == len(minutes)
    assert field(hour1, "mass") == sum(field(m, "mass") for m in minutes)
    assert field(hour1, "nv") == 60 and field(hour1, "flag") == 0
    assert field(hour1, "co2") == 1200 and field(hour1, "vel") == 1500


def test_an_hour_that_ended_while_off_gets_its_record_from_the_stored_minutes():
    first = Since(T_DAY)
    first.feed(T_DAY, 3300)  # to 00:55, off until 01:05
    stored, second = _restart(first, T_DAY + 3300)
    second.feed(T_DAY + 3900, 600)
    [hour0] = [r for r in second.hours() if r[2] == T_DAY]
    assert field(hour0, "n") == len(stored) == 54  # minute 00:54 was still open at the cut
    assert field(hour0, "nv") == 54
    assert field(hour0, "mass") == sum(field(m, "mass") for m in stored)


def test_the_day_sums_its_hours_across_a_restart():
    first = Since(T_DAY + 28800)
    first.feed(T_DAY, 30000)
    stored, second = _restart(first, T_DAY + 30000, keep_since=T_DAY + 86400)
    second.feed(T_DAY + 30000, 86400 - 30000 + 1)
    [day] = second.kind(DAY)
    hours = [r for r in stored + second.hours() if r[0] == HOUR]
    assert field(day, "n") == 24 == len(hours)
    assert field(day, "mass") == sum(field(h, "mass") for h in hours)
    assert field(day, "co2") == 1200
