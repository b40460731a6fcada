"""Calibration and maintenance mode at 64K: the ``maint`` op of cemt.rpcops (arguments, errors,
the mode in ``live``, RS485 signing) over a fake node, and the mode's warning entry and records
in cemt.alarms (codes 50, 51). The app's side is tests/fw/maint_app.py."""
from rpc_client import call, encode, err, nonce, ok, run
from rpc_fake import KEY, FakeNode
from cemt import alarms as A
from cemt import rpcops as E
from cemt.config import DEFAULTS
from cemt.rpc import Rpc

ADDR = 7


class ModeNode(FakeNode):
    """A fake node with a mode: what ``maint`` asked for, kept as the app keeps it."""

    def __init__(self):
        FakeNode.__init__(self, "maint")
        self.mode = None
        self.until = 0
        self.asked = []
        self.refuse = False

    def maint(self, mode, seconds):
        if self.refuse:
            raise RuntimeError("safe mode: nothing is sampled")
        if mode not in ("cal", "maint", "off"):
            raise ValueError("no mode %r" % (mode,))
        self.asked.append((mode, seconds))
        self.mode = None if mode == "off" else mode
        self.until = self.clock.now() + seconds if self.mode else 0
        return {"mode": mode, "until": self.until}

    def mode_live(self, ok):
        if self.mode:
            ok["maint"] = [self.mode, self.until]
            ok["sensor"] = {"co2": 0, "dp": 4}


def _rpc():
    node = ModeNode()
    return node, Rpc(node)


def test_maint_starts_renews_and_ends_a_mode():
    node, r = _rpc()
    now = node.clock.now()
    assert ok(call(r, {"id": 1, "op": "maint", "mode": "cal"})) == {"mode": "cal",
                                                                     "until": now + 1800}
    assert ok(call(r, {"id": 2, "op": "maint", "mode": "maint", "s": 60})) == {
        "mode": "maint", "until": now + 60}
    assert ok(call(r, {"id": 3, "op": "maint", "mode": "off"})) == {"mode": "off", "until": 0}
    assert node.asked == [("cal", 1800), ("maint", 60), ("off", 1800)]
    node.cleanup()


def test_the_mode_shows_in_live_with_the_sensor_statuses():
    node, r = _rpc()
    live = ok(call(r, {"id": 2, "op": "live"}))
    assert "maint" not in live and "sensor" not in live
    until = ok(call(r, {"id": 3, "op": "maint", "mode": "cal", "s": 600}))["until"]
    live = ok(call(r, {"id": 5, "op": "live"}))
    assert live["maint"] == ["cal", until] and live["sensor"] == {"co2": 0, "dp": 4}
    call(r, {"id": 6, "op": "maint", "mode": "maint"})
    assert ok(call(r, {"id": 7, "op": "live"}))["maint"][0] == "maint"
    node.cleanup()


def test_bad_arguments_are_refused_and_change_nothing():
    node, r = _rpc()
    for req in ({"mode": "on"}, {"mode": 5}, {"mode": b"cal"}, {}, {"mode": "cal", "s": 0},
                {"mode": "cal", "s": 86401}, {"mode": "cal", "s": "60"}):
        assert err(call(r, dict(req, id=1, op="maint"))) == E.BAD_REQUEST, req
    assert node.asked == []
    assert ok(call(r, {"id": 2, "op": "maint", "mode": "cal", "s": 86400}))["until"] == \
        node.clock.now() + 86400
    node.refuse = True
    res = call(r, {"id": 3, "op": "maint", "mode": "cal"})
    assert err(res) == E.FAILED and res[0]["msg"] == "safe mode: nothing is sampled"
    node.cleanup()


def test_a_node_without_a_mode_says_unsupported():
    node = FakeNode(name="maint")
    r = Rpc(node)
    assert err(call(r, {"id": 1, "op": "maint", "mode": "cal"})) == E.UNSUPPORTED
    assert "maint" not in ok(call(r, {"id": 2, "op": "live"}))
    node.cleanup()


def test_on_rs485_maint_needs_a_tag_over_the_current_nonce():
    node, r = _rpc()
    req = {"id": 1, "op": "maint", "mode": "cal"}
    assert err(call(r, req, True, ADDR)) == E.AUTH_REQUIRED
    assert err(run(r, encode(dict(req, nonce=nonce(r)), b"x" * 32, ADDR), True, ADDR)) == \
        E.AUTH_FAILED
    assert node.asked == []
    signed = encode(dict(req, nonce=nonce(r)), KEY, ADDR)
    assert ok(run(r, signed, True, ADDR))["mode"] == "cal"
    assert err(run(r, signed, True, ADDR)) == E.STALE_NONCE  # a replay
    assert node.asked == [("cal", 1800)]
    node.cleanup()


def _alarms():
    out = []
    a = A.Alarms(lambda code, state, value, limit: out.append((code, state, value, limit)),
                 DEFAULTS["alarms"])
    return a, out


def test_a_mode_is_one_record_at_its_start_and_one_at_its_end():
    a, out = _alarms()
    a.mode_on(A.CAL_MODE, 1800)
    assert out == [(A.CAL_MODE, 1, 1800, 1800)] and a.active() == [[A.CAL_MODE, 1800, 1800]]
    a.mode_on(A.CAL_MODE, 600)  # renewed: no record, the new duration
    assert len(out) == 1 and a.active() == [[A.CAL_MODE, 600, 600]]
    a.mode_off(A.CAL_MODE, 125)
    assert out[1:] == [(A.CAL_MODE, 0, 125, 600)] and a.active() == []
    a.mode_off(A.CAL_MODE, 0)  # not on: nothing
    a.mode_on(A.MAINT_MODE, 60)
    a.mode_off(A.MAINT_MODE, 0)
    assert out[2:] == [(A.MAINT_MODE, 1, 60, 60), (A.MAINT_MODE, 0, 0, 60)]
    assert (A.CAL_MODE, A.MAINT_MODE) == (50, 51)


def test_a_mode_does_not_hide_a_sensor_fault():
    a, out = _alarms()
    a.mode_on(A.CAL_MODE, 1800)
    n = DEFAULTS["alarms"]["fault_n"]
    status = bytearray(6)
    status[0] = 4  # D: the analyser, not the mode
    for _ in range(n):
        a.sample(status)
    assert [c for c, _, _ in a.active()] == [A.FAULT + 1, A.CAL_MODE]
