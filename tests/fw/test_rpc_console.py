"""cemt.console over files: frames in and out, Ctrl-C outside a frame breaks, inside it is data."""
import os

import asyncio
from cemt import frame
from cemt.console import Console

from rpc_bus import StubRpc

PATH = "/tmp/cemt_console_%d" % (os.urandom(1)[0] * 256 + os.urandom(1)[0])


class Out:
    """Keeps every write apart, to check that each frame goes out in one call."""

    def __init__(self):
        self.writes = []

    def write(self, data):
        self.writes.append(bytes(data))
        return len(data)


def _run(data, parts=1):
    with open(PATH, "wb") as f:
        f.write(data)
    rpc = StubRpc(parts, 12)
    out = Out()
    inp = open(PATH, "rb")
    con = Console(rpc, inp, out)
    broke = False
    asyncio.new_event_loop()
    try:
        asyncio.run(con.run())
    except KeyboardInterrupt:
        broke = True
    rest = inp.read()
    inp.close()
    os.remove(PATH)
    return rpc, out, broke, rest, con


def _frames(writes):
    got = []
    dec = frame.Decoder(lambda a, p: got.append(bytes(p)), 0)
    for w in writes:
        n = len(got)
        dec.feed(w)
        assert len(got) == n + 1, w  # exactly one whole frame per write
    return got


def test_requests_get_response_frames_one_write_each():
    rpc, out, broke, rest, con = _run(frame.encode(0, b"one") + b"\r\n>>> junk" +
                                      frame.encode(0, b"two"), parts=2)
    assert not broke and rest == b""
    assert [c[0] for c in rpc.calls] == [b"one", b"two"]
    assert all(c[1] is False and c[2] == 0 for c in rpc.calls)  # USB: not remote
    assert _frames(out.writes) == [b"one#0:xxxxxx", b"one#1:xxxxxx", b"two#0:xxxxxx",
                                   b"two#1:xxxxxx"]
    assert con._dec.garbage == 1 and rpc.links["usb"] is con._dec


def test_ctrl_c_outside_a_frame_breaks_and_leaves_the_rest_unread():
    rpc, out, broke, rest, con = _run(frame.encode(0, b"first") + b"\r\x03\r\x01more")
    assert broke and rest == b"\r\x01more"
    assert [c[0] for c in rpc.calls] == [b"first"] and len(out.writes) == 1
    assert con._dec.breaks == 1


def test_a_bare_ctrl_c_breaks_too():
    rpc, out, broke, rest, con = _run(b"\x03")
    assert broke and rest == b"" and rpc.calls == []


def test_ctrl_c_inside_a_frame_is_data():
    payload = b"\x03\x03 ctrl-c \x03"
    rpc, out, broke, rest, con = _run(frame.encode(0, payload))
    assert not broke and [c[0] for c in rpc.calls] == [payload]


def test_frames_for_bus_addresses_are_not_taken():
    rpc, out, broke, rest, con = _run(frame.encode(5, b"bus") + frame.encode(0, b"usb"))
    assert [c[0] for c in rpc.calls] == [b"usb"] and con._dec.garbage == 1
