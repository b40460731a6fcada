"""Periods: alignment, gaps, sums of masses, min/max and means, repeated times, close and flush."""
from cemt.edge import Edge, EdgeConfig
from cemt.schema import DAY, HOUR, MINUTE, C
from edge_util import T_DAY, Run, field, status, values


def test_periods_align_to_utc_and_gaps_make_no_records():
    run = Run(EdgeConfig(ver=9))
    run.feed(T_DAY + 30, 5)                    # minute 0, from its 30th second
    run.feed(T_DAY + 5 * 60 + 7, 5)            # minute 5
    run.feed(T_DAY + 3 * 3600 + 59, 1)         # hour 3, minute 0
    run.edge.flush()
    assert [r[2] for r in run.minutes()] == [T_DAY, T_DAY + 300, T_DAY + 3 * 3600]
    assert [r[2] for r in run.hours()] == [T_DAY, T_DAY + 3 * 3600]
    assert [r[2] for r in run.kind(DAY)] == [T_DAY]
    assert all(r[4] == 9 and r[1] == 0 for r in run.recs)
    assert [field(r, "n") for r in run.minutes()] == [5, 5, 1]
    assert [field(r, "n") for r in run.hours()] == [2, 1]      # minutes with samples
    assert field(run.kind(DAY)[0], "n") == 2                   # hours with samples
    # records come minute, then its hour, then the day
    assert [r[0] for r in run.recs] == [MINUTE, MINUTE, HOUR, MINUTE, HOUR, DAY]


def test_masses_add_up_exactly():
    sums = {}        # hour start -> sum of its minute masses
    kept = []        # hour and day records

    def sink(rec):
        if rec[0] == MINUTE:
            h = rec[2] - rec[2] % 3600
            sums[h] = sums.get(h, 0) + field(rec, "mass")
        else:
            kept.append(list(rec))

    e = Edge(EdgeConfig(), sink)
    v = values()
    ok = status()
    t = T_DAY
    for i in range(2 * 3600 + 600):
        v[0] = 9000 + (i * 37) % 5000           # CO2 wanders 9..14 %vol
        v[1] = 5000 + (i * 101) % 20000          # Δp 50..250 Pa
        e.sample(t, 2, v, ok)
        t += 1
    e.flush()
    hours = [r for r in kept if r[0] == HOUR]
    assert len(hours) == 3
    for h in hours:
        assert field(h, "mass") == sums[h[2]] > 0
    assert field(kept[-1], "mass") == sum(field(h, "mass") for h in hours)


def test_min_max_and_sample_weighted_means():
    # minute 0: 60 valid samples at 10 %vol; minute 1: 12 valid at 20 %vol (+48 C);
    # the hour's mean is over its 72 valid samples: (60*10 + 12*20) / 72 = 11.667 %vol.
    run = Run()
    run.feed(T_DAY, 60, v=values(co2=10000, temp=14000))
    run.feed(T_DAY + 60, 12, v=values(co2=20000, temp=16000))
    run.feed(T_DAY + 72, 48, st=status(C))
    run.edge.flush()
    m0, m1 = run.minutes()
    assert field(m1, "co2") == 2000 and field(m1, "n") == 60 and field(m1, "nv") == 12
    h = run.hours()[0]
    assert field(h, "co2") == 1167
    assert (field(h, "co2_min"), field(h, "co2_max")) == (1000, 2000)
    assert (field(h, "temp_min"), field(h, "temp_max")) == (1400, 1600)
    assert field(h, "temp") == 1433                        # (60*140 + 12*160) / 72 = 143.33
    assert field(h, "qsn_min") < field(h, "qsn") < field(h, "qsn_max")
    # a varying minute: min and max of its own samples
    run = Run()
    for i, c in enumerate((11000, 12500, 11990, 12004)):
        run.edge.sample(T_DAY + i, 2, values(co2=c), run.ok)
    run.edge.flush()
    r = run.minutes()[0]
    assert [field(r, k) for k in ("co2", "co2_min", "co2_max")] == [1187, 1100, 1250]


def test_invalid_samples_leave_zeros():
    run = Run()
    run.feed(T_DAY, 60, st=status(C))
    run.edge.flush()
    r = run.minutes()[0]
    assert [field(r, k) for k in ("flag", "n", "nv")] == [C, 60, 0]
    assert [field(r, k) for k in ("co2", "co2_min", "vel", "temp", "qsn", "mass")] == [0] * 6
    h = run.hours()[0]
    assert field(h, "pa") == 0 and field(h, "qsn_max") == 0


def test_repeated_and_backward_times_are_rejected():
    run = Run()
    e = run.edge
    run.feed(T_DAY, 10)
    e.sample(T_DAY + 9, 2, run.v, run.ok)       # same second again
    e.sample(T_DAY + 3, 2, run.v, run.ok)       # backwards
    run.feed(T_DAY + 10, 5)
    e.flush()
    assert e.rejected == 2
    assert field(run.minutes()[0], "n") == 15


def test_close_ends_due_periods_only():
    run = Run()
    e = run.edge
    run.feed(T_DAY, 30)
    e.close(T_DAY + 59)                          # the minute ends at +60: nothing yet
    assert run.recs == []
    e.close(T_DAY + 60)
    assert len(run.minutes()) == 1 and run.hours() == []
    e.sample(T_DAY + 59, 2, run.v, run.ok)       # before the close time: ignored
    assert e.rejected == 1
    run.feed(T_DAY + 60, 10)
    e.close(T_DAY + 86400)                       # minute, hour and day all end by then
    assert [r[0] for r in run.recs] == [MINUTE, MINUTE, HOUR, DAY]


def test_a_sample_after_close_opens_its_own_hour():
    # close() ends the minute only; the next sample, an hour later, must not join the old hour
    run = Run()
    run.feed(T_DAY, 10)
    run.edge.close(T_DAY + 60)
    run.feed(T_DAY + 3600 + 5, 10)
    run.edge.flush()
    assert [r[2] for r in run.hours()] == [T_DAY, T_DAY + 3600]
    assert [field(h, "n") for h in run.hours()] == [1, 1]


def test_flush_closes_everything_and_forgets_the_time():
    run = Run()
    e = run.edge
    run.feed(T_DAY + 100, 10)
    e.flush()
    assert [r[0] for r in run.recs] == [MINUTE, HOUR, DAY]
    # after a flush (e.g. before the clock is set back), earlier times are accepted again
    run.feed(T_DAY + 50, 3, tq=1)
    e.flush()
    assert e.rejected == 0
    assert run.minutes()[1][2:4] == [T_DAY, 1]


def test_time_quality_is_the_worst_of_the_period():
    run = Run()
    run.feed(T_DAY, 10, tq=2)
    run.feed(T_DAY + 10, 1, tq=0)
    run.feed(T_DAY + 60, 10, tq=2)
    run.edge.flush()
    assert [r[3] for r in run.minutes()] == [0, 2]
    assert run.hours()[0][3] == 0 and run.kind(DAY)[0][3] == 0
