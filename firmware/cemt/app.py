"""The device application: sampling, edge computation, ring logs, health, uplink and USB console.

``main()`` reads the board profile (``board.json``), the settings (``config.json``) and the
device key (``device.key``, 32 raw bytes written by provisioning; never logged, never a setting)
from the board's filesystem, builds the hardware, and runs the tasks:

- at boot, today's stored records are folded back into the edge (``cemt.restore``), so an hour
  or day cut by a restart still sums all its minutes;
- the sampler, once a period on the board clock: reads every channel, applies the calibration,
  feeds the edge (every status C or M while a calibration or maintenance mode is on, see
  ``Node.maint``); the edge's finished records go straight into the ring logs (an append is
  durable when it returns), and the watchdog is fed only after a complete sample; the warnings
  (``cemt.alarms``) see every sample's statuses and every stored minute and hour record;
- the housekeeper: a health record every 10 minutes (the first one marks the boot healthy), the
  warnings that look at the logs and the calibration, and erasing ahead in the logs while the
  buses are quiet;
- the uplink (``cemt.uplink`` over ``cemt.modem``), when the profile has a ``modem``, the
  settings an ``uplink`` host and the device a key; the modem's ladder counters persist in
  ``modem.json``;
- the command protocol (``cemt.rpc``, the node being ``Node``) on USB (``cemt.console``) when the
  profile says ``"console": true``, and as an RS485 slave (``cemt.rs485``) when it has an
  ``rs485`` entry; both links share one dispatcher.

``state.json`` counts boots, and the boots that did not reach healthy: after ``SAFE_AFTER`` of
those in a row the next boot is a safe one (docs/alarms.md): no sensors, sampling, uplink or
watchdog, only the links serving the command protocol, and a boot record that says safe. An
exception escaping the app in normal mode resets the board (on the unix port: exit status 3).

Only the sampler moves a virtual clock: the other tasks wait on events it sets (the uplink
through ``Follow``). Settings changed through the console are saved and logged at once and take
effect at the next boot (the ``reboot`` op), so a record's ``ver`` always names what made it.
"""
import gc
import os
from array import array

import asyncio
from micropython import const

from cemt import VERSION, records
from cemt.alarms import CAL_MODE, MAINT_MODE, Alarms
from cemt.config import load_json
from cemt.edge import CO2, DP, TEMP, Edge, EdgeConfig
from cemt.hardware import CHANNELS, LOG_LONG, LOG_MINUTE, RESET_EXIT, Hardware
from cemt.schema import HOUR, C, M, MINUTE

HEALTH_S = const(600)
KEY_SIZE = const(32)
CSQ_UNKNOWN = const(99)
NET_SLACK_S = const(2)  # network time this close to a set clock confirms it (no step)
FW = "cemt " + VERSION
SAFE_AFTER = const(3)  # boots in a row that did not reach healthy: the next is a safe one
_LIVE = const(5)  # channels reported by ``live`` (all but xsw)
CAL_READINGS = const(10)  # the raw readings a calibration judges (docs/calibration.md)
_MODE_NAMES = {0: "off", C: "cal", M: "maint"}  # the maint op's modes by status


def read_key(path):
    """The device key in ``path``, or None when there is none (or it is not 32 bytes)."""
    try:
        with open(path, "rb") as f:
            key = f.read(KEY_SIZE + 1)
    except OSError:
        return None
    return key if len(key) == KEY_SIZE else None


def csq(dbm):
    """``AT+CSQ`` rssi (0-31) of a signal in dBm; 99 unknown (0 dBm: no reading, no modem)."""
    if not dbm:
        return CSQ_UNKNOWN
    return min(31, max(0, (dbm + 113) // 2))


def _tenths(v):
    # live() units: CO2 0.001 -> 0.01 %vol, temperature 0.01 -> 0.1 degC, rounded
    return (v + 5) // 10 if v >= 0 else -((5 - v) // 10)


class Recent:
    """The last ``CAL_READINGS`` raw readings of a channel and their statuses, in no order."""

    def __init__(self):
        self.values = array("i", bytes(4 * CAL_READINGS))
        self.status = bytearray(CAL_READINGS)
        self.n = 0  # readings held, up to CAL_READINGS
        self._i = 0

    def add(self, value, status):
        i = self._i
        self.values[i] = value
        self.status[i] = status
        self._i = (i + 1) % CAL_READINGS
        if self.n < CAL_READINGS:
            self.n += 1


class Follow:
    """The board clock for tasks other than the sampler: their waits never move a virtual clock.

    ``asleep_ms`` waits on the sampler's tick (set after every sample) until the board clock has
    moved ``ms`` on, so backoff and polling count board time, simulated or real, to within a
    sample period.
    """

    def __init__(self, clock, tick):
        self._clock = clock
        self._tick = tick
        self.ticks_diff = clock.ticks_diff

    def now(self):
        return self._clock.now()

    def ticks_ms(self):
        return self._clock.ticks_ms()

    async def asleep_ms(self, ms):
        c = self._clock
        t0 = c.ticks_ms()
        await asyncio.sleep_ms(0)
        while c.ticks_diff(c.ticks_ms(), t0) < ms:
            await self._tick.wait()


class NetTime:
    """The board clock as the modem sets it from the network clock.

    ``AT+CCLK?`` has a resolution of a second and comes with the exchange's latency, so a network
    time within ``NET_SLACK_S`` of a clock that was already set only confirms it (its quality
    becomes the network's): stepping the clock back by a second would make the edge reject
    samples. A clock never set, or further off, is stepped.
    """

    def __init__(self, clock):
        self._clock = clock

    def set(self, t, tq):
        c = self._clock
        if c.quality and -NET_SLACK_S <= t - c.now() <= NET_SLACK_S:
            c.quality = tq
        else:
            c.set(t, tq)


class Node:
    """The running device; also the node that ``cemt.rpc`` serves (its docstring lists the members)."""

    def __init__(self, hw, config, boots=1, reset=records.RESET_UNKNOWN, key=None,
                 key_path="device.key", state=None, safe=False):
        self.hw = hw
        self.clock = hw.clock
        self.config = config
        self.boots = boots
        self.reset = reset
        self.safe = safe
        self._state = state  # cemt.config.Store of state.json (the boot-loop count), or None
        # Safe mode (a boot loop): no warnings, no sampling, no watchdog; the links only.
        self.alarms = None if safe else Alarms(self._alarm, config.get("alarms"),
                                               [ch.index for ch in hw.channels])
        self.key = key
        self._key_path = key_path
        self.minute_log = hw.log("minute", LOG_MINUTE)
        self.long_log = hw.log("long", LOG_LONG)
        self.logs = {"minute": self.minute_log, "long": self.long_log}
        # Logged first, so a boot that fails while setting up still leaves its trace.
        self._started = self.clock.now()
        self._store(records.boot(self._started, self.clock.quality, config.ver, boots, reset,
                                  1 if safe else 0, FW))
        ec = config.get("edge")
        self.period_s = ec["period_s"]
        # In safe mode no edge: settings it refuses (a cause of boot loops) can still be fixed.
        self.edge = None if safe else Edge(EdgeConfig(ec["area"], ec["kp"], ec["kv"], ec["xsw"],
                                                      ec["xsw_measured"], ec["co2_wet"], ec["o2"],
                                                      self.period_s, config.ver), self._store)
        # What the node runs with: settings apply at boot, calibrations at once (calibrate)
        self.cal = dict(config.get("cal"))
        self._edge_cfg = dict(ec)
        self.raw = (Recent(), Recent())  # the latest raw CO2 and Δp readings
        if not safe:
            self._restore()
        self.values = array("i", (0, 0, 0, 0, 0, 0))
        self.status = bytearray(6)  # what the edge gets: the sensor's, or the mode's
        self.sensor = bytearray(6)  # what the sensors said
        self.mode = 0  # C or M while a calibration or maintenance mode is on, else 0 (N)
        self.mode_from = 0
        self.mode_until = 0
        self.wdt = None if safe else hw.watchdog()
        self.samples = 0
        self._health_due = asyncio.Event()
        self._tick = asyncio.Event()
        self.modem = None
        self.uplink = None

    def _restore(self):
        """After a restart, today's stored records go back into the edge (cemt.restore)."""
        from cemt.restore import restore
        try:
            restore(self.edge, self.minute_log, self.long_log, self.clock.now())
        except Exception as e:  # a damaged log must not stop the node measuring
            print("restore:", repr(e))

    def _store(self, rec):
        (self.minute_log if rec[0] == MINUTE else self.long_log).append(rec)
        if rec[0] <= HOUR and self.alarms is not None:
            self.alarms.period(rec)

    def _alarm(self, code, state, value, limit):
        self._store(records.alarm(self.clock.now(), self.clock.quality, self.config.ver, code,
                                  state, value, limit))

    def healthy(self):
        """This boot went well (a health period of running, or a clean reboot): no boot loop."""
        if self._state is not None and self._state.get("unhealthy"):
            self._state.set("unhealthy", 0)

    # -- sampling

    def read_channels(self):
        cal = self.cal
        n = self.samples  # a small int: t itself is a long int on 32-bit ports
        mode = self.mode if self.mode and self.maint_state() else 0
        for ch in self.hw.channels:
            i = ch.index
            if n % ch.every_s == 0:  # else a slow quantity: hold the last reading
                v = ch.driver.read()
                st = ch.driver.status
                if i == CO2 or i == DP:
                    self.raw[i].add(v, st)  # calibrations judge the sensor, not the mode
                    if i == CO2:
                        v = (v - cal["co2_zero"]) * cal["co2_gain"] // 10000
                    else:
                        v -= cal["dp_zero"]
                self.values[i] = v
                self.sensor[i] = st
            self.status[i] = mode or self.sensor[i]

    async def sampler(self):
        clock = self.clock
        tick = self._tick
        period_ms = self.period_s * 1000
        await clock.asleep_ms(1000 - clock.ticks_ms() % 1000)  # start on a whole second
        due = clock.ticks_ms()
        health_every = HEALTH_S // self.period_s
        while True:
            t = clock.now()
            self.read_channels()
            self.edge.sample(t, clock.quality, self.values, self.status)
            if self.alarms is not None:
                self.alarms.sample(self.sensor)  # a fault during calibration is still one
            self.samples += 1
            if self.wdt:
                self.wdt.feed()
            if self.samples % health_every == 0:
                self._health_due.set()
            tick.set()  # wakes the waiters of Follow.asleep_ms; they do not look at the flag
            tick.clear()
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
            self._store(self.health())
            self.healthy()
            c = self.clock
            self.alarms.housekeep(c.now(), c.quality, self.minute_log.stats(),
                                  self.config.get("cal"))
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
        rssi = self.modem.rssi if self.modem else 0
        return records.health(self.clock.now(), self.clock.quality, self.config.ver, self.boots,
                              self.clock.now() - self._started, gc.mem_free(),
                              st["fill_pct"] * 10, st["dropped"],
                              st["acked"] if st["acked"] else -1, csq(rssi), *errors)

    # -- uplink

    def start_uplink(self, store_path="modem.json"):
        """Build the modem driver and the uplink when the board, settings and key allow; True if so."""
        up = self.config.get("uplink")
        dev = self.config.get("device", "id")
        if not (self.hw.profile.get("modem") and up["host"] and up["port"] and dev and self.key):
            return False
        from cemt.config import Store
        from cemt.uplink import Uplink
        self.modem = self.hw.modem(Store(store_path), self.hw.reset, NetTime(self.clock))
        self.uplink = Uplink(self.modem, up["host"], up["port"], dev, self.key,
                             (self.minute_log, self.long_log), Follow(self.clock, self._tick),
                             fw=FW, cfg=self.config.ver, boots=self.boots)
        for name, value in self.hw.profile.get("uplink", {}).items():
            if not name.endswith("_ms") or not hasattr(self.uplink, name):
                raise ValueError("uplink: unknown setting %r" % name)
            setattr(self.uplink, name, value)
        self.alarms.uplink = self.uplink
        return True

    # -- the node interface of cemt.rpc

    def info(self):
        dev = self.config.get("device")
        out = {"device": dev["id"], "site": dev["site"], "point": dev["point"], "fw": FW,
                "board": self.hw.profile.get("name", ""),
                "alarms": self.alarms.active() if self.alarms is not None else [],
                "safe": 1 if self.safe else 0, "boots": self.boots, "reset": self.reset}
        state = self.maint_state()
        if state:
            out["maint"] = [_MODE_NAMES[state[0]], state[1]]
        return out

    def files(self):
        import cemt
        from hashlib import sha256
        buf = bytearray(256)
        here = getattr(cemt, "__file__", "")
        top = here[:here.rfind("/")] if "/" in here else ""
        for path in _walk(top) if top else ():
            h = sha256()
            try:
                with open(path, "rb") as f:
                    while True:
                        n = f.readinto(buf)
                        if not n:
                            break
                        h.update(memoryview(buf)[:n])
            except OSError:
                continue
            yield path, h.digest()

    def live(self):
        out = {}
        for ch in self.hw.channels:
            i = ch.index
            if i < _LIVE:
                v = self.values[i]
                # before the first sample nothing was read yet: warming up
                out[CHANNELS[i]] = (_tenths(v) if i == CO2 or i == TEMP else v,
                                    self.status[i] if self.samples else M)
        return out

    def configure(self, section, changes, source):
        current = self.config.data[section]  # KeyError: no such section
        old = {k: current.get(k) for k in changes}
        ver = self.config.update(section, changes)
        if ver is not None:
            t = self.clock.now()
            for k, v in changes.items():
                if old[k] != v:
                    self._store(records.config(t, self.clock.quality, ver, section + "." + k,
                                                _value(old[k]), _value(v), source))
        return ver

    def stats(self):
        out = {"boots": self.boots, "uptime": self.clock.now() - self._started,
               "heap": gc.mem_free(), "samples": self.samples,
               "rejected": self.edge.rejected if self.edge else 0}
        if self.uplink:
            for k, v in self.uplink.stats().items():
                out["up_" + k] = v
            for k, v in self.modem.summary().items():
                out["mdm_" + k] = v
        return out

    def calibrate(self, req):
        """One calibration action (docs/calibration.md): judged by ``cemt.calib``, applied at
        once to the settings and the running node, logged as a calibration record."""
        if self.safe:
            raise RuntimeError("safe mode: nothing is sampled")
        from cemt import calib
        ch, action, ref = req["channel"], req["action"], req["ref"]
        raw = None
        if calib.needs_reading(ch, action):
            sensor = self._sensor(CO2 if ch == records.CH_CO2 else DP)
            r = self.raw[sensor.index]
            raw = calib.steady(ch, r.values, r.status, r.n, self.config.get("cal"),
                               CAL_READINGS * sensor.every_s * self.period_s)
        out = calib.plan(ch, action, ref, self.config.get("cal"), self.config.get("edge"), raw)
        result = out.result
        ver = self.config.ver
        if out.changes:
            pending = self._pending()
            if pending:
                raise RuntimeError("%s was changed and applies at the next boot: reboot before "
                                   "calibrating" % pending)
            self.edge.close(self.clock.now())  # periods already over keep the old version
            ver = self._apply(out, req.get("source", records.SRC_CONSOLE))
            if ver is None:
                result = records.CAL_ABORTED
                ver = self.config.ver
        self._store(records.calibration(self.clock.now(), self.clock.quality, ver, ch, action,
                                        ref, out.reading, out.before, out.after, result))
        res = {"result": result, "reading": out.reading, "before": out.before,
               "after": out.after, "ver": ver}
        if out.drift is not None:
            res["drift"] = out.drift
            res["limit"] = out.limit
            if self.alarms is not None:
                self.alarms.drift(ch, out.drift, out.limit)
        return res

    def _sensor(self, index):
        for ch in self.hw.channels:
            if ch.index == index:
                return ch
        raise NotImplementedError("this board has no %s sensor" % CHANNELS[index])

    def _pending(self):
        """The first setting that differs from what the node runs with, or None."""
        ec = self.config.get("edge")
        for k, v in self._edge_cfg.items():
            if ec[k] != v:
                return "edge." + k
        cal = self.config.get("cal")
        for k in ("co2_zero", "co2_gain", "dp_zero"):
            if cal[k] != self.cal[k]:
                return "cal." + k
        return None

    def _apply(self, out, source):
        """Save and log ``out``'s changes and run with them; the new version (the old one when
        nothing differed), or None when they could not be saved (nothing changed then)."""
        changes = out.changes
        if out.stamp:
            changes[out.stamp] = self.clock.now()
        section = self.config.data[out.section]
        old = {k: section[k] for k in changes}
        ver = self.config.ver
        try:
            new = self.configure(out.section, changes, source)
        except OSError as e:
            print("calibrate:", repr(e))
            section.update(old)
            self.config.data["ver"] = ver
            return None
        if new is None:
            return ver
        (self.cal if out.section == "cal" else self._edge_cfg).update(changes)
        # The running edge takes the new factors and version now, keeping the open periods
        # whole: they carry the version in force when they close (docs/calibration.md).
        self.edge.retune(self._edge_cfg["kp"], self._edge_cfg["kv"], new)
        return new

    def provision(self, device, site, point, key):
        save_key(self._key_path, key)
        self.key = key
        self.configure("device", {"id": device, "site": site, "point": point},
                       records.SRC_CONSOLE)
        # A new key is logged without its value (docs/records.md, config records).
        self._store(records.config(self.clock.now(), self.clock.quality, self.config.ver,
                                    "device.key", 0, 0, records.SRC_CONSOLE))
        return self.config.ver

    def reboot(self):
        self.healthy()
        if self.mode:
            self._end_mode(self.clock.now())
        self.hw.reset()

    # -- calibration and maintenance mode

    def maint(self, name, seconds):
        """The ``maint`` op: ``name`` "cal", "maint" or "off" (docs/alarms.md §1.1)."""
        if type(name) is not str:  # before comparing: bytes == str warns on the console
            name = None
        mode = C if name == "cal" else M if name == "maint" else 0 if name == "off" else None
        if mode is None:
            raise ValueError('mode must be "cal", "maint" or "off"')
        mode, until = self.set_mode(mode, seconds)
        return {"mode": _MODE_NAMES[mode], "until": until}

    def set_mode(self, mode, seconds):
        """Start calibration (``mode`` C) or maintenance (M) mode for ``seconds``, or end it
        (0). Renewing the mode on moves its end; another mode ends it first. (mode, until)."""
        if self.safe:
            raise RuntimeError("safe mode: nothing is sampled")
        self.maint_state()  # one whose time is up ends (and is recorded) first
        now = self.clock.now()
        if self.mode and self.mode != mode:
            self._end_mode(now)
        if mode:
            if not self.mode:
                self.mode_from = now
            self.mode = mode
            self.mode_until = now + seconds
            self.alarms.mode_on(CAL_MODE if mode == C else MAINT_MODE, seconds)
        return self.mode, self.mode_until

    def maint_state(self):
        """(mode, until) of the mode on, or None. A mode ends at ``until`` and when the clock
        is stepped back before its start (the board clock is what bounds it)."""
        if not self.mode:
            return None
        now = self.clock.now()
        if not self.mode_from <= now < self.mode_until:
            self._end_mode(now)
            return None
        return self.mode, self.mode_until

    def _end_mode(self, now):
        left = self.mode_until - now
        self.alarms.mode_off(CAL_MODE if self.mode == C else MAINT_MODE,
                             left if 0 < left <= self.mode_until - self.mode_from else 0)
        self.mode = 0
        self.mode_until = self.mode_from = 0

    def mode_live(self, ok):
        """While a mode is on: its ``maint`` and the sensors' own statuses into ``live``."""
        state = self.maint_state()
        if state:
            ok["maint"] = [_MODE_NAMES[state[0]], state[1]]
            ok["sensor"] = {CHANNELS[ch.index]: self.sensor[ch.index]
                            for ch in self.hw.channels if ch.index < _LIVE}

    async def run(self):
        if not self.safe:
            asyncio.create_task(self.housekeeper())
            if self.uplink:
                asyncio.create_task(self.uplink.run())
        links = []
        prof = self.hw.profile
        bus = prof.get("rs485")
        if prof.get("console") or bus:
            from cemt.rpc import Rpc
            rpc = Rpc(self)  # one dispatcher (and one response buffer) for every link
            if prof.get("console"):
                from cemt.console import Console
                links.append(asyncio.create_task(Console(rpc).run()))
            if bus:
                from cemt.rs485 import Slave
                b = self.hw.buses
                links.append(asyncio.create_task(Slave(rpc, b[bus["uart"]], b[bus["de"]],
                                                       bus["addr"], bus.get("baudrate", 9600)).run()))
        if not self.safe:
            await self.sampler()
        for task in links:  # safe mode: serve the links until they end
            await task


def _value(v):
    return int(v) if type(v) is bool else v


def _walk(top):
    for entry in os.ilistdir(top):
        path = top + "/" + entry[0]
        if entry[1] == 0x4000:  # a directory
            yield from _walk(path)
        else:
            yield path


def save_key(path, key):
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(key)
    os.rename(tmp, path)


def boot_count(state):
    """Count this boot in ``state`` (a ``Store`` of state.json); returns (boots, safe).

    ``unhealthy`` counts the boots since the last one that reached healthy (``Node.healthy``):
    a crash, a hang the watchdog ended or a power cut before then leaves it counted. At
    ``SAFE_AFTER`` this boot is a safe one and the count starts over, so the next boot tries
    normal mode again.
    """
    boots = state.get("boots", 0) + 1
    failed = state.get("unhealthy", 0)
    safe = failed >= SAFE_AFTER
    state.set("boots", boots)
    state.set("unhealthy", 0 if safe else failed + 1)
    return boots, safe


def main(profile_path="board.json", config_path="config.json", state_path="state.json",
         key_path="device.key"):
    from cemt.board import port
    from cemt.config import Config, Store
    profile = load_json(profile_path, None)
    if profile is None:
        raise OSError("no board profile at " + profile_path)
    state = Store(state_path)
    boots, safe = boot_count(state)
    if safe:  # no sensors started, no uplink: an exception here ends main() at the REPL
        node = Node(Hardware(profile), Config(config_path), boots, port().reset_cause(),
                    read_key(key_path), key_path, state, True)
        asyncio.run(node.run())
        return
    try:
        hw = Hardware(profile)
        for ch in hw.channels:
            ch.driver.start()
        node = Node(hw, Config(config_path), boots, port().reset_cause(), read_key(key_path),
                    key_path, state)
        node.start_uplink()
        asyncio.run(node.run())
    except KeyboardInterrupt:  # Ctrl-C on USB: someone took the board over (mpremote, flash)
        state.set("unhealthy", 0)
        raise
    except Exception as e:  # a crash: reset, and the boot count will tell a loop
        import sys
        sys.print_exception(e)
        reset = getattr(port(), "reset", None)
        if reset is None:
            raise SystemExit(RESET_EXIT)
        reset()
