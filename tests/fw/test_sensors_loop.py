"""4-20 mA input through a shunt and the board's ADC: scaling, wire break, over range, averaging."""
from cemt.board.bench import ADC  # first: compiling it from source needs room

from cemt.board.clock import VirtualClock
from cemt.schema import D, N, T
from cemt.sensors import make

DP = {"lo": 0, "hi": 250000}  # 0..2500 Pa in 0.01 Pa


def loop(cfg=DP, adc=None):
    adc = adc or ADC()
    drv = make("loop_4_20", cfg, adc, VirtualClock(0))
    assert drv.start()
    return drv, adc


def at(drv, adc, ua, shunt=150):
    adc.uv = ua * shunt
    return drv.read()


def test_scales_linearly_from_4_to_20_ma():
    drv, adc = loop()
    assert at(drv, adc, 4000) == 0 and drv.status == N
    assert at(drv, adc, 12000) == 125000 and drv.ua == 12000
    assert at(drv, adc, 20000) == 250000 and drv.status == N
    assert at(drv, adc, 4001) == 16                   # 1 uA = 15.625 -> 16 (0.16 Pa)


def test_wire_break_is_a_device_fault():
    drv, adc = loop()
    assert at(drv, adc, 3599) == 0 and (drv.status, drv.reason) == (D, "break")
    assert at(drv, adc, 0) == 0 and drv.status == D
    assert at(drv, adc, 3600) == -6250 and drv.status == N   # NAMUR under-range signal
    assert drv.errors[D] == 2


def test_over_range():
    drv, adc = loop()
    assert at(drv, adc, 20500) == 257813 and drv.status == N
    assert at(drv, adc, 20600) == 259375 and (drv.status, drv.reason) == (T, "range")


def test_samples_are_averaged():
    class Noisy(ADC):
        def __init__(self):
            super().__init__()
            self.n = 0

        def read_uv(self):
            self.n += 1
            return 1800000 + (15000 if self.n % 2 else -15000)  # 12 mA +/- 0.1 mA

    drv, adc = loop({"lo": 0, "hi": 250000, "samples": 8}, Noisy())
    assert drv.read() == 125000 and adc.n == 8


def test_other_ranges_shunts_and_quantities():
    cfg = {"lo": 0, "hi": 25000, "shunt_ohm": 250}    # CO2 0..25 %vol on a 1-5 V input
    drv, adc = loop(cfg)
    assert at(drv, adc, 8000, 250) == 6250            # 6.25 %vol
    drv, adc = loop({"lo": 100000, "hi": -100000})    # a reversed, signed span
    assert at(drv, adc, 12000) == 0 and at(drv, adc, 20000) == -100000


def test_bad_config_is_refused():
    for cfg in ({"hi": 1}, {"lo": 0, "hi": 0}, {"lo": 0, "hi": 1, "shunt_ohm": 0},
                {"lo": 0, "hi": 1, "range": 5}):
        try:
            make("loop_4_20", cfg, ADC(), VirtualClock(0))
        except ValueError as e:
            assert "loop_4_20" in str(e)
        else:
            raise AssertionError(cfg)
