"""Validity, sample status and the 75 % flag rule, with crafted status sequences."""
from cemt.edge import EdgeConfig
from cemt.fixmath import flag_of
from cemt.schema import DAY, HOUR, B, C, D, F, M, N, S, T
from edge_util import T_DAY, Run, field, status, values


def _minute(statuses, cfg=None, v=None):
    """One minute of samples with these sample statuses (set on the CO2 channel)."""
    run = Run(cfg)
    for i, s in enumerate(statuses):
        run.edge.sample(T_DAY + i, 2, v or run.v, status(s))
    run.edge.flush()
    return run.minutes()[0], run.hours()[0]


def test_twelve_valid_samples_make_a_valid_minute():
    # 12 N + 48 M: nv = 12, the minute is valid and counts as a valid minute of its hour.
    r, h = _minute([N] * 12 + [M] * 48)
    assert [field(r, k) for k in ("flag", "n", "nv")] == [M, 60, 12]
    assert field(r, "co2") == 1200 and field(r, "mass") > 0
    assert field(h, "nv") == 1
    # 11 N: nv = 11, invalid; the averages still come from those 11 samples.
    r, h = _minute([N] * 11 + [M] * 49)
    assert field(r, "nv") == 11 and field(r, "co2") == 1200
    assert field(h, "n") == 1 and field(h, "nv") == 0


def test_seventy_five_percent_rule():
    assert field(_minute([N] * 45 + [C] * 15)[0], "flag") == N   # 75 %
    assert field(_minute([N] * 44 + [C] * 16)[0], "flag") == C   # 73 %
    assert field(_minute([N] * 3 + [F])[0], "flag") == N          # 3 of 4
    assert field(_minute([N] * 2 + [F])[0], "flag") == F          # 2 of 3


def test_dominant_abnormal_flag_and_ties():
    assert field(_minute([N] * 40 + [M] * 12 + [C] * 8)[0], "flag") == M
    assert field(_minute([N] * 40 + [C] * 12 + [M] * 8)[0], "flag") == C
    # ties follow PRIORITY F, M, C, D, B, T, S
    assert field(_minute([N] * 40 + [C] * 10 + [M] * 10)[0], "flag") == M
    assert field(_minute([N] * 40 + [S] * 10 + [T] * 10)[0], "flag") == T
    assert field(_minute([N] * 10 + [B] * 25 + [D] * 25)[0], "flag") == D
    counts = bytearray(8)
    counts[N], counts[S] = 1, 3
    assert flag_of(counts, 4) == S


def test_sample_status_is_the_first_abnormal_channel_by_priority():
    run = Run()
    e = run.edge
    v = run.v
    e.sample(T_DAY, 2, v, status(N, D, N, C))      # C before D
    e.sample(T_DAY + 1, 2, v, status(S, N, N, N, B))  # B before S
    e.sample(T_DAY + 2, 2, v, status(N, N, 9))     # unknown code: fault
    e.flush()
    r = run.minutes()[0]
    assert field(r, "nv") == 0
    counts = run.edge._minute.counts  # the closed minute's counts stay readable
    assert counts[C] == 1 and counts[B] == 1 and counts[D] == 1


def _status_of(v, st=None, cfg=None):
    run = Run(cfg)
    run.edge.sample(T_DAY, 2, v, st or status())
    run.edge.flush()
    r = run.minutes()[0]
    return field(r, "flag"), field(r, "nv")


def test_out_of_range_values_are_T():
    assert _status_of(values(co2=30000)) == (N, 1)
    assert _status_of(values(co2=30001)) == (T, 0)
    assert _status_of(values(co2=-1)) == (T, 0)
    assert _status_of(values(dp=250000)) == (N, 1)
    assert _status_of(values(dp=250001)) == (T, 0)
    assert _status_of(values(temp=40001)) == (T, 0)
    assert _status_of(values(temp=-2001)) == (T, 0)
    assert _status_of(values(ps=10001)) == (T, 0)
    assert _status_of(values(pa=59999)) == (T, 0)
    # over range ranks before manual (S) on another channel
    assert _status_of(values(pa=120000), status(S)) == (T, 0)
    # a channel already abnormal keeps its own status
    assert _status_of(values(co2=40000), status(C)) == (C, 0)


def test_small_negative_dp_is_no_flow():
    run = Run()
    run.feed(T_DAY, 20, v=values(dp=-1000))
    run.edge.flush()
    r = run.minutes()[0]
    assert field(r, "nv") == 20 and field(r, "vel") == 0 and field(r, "qsn") == 0
    assert field(r, "mass") == 0
    assert _status_of(values(dp=-1001)) == (T, 0)


def test_moisture_channel_only_when_measured():
    st = status(N, N, N, N, N, F)
    v = values(xsw=9999)
    assert _status_of(v, st) == (N, 1)
    assert _status_of(v, st, EdgeConfig(xsw_measured=True)) == (F, 0)
    assert _status_of(v, None, EdgeConfig(xsw_measured=True)) == (T, 0)
    assert _status_of(values(xsw=5000), None, EdgeConfig(xsw_measured=True)) == (N, 1)


def test_hour_flag_and_validity_from_minutes():
    # 45 valid N minutes and 15 all-C minutes: hour nv 45 (valid), 75 % N -> flag N.
    run = Run()
    t = T_DAY
    c = status(C)
    for i in range(60):
        t = run.feed(t, 60, st=None if i < 45 else c)
    run.edge.flush()
    h = run.hours()[0]
    assert [field(h, k) for k in ("flag", "n", "nv")] == [N, 60, 45]
    assert field(h, "mass") == sum(field(r, "mass") for r in run.minutes())
    # 44 valid minutes: invalid hour, flag C (44 of 60 < 75 %)
    run = Run()
    t = T_DAY
    for i in range(60):
        t = run.feed(t, 60, st=None if i < 44 else c)
    run.edge.flush()
    h = run.hours()[0]
    assert [field(h, k) for k in ("flag", "n", "nv")] == [C, 60, 44]


def _day(valid_hours):
    """24 sparse hours, 45 minutes of 12 samples 5 s apart; the hours after valid_hours are M."""
    run = Run(kinds=(HOUR, DAY))
    for hour in range(24):
        st = None if hour < valid_hours else status(M)
        for minute in range(45):
            run.feed(T_DAY + hour * 3600 + minute * 60, 12, step=5, st=st)
    run.edge.flush()
    return run.kind(DAY)[0], run.hours()


def test_day_validity_and_flag_from_hours():
    # 20 valid hours: a valid day; 20 of 24 hours N is 83 % -> flag N
    d, hours = _day(20)
    assert [field(d, k) for k in ("flag", "n", "nv")] == [N, 24, 20]
    assert [field(h, "nv") for h in hours] == [45] * 20 + [0] * 4
    assert field(d, "mass") == sum(field(h, "mass") for h in hours)
    # 17 valid hours: invalid, and 17 of 24 is 71 % -> flag M
    d, hours = _day(17)
    assert [field(d, k) for k in ("flag", "n", "nv")] == [M, 24, 17]
