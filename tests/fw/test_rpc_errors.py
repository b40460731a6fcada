"""cemt.rpc with a fake node: calibrate, provision, reboot, and malformed requests."""
from rpc_client import call, err, ok, run
from rpc_fake import FakeNode
from cemt import cbor, rpcops as E
from cemt.rpc import Rpc


def _rpc(**kw):
    node = FakeNode(**kw)
    return node, Rpc(node)


def _rpc(**kw):
    node = FakeNode(**kw)
    return node, Rpc(node)


def test_calibrate_shapes_and_error_codes():
    node, r = _rpc()
    res = ok(call(r, {"id": 1, "op": "calibrate", "channel": 1, "action": 2, "ref": 1500}))
    assert res == {"result": 0, "reading": 1513, "before": 0, "after": -13, "ver": 2}
    assert node.calibrations == [{"channel": 1, "action": 2, "ref": 1500}]
    cases = (({"channel": 6, "action": 3, "ref": 1000}, E.UNSUPPORTED),
             ({"channel": 2, "action": 1, "ref": 0}, E.FAILED),
             ({"channel": 1, "action": 1, "ref": -5}, E.INVALID),
             ({"channel": 7, "action": 1, "ref": 0}, E.BAD_REQUEST),
             ({"channel": 1, "action": 5, "ref": 0}, E.BAD_REQUEST),
             ({"channel": 1, "action": 1}, E.BAD_REQUEST))
    for args, code in cases:
        req = {"id": 2, "op": "calibrate"}
        req.update(args)
        assert err(call(r, req)) == code, args
    assert len(node.calibrations) == 4  # malformed requests never reach the provider


def test_provision_over_usb_stores_the_key_and_never_echoes_it():
    node, r = _rpc(key=None)
    key = bytes(range(100, 132))
    payload = cbor.dumps({"id": 9, "op": "provision", "device": "dev-9", "site": "s",
                          "point": "p", "key": key})
    raw = []
    for mv in r.handle(payload, False, 0):
        raw.append(bytes(mv))
    assert len(raw) == 1 and key not in raw[0]
    assert cbor.loads(raw[0])["ok"] == {"device": "dev-9", "ver": 1}
    assert node.provisioned == ("dev-9", "s", "p", key) and node.key == key
    for bad in ({"key": key[:31]}, {"key": "x" * 32}, {"device": ""}, {"site": 5}):
        req = {"id": 9, "op": "provision", "device": "d", "site": "s", "point": "p", "key": key}
        req.update(bad)
        assert err(call(r, req)) == E.BAD_REQUEST


def test_reboot_replies_before_rebooting():
    node, r = _rpc()
    gen = r.handle(cbor.dumps({"id": 3, "op": "reboot"}), False, 0)
    first = cbor.loads(next(gen))
    assert first == {"id": 3, "ok": {}} and node.reboots == 0
    for _ in gen:
        pass
    assert node.reboots == 1


def test_malformed_requests_get_one_line_errors():
    node, r = _rpc()
    cases = ((b"\xff\x00", E.BAD_REQUEST, None), (cbor.dumps([1, 2]), E.BAD_REQUEST, None),
             (cbor.dumps({"op": "info"}), E.BAD_REQUEST, None),
             (cbor.dumps({"id": -1, "op": "info"}), E.BAD_REQUEST, None),
             (cbor.dumps({"id": 2 ** 32, "op": "info"}), E.BAD_REQUEST, None),
             (cbor.dumps({"id": 5, "op": 3}), E.UNKNOWN_OP, 5),
             (cbor.dumps({"id": 5, "op": b"info"}), E.UNKNOWN_OP, 5),
             (cbor.dumps({b"id": 5, "op": "info"}), E.BAD_REQUEST, None),
             (cbor.dumps({"id": 5, "op": "dance"}), E.UNKNOWN_OP, 5),
             (cbor.dumps({"id": 5, "op": "info"}) + b"\x00", E.BAD_REQUEST, 5),
             (cbor.dumps({"id": 5, "op": "info"}) + b"\x58\x20" + b"\x00" * 31, E.BAD_REQUEST, 5))
    for payload, code, rid in cases:
        res = run(r, payload)
        assert len(res) == 1 and res[0]["err"] == code, (payload, res)
        assert res[0].get("id") == rid and type(res[0]["msg"]) is str and res[0]["msg"]
    assert r.errors == len(cases)


def test_responses_seen_on_the_bus_are_ignored():
    node, r = _rpc()
    for resp in ({"id": 1, "ok": {}}, {"id": 1, "err": 2, "msg": "x"}, {}):
        assert run(r, cbor.dumps(resp), True, 3) == []
    assert r.ignored == 3 and r.requests == 0 and r.errors == 0


def test_a_failing_provider_costs_one_internal_error():
    node, r = _rpc()
    node.boom = True
    res = call(r, {"id": 4, "op": "live"})
    assert err(res) == E.INTERNAL and "TypeError" in res[0]["msg"]
    node.boom = False
    assert ok(call(r, {"id": 5, "op": "live"}))["ch"]["co2"] == [1234, 0]

