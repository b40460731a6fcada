"""The device application: sampling, edge computation, the ring logs and health records.

``main()`` reads the board profile (``board.json``) and the settings (``config.json``) from the
board's filesystem, builds the hardware, and runs the tasks:

- the sampler, once a period on the board clock: reads every channel, applies the calibration,
  feeds the edge; the edge's finished records go straight into the ring logs (an append is
  durable when it returns), and the watchdog is fed only after a complete sample;
- the housekeeper: a health record every 10 minutes, and erasing ahead in the logs while the buses
  are quiet.

Only the sampler moves a virtual clock; the other tasks wait on events it sets.
"""
import gc
import json
from array import array

import asyncio
from micropython import const

from cemt import VERSION, records
from cemt.edge import CO2, DP, Edge, EdgeConfig
from cemt.hardware import LOG_LONG, LOG_MINUTE, Hardware
from cemt.schema import MINUTE

HEALTH_S = const(600)


def _load(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


class Node:
    def __init__(self, hw, config, boots=1, reset=records.RESET_UNKNOWN):
        self.hw = hw
        self.clock = hw.clock
        self.config = config
        self.boots = boots
        self.minute_log = hw.log("minute", LOG_MINUTE)
        self.long_log = hw.log("long", LOG_LONG)
        ec = config.get("edge")
        self.period_s = ec["period_s"]
        self.edge = Edge(EdgeConfig(ec["area"], ec["kp"], ec["kv"], ec["xsw"], ec["xsw_measured"],
                                    ec["co2_wet"], ec["o2"], self.period_s, config.ver),
                         self._store)
        self.values = array("i", (0, 0, 0, 0, 0, 0))
        self.status = bytearray(6)
        self.wdt = hw.watchdog()
        self.samples = 0
        self._started = self.clock.now()
        self._health_due = asyncio.Event()
        self._append(records.boot(self._started, self.clock.quality, config.ver, boots, reset, 0,
                                  VERSION))

    def _store(self, rec):
        (self.minute_log if rec[0] == MINUTE else self.long_log).append(rec)

    def _append(self, rec):
        self._store(rec)

    def read_channels(self):
        cal = self.config.get("cal")
        n = self.samples  # a small int: t itself is a long int on 32-bit ports
        for ch in self.hw.channels:
            if n % ch.every_s:
                continue  # a slow quantity: hold the last reading
            v = ch.driver.read()
            if ch.index == CO2:
                v = (v - cal["co2_zero"]) * cal["co2_gain"] // 10000
            elif ch.index == DP:
                v -= cal["dp_zero"]
            self.values[ch.index] = v
            self.status[ch.index] = ch.driver.status

    async def sampler(self):
        clock = self.clock
        period_ms = self.period_s * 1000
        await clock.asleep_ms(1000 - clock.ticks_ms() % 1000)  # start on a whole second
        due = clock.ticks_ms()
        health_every = HEALTH_S // self.period_s
        while True:
            t = clock.now()
            self.read_channels()
            self.edge.sample(t, clock.quality, self.values, self.status)
            self.samples += 1
            if self.wdt:
                self.wdt.feed()
            if self.samples % health_every == 0:
                self._health_due.set()
            due += period_ms
            wait = clock.ticks_diff(due, clock.ticks_ms())
            if wait < 0:  # fell behind by more than a period: skip, never burst
                due = clock.ticks_ms()
                wait = 0
            await clock.asleep_ms(wait)

    async def housekeeper(self):
        while True:
            await self._health_due.wait()
            self._health_due.clear()
            self._append(self.health())
            self.minute_log.maintain()
            self.long_log.maintain()

    def health(self):
        gc.collect()
        st = self.minute_log.stats()
        errors = [0, 0, 0, 0, 0]
        for ch in self.hw.channels:
            if ch.index < 5:
                e = ch.driver.errors
                errors[ch.index] = sum(e)
        return records.health(self.clock.now(), self.clock.quality, self.config.ver, self.boots,
                              self.clock.now() - self._started, gc.mem_free(),
                              st["fill_pct"] * 10, st["dropped"],
                              st["acked"] if st["acked"] else -1, 0, *errors)

    async def run(self):
        asyncio.create_task(self.housekeeper())
        await self.sampler()


def main(profile_path="board.json", config_path="config.json", state_path="state.json"):
    from cemt.config import Config
    profile = _load(profile_path, None)
    if profile is None:
        raise OSError("no board profile at " + profile_path)
    state = _load(state_path, {})
    state["boots"] = state.get("boots", 0) + 1
    with open(state_path, "w") as f:
        json.dump(state, f)
    hw = Hardware(profile)
    for ch in hw.channels:
        ch.driver.start()
    node = Node(hw, Config(config_path), state["boots"])
    asyncio.run(node.run())
