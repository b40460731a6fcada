"""Sensirion SDP3x/SDP8xx driver over the unix I2C bus: exact commands, CRCs, every failure path."""
from cemt.board.bench import I2C  # first: compiling these two from source needs room
from sensor_models import sensirion_crc, sensirion_words

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N, T
from cemt.sensors import make
from cemt.sensors.sdp import crc8

class SDPModel:
    """Sensirion SDP3x/SDP8xx: product id, continuous measurement, 9-byte reads with CRCs."""

    def __init__(self, product=0x03020A01, scale=60, dp=0, t=0):
        self.product = product
        self.scale = scale
        self.dp = dp
        self.t = t
        self.cmds = []
        self.running = False
        self.nak = False
        self.bad_crc = None  # index of the word whose CRC goes out wrong
        self._next = None

    def write(self, data):
        if self.nak:
            raise OSError(5)
        self.cmds.append(bytes(data))
        cmd = bytes(data)
        if cmd == b"\x3f\xf9":
            if not self.running:
                raise OSError(5)  # the stop command is refused when nothing runs
            self.running = False
        elif cmd == b"\x36\x15":
            self.running = True
        elif cmd == b"\xe1\x02" and self._next == "id?":
            self._next = "id"
        elif cmd == b"\x36\x7c":
            self._next = "id?"

    def _out(self, *words):
        data = bytearray(sensirion_words(*words))
        if self.bad_crc is not None:
            data[3 * self.bad_crc + 2] ^= 0x01
        return bytes(data)

    def read(self, n):
        if self.nak:
            raise OSError(5)
        if self._next == "id":
            self._next = None
            pn = self.product
            return self._out(pn >> 16, pn & 0xFFFF, 0x0000, 0x0001, 0x2345, 0x6789)[:n]
        if not self.running:
            raise OSError(5)
        return self._out(self.dp & 0xFFFF, self.t & 0xFFFF, self.scale)[:n]


START = [b"\x3f\xf9", b"\x36\x7c", b"\xe1\x02", b"\x36\x15"]


def ready(model=None, cfg=None, addr=0x25):
    model = model or SDPModel()
    bus = I2C()
    bus.attach(addr, model)
    clock = VirtualClock(0)
    drv = make("sdp", cfg or {}, bus, clock)
    drv.start()
    clock.advance(20)
    return drv, model


def test_crc8_matches_published_check_values():
    assert crc8(b"\xbe\xef", 0, 2) == 0x92            # Sensirion's datasheet example
    assert crc8(b"123456789", 0, 9) == 0xF7           # CRC-8/NRSC-5 catalogue check
    assert sensirion_crc(b"\xbe\xef") == 0x92 and sensirion_crc(b"123456789") == 0xF7


def test_start_sequence_is_byte_exact():
    drv, model = ready()
    assert drv.ready and drv.status == N
    assert model.cmds == START
    assert drv.product == 0x03020A01                  # SDP810-500Pa, revision 1
    assert model.running


def test_a_measurement_left_running_is_stopped_first():
    model = SDPModel()
    model.running = True                              # the MCU reset, the sensor did not
    drv, _ = ready(model)
    assert drv.ready and model.cmds == START


def test_pressure_and_temperature():
    drv, model = ready(SDPModel(scale=60, dp=7500, t=5000))
    assert drv.read() == 12500 and drv.status == N    # 7500 / 60 = 125.00 Pa
    assert drv.temp == 2500                           # 5000 / 200 = 25.00 degC
    model.dp, model.t = -7501, -150
    assert drv.read() == -12502 and drv.temp == -75   # -125.0167 Pa, -0.75 degC
    assert model.cmds == START                        # reads are plain 9-byte reads


def test_scale_factor_is_read_every_time():
    drv, model = ready(SDPModel(scale=60, dp=2400))
    assert drv.read() == 4000                         # 40.00 Pa at 60 /Pa
    model.scale = 240                                 # what an SDP32 / SDP8x0-125Pa reports
    assert drv.read() == 1000


def test_scale_factor_zero_is_a_device_fault():
    drv, _ = ready(SDPModel(scale=0, dp=100))
    assert drv.read() == 0 and (drv.status, drv.reason) == (D, "scale")


def test_bad_crc_on_any_word():
    for word in range(3):
        drv, model = ready(SDPModel(dp=600))
        model.bad_crc = word
        assert drv.read() == 0 and (drv.status, drv.reason) == (B, "crc"), word


def test_saturated_reading_is_over_range():
    drv, model = ready(SDPModel(scale=60, dp=32767))
    assert drv.read() == 54612 and (drv.status, drv.reason) == (T, "range")
    model.dp = -32768
    assert drv.read() == -54613 and drv.status == T


def test_product_id_checks():
    drv, _ = ready(SDPModel(product=0x12345678))
    assert not drv.ready and (drv.status, drv.reason) == (D, "id")
    drv, _ = ready(SDPModel(product=0x03010188), addr=0x21, cfg={"addr": 0x21})
    assert drv.ready and drv.product == 0x03010188     # SDP31
    drv, _ = ready(SDPModel(product=0x03010288), cfg={"product": 0x030101})
    assert (drv.status, drv.reason) == (D, "id")       # an SDP32 where an SDP31 belongs
    drv, _ = ready(SDPModel(product=0x03020A07), cfg={"product": 0x03020A})
    assert drv.ready                                   # the revision byte is ignored


def test_product_id_crc_error():
    model = SDPModel()
    model.bad_crc = 4
    drv, _ = ready(model)
    assert not drv.ready and (drv.status, drv.reason) == (B, "crc")


def test_missing_device_and_nak():
    drv, _ = ready(addr=0x26)                          # nothing at 0x25
    assert not drv.ready and (drv.status, drv.reason) == (B, "bus")
    drv, model = ready()
    model.nak = True
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "bus")


def test_sensor_reset_is_recovered():
    drv, model = ready(SDPModel(dp=60))
    model.running = False                              # a brown-out: measurement stopped
    for _ in range(3):
        assert drv.read() == 0 and drv.status == B
    assert not drv.ready
    drv.clock.advance(10000)                           # retry_ms after the last start
    assert drv.read() == 100 and drv.status == N       # restarted, then read
    assert model.cmds == START + START                  # stop sent, refused by the idle sensor


def test_warm_up():
    model = SDPModel(dp=60)
    bus = I2C()
    bus.attach(0x25, model)
    clock = VirtualClock(0)
    drv = make("sdp", {}, bus, clock)
    drv.start()
    assert drv.read() == 100 and drv.status == M
    clock.advance(19)                                  # start slept 1 ms between commands
    assert drv.read() == 100 and drv.status == N
