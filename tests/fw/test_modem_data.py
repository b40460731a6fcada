"""The AT engine's data paths: prompt + binary send, length-prefixed reads, waits, no blocking."""
import asyncio
import time

from cemt.modem import at as A
from modem_models import ScriptUART, run


def engine(script):
    u = ScriptUART(script)
    return u, A.AT(u, poll_ms=1)


def test_prompt_then_binary_data_exactly():
    payload = b"\x00\x1a\r\n>OK\r\n\xff"
    u, at = engine([(b"AT+CIPSEND=0,9\r", b"\r\n> "), (payload, b"\r\nOK\r\n")])
    assert run(at.cmd(b"AT+CIPSEND=0,9", 200, data=payload)) == A.OK
    assert u.done()


def test_prompt_refused_with_error():
    u, at = engine([(b"AT+QISEND=0,3\r", b"\r\nERROR\r\n")])
    assert run(at.cmd(b"AT+QISEND=0,3", 200, data=b"abc", ok=b"SEND OK")) == A.ERROR
    assert u.written == 14  # the command only: no data without a prompt


def test_length_prefixed_read_of_binary_data():
    data = b"\r\nOK\r\n\x00\x1a+CME ERROR: 3\r\n"
    reply = [b"\r\n+CIPRXGET: 2,0,%d,0\r\n" % len(data), data[:5], data[5:], b"\r\nOK\r\n"]
    u, at = engine([(b"AT+CIPRXGET=2,0,64\r", reply)])
    buf = bytearray(64)

    def length(line):
        return int(line.split(b",")[2])

    r = run(at.cmd(b"AT+CIPRXGET=2,0,64", 200, expect=b"+CIPRXGET: 2", raw=length, into=buf))
    assert r == A.OK
    assert at.raw_len == len(data) and bytes(buf[:at.raw_len]) == data


def test_wait_for_a_condition_or_a_wanted_line():
    u, at = engine([])
    got = []
    at.urc(b"+CIPRXGET: 1", got.append)
    u.feed(30, b"\r\n+CIPRXGET: 1,0\r\n")
    assert run(at.wait(500, lambda: got)) == A.OK
    u.feed(30, b"\r\n+CIPRXGET: 1,0\r\n", b"\r\n+CIPOPEN: 0,0\r\n")
    assert run(at.wait(500, want=b"+CIPOPEN:")) == A.OK
    assert at.info == [b"+CIPOPEN: 0,0"] and len(got) == 2
    assert run(at.wait(30, want=b"+CIPOPEN:")) == A.OK  # already there from before
    at.info = []
    assert run(at.wait(30, want=b"+CIPOPEN:")) == A.TIMEOUT


def test_a_slow_reply_does_not_block_other_tasks():
    u, at = engine([(b"AT+NETOPEN\r", [300, b"\r\nOK\r\n"])])
    ticks = [0]

    async def sampler():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(10)

    async def main():
        t = asyncio.create_task(sampler())
        r = await at.cmd(b"AT+NETOPEN", 2000)
        t.cancel()
        return r

    assert run(main()) == A.OK
    assert ticks[0] >= 15, ticks[0]


def test_parsing_allocates_per_line_not_per_byte():
    import gc
    line = b"+QIND: " + b"x" * 93
    reply = (b"\r\n" + line + b"\r\n") * 40 + b"\r\nOK\r\n"
    u, at = engine([(b"ATI\r", [reply])])
    gc.collect()
    before = gc.mem_alloc()
    gc.disable()
    r = run(at.cmd(b"ATI", 500))
    used = gc.mem_alloc() - before
    gc.enable()
    assert r == A.OK and at.info == [line] * 40
    # One copy of each complete line plus a little (and the scripted UART's own slices): the
    # 4000 bytes parsed into one object per byte would cost more than 64 KB.
    assert used < 40 * (len(line) + 200) + 4096, used
