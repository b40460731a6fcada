"""cemt.rpc with a fake node: config.get and config.set."""
from rpc_client import call, err, ok
from rpc_fake import FakeNode
from cemt import rpcops as E
from cemt.rpc import Rpc


def _rpc(**kw):
    node = FakeNode(**kw)
    return node, Rpc(node)


def test_config_get_streams_sections_and_hides_secrets():
    node, r = _rpc()
    node.config.data["uplink"] = {"host": "10.0.0.1", "key": b"secret", "psk_key": "x"}
    res = call(r, {"id": 2, "op": "config.get"})
    names = [p["name"] for p in res[:-1]]
    assert names == ["alarms", "cal", "device", "edge", "uplink"]
    got = {p["name"]: p["values"] for p in res[:-1]}
    assert got["edge"] == node.config.data["edge"]
    assert got["uplink"] == {"host": "10.0.0.1"}
    assert ok(res) == {"ver": 1}
    one = call(r, {"id": 3, "op": "config.get", "section": "cal"})
    assert len(one) == 2 and one[0]["values"] == node.config.data["cal"]
    assert err(call(r, {"id": 4, "op": "config.get", "section": "nope"})) == E.NOT_FOUND
    assert err(call(r, {"id": 4, "op": "config.get", "section": "ver"})) == E.NOT_FOUND


def test_config_set_bumps_version_and_reports_typed_errors():
    node, r = _rpc()
    res = ok(call(r, {"id": 1, "op": "config.set", "section": "edge", "changes": {"kp": 8300}}))
    assert res == {"ver": 2, "changed": True}
    assert node.config.get("edge", "kp") == 8300 and node.sources == [0]  # the USB console
    res = ok(call(r, {"id": 2, "op": "config.set", "section": "edge", "changes": {"kp": 8300}}))
    assert res == {"ver": 2, "changed": False}
    for changes, code in (({"kp": "8300"}, E.INVALID), ({"nope": 1}, E.INVALID),
                          ({"key": b"x"}, E.INVALID), ({1: 2}, E.INVALID)):
        assert err(call(r, {"id": 3, "op": "config.set", "section": "edge",
                            "changes": changes})) == code
    assert err(call(r, {"id": 4, "op": "config.set", "section": "zz",
                        "changes": {"a": 1}})) == E.NOT_FOUND
    assert err(call(r, {"id": 5, "op": "config.set", "section": "edge"})) == E.BAD_REQUEST
    assert err(call(r, {"id": 5, "op": "config.set", "section": "edge",
                        "changes": {}})) == E.BAD_REQUEST
    assert node.config.ver == 2 and node.config.get("edge", "kp") == 8300
    node.cleanup()
