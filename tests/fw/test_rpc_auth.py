"""cemt.rpc on RS485: state changes need a tag over the current nonce; replays, forgeries fail."""
from rpc_client import call, encode, err, nonce, ok, run
from rpc_fake import KEY, FakeNode
from cemt import rpcops as E
from cemt.rpc import Rpc

ADDR = 7
# Every state-changing op with valid arguments.
CHANGES = ({"op": "config.set", "section": "edge", "changes": {"kp": 8000}},
           {"op": "time.set", "t": 1800000000},
           {"op": "calibrate", "channel": 1, "action": 1, "ref": 0},
           {"op": "reboot"},
           {"op": "ack", "log": "minute", "seq": 3})


def _state(node):
    return (node.config.ver, node.clock.now(), len(node.calibrations), node.reboots,
            node.logs["minute"].acked)


def _signed(r, req, key=KEY, addr=ADDR, rid=9):
    req = dict(req, id=rid, nonce=nonce(r))
    return encode(req, key, addr)


def test_state_changes_without_a_tag_are_refused_on_rs485():
    node = FakeNode(minutes=5)
    r = Rpc(node)
    before = _state(node)
    for req in CHANGES:
        assert err(call(r, dict(req, id=1), True, ADDR)) == E.AUTH_REQUIRED, req
    assert _state(node) == before and r.auth_failures == 0
    node.cleanup()


def test_read_only_ops_need_no_tag():
    r = Rpc(FakeNode(minutes=5))
    for op in ("info", "live", "time.get", "config.get", "stats", "nonce"):
        assert "ok" in call(r, {"id": 2, "op": op}, True, ADDR)[-1], op
    res = call(r, {"id": 3, "op": "records", "log": "minute", "from": 1}, True, ADDR)
    assert ok(res)["sent"] == 5


def test_signed_state_changes_are_done_once():
    node = FakeNode(minutes=5)
    r = Rpc(node)
    for req in CHANGES:
        assert "ok" in run(r, _signed(r, req), True, ADDR)[-1], req
    assert node.config.get("edge", "kp") == 8000 and node.clock.now() == 1800000000
    assert node.clock.quality == 1 and node.sources == [1]  # a remote change
    assert len(node.calibrations) == 1 and node.reboots == 1
    assert node.logs["minute"].acked == 3 and r.auth_failures == 0
    node.cleanup()


def test_a_replayed_command_is_refused():
    node = FakeNode(minutes=5)
    r = Rpc(node)
    payload = _signed(r, {"op": "ack", "log": "minute", "seq": 2})
    assert ok(run(r, payload, True, ADDR)) == {"acked": 2}
    node.logs["minute"].acked = 0  # so that a replay would show
    assert err(run(r, payload, True, ADDR)) == E.STALE_NONCE
    assert node.logs["minute"].acked == 0 and r.auth_failures == 1


def test_forged_tampered_misaddressed_and_keyless_commands_are_refused():
    node = FakeNode(minutes=5)
    r = Rpc(node)
    req = {"op": "time.set", "t": 1800000000}
    forged = _signed(r, req, key=bytes(32))
    assert err(run(r, forged, True, ADDR)) == E.AUTH_FAILED
    good = _signed(r, req)
    tampered = good.replace(b"\x1a\x6b\x49\xd2\x00", b"\x1a\x6b\x49\xd2\x01")  # t + 1
    assert tampered != good
    assert err(run(r, tampered, True, ADDR)) == E.AUTH_FAILED
    assert err(run(r, _signed(r, req, addr=ADDR + 1), True, ADDR)) == E.AUTH_FAILED
    # a nonce of its own making is stale even under the right key
    assert err(run(r, encode(dict(req, id=1, nonce=b"12345678"), KEY, ADDR), True, ADDR)) \
        == E.STALE_NONCE
    assert err(run(r, encode(dict(req, id=1), KEY, ADDR), True, ADDR)) == E.STALE_NONCE
    assert node.clock.now() != 1800000000 and r.auth_failures == 5
    node.key = None
    assert err(run(r, _signed(r, req), True, ADDR)) == E.AUTH_FAILED
    assert node.clock.now() != 1800000000


def test_every_tag_check_uses_up_the_nonce():
    r = Rpc(FakeNode())
    a = nonce(r)
    assert nonce(r) == a  # reading it does not change it
    run(r, encode({"id": 1, "op": "reboot", "nonce": a}, bytes(32), ADDR), True, ADDR)
    b = nonce(r)
    assert b != a
    run(r, _signed(r, {"op": "time.get"}), True, ADDR)
    assert nonce(r) != b


def test_provision_is_refused_on_rs485_even_when_signed():
    node = FakeNode()
    r = Rpc(node)
    req = {"op": "provision", "device": "evil", "site": "s", "point": "p", "key": bytes(32)}
    assert err(call(r, dict(req, id=1), True, ADDR)) == E.FORBIDDEN
    assert err(run(r, _signed(r, req), True, ADDR)) == E.FORBIDDEN
    assert node.provisioned is None and node.key == KEY


def test_a_tag_on_usb_is_checked_too():
    node = FakeNode(minutes=5)
    r = Rpc(node)
    forged = _signed(r, {"op": "ack", "log": "minute", "seq": 1}, key=bytes(32), addr=0)
    assert err(run(r, forged, False, 0)) == E.AUTH_FAILED
    assert node.logs["minute"].acked == 0
