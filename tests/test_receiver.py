"""The receiver in-process with CPython device clients: verification, replay, exactly-once."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import cbor2
import pytest

from cemtool import auth, keys, receiver
from cemtool.receiver import (ACK, BAD_MAC, BAD_VERSION, MALFORMED, REPLAY, SEQUENCE,
                              UNKNOWN_DEVICE, DeviceClient, Nak)
from cemtool.store import Store

T0 = 1767225600


def minute(seq: int, co2: int = 1234) -> list[int]:
    return [1, seq, T0 + 60 * seq, 2, 3, 0, 60, 58, co2, 1200, 1300, 1500, 1805, -150, 52000, 19635]


def boot(seq: int) -> list:
    return [16, seq, T0 + seq, 2, 3, 7, 1, 0, "cemt 0.1.0"]


class Env:
    def __init__(self, tmp: Path) -> None:
        self.keyfile = tmp / "keys.json"
        self.keys = {f"stack-{i:02d}": auth.new_key() for i in range(1, 4)}
        keys.save(self.keyfile, self.keys)
        self.dbfile = tmp / "rx.sqlite"
        self.store = Store(self.dbfile)
        self.rx = receiver.Receiver(self.store, keys.KeyRing(self.keyfile, recheck_s=0))

    async def __aenter__(self) -> Env:
        self.host, self.port = await self.rx.start("127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rx.stop()
        self.store.close()

    async def client(self, device: str = "stack-01", key: bytes | None = None,
                     hello: bool = True) -> DeviceClient:
        c = DeviceClient(device, key or self.keys.get(device, bytes(32)))
        await c.connect(self.host, self.port)
        if hello:
            await c.hello()
        return c

    def rows(self) -> list[tuple]:
        con = sqlite3.connect(self.dbfile)
        try:
            return con.execute("SELECT d.name, r.kind, r.seq FROM records r JOIN devices d "
                               "ON d.id = r.dev ORDER BY 1, 2, 3").fetchall()
        finally:
            con.close()


def run(coro):
    return asyncio.run(coro)


async def expect_nak(c: DeviceClient, payload: bytes, code: int) -> Nak:
    await c.send(payload)
    with pytest.raises(Nak) as info:
        await c.reply()
    assert info.value.code == code, info.value
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await c.reply()  # the receiver closed the link after the nak
    return info.value


def test_batches_are_stored_once_and_acked_after_commit(tmp_path, caplog):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            assert await c.send_batch(0, [minute(s) for s in range(1, 21)]) == 20
            # the ack came after the commit: another connection already sees the rows
            assert len(env.rows()) == 20
            assert await c.send_batch(1, [boot(1), boot(2)]) == 2
            await c.close()
            c = await env.client()
            assert await c.send_batch(0, [minute(s) for s in range(15, 31)]) == 30
            await c.close()
            assert env.rows() == [("stack-01", 1, s) for s in range(1, 31)] + \
                [("stack-01", 16, 1), ("stack-01", 16, 2)]
            assert env.rx.counters.duplicates == 6 and env.rx.counters.records == 32
    run(go())


def test_welcome_reports_the_committed_seq_per_log(tmp_path):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            await c.send_batch(0, [minute(s) for s in range(5, 9)])
            await c.close()
            c = await env.client(hello=False)
            assert await c.hello() == {0: 8, 1: 0}
            other = await env.client("stack-02", hello=False)
            assert await other.hello() == {0: 0, 1: 0}
    run(go())


def test_forged_batch_is_rejected(tmp_path, caplog):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            c.key = auth.new_key()  # signs with a key the receiver does not hold
            await expect_nak(c, c.batch(0, [minute(1)]), BAD_MAC)
            assert env.rows() == []
    with caplog.at_level(logging.WARNING, "cemtool.receiver"):
        run(go())
    assert "rejected (bad MAC)" in caplog.text


def test_tampered_batch_is_rejected(tmp_path):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            payload = bytearray(c.batch(0, [minute(1, co2=1234)]))
            at = payload.index(cbor2.dumps(1234))
            payload[at + 2] ^= 1  # co2 1234 -> 1235, tag unchanged
            await expect_nak(c, bytes(payload), BAD_MAC)
            assert env.rows() == []
    run(go())


def test_replay_in_the_same_session_is_rejected(tmp_path):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            first = c.batch(0, [minute(1)])
            await c.send(first)
            assert (await c.reply())[0] == ACK
            nak = await expect_nak(c, first, REPLAY)
            assert "counter 1, expected 2" in nak.reason
    run(go())


def test_replay_into_another_session_is_rejected(tmp_path):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            recorded = c.batch(0, [minute(1), minute(2)])
            await c.send(recorded)
            await c.reply()
            await c.close()
            c2 = await env.client()  # a new session: new nonces
            await expect_nak(c2, recorded, BAD_MAC)
            assert len(env.rows()) == 2
    run(go())


def test_unknown_device_and_bad_hello_are_refused(tmp_path, caplog):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client("stack-77", hello=False)
            with pytest.raises(Nak) as info:
                await c.hello()
            assert info.value.code == UNKNOWN_DEVICE
            c = await env.client(hello=False)
            await c.send(cbor2.dumps([1, 2, "stack-01", bytes(16), "x", 0, 0, []]))
            with pytest.raises(Nak) as info:
                await c.reply()
            assert info.value.code == BAD_VERSION
            c = await env.client(hello=False)
            await c.send(b"\xff\x00garbage")
            with pytest.raises(Nak) as info:
                await c.reply()
            assert info.value.code == MALFORMED
    with caplog.at_level(logging.WARNING, "cemtool.receiver"):
        run(go())
    assert "stack-77 is not in the key file" in caplog.text


def test_signed_but_invalid_batches_are_refused(tmp_path):
    cases = [
        (lambda c: c.batch(1, [minute(1)]), SEQUENCE),                  # minute in the long log
        (lambda c: c.batch(0, [minute(2), minute(1)]), SEQUENCE),       # seqs not increasing
        (lambda c: c.batch(0, [minute(1)[:10]]), MALFORMED),            # short record
        (lambda c: receiver.signed(c.key, c.ctx, [3, 1, 0, 1, [minute(1)[:5] + [9] * 11]]),
         MALFORMED),                                                    # flag 9
        (lambda c: receiver.signed(c.key, c.ctx, [3, 1, 0, 2, [minute(1)]]), SEQUENCE),
        (lambda c: c.batch(0, [[1, 1, T0, 2, 3, 0, 60, 58, 1.5, 0, 0, 0, 0, 0, 0, 0]]),
         MALFORMED),                                                    # a float
    ]

    async def go():
        async with Env(tmp_path) as env:
            for make, code in cases:
                c = await env.client()
                await expect_nak(c, make(c), code)
            # a non-canonical encoding under a valid tag: 5 written as a 1-byte argument
            c = await env.client()
            good = receiver.dumps([3, 1, 0, 5, [minute(5)]])
            bad = good.replace(b"\x01\x05", b"\x01\x18\x05", 1)
            pre = bad + receiver.TAG_ITEM
            pre = bytes([pre[0] + 1]) + pre[1:]  # one more item: the tag
            payload = pre + auth.sign(c.key, c.ctx + pre[:-2])
            nak = await expect_nak(c, payload, MALFORMED)
            assert "canonical" in nak.reason
            assert env.rows() == []
    run(go())


def test_conflicting_record_is_kept_apart_and_acked(tmp_path, caplog):
    async def go():
        async with Env(tmp_path) as env:
            c = await env.client()
            await c.send_batch(0, [minute(1), minute(2)])
            assert await c.send_batch(0, [minute(2, co2=999), minute(3)]) == 3
            assert env.store.conflicts()[0][:3] == ("stack-01", 1, 2)
            assert len(env.rows()) == 3
    with caplog.at_level(logging.WARNING, "cemtool.receiver"):
        run(go())
    assert "conflict" in caplog.text


def test_many_devices_at_once(tmp_path):
    async def one(env: Env, device: str, k: int) -> None:
        c = await env.client(device)
        for b in range(5):
            seqs = range(1 + 10 * b, 11 + 10 * b)
            await c.send_batch(0, [minute(s) for s in seqs])
            await c.send_batch(0, [minute(s) for s in seqs])  # each batch twice
        await c.close()

    async def go():
        async with Env(tmp_path) as env:
            await asyncio.gather(*(one(env, f"stack-0{1 + i % 3}", i) for i in range(30)))
            rows = env.rows()
            assert len(rows) == len(set(rows)) == 3 * 50
    run(go())


def test_key_file_is_reread_for_a_new_device(tmp_path):
    async def go():
        async with Env(tmp_path) as env:
            key = auth.new_key()
            keys.save(env.keyfile, {**env.keys, "stack-09": key})
            c = await env.client("stack-09", key)
            assert await c.send_batch(0, [minute(1)]) == 1
    run(go())


def test_parse_listen():
    assert receiver.parse_listen("127.0.0.1:7070") == ("127.0.0.1", 7070)
    assert receiver.parse_listen("[::1]:0") == ("::1", 0)
    for bad in ("7070", "host:", ":80", "host:99999", "host:x"):
        with pytest.raises(ValueError):
            receiver.parse_listen(bad)
