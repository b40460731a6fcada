"""The node's side of warnings and operations (cemt.app with cemt.alarms): alarm records from
real samples, info and live, safe mode, the boot-loop count, the watchdog fed only on progress.

Run by tests/test_app_safemode.py (``tools/fwrun.py alarms_node``) with the device's heap rather
than 64K, like app_parts: the whole app does not fit 64K on the 64-bit unix port.
"""
import os

import asyncio
from cemt import app, rpcops
from cemt.alarms import CAL_DUE, CO2_HIGH, FAULT, STALE
from cemt.config import Config, Store
from cemt.hardware import RESET_EXIT, Channel, Hardware
from cemt.schema import ALARM, BOOT, D, HEALTH, N

T0 = 1767225600
TMP = "/tmp/cemt_test_alarms_"
PATH = TMP + "state.json"
WDT_MS = 5000
# Plausible edge inputs for CO2, dp, temperature, ps, pa (cemt.edge units).
VALUES = (12000, 5000, 15000, -150, 101325)


class Stop(Exception):
    """Ends a sampler run after a given number of reads."""


class Fake:
    """A sensor driver: a fixed value and status; ``hang_ms``: every read stalls that long on
    the board clock and then fails, as a bus that never answers."""

    def __init__(self, clock, value):
        self.clock = clock
        self.value = value
        self.status = N
        self.errors = [0] * 8
        self.left = -1  # reads before Stop; -1: no end
        self.hang_ms = 0

    def read(self):
        if self.hang_ms:
            self.clock.advance(self.hang_ms)
            raise OSError(110)  # ETIMEDOUT
        if self.left == 0:
            raise Stop()
        self.left -= 1
        return self.value


def _rm(*names):
    for n in names:
        for p in (TMP + n, TMP + n + ".new"):
            try:
                os.remove(p)
            except OSError:
                pass


def _node(safe=False, state=None, **settings):
    _rm("flash.img", "flash.img.erases", "config.json")
    hw = Hardware({"name": "bench", "port": "unix", "clock": {"start": T0}, "watchdog_ms": WDT_MS,
                   "flash": {"main": {"path": TMP + "flash.img", "block_size": 4096,
                                      "blocks": 12}},
                   "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 8},
                            "long": {"flash": "main", "first_block": 8, "blocks": 4}}})
    for i, v in enumerate(VALUES):
        hw.channels.append(Channel(i, Fake(hw.clock, v), 1))
    cfg = Config(TMP + "config.json")
    cfg.update("alarms", settings or {"cal_days": 0})
    return app.Node(hw, cfg, 2, 3, state=state, safe=safe)


def _run(node, samples, task=None):
    """Run the sampler (or ``task``) until ``samples`` more samples were taken."""
    node.hw.channels[0].driver.left = samples
    try:
        asyncio.run(task or node.sampler())
    except Stop:
        pass


def _alarms(node):
    lg = node.long_log
    return [r[5:] for r in lg.iter_from(lg.first_seq) if r[0] == ALARM]


class _Rpc:
    def __init__(self, node):
        self.node = node


def _live(node):
    return rpcops.live(_Rpc(node), 1, {}, False)["alarms"]


def test_a_failing_sensor_raises_fault_and_stale_data_and_both_clear_when_it_recovers():
    node = _node(fault_n=30, stale_min=2, cal_days=0)
    co2 = node.hw.channels[0].driver
    _run(node, 20)
    co2.status = D
    _run(node, 170)  # minutes 1-3 invalid from 0:20 on
    assert _alarms(node) == [[FAULT + 1, 1, D, 30], [STALE, 1, 2, 2]]
    assert node.info()["alarms"] == _live(node) == [[11, D, 30], [20, 2, 2]]
    co2.status = N
    _run(node, 150)
    assert _alarms(node)[2:] == [[FAULT + 1, 0, N, 30], [STALE, 0, 0, 2]]
    assert node.info()["alarms"] == _live(node) == []


def test_alarm_records_carry_the_event_time_and_the_config_version():
    node = _node(co2_hi=1100, cal_days=0)
    _run(node, 121)
    lg = node.long_log
    recs = [r for r in lg.iter_from(lg.first_seq) if r[0] == ALARM]
    assert [r[5:] for r in recs] == [[CO2_HIGH, 1, 1200, 1100]]
    assert recs[0][2] == T0 + 60 and recs[0][3] == 0 and recs[0][4] == node.config.ver
    _run(node, 120)  # still above: held, no new record
    assert len(_alarms(node)) == 1
    node.hw.channels[0].driver.value = 9800  # 0.98 %: below 90 % of the limit
    _run(node, 120)
    assert _alarms(node)[1:] == [[CO2_HIGH, 0, 980, 1100]]


def test_drift_from_a_check_is_logged_through_the_node():
    node = _node()
    node.alarms.drift(1, 600, 500)
    node.alarms.drift(1, 20, 500)
    assert _alarms(node) == [[41, 1, 600, 500], [41, 0, 20, 500]]


def test_safe_mode_node_has_no_warnings_watchdog_or_sampling_and_says_so():
    node = _node(safe=True)
    assert node.alarms is None and node.wdt is None
    lg = node.long_log
    boot = [r for r in lg.iter_from(lg.first_seq) if r[0] == BOOT]
    assert boot[-1][5:] == [2, 3, 1, app.FW]
    info = node.info()
    assert (info["safe"], info["boots"], info["reset"], info["alarms"]) == (1, 2, 3, [])
    assert _live(node) == []
    asyncio.run(node.run())  # no links in this profile: nothing to serve, nothing sampled
    assert node.samples == 0 and node.hw.channels[0].driver.left == -1


def test_normal_node_boot_record_and_info():
    node = _node()
    lg = node.long_log
    assert [r for r in lg.iter_from(lg.first_seq) if r[0] == BOOT][-1][5:] == [2, 3, 0, app.FW]
    info = node.info()
    assert (info["safe"], info["boots"], info["reset"]) == (0, 2, 3) and node.wdt is not None


def test_watchdog_fed_after_each_complete_sample_and_never_while_a_read_hangs():
    node = _node()
    wdt = node.wdt
    _run(node, 5)
    assert wdt.feeds == 5 and not wdt.expired()
    node.hw.channels[3].driver.hang_ms = WDT_MS + 1000  # the static pressure bus hangs
    for _ in range(3):  # each run: the read stalls, fails, and the sample never completes
        try:
            _run(node, 100)
        except OSError:
            pass
        else:
            raise AssertionError("a hung read went unnoticed")
    assert wdt.feeds == 5 and wdt.expired()


def test_housekeeper_marks_the_boot_healthy_and_checks_the_calibration():
    _rm("state.json")
    st = Store(PATH)
    st.set("unhealthy", 2)
    node = _node(state=st, cal_days=30)
    node.config.data["cal"]["dp_t"] = T0 - 86400  # calibrated yesterday
    node.clock.quality = 1

    async def both():
        asyncio.create_task(node.housekeeper())
        await node.sampler()

    _run(node, app.HEALTH_S + 1, both())
    lg = node.long_log
    kinds = [r[0] for r in lg.iter_from(lg.first_seq)]
    assert HEALTH in kinds and Store(PATH).get("unhealthy") == 0
    assert node.info()["alarms"] == [[CAL_DUE + 1, -1, 30]]  # CO2 never calibrated


def test_a_reboot_op_is_a_clean_end():
    _rm("state.json")
    st = Store(PATH)
    st.set("unhealthy", 1)
    node = _node(state=st)
    try:
        node.reboot()
    except SystemExit as e:
        assert e.args[0] == RESET_EXIT
    else:
        raise AssertionError("no reset")
    assert Store(PATH).get("unhealthy") == 0


def _state(doc=None):
    _rm("state.json")
    s = Store(PATH)
    for k, v in (doc or {}).items():
        s.set(k, v)
    return s


def test_three_boots_that_never_got_healthy_make_the_next_one_safe_and_then_normal_again():
    s = _state()
    got = [app.boot_count(Store(PATH)) for _ in range(6)]  # read back from the file each boot
    assert got == [(1, False), (2, False), (3, False), (4, True), (5, False), (6, False)]
    assert Store(PATH).get("unhealthy") == 2 and s.get("boots", 0) == 0  # s: the old snapshot


def test_a_healthy_boot_resets_the_count():
    _state({"boots": 41, "unhealthy": 2})
    assert app.boot_count(Store(PATH)) == (42, False)
    st = Store(PATH)
    assert st.get("unhealthy") == 3  # this boot counts until it proves healthy
    _node(state=st).healthy()
    assert Store(PATH).get("unhealthy") == 0
    assert app.boot_count(Store(PATH)) == (43, False)


def test_a_state_file_from_before_keeps_its_boot_count():
    _state({"boots": 7})
    assert app.boot_count(Store(PATH)) == (8, False)
    with open(PATH, "w") as f:
        f.write("{not json")
    assert app.boot_count(Store(PATH)) == (1, False)  # a corrupt file starts over, no crash


