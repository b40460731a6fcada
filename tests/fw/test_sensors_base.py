"""The shared driver interface: the factory, rounding, counters and the start/retry rules."""
import gc
import sys

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N
from cemt.sensors import Sensor, make, rdiv


class Fake(Sensor):
    """A driver whose device answers what the test says."""

    NAME = "fake"
    KEYS = ("x",)
    WARMUP_MS = 1000

    def __init__(self, cfg, clock):
        super().__init__(cfg, clock)
        self.starts = 0
        self.answers = []

    def _start(self):
        self.starts += 1
        return self.answers.pop(0)()

    def _read(self):
        return self.answers.pop(0)()


class Pin:
    """Just enough chip-select for building a MAX31865 driver; no bus traffic happens here."""

    def value(self, v=None):
        return 1


def bus_error():
    raise OSError(110)


def test_rdiv_rounds_half_away_from_zero():
    assert [rdiv(a, 10) for a in (14, 15, 16, -14, -15, -16, 0)] == [1, 2, 2, -1, -2, -2, 0]
    assert rdiv(7, 2) == 4 and rdiv(-7, 2) == -4 and rdiv(-1, 3) == 0


def test_factory_knows_every_kind_and_refuses_others():
    kinds = (("modbus_co2", "modbus", "ModbusCO2", {}), ("gss_co2", "gss", "GssCO2", {}),
             ("sdp", "sdp", "SDP", {}), ("bmp280", "bmp280", "BMP280", {}),
             ("loop_4_20", "loop", "CurrentLoop", {"lo": 0, "hi": 1}),
             ("max31865", "max31865", "MAX31865", {}))
    clock = VirtualClock(0)
    for kind, module, cls, cfg in kinds:
        drv = make(kind, cfg, None, clock, cs=Pin())
        assert type(drv).__name__ == cls and (drv.status, drv.reason) == (B, "not started")
        cfg["adress"] = 1
        try:
            make(kind, cfg, None, clock, cs=Pin())
        except ValueError as e:
            assert str(e) == "%s: unknown config key 'adress'" % kind, e
        else:
            raise AssertionError(kind)
        drv = None
        del sys.modules["cemt.sensors." + module]  # drivers load on demand: unload them too
        gc.collect()
    try:
        make("winsen", {}, None, clock)
    except ValueError as e:
        assert "winsen" in str(e)
    else:
        raise AssertionError("unknown kind accepted")


def test_read_before_start_starts_and_bus_errors_never_escape():
    drv = Fake({}, VirtualClock(0))
    drv.answers = [bus_error]
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "bus")
    assert drv.starts == 1 and drv.errors[B] == 1 and len(drv.errors) == 8


def test_warm_up_marks_good_readings_m_and_leaves_faults_alone():
    clock = VirtualClock(0)
    drv = Fake({"warmup_ms": 500}, clock)
    drv.answers = [lambda: True, lambda: 7, lambda: drv._fail(D, "status"), lambda: 9]
    assert drv.start() and drv.status == N
    assert drv.read() == 7 and (drv.status, drv.reason) == (M, "warmup")
    assert drv.read() == 0 and (drv.status, drv.reason) == (D, "status")
    clock.advance(500)
    assert drv.read() == 9 and (drv.status, drv.reason) == (N, "")
    assert drv.errors[M] == 0 and drv.errors[D] == 1


def test_failed_start_is_retried_every_retry_ms_only():
    clock = VirtualClock(0)
    drv = Fake({"retry_ms": 2000, "warmup_ms": 0}, clock)
    drv.answers = [lambda: drv._fail(D, "id"), lambda: True, lambda: 5]
    assert not drv.start()
    clock.advance(1999)
    assert drv.read() == 0 and drv.status == D and drv.starts == 1
    clock.advance(1)
    assert drv.read() == 5 and drv.status == N and drv.starts == 2


def test_only_communication_faults_in_a_row_force_a_restart():
    # A device fault (D) is an answer: it breaks the run of B.
    clock = VirtualClock(0)
    drv = Fake({"restart_after": 2, "warmup_ms": 0}, clock)
    fault = lambda: drv._fail(B, "crc")  # noqa: E731
    drv.answers = [lambda: True, fault, lambda: 1, fault, lambda: drv._fail(D, "status"),
                   fault, fault]
    drv.start()
    for _ in range(5):
        drv.read()
        assert drv.ready                              # never two B in a row
    drv.read()
    assert not drv.ready and drv.errors[B] == 4
