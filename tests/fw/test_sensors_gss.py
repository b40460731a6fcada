"""GSS ASCII CO2 analyser driver: exact commands, auto-zero verification, every failure path."""
from sensor_models import ScriptedUART  # first: compiling it needs room

from cemt.board.clock import VirtualClock
from cemt.schema import B, D, M, N, T
from cemt.sensors import make

START = (b" K 00002\r\n", b" . 00010\r\n", b" @ 0\r\n", b" @ 0\r\n")


def ready(*replies, cfg=None, start=START):
    clock = VirtualClock(0)
    uart = ScriptedUART(*(start + replies))
    drv = make("gss_co2", cfg or {}, uart, clock)
    assert drv.start(), drv.reason
    clock.advance(drv.warmup_ms)
    return drv, uart


def failed_start(*replies):
    drv = make("gss_co2", {}, ScriptedUART(*replies), VirtualClock(0))
    assert not drv.start()
    return drv.status, drv.reason


def test_start_commands_are_byte_exact():
    drv, uart = ready()
    assert uart.written == [b"K 2\r\n", b".\r\n", b"@ 0\r\n", b"@\r\n"]
    assert drv.multiplier == 10 and drv.status == N


def test_reading_is_z_times_multiplier():
    drv, uart = ready(b" Z 01234\r\n")
    assert drv.read() == 1234 and drv.status == N     # 12340 ppm = 1.234 %vol
    assert uart.written[-1] == b"Z\r\n"


def test_multipliers_one_and_hundred():
    start = (b" K 00002\r\n", b" . 00001\r\n", b" @ 0\r\n", b" @ 0\r\n")
    drv, _ = ready(b" Z 00455\r\n", start=start)
    assert drv.read() == 46                           # 455 ppm = 0.0455 %vol, rounded
    start = (b" K 00002\r\n", b" . 00100\r\n", b" @ 0\r\n", b" @ 0\r\n")
    drv, _ = ready(b" Z 00150\r\n", start=start)
    assert drv.read() == 1500                         # 15000 ppm = 1.5 %vol


def test_auto_zero_still_on_is_a_device_fault():
    on = b" @ 1.0 8.0\r\n"
    assert failed_start(b" K 00002\r\n", b" . 00010\r\n", b" @ 0\r\n", on) == (D, "abc")
    assert failed_start(b" K 00002\r\n", b" . 00010\r\n", on) == (D, "abc")


def test_auto_zero_command_refused_is_a_device_fault():
    assert failed_start(b" K 00002\r\n", b" . 00010\r\n", b" ?\r\n") == (D, "abc")


def test_silence_during_the_auto_zero_check_is_a_communication_fault():
    assert failed_start(b" K 00002\r\n", b" . 00010\r\n", None) == (B, "timeout")


def test_multiplier_zero_and_wrong_mode_are_device_faults():
    assert failed_start(b" K 00002\r\n", b" . 00000\r\n") == (D, "multiplier")
    assert failed_start(b" K 00001\r\n") == (D, "mode")


def test_no_sensor():
    assert failed_start(None) == (B, "timeout")


def test_read_failures():
    cases = (
        (None, "timeout"),
        (b" Z 012", "short"),                         # the line stops half way
        (b" Z 0x234\r\n", "garbled"),
        (b" Z 01234\n", "garbled"),                   # no CR
        (b"Z 01234\r\n", "garbled"),                  # no leading space
        (b" Z \r\n", "garbled"),                      # no digits
        (b" Z 012345678\r\n", "garbled"),             # more digits than any sensor sends
        (b"\x00" * 20, "garbled"),                    # noise filling the buffer, no line end
        (b" z 01234\r\n", "echo"),                    # the unfiltered reading: wrong letter
    )
    drv, _ = ready(*(reply for reply, _ in cases), cfg={"restart_after": 100})
    for reply, reason in cases:
        assert drv.read() == 0, reply
        assert (drv.status, drv.reason) == (B, reason), (reply, drv.reason)
    assert drv.errors[B] == len(cases)


def test_stale_stream_lines_are_flushed():
    drv, uart = ready(b" Z 00400\r\n")
    uart.stale(b" Z 00399 z 00398\r\n")               # left over from streaming mode
    uart.stale(b" Z 003")
    assert drv.read() == 400 and drv.status == N
    assert drv.link.stale == 24


def test_reply_in_pieces():
    drv, _ = ready((b" Z", b" 00", b"777\r", b"\n"))
    assert drv.read() == 777 and drv.status == N


def test_over_range_and_warm_up():
    clock = VirtualClock(0)
    uart = ScriptedUART(*(START + (b" Z 02000\r\n", b" Z 02001\r\n")))
    drv = make("gss_co2", {"max": 2000}, uart, clock)
    drv.start()
    assert drv.read() == 2000 and (drv.status, drv.reason) == (M, "warmup")
    clock.advance(60000)
    assert drv.read() == 2001 and (drv.status, drv.reason) == (T, "range")
