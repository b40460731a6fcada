"""Store-and-forward uplink: sessions that deliver the ring logs to the receiver (docs/protocol.md).

``Uplink.run`` is one asyncio task. When a log holds records the receiver has not acknowledged,
it connects, says hello, checks the receiver's signed welcome, then sends the records after each
log's acknowledged cursor in signed batches, one batch at a time, and advances the persisted
cursor (``log.ack``) only on the receiver's signed ack. It keeps the session open while new
records come and closes it after ``idle_ms`` without any. Every failure ends the session and
backs off exponentially with jitter, ``backoff_min_ms`` to ``backoff_max_ms``, on the board
clock; an ack resets the backoff. ``stats()`` gives the link state and counters for health records.

Logs are passed as a tuple whose index is the protocol's log id: 0 the minute log, 1 the long
log (hours, days, events). A transport is any object with these coroutines (``cemt.modem.Modem``
is one; the tests use one over a plain TCP socket):

    await connect(host, port) -> bool   open the link; False (or OSError) on failure
    await send(data) -> bool            send all of ``data``; False (or OSError) on failure
    await recv(buf, timeout_ms) -> int  bytes read into ``buf``; 0 if none came within
                                        ``timeout_ms`` real milliseconds; -1 if the link closed
    await close()
"""
import time
from os import urandom
from random import getrandbits

from micropython import const

from cemt import cbor, frame, hmac

VERSION = const(1)
HELLO = const(1)
WELCOME = const(2)
BATCH = const(3)
ACK = const(4)
NAK = const(5)

# Link states (``state``).
IDLE = const(0)        # nothing to send, or between sessions
CONNECTING = const(1)  # opening the link, hello sent, waiting for the welcome
ONLINE = const(2)      # welcomed: sending batches or waiting for records
BACKOFF = const(3)     # waiting after a failure

# ``last_error``: why the last session failed; a nak stores E_NAK + its code.
E_CONNECT = const(1)   # the transport could not open the link
E_SEND = const(2)      # sending failed
E_TIMEOUT = const(3)   # no welcome or ack within reply_ms
E_CLOSED = const(4)    # the receiver closed the link
E_MESSAGE = const(5)   # a message from the receiver that is not what the protocol allows here
E_MAC = const(6)       # a welcome or ack whose tag is wrong (forged, or another key)
E_INTERNAL = const(7)  # anything else raised inside a session (e.g. MemoryError)
E_NAK = const(16)

_TAG = const(34)    # a tag item on the wire: 0x58 0x20 and 32 bytes, always the last item
_HEAD = const(16)   # most bytes a batch's items before its records can take (seqs are 32-bit)
_RX = const(256)    # longest message a receiver sends
_CHUNK = const(128)


class _Fail(Exception):
    pass


class Uplink:
    # Board-clock milliseconds (virtual in the simulator).
    backoff_min_ms = 5000
    backoff_max_ms = 600000
    poll_ms = 1000        # between looks at the logs for new records
    idle_ms = 300000      # a session with nothing to send for this long is closed
    # Real milliseconds.
    reply_ms = 30000      # for a welcome or an ack

    def __init__(self, transport, host, port, device, key, logs, clock, fw="", cfg=0, boots=0):
        self.link = transport
        self.host = host
        self.port = port
        self.device = device
        self._key = key
        self.logs = logs
        self.clock = clock
        self.fw = fw        # hello fields: the app may update them between sessions
        self.cfg = cfg
        self.boots = boots
        self._tx = bytearray(frame.MAX_PAYLOAD)
        self._out = bytearray(frame.encoded_size(frame.MAX_PAYLOAD))
        self._chunk = bytearray(_CHUNK)
        self._rx = bytearray(_RX)
        self._rxn = -1
        self._dec = frame.Decoder(self._on_frame)
        self._ctx = None
        n = len(logs)
        self._next = [0] * n   # per log: seq of the next record to put in a batch
        self._gen = [None] * n  # per log: the reader of the records from _next on
        self._cur = [None] * n  # per log: a record read that did not fit the last batch
        self.state = IDLE
        self.sessions = 0   # welcomed sessions
        self.batches = 0    # batches sent
        self.acks = 0
        self.naks = 0
        self.errors = 0     # failed sessions
        self.fails = 0      # failures since the last ack (drives the backoff)
        self.records = 0    # records acknowledged
        self.oversize = 0   # records too large for any batch, skipped
        self.last_error = 0

    def backlog(self):
        """Records held in the logs and not yet acknowledged."""
        n = 0
        for lg in self.logs:
            n += max(0, lg.last_seq - max(lg.acked, lg.first_seq - 1))
        return n

    def stats(self):
        return {"state": self.state, "sessions": self.sessions, "batches": self.batches,
                "acks": self.acks, "naks": self.naks, "errors": self.errors,
                "records": self.records, "oversize": self.oversize,
                "last_error": self.last_error, "backlog": self.backlog()}

    async def run(self):
        clock = self.clock
        while True:
            if not self.backlog():
                self.state = IDLE
                await clock.asleep_ms(self.poll_ms)
                continue
            try:
                await self._session()
            except Exception as e:  # the uplink task must outlive any one session
                self.last_error = e.args[0] if isinstance(e, _Fail) else E_INTERNAL
                self.errors += 1
                self.fails += 1
                self.state = BACKOFF
                await clock.asleep_ms(self.backoff())

    def backoff(self):
        """The next wait after a failure: half the exponential step plus up to half at random."""
        d = min(self.backoff_max_ms, self.backoff_min_ms << min(max(self.fails, 1) - 1, 20))
        half = d >> 1
        return half + (half * getrandbits(8) >> 8)

    # -- one session

    async def _session(self):
        link = self.link
        self.state = CONNECTING
        self._dec.reset()
        try:
            ok = await link.connect(self.host, self.port)
        except OSError:
            ok = False
        if not ok:
            raise _Fail(E_CONNECT)
        try:
            await self._converse()
        finally:
            self._ctx = None
            for i in range(len(self.logs)):
                self._gen[i] = self._cur[i] = None
            self.state = IDLE
            try:
                await link.close()
            except OSError:
                pass

    async def _converse(self):
        logs = self.logs
        dn = urandom(16)
        await self._send_obj([HELLO, VERSION, self.device, dn, self.fw, self.cfg, self.boots,
                              [[i, lg.acked, lg.last_seq] for i, lg in enumerate(logs)]])
        msg, mv = await self._reply()
        if (msg[0] != WELCOME or len(msg) != 5 or msg[1] != VERSION or type(msg[2]) is not bytes
                or type(msg[3]) is not list):
            raise _Fail(E_MESSAGE)
        self._ctx = cbor.dumps([self.device, dn, msg[2]])
        self._check_tag(msg, mv)
        nxt = self._next
        for i, lg in enumerate(logs):
            nxt[i] = lg.acked + 1
        # Resend from the receiver's view when it holds less than was acknowledged (it lost
        # its newest commits): its de-duplication makes resending safe, trusting more is not.
        for ent in msg[3]:
            if (type(ent) is list and len(ent) == 2 and type(ent[0]) is int
                    and 0 <= ent[0] < len(logs) and type(ent[1]) is int):
                nxt[ent[0]] = min(nxt[ent[0]], max(ent[1], 0) + 1)
        self.sessions += 1
        self.state = ONLINE
        clock = self.clock
        n = 0
        turn = 0
        quiet = clock.ticks_ms()
        while True:
            for k in range(len(logs)):
                j = (turn + k) % len(logs)
                if nxt[j] <= logs[j].last_seq or self._cur[j] is not None:
                    n += 1
                    if await self._batch(j, n):
                        quiet = clock.ticks_ms()
                    turn = j + 1
                    break
            else:
                if clock.ticks_diff(clock.ticks_ms(), quiet) >= self.idle_ms:
                    return
                await clock.asleep_ms(self.poll_ms)

    async def _batch(self, j, n):
        """Send the next batch of log ``j`` as batch ``n`` and wait for its ack; False if empty."""
        tx = self._tx
        pos, first, last, count = self._fill(j)
        if not count:
            return False
        hlen = 2 + cbor.size(n) + cbor.size(j) + cbor.size(first) + cbor.size(count)
        start = _HEAD - hlen
        p = cbor.put_head(tx, start, cbor.ARRAY, 6)
        p = cbor.put_int(tx, p, BATCH)
        p = cbor.put_int(tx, p, n)
        p = cbor.put_int(tx, p, j)
        p = cbor.put_int(tx, p, first)
        cbor.put_head(tx, p, cbor.ARRAY, count)
        mv = memoryview(tx)
        h = hmac.new(self._key, self._ctx)
        h.update(mv[start:pos])
        tx[pos] = 0x58
        tx[pos + 1] = 32
        tx[pos + 2:pos + _TAG] = h.digest()
        await self._send(mv[start:pos + _TAG])
        self.batches += 1
        msg, mv = await self._reply()
        if msg[0] != ACK or len(msg) != 5 or msg[1] != n or msg[2] != j or msg[3] != last:
            raise _Fail(E_MESSAGE)
        self._check_tag(msg, mv)
        self.logs[j].ack(last)
        self.acks += 1
        self.records += count
        self.fails = 0
        return True

    def _fill(self, j):
        """Encode log ``j``'s next records into the batch buffer after the head's room.

        Returns (end, first seq, last seq, count). A record that does not fit is kept for the
        next batch; the reader's record list stays valid because it is not advanced meanwhile.
        """
        tx = self._tx
        lg = self.logs[j]
        limit = len(tx) - _TAG
        pos = _HEAD
        first = last = count = 0
        rec = self._cur[j]
        gen = self._gen[j]
        while True:
            if rec is None:
                if gen is None:
                    if self._next[j] > lg.last_seq:
                        break
                    gen = lg.iter_from(self._next[j])
                try:
                    rec = next(gen)
                except StopIteration:
                    gen = None
                    self._next[j] = lg.last_seq + 1  # nothing more readable up to here
                    break
            size = cbor.size(rec)
            if pos + size > limit:
                if count:
                    break
                self.oversize += 1  # can never be sent: skip it rather than block the log
            else:
                pos = cbor.encode_into(tx, pos, rec)
                if not count:
                    first = rec[1]
                last = rec[1]
                count += 1
            self._next[j] = rec[1] + 1
            rec = None
        self._cur[j] = rec
        self._gen[j] = gen
        return pos, first, last, count

    # -- messages

    async def _send_obj(self, obj):
        n = cbor.encode_into(self._tx, 0, obj)
        await self._send(memoryview(self._tx)[:n])

    async def _send(self, payload):
        n = frame.encode_into(self._out, 0, payload)
        try:
            ok = await self.link.send(memoryview(self._out)[:n])
        except OSError:
            ok = False
        if not ok:
            raise _Fail(E_SEND)

    def _on_frame(self, addr, payload):
        n = len(payload)
        # One reply per request: a second message, or one too long, is a protocol error.
        if self._rxn != -1 or n > _RX:
            self._rxn = -2
        else:
            self._rx[:n] = payload
            self._rxn = n

    async def _reply(self):
        """The next message from the receiver as (decoded list, memoryview of its bytes)."""
        self._rxn = -1
        t0 = time.ticks_ms()
        chunk = self._chunk
        while self._rxn == -1:
            left = self.reply_ms - time.ticks_diff(time.ticks_ms(), t0)
            if left <= 0:
                raise _Fail(E_TIMEOUT)
            try:
                got = await self.link.recv(chunk, left)
            except OSError:
                got = -1
            if got < 0:
                raise _Fail(E_CLOSED)
            if got:
                self._dec.feed(memoryview(chunk)[:got])
        if self._rxn < 0:
            raise _Fail(E_MESSAGE)
        mv = memoryview(self._rx)[:self._rxn]
        try:
            msg = cbor.loads(mv)
        except ValueError:
            raise _Fail(E_MESSAGE)
        if type(msg) is not list or not msg or type(msg[0]) is not int:
            raise _Fail(E_MESSAGE)
        if msg[0] == NAK:
            self.naks += 1
            code = msg[2] if len(msg) == 4 and type(msg[2]) is int and 0 < msg[2] < 16 else 0
            raise _Fail(E_NAK + code)
        return msg, mv

    def _check_tag(self, msg, mv):
        tag = msg[-1]
        n = len(mv) - _TAG
        if type(tag) is not bytes or len(tag) != 32 or n < 0 or mv[n] != 0x58 or mv[n + 1] != 32:
            raise _Fail(E_MESSAGE)
        h = hmac.new(self._key, self._ctx)
        h.update(mv[:n])
        if not hmac.compare_digest(h.digest(), tag):
            raise _Fail(E_MAC)

