"""cemt.rpc with a fake node: info, live, time and stats, and their response shapes."""
from rpc_client import call, err, ok
from rpc_fake import FakeNode
from rpc_logs import T0
from cemt import rpcops as E
from cemt.rpc import Rpc


def _rpc(**kw):
    node = FakeNode(**kw)
    return node, Rpc(node)


def test_info_without_and_with_file_hashes():
    node, r = _rpc()
    res = call(r, {"id": 7, "op": "info"})
    assert len(res) == 1 and res[0]["id"] == 7
    info = ok(res)
    assert info == {"device": "dev-1", "site": "plant", "point": "stack-2", "fw": "cemt 0.1.0",
                    "board": "unix", "cfg": 1, "proto": 1, "files": 0}
    sizes = []
    res = call(r, {"id": 8, "op": "info", "files": True}, sizes=sizes)
    parts = res[:-1]
    assert len(parts) >= 3  # 40 hashes do not fit one frame
    want = node.files()
    for p in parts:
        assert sorted(p) == ["files", "id"] and p["id"] == 8
        for path, digest in p["files"]:
            assert [path, digest] == list(next(want))
    assert next(want, None) is None
    assert ok(res)["files"] == 40
    assert max(sizes) > 900  # parts are packed, not one hash per frame


def test_live_carries_time_and_status_per_channel():
    node, r = _rpc()
    live = ok(call(r, {"id": 1, "op": "live"}))
    assert live["t"] == T0 + 86400 and live["tq"] == 0
    assert live["ch"] == {"co2": [1234, 0], "dp": [5210, 0], "temp": [1500, 7]}


def test_time_get_and_set():
    node, r = _rpc()
    assert ok(call(r, {"id": 1, "op": "time.get"})) == {"t": T0 + 86400, "tq": 0}
    res = ok(call(r, {"id": 2, "op": "time.set", "t": T0 + 5}))
    assert res == {"t": T0 + 5, "tq": 1, "was": T0 + 86400}
    assert node.clock.now() == T0 + 5 and node.clock.quality == 1
    assert ok(call(r, {"id": 3, "op": "time.set", "t": T0, "tq": 2}))["tq"] == 2
    for bad in ({"t": -1}, {"t": "now"}, {"t": T0, "tq": 0}, {"t": T0, "tq": 3}, {}):
        req = {"id": 4, "op": "time.set"}
        req.update(bad)
        assert err(call(r, req)) == E.BAD_REQUEST
    assert node.clock.now() == T0 and node.clock.quality == 2


def test_stats_reports_every_group():
    node, r = _rpc(minutes=3)

    class Link:
        def counters(self):
            return {"frames": 5, "garbage": 1}

    r.links["usb"] = Link()
    call(r, {"id": 1, "op": "nope"})
    res = call(r, {"id": 2, "op": "stats"})
    got = {p["name"]: p["values"] for p in res[:-1]}
    assert sorted(got) == ["link.usb", "log.long", "log.minute", "node", "rpc"]
    assert got["link.usb"] == {"frames": 5, "garbage": 1}
    assert got["log.minute"]["newest"] == 3
    assert got["node"] == {"boots": 3, "uptime": 4000}
    assert got["rpc"]["requests"] == 2 and got["rpc"]["errors"] == 1
    assert ok(res) == {"proto": 1}
