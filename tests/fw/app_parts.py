"""cemt.app's own parts: network time, signal to CSQ, the follower clock, the node interface
(configure, provision, info, live) over real ring logs on a NOR image, and the uplink's wiring
(built only when board, settings and key allow it; the modem modules loaded only then).

Run by tests/test_app.py (``tools/fwrun.py app_parts``) with the device's heap rather than 64K:
the whole app with the uplink does not fit 64K on the 64-bit unix port (docs/simulator.md).
"""
import os
import sys

import asyncio
from cemt import app
from cemt.board.clock import VirtualClock
from cemt.config import Config
from cemt.hardware import Hardware
from cemt.schema import CONFIG, M

T0 = 1767225600
TMP = "/tmp/cemt_test_app_"


def _rm(*names):
    for n in names:
        for p in (TMP + n, TMP + n + ".new"):
            try:
                os.remove(p)
            except OSError:
                pass


def _profile(modem=False):
    p = {"name": "bench", "port": "unix", "clock": {"start": T0},
         "flash": {"main": {"path": TMP + "flash.img", "block_size": 4096, "blocks": 12}},
         "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 8},
                  "long": {"flash": "main", "first_block": 8, "blocks": 4}}}
    if modem:
        p["buses"] = {"mdm": {"kind": "uart", "path": TMP + "uart"}, "key": {"kind": "pin", "ident": 4}}
        p["modem"] = {"uart": "mdm", "family": "quectel", "pwrkey": "key", "apn": "cmnet",
                      "timeouts": {"t_cmd": 321, "t_key_off": 700}}
        p["uplink"] = {"reply_ms": 1234}
    return p


def _node(modem=False, key=None):
    _rm("flash.img", "flash.img.erases", "config.json", "device.key", "modem.json", "uart")
    with open(TMP + "uart", "wb"):
        pass
    return app.Node(Hardware(_profile(modem)), Config(TMP + "config.json"), 3, key=key,
                    key_path=TMP + "device.key")


def _long(node):
    lg = node.long_log
    return list(r[:] for r in lg.iter_from(lg.first_seq))


def test_csq_from_dbm():
    assert [app.csq(d) for d in (0, -113, -115, -73, -51, -40)] == [99, 0, 0, 20, 31, 31]


def test_network_time_confirms_a_close_clock_and_steps_a_far_one():
    c = VirtualClock(T0)
    c.quality = 1
    net = app.NetTime(c)
    net.set(T0 + 2, 2)
    assert c.now() == T0 and c.quality == 2  # within the slack: confirmed, not stepped
    net.set(T0 - 3, 2)
    assert c.now() == T0 - 3
    c2 = VirtualClock(T0)  # never set (quality 0): any network time steps it
    app.NetTime(c2).set(T0 + 1, 2)
    assert c2.now() == T0 + 1 and c2.quality == 2


def test_follow_waits_for_the_sampler_and_never_moves_the_clock():
    clock = VirtualClock(T0)
    tick = asyncio.Event()
    follow = app.Follow(clock, tick)
    woke = []

    async def waiter():
        await follow.asleep_ms(3000)
        woke.append(clock.ticks_ms() - T0 * 1000)

    async def sampler():
        for _ in range(6):
            await clock.asleep_ms(1000)
            tick.set()
            tick.clear()
            await asyncio.sleep_ms(0)

    async def main():
        t = asyncio.create_task(waiter())
        await asyncio.sleep_ms(0)
        assert clock.ticks_ms() == T0 * 1000  # waiting did not move the virtual clock
        await sampler()
        await t

    asyncio.run(main())
    assert woke == [3000]


def test_configure_saves_logs_each_change_and_applies_at_boot():
    node = _node()
    kp = node.config.get("edge", "kp")
    assert node.configure("edge", {"kp": kp + 100, "co2_wet": True}, 1) == 2
    recs = [r for r in _long(node) if r[0] == CONFIG]
    assert sorted(r[5:] for r in recs) == [["edge.co2_wet", 0, 1, 1], ["edge.kp", kp, kp + 100, 1]]
    assert all(r[4] == 2 for r in recs)
    assert node.configure("edge", {"kp": kp + 100}, 0) is None  # nothing changed: no record
    assert Config(TMP + "config.json").get("edge", "kp") == kp + 100
    assert node.edge._ver == 1  # the running edge keeps the version it was built with
    try:
        node.configure("nope", {"x": 1}, 0)
    except KeyError:
        pass
    else:
        raise AssertionError("unknown section accepted")


def test_provision_stores_identity_and_key_but_never_logs_the_key():
    node = _node()
    key = bytes(range(32))
    ver = node.provision("stack-09", "plant", "p2", key)
    assert node.key == key and app.read_key(TMP + "device.key") == key
    assert ver == node.config.ver == 2
    info = node.info()
    assert info == {"device": "stack-09", "site": "plant", "point": "p2", "fw": app.FW,
                    "board": "bench", "alarms": [], "safe": 0, "boots": 3, "reset": 0}
    recs = [r[5:] for r in _long(node) if r[0] == CONFIG]
    assert ["device.key", 0, 0, 0] in recs and ["device.id", "", "stack-09", 0] in recs
    assert all(type(v) is not bytes for r in recs for v in r)


def test_read_key_refuses_a_short_file():
    _rm("device.key")
    assert app.read_key(TMP + "device.key") is None
    with open(TMP + "device.key", "wb") as f:
        f.write(b"x" * 31)
    assert app.read_key(TMP + "device.key") is None


def test_no_uplink_without_modem_settings_or_key():
    node = _node(modem=False, key=b"k" * 32)
    node.config.update("device", {"id": "stack-01"})
    node.config.update("uplink", {"host": "127.0.0.1", "port": 5000})
    assert not node.start_uplink(TMP + "modem.json")
    assert "cemt.modem.driver" not in sys.modules and node.uplink is None
    assert node.health()[11] == app.CSQ_UNKNOWN
    try:
        node.calibrate({"channel": 1, "action": 1, "ref": 0})
    except NotImplementedError:
        pass
    else:
        raise AssertionError("calibration accepted")


class _Temp:
    index = 2  # cemt.edge.TEMP; live() reads only the index


def test_live_says_warming_up_before_the_first_sample():
    node = _node()
    node.hw.channels.append(_Temp())
    assert node.live() == {"temp": (0, M)}
    node.samples = 1
    node.values[2] = 1234  # 12.34 degC in edge units; live() says 0.1 degC
    node.status[2] = 0
    assert node.live() == {"temp": (123, 0)}
    node.values[2] = -1235
    assert node.live() == {"temp": (-124, 0)}


def test_uplink_built_over_the_modem_when_everything_is_there():
    node = _node(modem=True)
    assert not node.start_uplink(TMP + "modem.json")  # no key, no settings
    node.key = b"k" * 32
    node.config.update("device", {"id": "stack-01"})
    node.config.update("uplink", {"host": "127.0.0.1", "port": 5000})
    assert node.start_uplink(TMP + "modem.json")
    up, m = node.uplink, node.modem
    assert up.link is m and up.device == "stack-01" and up.port == 5000 and up.reply_ms == 1234
    assert up.logs == (node.minute_log, node.long_log) and up.fw == app.FW and up.boots == 3
    assert m.t_cmd == 321 and m.t_key_off == 700 and m.apn == b"cmnet"
    assert isinstance(m.clock, app.NetTime) and isinstance(up.clock, app.Follow)
    s = node.stats()
    assert s["up_state"] == 0 and s["mdm_ready"] == 0 and s["boots"] == 3
