"""Talks to ``cemt.rpc`` directly, as a link would: encode a request (signed when given a key),
run the dispatcher's generator to its end, decode every response payload, check it fits a frame.
Test files import it first: compiling ``cemt.cbor`` from source needs the most free heap.
"""
from cemt import cbor, hmac
from cemt.rpc import MAX_PAYLOAD


def encode(req, key=None, addr=0):
    """The payload of ``req``: its CBOR, followed by a tag when ``key`` is given."""
    body = cbor.dumps(req)
    if key is None:
        return body
    h = hmac.new(key, b"cemt-cmd")
    h.update(bytes((addr,)))
    h.update(body)
    return body + b"\x58\x20" + h.digest()


def run(rpc, payload, remote=False, addr=0, sizes=None):
    """Feed one payload; the decoded responses, in order (``sizes`` collects their lengths)."""
    out = []
    for mv in rpc.handle(payload, remote, addr):
        assert len(mv) <= MAX_PAYLOAD, len(mv)
        if sizes is not None:
            sizes.append(len(mv))
        out.append(cbor.loads(mv))
    return out


def call(rpc, req, remote=False, addr=0, key=None, sizes=None):
    return run(rpc, encode(req, key, addr), remote, addr, sizes)


def ok(resps):
    """The final ``ok`` value of a response sequence, after checking it is one."""
    last = resps[-1]
    assert "ok" in last, last
    return last["ok"]


def err(resps):
    assert len(resps) == 1 and "err" in resps[0], resps
    return resps[0]["err"]


def nonce(rpc):
    return ok(call(rpc, {"id": 1, "op": "nonce"}))["nonce"]
