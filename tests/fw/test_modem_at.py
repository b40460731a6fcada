"""The AT engine against scripted, byte-exact modem replies: every result type, URCs, echo."""
import time

from cemt.modem import at as A
from modem_models import ScriptUART, ok, run


def engine(script):
    u = ScriptUART(script)
    return u, A.AT(u, poll_ms=1)


def test_ok_with_info_line():
    u, at = engine([ok(b"AT+CSQ", b"+CSQ: 20,99")])
    assert run(at.cmd(b"AT+CSQ", 200, expect=b"+CSQ:")) == A.OK
    assert at.info == [b"+CSQ: 20,99"]
    assert u.done()


def test_error_cme_cms_and_verbose_cme():
    u, at = engine([
        (b"AT+X\r", b"\r\nERROR\r\n"),
        (b"AT+CPIN?\r", b"\r\n+CME ERROR: 10\r\n"),
        (b"AT+CMGS\r", b"\r\n+CMS ERROR: 500\r\n"),
        (b"AT+CPIN?\r", b"\r\n+CME ERROR: SIM not inserted\r\n"),
    ])
    assert run(at.cmd(b"AT+X", 200)) == A.ERROR
    assert run(at.cmd(b"AT+CPIN?", 200, expect=b"+CPIN:")) == A.CME and at.err == 10
    assert run(at.cmd(b"AT+CMGS", 200)) == A.CMS and at.err == 500
    assert run(at.cmd(b"AT+CPIN?", 200, expect=b"+CPIN:")) == A.CME and at.err == -1


def test_timeout_is_a_result_and_takes_the_given_time():
    u, at = engine([(b"AT\r", None)])
    t0 = time.ticks_ms()
    assert run(at.cmd(b"AT", 80)) == A.TIMEOUT
    took = time.ticks_diff(time.ticks_ms(), t0)
    assert 80 <= took < 1000, took


def test_garbled_info_line_gives_garbled():
    u, at = engine([(b"AT+CSQ\r", b"\r\n+CSQ: 2\xff0,99\r\n\r\nOK\r\n")])
    assert run(at.cmd(b"AT+CSQ", 200, expect=b"+CSQ:")) == A.GARBLED
    assert at.info == []


def test_garbled_final_returns_early_not_after_full_timeout():
    u, at = engine([(b"AT\r", b"\r\nO\x00K\r\n")])
    t0 = time.ticks_ms()
    assert run(at.cmd(b"AT", 5000)) == A.GARBLED
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000


def test_overlong_line_is_garbled():
    u, at = engine([(b"ATI\r", b"\r\n" + b"x" * 300 + b"\r\nOK\r\n")])
    assert run(at.cmd(b"ATI", 200)) == A.GARBLED


def test_missing_expected_line_is_unexpected():
    u, at = engine([(b"AT+CCLK?\r", b"\r\nOK\r\n")])
    assert run(at.cmd(b"AT+CCLK?", 200, expect=b"+CCLK:")) == A.UNEXPECTED


def test_echo_is_skipped():
    u, at = engine([(b"AT+CSQ\r", b"AT+CSQ\r\r\n+CSQ: 31,99\r\n\r\nOK\r\n")])
    assert run(at.cmd(b"AT+CSQ", 200, expect=b"+CSQ:")) == A.OK
    assert at.info == [b"+CSQ: 31,99"]


def test_urc_in_the_middle_of_a_response_split_across_reads():
    u, at = engine([(b"AT+CSQ\r", [b"\r\n+CSQ: 1", b"5,99\r\n\r\n+CE", b"REG: 0\r", b"\n\r\nOK\r\n"])])
    seen = []
    at.urc(b"+CEREG:", seen.append)
    assert run(at.cmd(b"AT+CSQ", 200, expect=b"+CSQ:")) == A.OK
    assert at.info == [b"+CSQ: 15,99"]
    assert seen == [b"+CEREG: 0"]


def test_urcs_between_commands_are_dispatched_and_noise_flushed():
    u, at = engine([ok(b"AT")])
    seen = []
    at.urc(b"+CIPRXGET: 1", seen.append)
    u.feed(b"\r\n+CIPRXGET: 1,0\r\n", b"\x00\xff\xfe")  # a URC, then power-up noise
    assert run(at.cmd(b"AT", 200)) == A.OK
    assert seen == [b"+CIPRXGET: 1,0"]
    assert at.stray == 1
