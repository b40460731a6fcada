"""Modbus RTU CO2 analyser driver: exact frames on the wire, ABC verification, every failure path."""
from sensor_models import ScriptedUART, modbus_crc, modbus_frame  # first: compiling it needs room

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N, T
from cemt.sensors import make
from cemt.sensors.modbus import crc16

HEX = bytes.fromhex
ABC_OFF = modbus_frame(0xFE, 0x03, 0x02, 0x00, 0x00)   # holding register 31 reads 0
READ_ABC = HEX("FE03001F0001")
READ_BLOCK = HEX("FE0400000004")                       # input registers 0..3


def regs(*words, addr=0xFE, fn=0x04):
    body = [addr, fn, 2 * len(words)]
    for w in words:
        body += [w >> 8, w & 0xFF]
    return modbus_frame(*body)


def ready(cfg=None, *replies, abc=True):
    """A started, warmed-up driver whose UART will answer ``replies`` after the start."""
    clock = VirtualClock(0)
    uart = ScriptedUART(*(((ABC_OFF,) if abc else ()) + replies))
    drv = make("modbus_co2", cfg or {}, uart, clock)
    assert drv.start(), drv.reason
    clock.advance(drv.warmup_ms)
    return drv, uart, clock


def test_crc16_matches_published_check_values():
    assert crc16(b"123456789", 9) == 0x4B37          # CRC-16/MODBUS catalogue check
    assert modbus_crc(b"123456789") == 0x4B37        # the models' own generic CRC
    frame = HEX("01040000000131CA")                  # the Modbus spec's read-input example
    assert crc16(frame, 6) == 0xCA31
    assert crc16(frame, 8) == 0                      # a frame with its CRC leaves 0
    assert modbus_frame(0x01, 0x04, 0x00, 0x00, 0x00, 0x01) == frame


def test_read_input_register_frame_is_byte_exact():
    cfg = {"addr": 1, "status_reg": None, "co2_reg": 0, "abc_reg": None}
    drv, uart, _ = ready(cfg, modbus_frame(0x01, 0x04, 0x02, 0x01, 0xF4), abc=False)
    assert drv.read() == 50 and drv.status == N       # 500 ppm = 0.050 %vol
    assert uart.written == [HEX("01040000000131CA")]


def test_senseair_co2_only_request_matches_published_frame():
    # Senseair's documented "read CO2" request: any-sensor address, IR4.
    drv, uart, _ = ready({"status_reg": None}, regs(0x0388))
    assert drv.read() == 90 and drv.status == N       # 904 ppm
    assert uart.written[-1] == HEX("FE0400030001D5C5")


def test_start_reads_abc_and_leaves_it_when_already_off():
    drv, uart, _ = ready()
    assert uart.written == [READ_ABC + HEX("A1C3")]
    assert modbus_crc(READ_ABC) == 0xC3A1
    assert drv.ready and drv.status == N


def test_start_writes_abc_zero_and_verifies_it():
    clock = VirtualClock(0)
    write = HEX("FE06001F0000")
    uart = ScriptedUART(modbus_frame(0xFE, 0x03, 0x02, 0x00, 0xB4),  # ABC period 180 h
                        modbus_frame(*write),                          # echo of the write
                        ABC_OFF)
    drv = make("modbus_co2", {}, uart, clock)
    assert drv.start()
    assert uart.written == [modbus_frame(*READ_ABC), modbus_frame(*write), modbus_frame(*READ_ABC)]
    assert uart.written[1] == HEX("FE06001F0000AC03")


def test_abc_that_stays_on_is_a_device_fault_until_a_retry_succeeds():
    clock = VirtualClock(0)
    on = modbus_frame(0xFE, 0x03, 0x02, 0x00, 0xB4)
    uart = ScriptedUART(on, modbus_frame(0xFE, 0x06, 0x00, 0x1F, 0x00, 0x00), on,
                        ABC_OFF, regs(0, 0, 0, 500))
    drv = make("modbus_co2", {}, uart, clock)
    assert not drv.start()
    assert (drv.status, drv.reason) == (D, "abc") and not drv.ready
    assert drv.read() == 0 and drv.status == D
    assert len(uart.written) == 3                     # no retry before retry_ms
    clock.advance(10000)
    assert drv.read() == 50 and drv.ready             # retried: ABC now reads off
    assert drv.status == M                            # still inside the 60 s warm-up
    assert uart.written[3] == modbus_frame(*READ_ABC)
    assert drv.errors[D] == 1


def test_abc_register_missing_is_a_device_fault():
    uart = ScriptedUART(modbus_frame(0xFE, 0x83, 0x02))  # exception 2: illegal data address
    drv = make("modbus_co2", {}, uart, VirtualClock(0))
    assert not drv.start()
    assert (drv.status, drv.reason, drv.exception) == (D, "exception", 2)


def test_abc_check_without_reply_is_a_communication_fault():
    drv = make("modbus_co2", {}, ScriptedUART(None), VirtualClock(0))
    assert not drv.start()
    assert (drv.status, drv.reason) == (B, "timeout")


def test_status_and_co2_in_one_block():
    drv, uart, _ = ready({}, regs(0, 0, 0, 12345))
    assert drv.read() == 1235                         # 12345 ppm, rounded to 0.001 %vol
    assert drv.status == N and drv.reason == ""
    assert uart.written[-1] == READ_BLOCK + HEX("E5C6")


def test_high_range_register_map_and_scale():
    # A unit reporting 0.01 %vol in IR 5 with status in IR 1: one block 1..5, value x10.
    cfg = {"status_reg": 1, "co2_reg": 5, "mul": 10, "div": 1}
    drv, uart, _ = ready(cfg, regs(0, 0, 0, 0, 1250))
    assert drv.read() == 12500                        # 12.50 %vol
    assert uart.written[-1] == modbus_frame(0xFE, 0x04, 0x00, 0x01, 0x00, 0x05)


def test_warm_up_reads_m_then_n():
    clock = VirtualClock(0)
    uart = ScriptedUART(ABC_OFF, regs(0, 0, 0, 500), regs(0, 0, 0, 500))
    drv = make("modbus_co2", {}, uart, clock)
    drv.start()
    clock.advance(59999)
    assert drv.read() == 50 and (drv.status, drv.reason) == (M, "warmup")
    clock.advance(1)
    assert drv.read() == 50 and drv.status == N


def test_device_error_bits_are_d_and_out_of_range_bit_is_t():
    drv, _, _ = ready({}, regs(0x0001, 0, 0, 400), regs(0x0020, 0, 0, 10000), regs(0x0040, 0, 0, 1))
    assert drv.read() == 40 and (drv.status, drv.reason) == (D, "status")
    assert drv.meter_status == 1
    assert drv.read() == 1000 and (drv.status, drv.reason) == (T, "range")
    drv.read()
    assert (drv.status, drv.reason) == (D, "status")  # bit 6: memory error
    assert drv.errors[D] == 2 and drv.errors[T] == 1


def test_configured_maximum_is_over_range():
    drv, _, _ = ready({"max": 5000}, regs(0, 0, 0, 50000), regs(0, 0, 0, 50010))
    assert drv.read() == 5000 and drv.status == N
    assert drv.read() == 5001 and drv.status == T


def test_timeout():
    drv, uart, _ = ready({}, None)
    before = uart.reads
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "timeout")
    assert uart.reads - before == 1                   # one read waited out, no more


def test_short_reply():
    frame = regs(0, 0, 0, 500)
    drv, _, _ = ready({}, frame[:9])
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "short")


def test_bad_crc():
    frame = bytearray(regs(0, 0, 0, 500))
    frame[-1] ^= 0x40
    drv, _, _ = ready({}, bytes(frame))
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "crc")


def test_wrong_address_echo():
    drv, _, _ = ready({}, regs(0, 0, 0, 500, addr=0x01))
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "address")


def test_wrong_function_echo():
    drv, _, _ = ready({}, regs(0, 0, 0, 500, fn=0x03))
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "function")


def test_wrong_length():
    drv, _, _ = ready({}, regs(0, 500))               # two registers where four were asked
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "length")


def test_exception_reply():
    drv, _, _ = ready({}, modbus_frame(0xFE, 0x84, 0x04))  # slave device failure
    assert drv.read() == 0 and (drv.status, drv.reason) == (D, "exception")
    assert drv.exception == 4


def test_stale_bytes_are_flushed_before_the_request():
    drv, uart, _ = ready({}, regs(0, 0, 0, 700))
    uart.stale(b"\xfe\x04\x08\x00")                   # the tail of an old, late reply
    uart.stale(b"noise")
    assert drv.read() == 70 and drv.status == N
    assert drv.link.stale == 9


def test_reply_in_pieces_is_gathered():
    frame = regs(0, 0, 0, 800)
    drv, uart, _ = ready({}, (frame[:2], frame[2:7], frame[7:]))
    assert drv.read() == 80 and drv.status == N


def test_a_trickling_device_costs_a_bounded_number_of_reads():
    frame = regs(0, 0, 0, 800)
    drv, uart, _ = ready({}, tuple(frame[i:i + 1] for i in range(len(frame))))
    before = uart.reads
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "short")
    assert uart.reads - before <= 16


def test_reply_deadline_on_the_clock():
    class SlowUART(ScriptedUART):
        def readinto(self, buf, nbytes=None):
            clock.advance(200)                        # each piece takes 200 ms to come
            return super().readinto(buf, nbytes)

    clock = VirtualClock(0)
    frame = regs(0, 0, 0, 800)
    uart = SlowUART(ABC_OFF, (frame[:4], frame[4:8], frame[8:]))
    drv = make("modbus_co2", {"timeout_ms": 300}, uart, clock)
    drv.start()
    clock.advance(60000)
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "short")


def test_lost_device_is_restarted_and_reverified():
    clock = VirtualClock(0)
    uart = ScriptedUART(ABC_OFF, None, None, None, None, ABC_OFF, regs(0, 0, 0, 500))
    drv = make("modbus_co2", {"retry_ms": 5000}, uart, clock)
    drv.start()
    clock.advance(60000)
    for _ in range(3):
        assert drv.read() == 0 and drv.status == B
    assert not drv.ready and drv.errors[B] == 3
    assert drv.read() == 0 and (drv.status, drv.reason) == (B, "timeout")  # restart: no reply
    assert len(uart.written) == 5 and uart.written[4] == modbus_frame(*READ_ABC)
    clock.advance(4999)
    assert drv.read() == 0 and drv.status == B and len(uart.written) == 5  # waits retry_ms
    clock.advance(1)
    assert drv.read() == 50 and drv.status == N                            # re-verified
    assert uart.written[5] == modbus_frame(*READ_ABC)


def test_bad_config_is_refused():
    for cfg in ({"adress": 1}, {"status_reg": 0, "co2_reg": 8}, {"div": 0}):
        try:
            make("modbus_co2", cfg, ScriptedUART(), VirtualClock(0))
        except ValueError as e:
            assert "modbus_co2" in str(e)
        else:
            raise AssertionError("accepted %r" % (cfg,))
