"""cemtool.link against scripted bytes: matching replies to requests, streamed parts, typed
one-line errors, the REPL check, and the protocol doc's worked example."""
from __future__ import annotations

import cbor2
import pytest

from cemtool import auth
from cemtool.frame import encode
from cemtool.link import (AtRepl, Link, LinkError, LinkTimeout, PortError, ProtocolError,
                          RemoteError, SerialTransport)

KEY = bytes(range(32))
NONCE = bytes.fromhex("0011223344556677")


class Script:
    """A transport that answers each write with what ``reply(request bytes)`` returns."""

    def __init__(self, reply):
        self.reply = reply
        self.sent: list[bytes] = []
        self._pending = b""

    def write(self, data: bytes) -> None:
        self.sent.append(bytes(data))
        self._pending += self.reply(bytes(data))

    def read(self, timeout: float) -> bytes:
        data, self._pending = self._pending[:7], self._pending[7:]  # in small pieces
        return data

    def close(self) -> None:
        pass


def request_of(wire: bytes) -> dict:
    from cemtool.frame import split_frames
    frames, _ = split_frames(wire, None)
    return cbor2.loads(frames[0].payload) if frames else {}


def answer(addr, *msgs):
    return b"".join(encode(addr, cbor2.dumps(m, canonical=True)) for m in msgs)


def test_the_worked_example_of_the_protocol_doc():
    link = Link(Script(lambda w: b""), addr=3)
    wire = link._frame({"id": 7, "op": "ack", "log": "minute", "seq": 120, "nonce": NONCE}, KEY)
    body = bytes.fromhex("a562696407626f706361636b636c6f67666d696e75746563736571187865"
                         "6e6f6e6365480011223344556677")
    tag = auth.sign(KEY, b"cemt-cmd\x03" + body)
    assert tag.hex() == "6f32eb9bdcb92d3c2481a7a5ae5b38c842cf1ed740290c2ea6a169754518cec0"
    assert wire == encode(3, body + b"\x58\x20" + tag) and len(wire) == 86
    reply = cbor2.dumps({"id": 7, "ok": {"acked": 120}}, canonical=True)
    assert encode(3, reply).hex(" ") == ("00 17 03 a2 62 69 64 07 62 6f 6b a1 65 61 63 6b 65 64 "
                                         "18 78 05 a9 17 38 00")


def test_replies_are_matched_by_id_and_address_and_parts_streamed():
    def reply(wire):
        rid = request_of(wire)["id"]
        return (b"noise\x00" + answer(4, {"id": rid, "ok": {}})       # another node
                + answer(3, {"id": rid - 1, "ok": {"late": 1}})        # an old request's reply
                + answer(3, {"id": rid, "op": "echo"})                 # a request, not a reply
                + answer(3, {"id": rid, "recs": [1]}, {"id": rid, "recs": [2, 3]},
                         {"id": rid, "ok": {"next": 4}}))
    link = Link(Script(reply), addr=3, timeout=1)
    got = []
    assert link.call("records", {"log": "minute", "from": 1}, on_part=got.append).ok == \
        {"next": 4}
    assert [p["recs"] for p in got] == [[1], [2, 3]]
    r = link.call("records", {"log": "minute", "from": 1})
    assert [p["recs"] for p in r.parts] == [[1], [2, 3]]


def test_errors_are_typed_and_one_line():
    link = Link(Script(lambda w: answer(0, {"id": request_of(w)["id"], "err": 7,
                                            "msg": "edge.kp must be int"})), timeout=1)
    with pytest.raises(RemoteError) as e:
        link.call("config.set", {"section": "edge", "changes": {"kp": "x"}})
    assert str(e.value) == "config.set: invalid: edge.kp must be int" and e.value.code == 7
    with pytest.raises(LinkTimeout, match=r"^time.get: no answer from the device within 0.2 s$"):
        Link(Script(lambda w: b""), timeout=0.2).call("time.get")
    bad = Script(lambda w: encode(0, b"\xff\xfe"))
    with pytest.raises(ProtocolError, match="not CBOR"):
        Link(bad, timeout=1).call("time.get")
    with pytest.raises(LinkError, match="not 0-247"):
        Link(Script(lambda w: b""), addr=250)


def test_signed_requests_carry_the_nonce_and_retry_once_when_stale():
    seen = []

    def reply(wire):
        from cemtool.frame import split_frames
        payload = split_frames(wire, None)[0][0].payload
        req, = [cbor2.loads(payload[:-34])] if payload[-34:-32] == b"\x58\x20" else [None]
        if req is None:
            req = cbor2.loads(payload)
            return answer(2, {"id": req["id"], "ok": {"nonce": NONCE}})
        seen.append(req)
        assert auth.verify(KEY, b"cemt-cmd\x02" + payload[:-34], payload[-32:])
        if req["nonce"] != NONCE:
            return answer(2, {"id": req["id"], "err": 5, "msg": "nonce is not current"})
        return answer(2, {"id": req["id"], "ok": {"acked": 9}})
    link = Link(Script(reply), addr=2, timeout=1)
    assert link.signed("ack", {"log": "minute", "seq": 9}, KEY, b"old-nonc").ok == {"acked": 9}
    assert [r["nonce"] for r in seen] == [b"old-nonc", NONCE]
    assert link.call("ack", {"log": "minute", "seq": 9}, key=KEY).ok == {"acked": 9}


def test_a_board_at_the_repl_is_recognised_and_put_back():
    script = Script(lambda w: b"\r\nraw REPL; CTRL-B to exit\r\n>" if w[:2] == b"\x00\x01" else b"")
    link = Link(script, timeout=1)
    with pytest.raises(AtRepl, match="not running cemt"):
        link.probe()
    assert script.sent[-1] == b"\x02"
    # the probe's frame can do nothing at a REPL: no Ctrl-B..Ctrl-E after its leading 00 01
    probes = []
    for _ in range(200):
        s = Script(lambda w: answer(0, {"id": request_of(w)["id"], "ok": {"device": "d"}}))
        assert Link(s, timeout=1).probe() == {"device": "d"}
        probes.append(s.sent[0])
    assert all(p[:2] == b"\x00\x01" and not set(p[2:]) & set(b"\x02\x03\x04\x05")
               for p in probes)


def test_a_missing_port_is_a_one_line_error():
    with pytest.raises(PortError, match=r"^cannot open /nonexistent/tty: No such file or dir"):
        SerialTransport("/nonexistent/tty")
