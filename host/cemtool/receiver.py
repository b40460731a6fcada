"""The uplink receiver: sessions with devices over TCP, verified batches, exactly-once storage.

The host side of docs/protocol.md ("Uplink sessions"), independent of the firmware's
``cemt.uplink``. ``Receiver`` serves any number of device links on one asyncio loop: it answers a
hello from a device in the key file with a signed welcome, checks every batch (tag under the
device key over the session context, batch counter, records), stores it with one
``Store.commit`` (one transaction) and only then sends the signed ack; anything else gets a nak
with a reason, a log line, and the link closed. ``DeviceClient`` speaks the device side, for tests,
benchmarks and tools.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cbor2

from cemtool import auth, frame
from cemtool.keys import KeyFileError, KeyRing, valid_device_id
from cemtool.records import (FIELDS, FLAGS, HEADER, MIN_VALID, T_MAX, Record, RecordError)
from cemtool.store import LOGS, BatchError, Store, StoreError, log_of

VERSION = 1
HELLO, WELCOME, BATCH, ACK, NAK = 1, 2, 3, 4, 5
# Nak codes (docs/protocol.md).
UNKNOWN_DEVICE = 1
MALFORMED = 2
BAD_MAC = 3
REPLAY = 4
SEQUENCE = 5
BUSY = 6
BAD_VERSION = 7
NAK_NAMES = {UNKNOWN_DEVICE: "unknown device", MALFORMED: "malformed", BAD_MAC: "bad MAC",
             REPLAY: "replay", SEQUENCE: "sequence", BUSY: "busy", BAD_VERSION: "version"}
NONCE_SIZE = 16
TAG_ITEM = b"\x58\x20"  # the head of the 32-byte tag that ends every signed message
TAG_LEN = len(TAG_ITEM) + auth.TAG_SIZE

log = logging.getLogger("cemtool.receiver")


def dumps(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def context(device: str, dnonce: bytes, snonce: bytes) -> bytes:
    """What every tag of a session covers before the message: device id and both nonces."""
    return dumps([device, dnonce, snonce])


def signed(key: bytes, ctx: bytes, items: list) -> bytes:
    """The payload of the message ``items`` followed by its tag."""
    pre = dumps([*items, bytes(auth.TAG_SIZE)])[:-auth.TAG_SIZE]
    return pre + auth.sign(key, ctx + pre[:-len(TAG_ITEM)])


def tag_ok(key: bytes, ctx: bytes, payload: bytes) -> bool:
    return (len(payload) > TAG_LEN and payload[-TAG_LEN:-auth.TAG_SIZE] == TAG_ITEM
            and auth.verify(key, ctx + payload[:-TAG_LEN], payload[-auth.TAG_SIZE:]))


class ProtocolError(Exception):
    """A message that must be refused: ``code`` is the nak code, the text says why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def _is_uint(v: object) -> bool:
    return type(v) is int and v >= 0


def check_record(values: object) -> list:
    """``values`` if it is a valid record (docs/records.md), else ProtocolError.

    Period records (nearly all traffic) are checked inline; events go through Record.from_list.
    """
    if type(values) is not list or len(values) < len(HEADER):
        raise ProtocolError(MALFORMED, "a record is not an array of at least 5 values")
    kind = values[0]
    fields = FIELDS.get(kind) if type(kind) is int else None
    if fields is None:
        raise ProtocolError(MALFORMED, f"unknown record kind {kind!r}")
    if kind in MIN_VALID:
        if len(values) != len(HEADER) + len(fields):
            raise ProtocolError(MALFORMED, f"record of kind {kind} with {len(values)} values")
        for v in values:
            if type(v) is not int:
                raise ProtocolError(MALFORMED, "a period record value is not an integer")
        if values[1] < 0 or not 0 <= values[2] <= T_MAX or not 0 <= values[5] < len(FLAGS):
            raise ProtocolError(MALFORMED, f"record {values[1]}: seq, time or flag out of range")
        return values
    try:
        Record.from_list(values)
    except RecordError as e:
        raise ProtocolError(MALFORMED, f"bad record: {e}") from None
    return values


@dataclass
class Batch:
    n: int
    log: int
    first: int
    records: list[list]
    blobs: list[bytes]


def parse_batch(key: bytes, ctx: bytes, payload: bytes) -> Batch:
    """Check a batch message: structure, then tag, then records and canonical form."""
    try:
        msg = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError) as e:
        raise ProtocolError(MALFORMED, f"not CBOR: {e}") from None
    if type(msg) is not list or not msg or msg[0] != BATCH:
        kind = msg[0] if type(msg) is list and msg else "?"
        raise ProtocolError(MALFORMED, f"expected a batch, got message {kind!r}")
    if (len(msg) != 6 or not all(_is_uint(v) for v in msg[1:4]) or type(msg[4]) is not list
            or type(msg[5]) is not bytes):
        raise ProtocolError(MALFORMED, "batch is not [3, n, log, first, records, tag]")
    if not tag_ok(key, ctx, payload):
        raise ProtocolError(BAD_MAC, "batch tag does not verify (forged, tampered or replayed"
                                     " from another session)")
    _, n, lg, first, recs, _ = msg
    if lg not in LOGS:
        raise ProtocolError(SEQUENCE, f"unknown log {lg}")
    if not recs:
        raise ProtocolError(MALFORMED, "empty batch")
    blobs = []
    prev = -1
    for values in recs:
        check_record(values)
        if log_of(values[0]) != lg:
            raise ProtocolError(SEQUENCE, f"record {values[1]} of kind {values[0]} in log {lg}")
        if values[1] <= prev:
            raise ProtocolError(SEQUENCE, f"record seq {values[1]} after {prev}")
        prev = values[1]
        blobs.append(dumps(values))
    if recs[0][1] != first:
        raise ProtocolError(SEQUENCE, f"batch says first seq {first}, its first record is "
                                      f"{recs[0][1]}")
    # Canonical form: the payload must be exactly what canonical encoding gives.
    head = dumps([BATCH, n, lg, first])[1:]
    count = dumps(len(recs))  # an unsigned integer's head, made an array's (major type 4)
    items = bytes([0x80 | count[0]]) + count[1:]
    if payload[:-TAG_LEN] != b"\x86" + head + items + b"".join(blobs):
        raise ProtocolError(MALFORMED, "batch is not in canonical CBOR")
    return Batch(n, lg, first, recs, blobs)


def parse_hello(payload: bytes) -> tuple[str, bytes, str, int, int, list]:
    try:
        msg = cbor2.loads(payload)
    except (cbor2.CBORDecodeError, ValueError) as e:
        raise ProtocolError(MALFORMED, f"hello is not CBOR: {e}") from None
    if type(msg) is not list or not msg or msg[0] != HELLO:
        raise ProtocolError(MALFORMED, "expected a hello")
    if len(msg) < 2 or msg[1] != VERSION:
        raise ProtocolError(BAD_VERSION, f"protocol version {msg[1] if len(msg) > 1 else '?'!r}"
                                         f" not supported (this receiver speaks {VERSION})")
    if len(msg) != 8:
        raise ProtocolError(MALFORMED, "hello is not [1, 1, device, nonce, fw, cfg, boots, logs]")
    _, _, device, dnonce, fw, cfg, boots, logs = msg
    if not valid_device_id(device):
        raise ProtocolError(MALFORMED, f"bad device id {device!r}"[:80])
    if (type(dnonce) is not bytes or not 8 <= len(dnonce) <= 32 or type(fw) is not str
            or not _is_uint(cfg) or not _is_uint(boots) or type(logs) is not list
            or not all(type(e) is list and len(e) == 3 and all(_is_uint(v) for v in e)
                       for e in logs)):
        raise ProtocolError(MALFORMED, "bad hello fields")
    return device, dnonce, fw, cfg, boots, logs


@dataclass
class Counters:
    sessions: int = 0
    batches: int = 0
    records: int = 0      # new records committed
    duplicates: int = 0   # records received again and acked without storing
    conflicts: int = 0
    rejected: int = 0     # naks sent


class Receiver:
    """Serves device sessions; one instance per store and key ring."""

    def __init__(self, store: Store, keys: KeyRing, hello_timeout: float = 30.0,
                 idle_timeout: float = 900.0, clock: Callable[[], int] | None = None) -> None:
        self.store = store
        self.clock = clock  # arrival time in ms since 1970; None: the host's wall clock
        self.keys = keys
        self.hello_timeout = hello_timeout
        self.idle_timeout = idle_timeout
        self.counters = Counters()
        self.links = 0  # connections open now
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host``:``port`` (0 picks a free port); return the address bound."""
        self._server = await asyncio.start_server(self._accept, host, port, backlog=4096,
                                                  limit=2 * frame.MAX_RUN)
        return self._server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        """Stop listening and end every session; commits in progress finish first."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self.links += 1
        peer = writer.get_extra_info("peername")
        peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        try:
            await self._session(frame.FrameReader(reader), writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("%s: link lost", peer)
        except asyncio.CancelledError:
            pass
        finally:
            self.links -= 1
            self._tasks.discard(task)
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        writer.write(frame.encode(0, payload))
        await writer.drain()

    async def _nak(self, writer: asyncio.StreamWriter, peer: str, who: str, n: int,
                   err: ProtocolError) -> None:
        self.counters.rejected += 1
        log.warning("%s: %s: rejected (%s): %s", peer, who, NAK_NAMES[err.code], err)
        try:
            await self._reply(writer, dumps([NAK, n, err.code, str(err)[:200]]))
        except ConnectionError:
            pass

    async def _session(self, frames: frame.FrameReader, writer: asyncio.StreamWriter,
                       peer: str) -> None:
        try:
            first = await asyncio.wait_for(frames.read(), self.hello_timeout)
        except asyncio.TimeoutError:
            log.info("%s: no hello within %g s", peer, self.hello_timeout)
            return
        if first is None:
            return
        try:
            device, dnonce, fw, cfg, boots, logs = parse_hello(first.payload)
            try:
                key = self.keys.get(device)
            except KeyFileError as e:
                log.error("%s: %s", peer, e)
                key = None
            if key is None:
                raise ProtocolError(UNKNOWN_DEVICE, f"device {device} is not in the key file")
        except ProtocolError as e:
            await self._nak(writer, peer, "hello", 0, e)
            return
        who = f"device {device}"
        snonce = secrets.token_bytes(NONCE_SIZE)
        ctx = context(device, dnonce, snonce)
        try:
            committed = self.store.committed(device)
        except StoreError as e:
            log.error("%s: %s: %s", peer, who, e)
            await self._nak(writer, peer, who, 0, ProtocolError(BUSY, "storage unavailable"))
            return
        view = [[lg, committed.get(lg, 0)] for lg in sorted({e[0] for e in logs} | set(LOGS))]
        await self._reply(writer, signed(key, ctx, [WELCOME, VERSION, snonce, view]))
        self.counters.sessions += 1
        log.info("%s: %s hello (fw %r, config %d, boots %d, logs %s); receiver holds %s",
                 peer, who, fw, cfg, boots, logs, view)
        expect = 1
        while True:
            try:
                msg = await asyncio.wait_for(frames.read(), self.idle_timeout)
            except asyncio.TimeoutError:
                log.info("%s: %s idle for %g s, closing", peer, who, self.idle_timeout)
                return
            if msg is None:
                log.info("%s: %s closed the session", peer, who)
                return
            try:
                batch = parse_batch(key, ctx, msg.payload)
                if batch.n != expect:
                    raise ProtocolError(REPLAY, f"batch counter {batch.n}, expected {expect}")
                try:
                    c = self.store.commit(device, batch.log, batch.records, batch.blobs,
                                          arrived_ms=self.clock() if self.clock else None)
                except (StoreError, BatchError) as e:
                    log.error("%s: %s: %s", peer, who, e)
                    raise ProtocolError(BUSY, "storage failed; try later") from None
            except ProtocolError as e:
                await self._nak(writer, peer, who, expect, e)
                return
            self.counters.batches += 1
            self.counters.records += c.stored
            self.counters.duplicates += c.duplicates
            self.counters.conflicts += c.conflicts
            if c.conflicts:
                log.warning("%s: %s: %d records of log %d conflict with stored records of the"
                            " same seq (kept apart in table conflicts)", peer, who, c.conflicts,
                            batch.log)
            await self._reply(writer, signed(key, ctx, [ACK, batch.n, batch.log, c.seq]))
            expect += 1


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as (host, port); ValueError if it is not one."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def serve(store: Store, keys: KeyRing, host: str, port: int,
                ready: asyncio.Event | None = None) -> Counters:
    """Run a receiver until SIGINT or SIGTERM; return its counters."""
    receiver = Receiver(store, keys)
    bound = await receiver.start(host, port)
    log.warning("listening on %s:%d (%d devices in the key file)", bound[0], bound[1], len(keys))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await receiver.stop()
    c = receiver.counters
    log.warning("stopped: %d sessions, %d batches, %d records stored, %d duplicates, "
                "%d conflicts, %d rejected", c.sessions, c.batches, c.records, c.duplicates,
                c.conflicts, c.rejected)
    return c


class Nak(Exception):
    def __init__(self, n: int, code: int, reason: str) -> None:
        super().__init__(f"nak {NAK_NAMES.get(code, code)}: {reason}")
        self.n = n
        self.code = code
        self.reason = reason


class DeviceClient:
    """The device side of an uplink session in CPython (tests and benchmarks)."""

    def __init__(self, device: str, key: bytes, fw: str = "cemtool client", cfg: int = 0,
                 boots: int = 0) -> None:
        self.device = device
        self.key = key
        self.fw = fw
        self.cfg = cfg
        self.boots = boots
        self.n = 0
        self.ctx = b""
        self.sent_bytes = 0  # frame bytes of the batches sent
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._frames: frame.FrameReader | None = None

    async def connect(self, host: str, port: int) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        self._frames = frame.FrameReader(self._reader)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except ConnectionError:
                pass
            self._writer = None

    async def send(self, payload: bytes) -> int:
        data = frame.encode(0, payload)
        self._writer.write(data)
        await self._writer.drain()
        return len(data)

    async def reply(self, timeout: float = 10.0) -> list:
        """The next message; Nak raised for a nak; ConnectionError if the link closed."""
        f = await asyncio.wait_for(self._frames.read(), timeout)
        if f is None:
            raise ConnectionError("receiver closed the link")
        msg = cbor2.loads(f.payload)
        if msg[0] == NAK:
            raise Nak(msg[1], msg[2], msg[3])
        if not tag_ok(self.key, self.ctx, f.payload):
            raise ValueError("reply with a bad tag")
        return msg

    async def hello(self, logs: Sequence[Sequence[int]] = ((0, 0, 0), (1, 0, 0)),
                    dnonce: bytes | None = None) -> dict[int, int]:
        """Say hello; return the receiver's committed seq per log."""
        dnonce = dnonce or secrets.token_bytes(NONCE_SIZE)
        await self.send(dumps([HELLO, VERSION, self.device, dnonce, self.fw, self.cfg,
                               self.boots, [list(e) for e in logs]]))
        f = await asyncio.wait_for(self._frames.read(), 10.0)
        if f is None:
            raise ConnectionError("receiver closed the link")
        msg = cbor2.loads(f.payload)
        if msg[0] == NAK:
            raise Nak(msg[1], msg[2], msg[3])
        self.ctx = context(self.device, dnonce, msg[2])
        if msg[0] != WELCOME or not tag_ok(self.key, self.ctx, f.payload):
            raise ValueError("bad welcome")
        self.n = 0
        return {lg: seq for lg, seq in msg[3]}

    def batch(self, log_id: int, records: Sequence[Sequence], n: int | None = None) -> bytes:
        """The payload of the next batch (counter ``n`` forced if given)."""
        if n is None:
            self.n += 1
            n = self.n
        return signed(self.key, self.ctx, [BATCH, n, log_id, records[0][1], [list(r) for r in records]])

    async def send_batch(self, log_id: int, records: Sequence[Sequence]) -> int:
        """Send a batch and wait for its ack; return the acked seq (Nak on a nak)."""
        self.sent_bytes += await self.send(self.batch(log_id, records))
        msg = await self.reply()
        if msg[0] != ACK or msg[1] != self.n or msg[2] != log_id:
            raise ValueError(f"unexpected reply {msg[:4]}")
        return msg[3]
