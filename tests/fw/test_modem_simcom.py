"""The driver with the SIMCom adapter against a byte-exact script: bring-up to socket close."""
from cemt.board.clock import TQ_NETWORK, VirtualClock
from modem_models import run
from modem_steps import (CCLK, CCLK_UTC, HOST, SIMCOM_NET, bring_up, modem, ok,
                         simcom_connected as connected)


def test_bring_up_sets_network_time_and_opens_the_socket():
    clock = VirtualClock(0)
    u, m = modem(connected([]), clock=clock)
    assert run(m.connect(HOST, 5000))
    assert u.done() and m.connected
    assert clock.now() == CCLK_UTC and clock.quality == TQ_NETWORK
    s = m.summary()
    assert (s["ready"], s["reg"], s["rssi"], s["err"], s["fails"]) == (1, 1, -73, 0, 0)


def test_registration_waits_for_the_urc():
    steps = bring_up(b"+CEREG: 1,2") + [
        (b"AT+CREG?\r", [b"\r\n+CREG: 1,2\r\n\r\nOK\r\n", 30, b"\r\n+CEREG: 5\r\n"]),
        ok(b"AT+CEREG?", b"+CEREG: 1,5"),
        CCLK] + SIMCOM_NET
    u, m = modem(steps)
    assert run(m.up())
    assert u.done() and m.stat == 5


def test_binary_send_receive_and_close():
    data = b"\x00\x1a\r\nOK\r\n\xff"
    steps = connected([
        (b"AT+CIPSEND=0,9\r", b"\r\n> "),
        (data, [b"\r\nOK\r\n\r\n+CIPSEND: 0,9,9\r\n", 10, b"\r\n+CIPRXGET: 1,0\r\n"]),
        (b"AT+CIPRXGET=2,0,64\r", b"\r\n+CIPRXGET: 2,0,9,0\r\n" + data + b"\r\nOK\r\n"),
        (b"AT+CIPCLOSE=0\r", [b"\r\nOK\r\n", 10, b"\r\n+CIPCLOSE: 0,0\r\n"]),
    ])
    u, m = modem(steps)
    buf = bytearray(64)

    async def session():
        assert await m.connect(HOST, 5000)
        assert await m.send(data)
        n = await m.recv(buf, 500)
        await m.close()
        return n

    assert run(session()) == 9 and bytes(buf[:9]) == data
    assert u.done() and not m.connected


def test_large_send_is_split_into_blocks():
    data = bytes(range(256)) * 7  # 1792 bytes: 1500 + 292
    mv = memoryview(data)
    steps = connected([
        (b"AT+CIPSEND=0,1500\r", b"\r\n>"), (mv[:1500], b"\r\nOK\r\n\r\n+CIPSEND: 0,1500,1500\r\n"),
        (b"AT+CIPSEND=0,292\r", b"\r\n>"), (mv[1500:], b"\r\nOK\r\n\r\n+CIPSEND: 0,292,292\r\n"),
    ])
    u, m = modem(steps)

    async def session():
        return await m.connect(HOST, 5000) and await m.send(data)

    assert run(session()) and u.done()
