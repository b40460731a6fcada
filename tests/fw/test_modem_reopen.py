"""After a modem-level failure the driver closes a possibly half-open socket before reopening."""
from cemt.modem import driver  # noqa: F401  (compiled before the helpers, heap still empty)
from modem_models import run
from modem_steps import CCLK, HOST, bring_up, modem, ok

NET = [
    ok(b'AT+QICSGP=1,1,"cmnet","","",1'),
    ok(b"AT+QIACT?"),
    ok(b"AT+QIACT=1"),
    ok(b"AT+CSQ", b"+CSQ: 20,99"),
    (b'AT+QIOPEN=1,0,"TCP","198.51.100.7",5000,0,0\r', b"\r\nOK\r\n\r\n+QIOPEN: 0,0\r\n"),
]


def test_after_a_garbled_send_the_socket_is_closed_before_reopening():
    again = bring_up() + [CCLK, ok(b'AT+QICSGP=1,1,"cmnet","","",1'),
                          ok(b"AT+QIACT?", b'+QIACT: 1,1,1,"10.0.0.2"'), NET[3],
                          ok(b"AT+QICLOSE=0"), NET[4]]
    steps = bring_up() + [CCLK] + NET + [
        (b"AT+QISEND=0,2\r", b"\r\n> "), (b"hi", b"\r\nSEND \xffOK\r\n")] + again
    u, m = modem(steps, "quectel")

    async def session():
        assert await m.connect(HOST, 5000)
        sent = await m.send(b"hi")
        return sent, await m.connect(HOST, 5000)

    assert run(session()) == (False, True)
    assert u.done() and m.ladder.counts[0] == 1 and m.last_error == 6 * 16 + 5
