"""In-process fake receiver for the cemt.uplink tests.

``Peer`` is a transport whose far end is a small receiver written from docs/protocol.md: it
checks hello and batches (tag, counter, seqs, and each record against what the log made) and
answers with signed welcome and acks, unless a test tells it to misbehave (``mode``). To stay
small in a 64K heap it only counts arrivals per seq and keeps the batch sizes.
"""
import asyncio

from cemt import cbor, frame, hmac
from uplink_logs import boot, minute

KEY = bytes(range(1, 33))
_SEQS = 512  # the fake receiver tracks seqs below this


class Peer:
    """A transport with a fake receiver behind it."""

    def __init__(self, key=KEY, committed=None, mode="", makers=(minute, boot)):
        self.key = key
        self.committed = committed or {}
        self.mode = mode
        self.makers = makers  # the record each log holds at a seq, to check what arrives
        self.seen = (bytearray(_SEQS), bytearray(_SEQS))  # per log: times each seq arrived
        self.sizes = []      # payload bytes of each batch received
        self.hellos = []
        self.connects = 0
        self.refuse = 0      # refuse this many connects
        self._dec = frame.Decoder(self._on_frame)
        self._out = []
        self.open = False

    async def connect(self, host, port):
        self.connects += 1
        if self.refuse:
            self.refuse -= 1
            return False
        self.open = True
        self._ctx = None
        self._n = 0
        self._dec.reset()
        return True

    async def send(self, data):
        if not self.open:
            return False
        self._dec.feed(data)
        return True

    async def recv(self, buf, timeout_ms):
        waited = 0
        while not self._out:
            if not self.open:
                return -1
            if waited >= timeout_ms:
                return 0
            await asyncio.sleep_ms(5)
            waited += 5
        data = self._out.pop(0)
        buf[:len(data)] = data
        return len(data)

    async def close(self):
        self.open = False
        self._out = []

    def stored(self, lg):
        """The seqs of log ``lg`` that arrived, in order."""
        return [s for s in range(_SEQS) if self.seen[lg][s]]

    def _reply(self, obj, sign=True, key=None):
        payload = cbor.dumps(obj + [bytes(32)])[:-32] if sign else cbor.dumps(obj)
        if sign:
            h = hmac.new(key or self.key, self._ctx)
            h.update(payload[:-2])
            payload += h.digest()
        self._out.append(frame.encode(0, payload))

    def _on_frame(self, addr, payload):
        if payload[1] == 1:  # hello: small, decoded whole
            msg = cbor.loads(payload)
            self.hellos.append(msg)
            snonce = b"N" * 16
            self._ctx = cbor.dumps([msg[2], msg[3], snonce])
            view = [[lg, self.committed.get(lg, 0)] for lg in (0, 1)]
            if self.mode == "silent":
                return
            self._reply([2, 1, snonce, view], key=b"x" * 32 if self.mode == "forged-welcome" else None)
            return
        # a batch, read one record at a time to stay small
        _, items, pos = cbor.head(payload, 0)
        typ, pos = cbor.decode_from(payload, pos)
        n, pos = cbor.decode_from(payload, pos)
        lg, pos = cbor.decode_from(payload, pos)
        first, pos = cbor.decode_from(payload, pos)
        assert items == 6 and typ == 3, (items, typ)
        self.sizes.append(len(payload))
        h = hmac.new(self.key, self._ctx)
        h.update(payload[:-34])
        assert bytes(payload[-34:-32]) == b"\x58\x20"
        assert hmac.compare_digest(h.digest(), bytes(payload[-32:]))
        self._n += 1
        assert n == self._n
        if self.mode == "nak":
            self._reply([5, n, 6, "storage failed; try later"], sign=False)
            return
        _, count, pos = cbor.head(payload, pos)
        last = -1
        for k in range(count):
            r, pos = cbor.decode_from(payload, pos)
            if k == 0:
                assert r[1] == first
            assert r[1] > last
            last = r[1]
            if r[0] != 19:  # the oversize test's config event is not made by a maker
                assert r == self.makers[lg](r[1]), r
            self.seen[lg][r[1]] += 1
        assert pos == len(payload) - 34
        if self.mode == "noack":
            return
        if self.mode == "wrong-seq":
            last += 1
        self._reply([4, n, lg, last], key=b"x" * 32 if self.mode == "forged-ack" else None)
