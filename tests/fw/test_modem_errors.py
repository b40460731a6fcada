"""Driver failures with the SIMCom adapter: typed, counted, escalated only when the modem is at fault."""
from cemt.modem import driver
from modem_models import run
from modem_steps import CCLK, HOST, SIMCOM_NET, SIMCOM_OPEN, bring_up, modem, ok
from modem_steps import simcom_connected as connected


def test_peer_close_ends_the_session_without_escalation():
    steps = connected([
        (b"AT+CIPSEND=0,2\r", b"\r\n>"), (b"hi", b"\r\nOK\r\n\r\n+CIPSEND: 0,2,-1\r\n+IPCLOSE: 0,1\r\n"),
    ])
    u, m = modem(steps)
    buf = bytearray(8)

    async def session():
        assert await m.connect(HOST, 5000)
        sent = await m.send(b"hi")
        return sent, await m.recv(buf, 50)

    assert run(session()) == (False, -1)
    assert m.last_error == driver.SEND * 16 + 8 and m.ladder.streak == 0


def test_refused_connection_is_not_a_modem_failure():
    steps = bring_up() + [CCLK] + SIMCOM_NET + [
        ok(b"AT+CSQ", b"+CSQ: 20,99"),
        (SIMCOM_OPEN[0], b"\r\nOK\r\n\r\n+CIPOPEN: 0,1\r\n")]
    u, m = modem(steps)
    assert not run(m.connect(HOST, 5000))
    assert m.last_error == driver.OPEN * 16 + 7 and m.ladder.streak == 0 and m.ready


def test_lost_data_notice_is_recovered_by_reading_after_the_timeout():
    steps = connected([(b"AT+CIPRXGET=2,0,16\r", b"\r\n+CIPRXGET: 2,0,3,0\r\nack\r\nOK\r\n")])
    u, m = modem(steps)
    buf = bytearray(16)

    async def session():
        assert await m.connect(HOST, 5000)
        u.feed(b"\r\n+CIPRX\xffGET: 1,0\r\n")  # the notice, hit by line noise
        return await m.recv(buf, 30)

    assert run(session()) == 3 and bytes(buf[:3]) == b"ack"


def test_sim_error_is_typed_and_counted():
    steps = bring_up()[:5] + [(b"AT+CPIN?\r", b"\r\n+CME ERROR: 10\r\n")]
    u, m = modem(steps)
    assert not run(m.up())
    assert m.last_error == driver.SIM * 16 + 2 and m.ladder.counts[0] == 1


def test_modem_reboot_urc_drops_the_link():
    u, m = modem(connected([]))
    assert run(m.connect(HOST, 5000))
    u.feed(b"\r\nRDY\r\n")
    m.poll()
    assert not m.ready and not m.connected
