"""Properties of cemt.edge under MicroPython, checked against an independent float model.

Hypothesis draws batches of sample streams (configurations, values in and out of range, random
statuses, gaps, repeated and backward seconds, early closes); one MicroPython process runs each
batch through tools/edge_driver.py. The model below re-implements the spec (docs/edge.md, the
brief's section 4) in floats and exact fractions, sharing no code with the firmware.
"""
from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fwtest

T_START = 1767225600
PRIORITY = (1, 2, 5, 4, 7, 6, 3)        # F, M, C, D, B, T, S
LO = (0, -1000, -2000, -10000, 60000, 0)
HI = (30000, 250000, 40000, 10000, 110000, 5000)
MINUTE_F = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "temp", "ps", "qsn", "mass")
PERIOD_F = ("flag", "n", "nv", "co2", "co2_min", "co2_max", "vel", "vel_min", "vel_max", "temp",
            "temp_min", "temp_max", "ps", "pa", "xsw", "qsn", "qsn_min", "qsn_max", "mass")
MIN_VALID = {1: 12, 2: 45, 3: 20}


# -- the model ---------------------------------------------------------------------------------

@dataclass
class Cfg:
    area: int
    kp: int
    kv: int
    xsw: int
    xsw_measured: int
    co2_wet: int
    o2: int
    period_s: int
    ver: int

    def line(self) -> str:
        return "cfg %d %d %d %d %d %d %d %d %d" % (
            self.area, self.kp, self.kv, self.xsw, self.xsw_measured, self.co2_wet, self.o2,
            self.period_s, self.ver)


@dataclass
class Sample:
    t: int
    tq: int
    v: tuple
    s: tuple

    def line(self) -> str:
        return " ".join(str(x) for x in (self.t, self.tq, *self.v, *self.s))


def sample_status(cfg: Cfg, smp: Sample) -> int:
    eff = []
    for i in range(6 if cfg.xsw_measured else 5):
        code = smp.s[i]
        if code == 0 and not LO[i] <= smp.v[i] <= HI[i]:
            code = 6
        eff.append(code)
    for code in PRIORITY:
        if code in eff:
            return code
    return 0


@dataclass
class Physics:
    co2: float      # %vol dry
    vs: float       # m/s
    qsn: float      # m3/h
    kg: float       # CO2 mass of the sample


def physics(cfg: Cfg, smp: Sample) -> Physics:
    co2, dp, temp, ps, pa, xsw = smp.v
    x = (xsw if cfg.xsw_measured else cfg.xsw) / 1e4
    c = co2 / 1000 / ((1 - x) if cfg.co2_wet else 1)
    o2 = cfg.o2 / 100
    md = 0.44 * c + 0.32 * o2 + 0.28 * (100 - c - o2)
    ms = md * (1 - x) + 18.0 * x
    tk = 273.15 + temp / 100
    p = pa + ps
    rho = ms * p / (8314.46 * tk)
    vs = cfg.kv / 1e4 * cfg.kp / 1e4 * math.sqrt(2 * max(dp / 100, 0) / rho)
    qsn = 3600 * cfg.area / 1e4 * vs * 273.15 / tk * p / 101325 * (1 - x)
    g = c * 44.01 / 22.414 * 1e4 * qsn * 1e-6            # kg/h
    return Physics(c, vs, qsn, g * cfg.period_s / 3600)


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


# -- the streams -------------------------------------------------------------------------------

@dataclass
class Stream:
    cfg: Cfg
    items: list = field(default_factory=list)    # Sample, or ("close", t)


configs = st.builds(
    Cfg,
    area=st.sampled_from([1, 785, 10000, 31416, 250000, 1000000]) | st.integers(1, 1000000),
    kp=st.integers(5000, 12000), kv=st.integers(5000, 15000), xsw=st.integers(0, 5000),
    xsw_measured=st.integers(0, 1), co2_wet=st.integers(0, 1), o2=st.integers(0, 2100),
    period_s=st.sampled_from([1, 1, 1, 2, 5]), ver=st.integers(0, 1000))

segments = st.tuples(
    st.integers(1, 600) | st.just(3700),                   # samples (some a whole hour)
    st.sampled_from([0, 0, 7, 61, 3599, 5400]),            # gap before the segment, s
    st.sampled_from(["regular", "regular", "jitter"]),     # time steps
    st.sampled_from([0.0, 0.0, 0.05, 0.3, 0.8]),           # share of abnormal statuses
    st.sampled_from([0.0, 0.0, 0.02]),                     # share of out-of-range values
    st.booleans(),                                         # close when the segment ends
    st.integers(0, 2**32 - 1))                             # seed for the per-sample draws

streams = st.tuples(configs, st.lists(segments, min_size=1, max_size=6))


def expand(cfg: Cfg, segs) -> Stream:
    out = Stream(cfg)
    t = T_START + 1000
    for n, gap, steps, p_bad, p_wild, close, seed in segs:
        rnd = random.Random(seed)
        t += gap
        base = [rnd.randint(4000, 16000), rnd.randint(500, 60000), rnd.randint(2000, 25000),
                rnd.randint(-2000, 2000), rnd.randint(85000, 104000), rnd.randint(0, 2500)]
        tq = rnd.choice([0, 1, 2, 2])
        for _ in range(n):
            v = [b + int(b * rnd.uniform(-0.1, 0.1)) for b in base]
            for i in range(6):
                v[i] = min(max(v[i], LO[i]), HI[i])
                if rnd.random() < p_wild:
                    v[i] = rnd.choice([LO[i] - rnd.randint(1, 500), HI[i] + rnd.randint(1, 500)])
            s = [0] * 6
            if rnd.random() < p_bad:
                s[rnd.randrange(6)] = rnd.randint(1, 7)
            out.items.append(Sample(t, tq, tuple(v), tuple(s)))
            if steps == "regular":
                t += cfg.period_s
            else:
                t += rnd.choice([0, cfg.period_s, cfg.period_s, 2 * cfg.period_s, -3])
        if close:
            out.items.append(("close", t + rnd.randint(0, 90)))
    return out


def run_batch(batch: list[Stream]) -> list[tuple[list[list[int]], int]]:
    lines = []
    for s in batch:
        lines.append(s.cfg.line())
        for item in s.items:
            lines.append("close %d" % item[1] if isinstance(item, tuple) else item.line())
    proc = fwtest.run_micropython(["tools/edge_driver.py"], mode="mpy",
                                  input="\n".join(lines) + "\n", timeout=120)
    assert proc.returncode == 0, proc.stderr
    results, recs = [], []
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[0] == "rejected":
            results.append((recs, int(words[1])))
            recs = []
        else:
            recs.append([int(w) for w in words])
    assert len(results) == len(batch)
    return results


# -- the checks --------------------------------------------------------------------------------

def flag_rule(flags: list[int]) -> int:
    if 4 * flags.count(0) >= 3 * len(flags):
        return 0
    counts = {f: flags.count(f) for f in PRIORITY}
    most = max(counts.values())
    return next(f for f in PRIORITY if counts[f] == most)


def named(rec: list[int]) -> dict:
    names = MINUTE_F if rec[0] == 1 else PERIOD_F
    assert len(rec) == 5 + len(names)
    return dict(zip(names, rec[5:]))


def accepted(stream: Stream) -> tuple[list[Sample], int]:
    last, kept, rejected = -1, [], 0
    for item in stream.items:
        if isinstance(item, tuple):
            last = max(last, item[1] - 1)
        elif item.t <= last:
            rejected += 1
        else:
            last = item.t
            kept.append(item)
    return kept, rejected


def check_stream(stream: Stream, recs: list[list[int]], rejected: int) -> None:
    cfg = stream.cfg
    samples, want_rejected = accepted(stream)
    assert rejected == want_rejected
    status = {id(s): sample_status(cfg, s) for s in samples}
    phys = {id(s): physics(cfg, s) for s in samples if status[id(s)] == 0}
    by = {k: {r[2]: named(r) for r in recs if r[0] == k} for k in (1, 2, 3)}
    heads = {k: {r[2]: r[:5] for r in recs if r[0] == k} for k in (1, 2, 3)}
    assert sum(len(v) for v in by.values()) == len(recs), "one record per period"

    groups = {k: defaultdict(list) for k in (1, 2, 3)}
    for smp in samples:
        for kind, length in ((1, 60), (2, 3600), (3, 86400)):
            groups[kind][smp.t - smp.t % length].append(smp)
    for kind in (1, 2, 3):
        assert set(by[kind]) == set(groups[kind]), "a record for every period with samples"

    total_ref = 0.0
    for start, smps in groups[1].items():
        r = by[1][start]
        st_ = [status[id(s)] for s in smps]
        valid = [s for s in smps if status[id(s)] == 0]
        assert heads[1][start] == [1, 0, start, min(s.tq for s in smps), cfg.ver]
        assert (r["flag"], r["n"], r["nv"]) == (flag_rule(st_), len(smps), len(valid))
        ref = sum(phys[id(s)].kg for s in valid) * 100
        total_ref += ref
        assert abs(r["mass"] - ref) <= 0.001 * ref + 2, (r["mass"], ref)
        check_means(cfg, r, valid, [phys[id(s)] for s in valid], minute=True)

    for kind, inputs in ((2, 1), (3, 2)):
        length = 3600 if kind == 2 else 86400
        for start, smps in groups[kind].items():
            r = by[kind][start]
            subs = [(t, by[inputs][t]) for t in by[inputs] if start <= t < start + length]
            flags = [x["flag"] for _, x in subs]
            nv = sum(1 for _, x in subs if x["nv"] >= MIN_VALID[inputs])
            assert (r["flag"], r["n"], r["nv"]) == (flag_rule(flags), len(subs), nv)
            assert r["mass"] == sum(x["mass"] for _, x in subs)
            assert heads[kind][start][3] == min(heads[inputs][t][3] for t, _ in subs)
            valid = [s for s in smps if status[id(s)] == 0]
            check_means(cfg, r, valid, [phys[id(s)] for s in valid], minute=False)

    total = sum(r["mass"] for r in by[1].values())
    assert abs(total - total_ref) <= 0.001 * total_ref + len(by[1]), (total, total_ref)


def check_means(cfg: Cfg, r: dict, valid: list[Sample], ph: list[Physics], minute: bool) -> None:
    if not valid:
        assert all(v == 0 for k, v in r.items() if k not in ("flag", "n", "nv", "mass"))
        return
    n = len(valid)
    # plain means of input integers: exact, rounded half up
    assert r["temp"] == half_up(Fraction(sum(s.v[2] for s in valid), 10 * n))
    assert r["ps"] == half_up(Fraction(sum(s.v[3] for s in valid), n))
    # CO2 dry is an integer per sample (0.001 %vol, rounded): up to 0.05 besides the record's 0.5
    co2 = [p.co2 * 100 for p in ph]
    assert abs(r["co2"] - sum(co2) / n) <= 0.56
    assert abs(r["co2_min"] - min(co2)) <= 0.56 and abs(r["co2_max"] - max(co2)) <= 0.56
    vel = [p.vs * 100 for p in ph]
    qsn = [p.qsn for p in ph]
    assert abs(r["vel"] - sum(vel) / n) <= 0.6 + 2e-4 * max(vel)
    assert abs(r["qsn"] - sum(qsn) / n) <= 0.6 + 3e-4 * max(qsn)
    if minute:
        return
    assert r["pa"] == half_up(Fraction(sum(s.v[4] for s in valid), n))
    xsw = [s.v[5] if cfg.xsw_measured else cfg.xsw for s in valid]
    assert r["xsw"] == half_up(Fraction(sum(xsw), n))
    assert r["temp_min"] == half_up(Fraction(min(s.v[2] for s in valid), 10))
    assert r["temp_max"] == half_up(Fraction(max(s.v[2] for s in valid), 10))
    assert abs(r["vel_min"] - min(vel)) <= 0.6 + 2e-4 * min(vel)
    assert abs(r["vel_max"] - max(vel)) <= 0.6 + 2e-4 * max(vel)
    assert abs(r["qsn_min"] - min(qsn)) <= 0.6 + 3e-4 * min(qsn)
    assert abs(r["qsn_max"] - max(qsn)) <= 0.6 + 3e-4 * max(qsn)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(streams, min_size=1, max_size=4))
def test_edge_agrees_with_the_model(batch_specs):
    batch = [expand(cfg, segs) for cfg, segs in batch_specs]
    for stream, (recs, rejected) in zip(batch, run_batch(batch)):
        check_stream(stream, recs, rejected)
