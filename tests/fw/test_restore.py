"""cemt.restore over ring logs: which day a restart folds back, and that it closes a day cut at midnight."""
from edge_util import T_DAY, Run, field
import gc

gc.collect()
from cemt.restore import restore  # noqa: E402
from cemt.schema import DAY, HOUR, MINUTE  # noqa: E402


class ListLog:
    """The part of a RingLog that restore reads: seqs 1..n over a list."""

    def __init__(self, recs):
        self.recs = recs
        self.first_seq = 1 if recs else 0
        self.last_seq = len(recs)

    def iter_from(self, seq):
        for i in range(max(seq, 1) - 1, len(self.recs)):
            yield self.recs[i]


class Keep(Run):
    """A Run that keeps minutes from ``since`` on and every longer record (a day of minutes would not fit)."""

    def __init__(self, since):
        Run.__init__(self)
        self.since = since

    def keep(self, rec):
        if rec[0] != MINUTE or rec[2] >= self.since:
            self.recs.append(list(rec))


def _logs(run):
    return (ListLog(run.minutes()), ListLog([r for r in run.recs if r[0] != MINUTE]))


def test_a_cut_just_before_midnight_still_closes_the_last_hour_and_the_day():
    last_hour = T_DAY + 23 * 3600
    first = Keep(last_hour + 1800)  # the log's older minutes were overwritten: 23:30 on kept
    first.feed(T_DAY, 86400)  # 00:00:00 to 23:59:59; the cut comes before the next sample
    assert not first.kind(DAY) and [r for r in first.hours() if r[2] == last_hour] == []
    minutes, long = _logs(first)
    kept = len(minutes.recs)
    assert kept == 29  # 23:30 to 23:58; 23:59 was still open at the cut
    second = Keep(T_DAY + 86400)
    gc.collect()
    n = restore(second.edge, minutes, long, T_DAY + 86400 + 300)  # back five minutes later
    assert n == 23 + kept
    second.feed(T_DAY + 86400 + 300, 5)
    [hour] = [r for r in second.hours() if r[2] == last_hour]
    assert field(hour, "n") == kept and field(hour, "nv") == kept
    assert field(hour, "mass") == sum(field(m, "mass") for m in minutes.recs)
    [day] = second.kind(DAY)
    assert day[2] == T_DAY and field(day, "n") == 24
    assert field(day, "mass") == sum(field(h, "mass") for h in first.hours() + [hour])


def test_a_day_that_was_closed_is_not_folded_again():
    first = Keep(T_DAY + 86400)
    first.feed(T_DAY, 86400 + 120)  # the day closed at midnight, two minutes of the next
    assert len(first.kind(DAY)) == 1
    first.recs = [r for r in first.recs if r[2] < T_DAY + 86400]  # the new day's minutes lost
    minutes, long = _logs(first)
    second = Keep(T_DAY + 2 * 86400)
    assert restore(second.edge, minutes, long, T_DAY + 86400 + 600) == 0
    second.feed(T_DAY + 86400 + 600, 5)
    assert second.kind(DAY) == [] and second.hours() == []


def test_today_is_folded_when_today_has_records():
    first = Keep(T_DAY + 7200)
    first.feed(T_DAY, 9000)  # to 02:30
    minutes, long = _logs(first)
    second = Keep(T_DAY + 7200)
    assert restore(second.edge, minutes, long, T_DAY + 9000) == 2 + 29  # 02:29 was open
    second.feed(T_DAY + 9000, 1801)
    [hour2] = [r for r in second.hours() if r[2] == T_DAY + 7200]
    assert field(hour2, "n") == 59
