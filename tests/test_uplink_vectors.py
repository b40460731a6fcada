"""The host side of the uplink protocol against tests/fw/uplink_vectors.py (docs/protocol.md)."""
import importlib.util
from pathlib import Path

import cbor2

from cemtool import receiver

_spec = importlib.util.spec_from_file_location(
    "uplink_vectors", Path(__file__).parent / "fw" / "uplink_vectors.py")
v = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(v)
KEY = bytes.fromhex(v.KEY)
DN, SN = bytes.fromhex(v.DNONCE), bytes.fromhex(v.SNONCE)


def test_vectors_are_what_the_receiver_builds():
    ctx = receiver.context(v.DEVICE, DN, SN)
    assert ctx.hex() == v.CONTEXT
    hello = receiver.dumps([1, 1, v.DEVICE, DN, "cemt 0.1.0", 3, 42, [[0, 40, 41], [1, 2, 2]]])
    assert hello.hex() == v.HELLO
    assert receiver.parse_hello(hello) == (v.DEVICE, DN, "cemt 0.1.0", 3, 42,
                                           [[0, 40, 41], [1, 2, 2]])
    assert receiver.signed(KEY, ctx, [2, 1, SN, [[0, 40], [1, 2]]]).hex() == v.WELCOME
    assert receiver.signed(KEY, ctx, [4, 1, 0, 41]).hex() == v.ACK
    assert receiver.dumps([5, 2, 4, "batch counter 1, expected 2"]).hex() == v.NAK
    batch = bytes.fromhex(v.BATCH)
    parsed = receiver.parse_batch(KEY, ctx, batch)
    assert (parsed.n, parsed.log, parsed.first, parsed.records) == (1, 0, 41, [v.RECORD])
    assert parsed.blobs == [cbor2.dumps(v.RECORD, canonical=True)]


def test_vector_batch_is_bound_to_its_session():
    other = receiver.context(v.DEVICE, DN, bytes(16))
    assert not receiver.tag_ok(KEY, other, bytes.fromhex(v.BATCH))
    assert not receiver.tag_ok(KEY, receiver.context("stack-02", DN, SN), bytes.fromhex(v.BATCH))
    assert receiver.tag_ok(KEY, receiver.context(v.DEVICE, DN, SN), bytes.fromhex(v.BATCH))
