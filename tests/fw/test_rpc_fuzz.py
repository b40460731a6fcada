"""cemt.rpc fed mutated and random payloads (seeded): never raises, always answers in shape."""
import random

from rpc_client import encode
from rpc_fake import KEY, FakeNode
from cemt import cbor
from cemt.rpc import MAX_PAYLOAD, Rpc

SEEDS = (1, 2, 3)
ROUNDS = 400
REQUESTS = ({"id": 1, "op": "info", "files": True}, {"id": 2, "op": "live"},
            {"id": 3, "op": "config.get"}, {"id": 4, "op": "time.set", "t": 1800000000},
            {"id": 5, "op": "records", "log": "minute", "from": 3, "max": 9},
            {"id": 6, "op": "config.set", "section": "edge", "changes": {"kp": 8000}},
            {"id": 7, "op": "ack", "log": "long", "seq": 2}, {"id": 8, "op": "stats"},
            {"id": 9, "op": "calibrate", "channel": 1, "action": 2, "ref": 5},
            {"id": 10, "op": "provision", "device": "d", "site": "s", "point": "p",
             "key": bytes(32)})


def _mutate(data):
    data = bytearray(data)
    how = random.getrandbits(8) % 5
    if how == 4:
        return bytes(data)  # as sent
    if how == 0 and data:
        for _ in range(1 + random.getrandbits(2)):
            data[random.getrandbits(16) % len(data)] = random.getrandbits(8)
    elif how == 1:
        data = data[:random.getrandbits(16) % (len(data) + 1)]
    elif how == 2:
        data.extend(bytes(random.getrandbits(8) for _ in range(1 + random.getrandbits(5))))
    else:
        data = bytearray(random.getrandbits(8) for _ in range(random.getrandbits(6)))
    return bytes(data)


def test_mutated_requests_never_break_the_dispatcher():
    node = FakeNode("fuzz", minutes=30, hours=3)
    r = Rpc(node)
    answered = 0
    results = {"ok": 0, "err": 0}
    for seed in SEEDS:
        random.seed(seed)
        for i in range(ROUNDS):
            req = REQUESTS[random.getrandbits(8) % len(REQUESTS)]
            signed = i & 1
            payload = encode(req, KEY if signed else None, 5)
            remote = bool(i & 2)
            out = []
            for mv in r.handle(_mutate(payload), remote, 5):
                assert len(mv) <= MAX_PAYLOAD
                out.append(cbor.loads(mv))
            if not out:
                continue  # taken for a response (a map without "op"): ignored
            answered += 1
            for msg in out[:-1]:
                assert type(msg) is dict and "ok" not in msg and "err" not in msg
            last = out[-1]
            assert ("ok" in last) != ("err" in last), last
            results["ok" if "ok" in last else "err"] += 1
            if "err" in last:
                assert 1 <= last["err"] <= 11 and type(last["msg"]) is str
    assert answered > ROUNDS  # most mutations still look like requests
    assert results["ok"] > 50 and results["err"] > 50, results
    node.cleanup()
