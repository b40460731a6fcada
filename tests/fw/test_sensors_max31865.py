"""MAX31865 PT100 driver over the unix SPI bus: IEC 60751 values, exact traffic, RTD faults."""
from cemt.board.bench import SPI  # first: compiling it from source needs room
from cemt.board.unix import Pin

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N, T
from cemt.sensors import make

R_REF = 430000  # mOhm, the usual PT100 board


class MAX31865Model:
    """Maxim MAX31865 on SPI: registers 0-7, reads from addr, writes to addr | 0x80."""

    def __init__(self, code=0):
        self.regs = bytearray(8)
        self.regs[3] = self.regs[4] = 0xFF  # power-on thresholds: high 0xFFFF, low 0x0000
        self.transfers = []
        self.code = code
        self.fault = 0
        self.dead = False  # True: MISO floats high, the chip never answers

    def transfer(self, data):
        self.transfers.append(bytes(data))
        if self.dead:
            return b"\xff" * len(data)
        addr = data[0]
        if addr & 0x80:
            reg = addr & 0x7F
            for b in data[1:]:
                if reg == 0:
                    if b & 0x02:
                        self.fault = 0
                    b &= ~0x22 & 0xFF  # fault clear and one-shot clear themselves
                self.regs[reg] = b
                reg += 1
            return b"\xff" * len(data)
        self.regs[1] = self.code >> 7 & 0xFF
        self.regs[2] = (self.code << 1 & 0xFF) | (1 if self.fault else 0)
        self.regs[7] = self.fault
        out = bytearray(len(data))
        out[0] = 0xFF
        for i in range(1, len(data)):
            out[i] = self.regs[(addr + i - 1) & 7]
        return bytes(out)


def code_for(r_mohm):
    return (r_mohm * 32768 + R_REF // 2) // R_REF


def ready(model=None, cfg=None, warm=True):
    model = model or MAX31865Model(code_for(100000))
    spi = SPI()
    cs = Pin(5)
    spi.attach(cs, model)
    clock = VirtualClock(0)
    drv = make("max31865", cfg or {}, spi, clock, cs=cs)
    drv.start()
    if warm:
        clock.advance(100)
    return drv, model


def test_iec_60751_table_values():
    # PT100 resistance (mOhm) at temperatures of the IEC 60751 table.
    table = ((-100, 60256), (-50, 80306), (0, 100000), (100, 138506), (200, 175856),
             (300, 212052), (400, 247092), (600, 313708))
    drv, model = ready()
    for t, r in table:
        model.code = code_for(r)
        got = drv.read()
        assert drv.status == N and abs(got - t * 100) <= 3, (t, got)
    # The ends of the range, one ADC step inside (a step is 0.03-0.045 degC there).
    for t, r, step in ((-200, 18520, 1), (850, 390481, -1)):
        model.code = code_for(r) + step
        got = drv.read()
        assert drv.status == N and abs(got - t * 100) <= 8, (t, got)


def test_conversion_follows_callendar_van_dusen_between_table_points():
    drv, model = ready()
    for t10 in range(-1995, 8500, 73):                 # 0.1 degC steps off the 10 degC grid
        t = t10 / 10
        w = 1 + 3.9083e-3 * t - 5.775e-7 * t * t
        if t < 0:
            w -= 4.183e-12 * (t - 100) * t * t * t
        model.code = round(w * 100 / 430 * 32768)
        model.transfers.clear()
        got = drv.read()
        assert drv.status == N and abs(got - t10 * 10) <= 3, (t, got)


def test_traffic_is_byte_exact():
    drv, model = ready()
    assert model.transfers == [b"\x80\xc3", b"\x83\xff\xff\x00\x00", b"\x00\xff"]
    drv.read()
    assert model.transfers[-1] == b"\x01" + b"\xff" * 7
    assert drv._cs.value() == 1                        # deselected between transfers
    drv, model = ready(cfg={"wires": 3, "filter_hz": 60})
    assert model.transfers[0] == b"\x80\xd2" and drv.ready


def test_rtd_fault_is_reported_and_cleared():
    drv, model = ready()
    model.code, model.fault = 0x7FFF, 0x80             # open RTD: high threshold fault
    assert drv.read() == 0 and (drv.status, drv.reason) == (D, "rtd")
    assert drv.fault == 0x80
    assert model.transfers[-1] == b"\x80\xc3"         # fault status cleared
    model.code = code_for(100000)
    assert abs(drv.read()) <= 2 and drv.status == N    # 0 degC again, within an ADC step


def test_dead_bus():
    drv, model = ready(MAX31865Model())
    model.dead = True
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "spi")
    model = MAX31865Model()
    model.dead = True
    drv, _ = ready(model)
    assert not drv.ready and (drv.status, drv.reason) == (B, "config")


def test_out_of_table_is_over_range():
    drv, model = ready()
    model.code = code_for(400000)                      # 400 Ohm: above 850 degC
    assert drv.read() == 0 and (drv.status, drv.reason) == (T, "range")
    model.code = code_for(18000)                       # below -200 degC
    assert drv.read() == 0 and drv.status == T


def test_warm_up_and_bad_config():
    drv, _ = ready(warm=False)
    assert abs(drv.read()) <= 2 and drv.status == M
    for cfg in ({"wires": 5}, {"filter_hz": 55}, {"rref": 430}):
        try:
            make("max31865", cfg, SPI(), VirtualClock(0), cs=Pin(5))
        except ValueError:
            pass
        else:
            raise AssertionError(cfg)
