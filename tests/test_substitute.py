"""cemtool.substitute: HJ 75-2017 tiers and EU MRR substitution, by hand and as properties."""
from __future__ import annotations

import calendar
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cemtool import site, substitute
from cemtool.quality import Hour
from cemtool.store import Store
from test_quality import H, T0, Device, hour_record, write_site


def series(spec: list, start: int = T0) -> list[Hour]:
    """Hours from a list: an int is a valid hour of that mass (0.01 kg), "m" missing,
    "i" invalid (mass 1), "s" shut down, ("v", mass, nv) a valid hour with nv minutes."""
    out = []
    for n, x in enumerate(spec):
        t = start + n * H
        if isinstance(x, int):
            out.append(Hour(t, "valid", hour_record(t, x)))
        elif isinstance(x, tuple):
            out.append(Hour(t, "valid", hour_record(t, x[1], nv=x[2])))
        elif x == "i":
            out.append(Hour(t, "invalid", hour_record(t, 1, nv=10)))
        else:
            out.append(Hour(t, {"m": "missing", "s": "shutdown"}[x]))
    return out


def test_measured_and_shutdown_hours_pass_through():
    out = substitute.fill(series([500, "s", 700]))
    assert [(f.mass, f.substituted, f.rule, f.inputs) for f in out] == [
        (500, False, "measured", None), (0, False, "shutdown", None), (700, False, "measured", None)]
    assert out[0].kg == 5.0


def test_hj75_short_gap_takes_the_max_of_the_180_preceding_valid_hours():
    # 200 valid hours, the largest early on (outside the last 180), then a 3 h gap
    spec = [10_000] + [100 + n for n in range(199)] + ["m", "i", "m"] + [100] * 3000
    out = substitute.fill(series(spec))
    subs = [f for f in out if f.substituted]
    assert [f.t for f in subs] == [T0 + n * H for n in (200, 201, 202)]
    for f in subs:
        assert f.rule == "hj75:180" and f.mass == 298
        assert f.inputs["window"] == 180 and f.inputs["used"] == 180
        assert f.inputs["direction"] == "preceding" and f.inputs["gap_hours"] == 3
        assert f.inputs["first"] == site.iso(T0 + 20 * H) and f.inputs["last"] == site.iso(T0 + 199 * H)
        assert f.inputs["chosen_t"] == site.iso(T0 + 199 * H) and f.inputs["value_kg"] == 2.98
        assert f.inputs["capture_rate"] >= 0.9


def test_hj75_long_gap_looks_back_720_valid_hours():
    spec = [10_000] + [100] * 700 + [500] + ["m"] * 25 + [100] * 2000
    out = substitute.fill(series(spec))
    subs = [f for f in out if f.substituted]
    assert len(subs) == 25 and {f.rule for f in subs} == {"hj75:720"}
    assert {f.mass for f in subs} == {10_000}   # hour 0 is within the 720 preceding valid hours


def test_hj75_mid_capture_looks_back_2160_valid_hours():
    # a quarter with 85 % capture: 1780 valid of 2100 hours, gaps of 20 and 3 hours
    spec = [900] + [100] * 1599 + ["m"] * 20 + [100] * 80 + ["m", "m", "m", 100] * 100
    out = substitute.fill(series(spec))
    subs = [f for f in out if f.substituted]
    assert {f.rule for f in subs} == {"hj75:2160"}
    assert all(f.mass == 900 for f in subs)
    cap = subs[0].inputs["capture_rate"]
    assert 0.75 <= cap < 0.9 and subs[0].inputs["quarter"] == "2025Q1"


def test_hj75_below_75_uses_the_rated_maximum_or_the_largest_valid_hour():
    spec = [100, 300, "m", "m", "m", 200]
    out = substitute.fill(series(spec), max_rate_kg_h=12.345)
    assert [f.rule for f in out if f.substituted] == ["hj75:rated"] * 3
    assert {f.mass for f in out if f.substituted} == {1235}      # rounded up to 0.01 kg
    out = substitute.fill(series(spec))
    assert [f.rule for f in out if f.substituted] == ["hj75:max"] * 3
    assert {f.mass for f in out if f.substituted} == {300}


def test_hj75_with_nothing_before_the_gap_uses_the_hours_after_it():
    spec = ["m"] * 2 + [300, 200] + [100] * 40
    out = substitute.fill(series(spec))
    assert [(f.rule, f.mass, f.inputs["direction"]) for f in out[:2]] == [("hj75:180", 300, "following")] * 2


def test_unfilled_when_there_is_no_valid_hour_and_no_rated_maximum():
    out = substitute.fill(series(["m", "i", "s"]))
    assert [(f.rule, f.mass, f.kg) for f in out] == [("unfilled", None, None)] * 2 + [("shutdown", 0, 0.0)]


def test_capture_rate_is_per_calendar_quarter():
    # Q4 2024 full of gaps (but still 75-90 %), Q1 2025 complete apart from one hour
    q4 = calendar.timegm((2024, 12, 31, 0, 0, 0))
    spec = [100, 100, 100, "m"] * 6 + [100] * 100 + ["m"] + [100] * 100
    out = substitute.fill(series(spec, q4))
    first, last = [f for f in out if f.substituted][0], [f for f in out if f.substituted][-1]
    assert first.inputs["quarter"] == "2024Q4" and first.rule == "hj75:2160"
    assert last.inputs["quarter"] == "2025Q1" and last.rule == "hj75:180"
    assert last.inputs["capture_rate"] == 200 / 201


def test_since_keeps_earlier_hours_as_look_back_only():
    out = substitute.fill(series([800] + [100] * 30 + ["m"]), since=T0 + 30 * H)
    assert [f.t for f in out] == [T0 + 30 * H, T0 + 31 * H]
    assert out[1].mass == 800


def test_mrr_needs_80_percent_of_an_hour_and_fills_mean_plus_two_sd():
    spec = [100, 200, 300, ("v", 999, 47), ("v", 400, 48), "m"]
    out = substitute.fill(series(spec), "mrr")
    valid = [100, 200, 300, 400]
    want = -(-int((statistics.fmean(valid) + 2 * statistics.stdev(valid)) * 1000) // 1000)
    assert [f.rule for f in out] == ["measured"] * 3 + ["mrr:mean+2sd", "measured", "mrr:mean+2sd"]
    assert out[3].mass == out[5].mass == want == 509   # 250 + 2 × 129.1
    assert out[5].inputs == {"reference": "2025", "used": 4, "mean_kg": 2.5,
                             "sd_kg": pytest.approx(1.290994, rel=1e-6), "value_kg": 5.09}
    # the same hour with 47 valid minutes is valid under HJ 75 (≥ 45)
    assert substitute.fill(series(spec))[3].rule == "measured"


def test_mrr_without_valid_hours_that_year_uses_the_series_then_the_rated_maximum():
    dec = calendar.timegm((2024, 12, 31, 22, 0, 0))
    out = substitute.fill(series([100, 300, "m"], dec), "mrr")
    assert out[2].inputs["reference"] == "series"
    assert out[2].mass == -(-(200 + 2 * statistics.stdev([100, 300])) // 1)
    out = substitute.fill(series(["m"]), "mrr", max_rate_kg_h=2)
    assert (out[0].rule, out[0].mass) == ("mrr:rated", 200)


def test_bad_input():
    with pytest.raises(substitute.SubstituteError, match="unknown substitution rule 'x'"):
        substitute.fill(series([1]), "x")
    hours = series([1, 2])
    with pytest.raises(substitute.SubstituteError, match="not consecutive"):
        substitute.fill([hours[1], hours[0]])


def test_filled_from_the_database_never_alters_it(tmp_path):
    path = tmp_path / "rx.sqlite"
    with Store(path) as db:
        dev = Device(db, "dev-a")
        for i in range(20):
            if i not in (4, 5):
                dev.hour(T0 + i * H, 2000 - i, nv=60 if i != 7 else 30)
    before = path.read_bytes()
    s = site.load(write_site(tmp_path, source_extra="max_rate_kg_h = 50"))
    with Store(path, readonly=True) as db:
        # a report of hours 6-19 looks back to the first hour record for its substitutes;
        # the quarter's capture to the report's end, 17 / 20 hours: the 2160-hour tier
        out = substitute.filled(db, s, s.point("P1"), T0 + 6 * H, T0 + 20 * H)
        assert substitute.filled(db, s, s.point("P1"), T0 + 6 * H, T0 + 10 * H)[1].rule == \
            "hj75:rated"   # 7 / 10 hours to that report's end: below 75 %
    assert path.read_bytes() == before
    assert len(out) == 14 and [f.substituted for f in out].count(True) == 1
    assert [(f.t, f.rule, f.mass) for f in out[:4]] == [
        (T0 + 6 * H, "measured", 1994), (T0 + 7 * H, "hj75:2160", 2000),
        (T0 + 8 * H, "measured", 1992), (T0 + 9 * H, "measured", 1991)]


# -- properties ----------------------------------------------------------------------------------

HOUR_SPEC = st.one_of(st.integers(0, 10**7), st.sampled_from(["m", "i", "s"]),
                      st.tuples(st.just("v"), st.integers(0, 10**7), st.integers(45, 60)))


def _ok(h: Hour, rule: str) -> bool:
    return h.status == "valid" and (rule == "hj75" or h.record.fields["nv"] >= 48)


@settings(max_examples=200, deadline=None)
@given(spec=st.lists(HOUR_SPEC, min_size=1, max_size=300), rule=st.sampled_from(substitute.RULES),
       offset=st.integers(0, 3000))
def test_valid_hours_never_change_and_only_gaps_are_filled(spec, rule, offset):
    hours = series(spec, T0 + offset * H)
    out = substitute.fill(hours, rule)
    assert [f.hour for f in out] == hours
    for h, f in zip(hours, out):
        if _ok(h, rule):
            assert (f.mass, f.substituted, f.rule) == (h.mass, False, "measured")
        elif h.status == "shutdown":
            assert (f.mass, f.substituted) == (0, False)
        else:
            assert f.substituted and f.rule != "measured" and f.inputs is not None
    valid = [h.mass for h in hours if _ok(h, rule)]
    if valid:
        assert all(f.mass is not None for f in out)


@settings(max_examples=200, deadline=None)
@given(spec=st.lists(HOUR_SPEC, min_size=1, max_size=400), offset=st.integers(0, 3000))
def test_hj75_substitutes_are_the_max_of_their_look_back(spec, offset):
    hours = series(spec, T0 + offset * H)
    out = substitute.fill(hours, "hj75")
    for n, f in enumerate(out):
        if not f.substituted or f.mass is None:
            continue
        gap0 = n
        while gap0 > 0 and hours[gap0 - 1].status in ("missing", "invalid"):
            gap0 -= 1
        inputs = f.inputs
        if f.rule == "hj75:max":
            window = [h.mass for h in hours if h.status == "valid"]
        elif f.rule.startswith("hj75:") and f.rule[5:].isdigit():
            size = int(f.rule[5:])
            assert inputs["window"] == size
            before = [h.mass for h in hours[:gap0] if h.status == "valid"]
            after = [h.mass for h in hours[gap0:] if h.status == "valid"]
            window = before[-size:] if before else after[:size]
            assert inputs["direction"] == ("preceding" if before else "following")
            # the tier follows the capture rate of the hour's quarter and the gap's length
            q = [h for h in hours if substitute.quarter(h.t) == substitute.quarter(f.t)]
            cap = sum(h.status == "valid" for h in q) / sum(h.status != "shutdown" for h in q)
            assert inputs["capture_rate"] == cap
            if cap >= 0.9:
                assert size == (180 if inputs["gap_hours"] <= 24 else 720)
            else:
                assert 0.75 <= cap and size == 2160
        else:
            continue
        assert window and inputs["used"] == len(window)
        assert f.mass == max(window) and all(f.mass >= m for m in window)


@settings(max_examples=100, deadline=None)
@given(spec=st.lists(HOUR_SPEC, min_size=1, max_size=300))
def test_mrr_substitutes_are_at_least_the_mean(spec):
    hours = series(spec)
    out = substitute.fill(hours, "mrr")
    valid = [h.mass for h in hours if _ok(h, "mrr")]
    for f in out:
        if f.substituted and valid:
            assert f.mass >= statistics.fmean(valid) and f.rule == "mrr:mean+2sd"
