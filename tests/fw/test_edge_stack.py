"""The brief's constant stack through the whole edge: record values and the mass carry.

12 %vol CO2 dry, Δp 134.00 Pa, 150 degC, 101325 Pa, 8 % moisture, 1 m2, Kp 0.84, O2 6 %:
  Ms = 29.1872 g/mol, rho = 0.840583 kg/m3, Vs = 0.84 * sqrt(268 / 0.840583) = 14.99879 m/s
  Qsn = 3600 * 1 * 14.99879 * 273.15 / 423.15 * 0.92 = 32066.6 m3/h
  C = 12 * 44.01 / 22.414 * 1e4 = 235620.6 mg/m3, G = C * Qsn * 1e-6 = 7555.56 kg/h
  per minute 125.926 kg (12592.6 units of 0.01 kg), per hour 7555.56 kg.
"""
from cemt.edge import EdgeConfig
from cemt.fixmath import RATIO_ONE, muldiv
from cemt.schema import DAY
from edge_util import T_DAY, Run, field, values


def test_minute_record_of_a_constant_stack():
    run = Run()
    run.feed(T_DAY, 120)
    run.edge.close(T_DAY + 120)
    m = run.minutes()
    assert len(m) == 2 and run.hours() == []
    r = m[0]
    assert r[:5] == [1, 0, T_DAY, 2, 1]
    assert [field(r, k) for k in ("flag", "n", "nv")] == [0, 60, 60]
    assert [field(r, k) for k in ("co2", "co2_min", "co2_max")] == [1200, 1200, 1200]
    assert field(r, "vel") == 1500           # 14.99879 m/s
    assert field(r, "temp") == 1500          # 150.0 degC
    assert field(r, "ps") == 0
    assert abs(field(r, "qsn") - 32067) <= 1
    assert field(r, "mass") in (12592, 12593)


def test_hour_mass_is_the_integral():
    run = Run()
    run.feed(T_DAY, 3600)
    run.edge.flush()
    h = run.hours()[0]
    minutes = run.minutes()
    assert len(minutes) == 60
    assert field(h, "mass") == sum(field(r, "mass") for r in minutes)
    # 7555.56 kg/h; the fixed point agrees to 1e-4 (0.76 kg)
    assert abs(field(h, "mass") - 755556) <= 76
    assert [field(h, k) for k in ("flag", "n", "nv")] == [0, 60, 60]
    assert [field(h, k) for k in ("vel", "vel_min", "vel_max")] == [1500, 1500, 1500]
    assert field(h, "pa") == 101325 and field(h, "xsw") == 800
    assert run.kind(DAY)[0][2] == T_DAY


def test_minute_masses_carry_their_remainder():
    # Each minute gets the whole units crossed by the running integral, so after k minutes their
    # sum is the integral of k * 60 per-sample masses, rounded: never more than half a unit off.
    run = Run()
    e = run.edge
    # this stack's mass per sample, in 2**-me of 0.01 kg, as the edge computes it
    vsn = 89074
    dm = muldiv(muldiv(vsn, 12000, 256), e._mp, RATIO_ONE)
    assert abs(dm * 60 / (1 << e._me) - 12592.6) < 0.2
    t = T_DAY
    total = 0
    for k in range(1, 31):
        t = run.feed(t, 60)
        e.close(t)
        total += field(run.minutes()[-1], "mass")
        assert total == ((1 << (e._me - 1)) + k * 60 * dm) >> e._me, k
    masses = set(field(r, "mass") for r in run.minutes())
    assert masses == {12592, 12593}


def test_wet_analyser_reads_the_same_stack():
    # 12 %vol dry at 8 % moisture is 11.040 %vol wet
    dry = Run()
    dry.feed(T_DAY, 60)
    dry.edge.flush()
    wet = Run(EdgeConfig(co2_wet=True))
    wet.feed(T_DAY, 60, v=values(co2=11040))
    wet.edge.flush()
    assert wet.minutes() == dry.minutes()


def test_measured_moisture_and_kv():
    # Moisture measured at 8 % equals the fixed 8 %; Kv 0.9 scales Vs, Qsn and mass by 0.9.
    base = Run()
    base.feed(T_DAY, 60)
    base.edge.flush()
    meas = Run(EdgeConfig(xsw=0, xsw_measured=True))
    meas.feed(T_DAY, 60)
    meas.edge.flush()
    assert meas.minutes() == base.minutes()
    kv = Run(EdgeConfig(kv=9000))
    kv.feed(T_DAY, 60)
    kv.edge.flush()
    b, k = base.minutes()[0], kv.minutes()[0]
    assert field(k, "vel") == 1350           # 0.9 * 14.99879 = 13.4989
    assert abs(field(k, "qsn") - 28860) <= 1  # 0.9 * 32066.6 = 28859.9
    assert abs(field(k, "mass") - 0.9 * field(b, "mass")) <= 1


def test_area_and_period_scale_flow_and_mass():
    # 2.5 m2 sampled every 5 s: Qsn 2.5 x; each sample stands for 5 s of mass.
    run = Run(EdgeConfig(area=25000, period_s=5))
    run.feed(T_DAY, 12, step=5)
    run.edge.flush()
    r = run.minutes()[0]
    assert abs(field(r, "qsn") - 80167) <= 2          # 2.5 * 32066.6
    assert abs(field(r, "mass") - 31481) <= 3         # 2.5 * 12592.6
    assert field(r, "n") == 12 and field(r, "nv") == 12
