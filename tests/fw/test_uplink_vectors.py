"""cemt.uplink against the protocol vectors: the same batch bytes, and the host's tags verify."""
import asyncio
from binascii import unhexlify

from cemt import uplink  # first: compiling it from source takes the most heap
from cemt import cbor, frame
import uplink_vectors as v
from uplink_logs import MemLog


class VectorLink:
    """Answers the one batch with the vector ack; keeps what was sent."""

    def __init__(self):
        self.sent = []

    async def send(self, data):
        self.sent.append(bytes(data))
        return True

    async def recv(self, buf, timeout_ms):
        data = frame.encode(0, unhexlify(v.ACK))
        buf[:len(data)] = data
        return len(data)


def _uplink():
    logs = (MemLog(lambda seq: [x if i != 1 else seq for i, x in enumerate(v.RECORD)], 41),
            MemLog(None))
    logs[0].acked = 40
    up = uplink.Uplink(VectorLink(), "h", 1, v.DEVICE, unhexlify(v.KEY), logs, None)
    up._ctx = cbor.dumps([v.DEVICE, unhexlify(v.DNONCE), unhexlify(v.SNONCE)])
    return up, logs


def test_context_and_hello_encoding():
    assert cbor.dumps([v.DEVICE, unhexlify(v.DNONCE), unhexlify(v.SNONCE)]) == unhexlify(v.CONTEXT)
    hello = [1, 1, v.DEVICE, unhexlify(v.DNONCE), "cemt 0.1.0", 3, 42, [[0, 40, 41], [1, 2, 2]]]
    assert cbor.dumps(hello) == unhexlify(v.HELLO)


def test_batch_bytes_and_vector_ack_accepted():
    up, logs = _uplink()
    up._next[0] = 41
    assert asyncio.run(up._batch(0, 1))
    sent = []
    frame.Decoder(lambda a, p: sent.append(bytes(p))).feed(up.link.sent[0])
    assert sent == [unhexlify(v.BATCH)]
    assert logs[0].acked == 41  # the host-signed ack verified


def test_welcome_tag_verifies_and_a_flipped_bit_does_not():
    up, _ = _uplink()
    w = bytearray(unhexlify(v.WELCOME))
    up._check_tag(cbor.loads(w), memoryview(w))
    w[5] ^= 1
    try:
        up._check_tag(cbor.loads(w), memoryview(w))
    except uplink._Fail as e:
        assert e.args[0] == uplink.E_MAC
    else:
        raise AssertionError("a tampered welcome verified")
