"""The driver with the Quectel adapter against a byte-exact script: bring-up to socket close."""
from modem_models import run
from modem_steps import CCLK, HOST, bring_up, modem, ok

NET = [
    ok(b'AT+QICSGP=1,1,"cmnet","","",1'),
    ok(b"AT+QIACT?"),                       # no context active yet
    ok(b"AT+QIACT=1"),
    ok(b"AT+CSQ", b"+CSQ: 99,99"),          # signal unknown
    (b'AT+QIOPEN=1,0,"TCP","198.51.100.7",5000,0,0\r', [b"\r\nOK\r\n", 20, b"\r\n+QIOPEN: 0,0\r\n"]),
]


def test_bring_up_roaming_send_receive_in_blocks_and_close():
    data = b"\x00\x1a\r\n\xff"
    steps = bring_up(b"+CEREG: 0,5") + [CCLK] + NET + [
        (b"AT+QISEND=0,5\r", b"\r\n> "),
        (data, [b"\r\nSEND OK\r\n", 10, b'\r\n+QIURC: "recv",0\r\n']),
        (b"AT+QIRD=0,4\r", b"\r\n+QIRD: 4\r\n" + data[:4] + b"\r\n\r\nOK\r\n"),
        (b"AT+QIRD=0,4\r", b"\r\n+QIRD: 1\r\n" + data[4:] + b"\r\n\r\nOK\r\n"),
        ok(b"AT+QICLOSE=0"),
    ]
    u, m = modem(steps, "quectel")
    buf = bytearray(4)

    async def session():
        assert await m.connect(HOST, 5000)
        assert await m.send(data)
        got = b""
        for _ in range(2):
            n = await m.recv(buf, 500)
            got += bytes(buf[:n])
        last = await m.recv(buf, 0)  # the second block was short: nothing more waits
        await m.close()
        return got, last

    assert run(session()) == (data, 0)
    assert u.done() and m.stat == 5 and m.rssi == 0


def test_context_already_active_and_send_fail():
    steps = bring_up() + [CCLK,
                          ok(b'AT+QICSGP=1,1,"cmnet","","",1'),
                          ok(b"AT+QIACT?", b'+QIACT: 1,1,1,"10.0.0.2"'),
                          NET[3], NET[4],
                          (b"AT+QISEND=0,2\r", b"\r\n> "), (b"hi", b"\r\nSEND FAIL\r\n")]
    u, m = modem(steps, "quectel")

    async def session():
        assert await m.connect(HOST, 5000)
        return await m.send(b"hi")

    assert run(session()) is False
    assert u.done() and m.last_error == 6 * 16 + 7


def test_peer_close_urc():
    u, m = modem(bring_up() + [CCLK] + NET, "quectel")
    buf = bytearray(8)

    async def session():
        assert await m.connect(HOST, 5000)
        u.feed(b'\r\n+QIURC: "closed",0\r\n')
        return await m.recv(buf, 200)

    assert run(session()) == -1 and not m.connected

