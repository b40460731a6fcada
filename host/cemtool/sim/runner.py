"""`cemtool sim run`: the real firmware on the MicroPython unix port against a simulated stack.

The runner compiles the firmware to ``.mpy`` into the simulated board's ``/lib`` (``OUT/fs/lib``),
writes the board profile with the paths of the pseudo-terminals it serves, starts the device
process, and lets it run on the virtual clock: the device's clock barrier (docs/simulator.md)
drives the world, and the runner's listener on the world executes faults (power cuts, link
outages, modem hangs and garbled replies, receiver restarts) and the end of the run at exact
simulated seconds while the device waits at the barrier.

Unless the uplink is off, the runner also starts a receiver (``cemtool.receiver``, in a thread of
its own on loopback), provisions the device for it (its key in ``OUT/fs/device.key`` and in the
receiver's key file, its id and uplink target in ``OUT/fs/config.json``), and serves the device's
modem UART with the modem emulator, whose socket it routes to that receiver. At the end it keeps
the device running (a bounded extra time) until the receiver holds every record in flash.

Outputs in ``OUT``: ``flash.img`` (the board's NOR flash), ``truth.json`` (the model's own
integration, saved every 10 simulated minutes), ``records.jsonl`` (decoded from the flash image),
``sim.json`` (the run's settings, for ``--resume``), ``device.log`` (the device's console),
``receiver.sqlite``, ``receiver.log`` and ``cemtool.keys`` (the receiver's database, log and key
file; arrival times in simulated time), ``site.toml`` (the monitoring boundary of the simulated site,
docs/site.md).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cemtool import build, flashimage, keys, site
from cemtool.receiver import Counters, Receiver
from cemtool.records import HOUR, MINUTE
from cemtool.store import Store, StoreError
from cemtool.sim import scenario as scen
from cemtool.sim.emulators.bmp280 import BMP280
from cemtool.sim.emulators.current_loop import CurrentLoop
from cemtool.sim.emulators.gss import GssAnalyser
from cemtool.sim.emulators.max31865 import MAX31865
from cemtool.sim.emulators.modbus import ModbusAnalyser
from cemtool.sim.emulators.sdp3x import SDP3x
from cemtool.sim.modem import ModemEmulator
from cemtool.sim.pty import Hub, Pty
from cemtool.sim.rs485 import BusHub
from cemtool.sim.simbus import SimBus, World
from cemtool.sim.truth import Truth

SAVE_EVERY_S = 600
RESET_EXIT = 3         # the device's exit status for a board reset (cemt.hardware.RESET_EXIT)
DEVICE_ID = "sim-01"
REG_DELAY_S = 20       # simulated seconds from power-on (or the end of an outage) to registration
DRAIN_MAX_S = 3600     # simulated seconds the device may run past the end to deliver its backlog
CCLK_HOLD_S = 0.02     # real seconds the world waits for the device to read the network time
PACE_S = 0.002         # real seconds per simulated second while the device waits on a silent modem
STALL_S = 60           # real seconds without a clock barrier after which the device is given up
BOARD_TEMPLATE = Path(__file__).resolve().parent.parent.parent.parent / "boards" / "sim.json"


class SimError(Exception):
    """The run cannot go on; the message is one line for the user."""


@dataclass
class Options:
    out: str
    scenario: str = "constant"
    sets: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    hours: float = 24.0
    seed: int | None = None
    heap: str = "384K"
    uplink: bool = True
    modem: str = "simcom"
    wrong_key: bool = False  # the receiver's key file holds another key (tests rejections)


@dataclass
class Summary:
    hours: float
    wall_s: float
    speedup: float
    records: int
    minutes: int
    hours_recorded: int
    device_kg: float
    truth_kg: float
    error_pct: float
    power_cuts: int
    out: str
    uplink: bool = False
    delivered: int = 0        # records of the flash image held by the receiver's database
    stored: int = 0           # records of the device in the database (delivered, or gone from flash)
    duplicates: int = 0       # records the receiver got again and acknowledged without storing
    conflicts: int = 0        # records whose key the receiver held with other bytes
    rejected: int = 0         # messages the receiver refused (naks)
    db_hours: int = 0         # hour records in the database
    db_device_kg: float = 0.0
    db_truth_kg: float = 0.0
    db_error_pct: float = 0.0
    drain_s: int = 0          # simulated seconds run past the end to deliver the backlog
    modem_resets: int = 0     # reset commands the modem emulator obeyed
    link_faults: int = 0
    board_resets: int = 0     # resets the firmware asked for (it exits with RESET_EXIT)

    def lines(self) -> list[str]:
        out = [
            f"simulated   {self.hours:g} h in {self.wall_s:.1f} s wall ({self.speedup:,.0f}x real time)",
            f"records     {self.records} generated in flash ({self.minutes} minute, "
            f"{self.hours_recorded} hour)",
            f"power cuts  {self.power_cuts}; board resets {self.board_resets}",
            f"CO2 device  {self.device_kg:,.2f} kg (sum of hour records in flash)",
            f"CO2 truth   {self.truth_kg:,.2f} kg (same hours)",
            f"difference  {self.error_pct:+.3f} %",
        ]
        if self.uplink:
            out += [
                f"delivered   {self.delivered} of {self.records} in the receiver's database "
                f"({self.stored} stored; {self.drain_s} s run past the end to drain)",
                f"duplicates  {self.duplicates} resent records rejected as duplicates; "
                f"{self.rejected} messages rejected; {self.conflicts} conflicts",
                f"link faults {self.link_faults}; modem resets {self.modem_resets}",
                f"CO2 (db)    {self.db_device_kg:,.2f} kg in {self.db_hours} hour records; truth "
                f"{self.db_truth_kg:,.2f} kg ({self.db_error_pct:+.3f} %)",
            ]
        out.append(f"outputs     {self.out}")
        return out


def board_profile(template: dict, paths: dict[str, str], analyser: str) -> dict:
    """The sim board's profile with pty and flash paths filled in and the fitted CO2 analyser."""
    text = json.dumps(template)
    for key, path in paths.items():
        text = text.replace(f"<{key}>", path)
    profile = json.loads(text)
    gss = profile.pop("gss_co2")
    if analyser == "gss":
        profile["sensors"]["co2"] = gss
    return profile


def device_config(sc: scen.Scenario, uplink: tuple[str, int] | None = None) -> dict:
    """The settings an installer would enter for this stack (cemt.config units)."""
    cfg = {"ver": 1, "edge": {
        "area": round(sc.area_m2 * 10000), "kp": round(sc.kp * 10000), "kv": round(sc.kv * 10000),
        "xsw": round(sc.moisture * 10000), "xsw_measured": False, "co2_wet": sc.co2_wet,
        "o2": round(sc.o2_pct * 100), "period_s": 1}}
    if uplink is not None:
        cfg["device"] = {"id": DEVICE_ID, "site": "sim", "point": sc.name}
        cfg["uplink"] = {"host": uplink[0], "port": uplink[1]}
    return cfg


class ReceiverHost:
    """The receiver of ``cemtool receive``, served by an asyncio loop in a thread of the runner.

    ``start()`` opens the database and listens on loopback (the same port again after a
    ``stop()``, as a restarted receiver would); its log goes to ``log_path``. ``counters()`` adds
    up every instance's counters.
    """

    def __init__(self, db: Path, keyfile: Path, log_path: Path,
                 clock: Callable[[], int] | None = None) -> None:
        self.db = db
        self.clock = clock  # arrival times in the world's (simulated) milliseconds
        self.keyfile = keyfile
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sim-receiver",
                                        daemon=True)
        self._thread.start()
        self._receiver: Receiver | None = None
        self._store: Store | None = None
        self._done = Counters()
        self._log = logging.getLogger("cemtool.receiver")
        self._was = (self._log.level, self._log.propagate)
        self._handler = logging.FileHandler(log_path)
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self._log.addHandler(self._handler)
        self._log.setLevel(logging.INFO)
        self._log.propagate = False  # into receiver.log only, not the user's terminal

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    @property
    def running(self) -> bool:
        return self._receiver is not None

    def start(self) -> int:
        async def go() -> int:
            self._store = Store(self.db)
            self._receiver = Receiver(self._store, keys.KeyRing(self.keyfile), clock=self.clock)
            return (await self._receiver.start("127.0.0.1", self.port))[1]
        try:
            self.port = self._call(go())
        except (OSError, StoreError, keys.KeyFileError) as e:
            raise SimError(f"the receiver did not start: {e}") from None
        self._log.warning("listening on 127.0.0.1:%d", self.port)
        return self.port

    def stop(self) -> None:
        if self._receiver is None:
            return
        receiver, store = self._receiver, self._store
        self._receiver = self._store = None
        self._call(receiver.stop())
        for name, value in asdict(receiver.counters).items():
            setattr(self._done, name, getattr(self._done, name) + value)
        store.close()
        self._log.warning("stopped")

    def counters(self) -> Counters:
        total = Counters(**asdict(self._done))
        if self._receiver is not None:
            for name, value in asdict(self._receiver.counters).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._log.removeHandler(self._handler)
        self._log.setLevel(self._was[0])
        self._log.propagate = self._was[1]
        self._handler.close()


def stored_keys(db: Path, device: str = DEVICE_ID) -> set[tuple[int, int]]:
    """(kind, seq) of every record of ``device`` in the receiver's database."""
    if not db.exists():
        return set()
    con = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
    try:
        return set(con.execute("SELECT r.kind, r.seq FROM records r JOIN devices d ON d.id = r.dev"
                               " WHERE d.name = ?", (device,)))
    except sqlite3.OperationalError:  # no tables yet
        return set()
    finally:
        con.close()


class WatchedPty(Pty):
    """The modem's pty, noting whether the device is waiting on the modem.

    It is when the device spoke last (the modem is hung, off or booting), or when it told the
    modem to reset and the modem has not said ``RDY`` since.
    """

    RESETS = (b"AT+CRESET", b"AT+CFUN=1,1")

    def __init__(self) -> None:
        super().__init__()
        self.heard = 0.0
        self.said = 0.0
        self.booting = False

    def read(self, n: int = 4096) -> bytes:
        data = super().read(n)
        if data:
            self.heard = time.monotonic()
            if any(r in data.upper() for r in self.RESETS):
                self.booting = True
        return data

    def write(self, data: bytes) -> None:
        super().write(data)
        self.said = time.monotonic()
        if b"RDY" in data:
            self.booting = False

    @property
    def waiting(self) -> bool:
        return self.booting or self.heard > self.said


class Rig:
    """Everything on the sim board around the device process, served by one ``Hub``.

    The bus bridge with its I2C, SPI and ADC models, the CO2 analyser the scenario fits (GSS on
    a pty, or Modbus through pymodbus), the RS485 port on a bus of its own (its master's path in
    ``OUT/rs485.path`` while the rig runs) and, if given, the modem emulator. ``paths`` names
    the ptys and the flash image by the placeholders of ``boards/sim.json``; ``profile()`` is
    that template filled in. ``sim run`` and ``sim board`` build the same rig.
    """

    def __init__(self, world: World, out: Path, emu: ModemEmulator | None = None) -> None:
        self.world = world
        self.out = out
        self.template = json.loads(BOARD_TEMPLATE.read_text())
        template = self.template
        self.analyser = world.scenario.co2_analyser
        co2 = template["gss_co2"] if self.analyser == "gss" else template["sensors"]["co2"]
        cfg = {name: entry.get("cfg", {}) for name, entry in template["sensors"].items()}
        self.hub = Hub().start()
        bus = self.hub.add(SimBus(world))
        sdp, bmp = SDP3x(world, cfg["dp"]), BMP280(world, cfg["pa"])
        rtd, loop = MAX31865(world, cfg["temp"]), CurrentLoop(world, cfg["ps"], device="ps")
        bus.attach_i2c(cfg["dp"].get("addr", 0x25), sdp)
        bus.attach_i2c(cfg["pa"].get("addr", 0x76), bmp)
        bus.attach_spi(template["buses"]["rtd_cs"]["ident"], rtd)
        bus.attach_adc(template["buses"]["ps_adc"]["channel"], loop)
        if self.analyser == "gss":
            analyser = self.hub.add(GssAnalyser(world, co2["cfg"]))
        else:
            analyser = ModbusAnalyser(world, co2["cfg"])
            self.hub.call(analyser.start)
        self.bus = bus
        self.endpoints = [bus, analyser]
        self.models = [sdp, bmp, rtd, loop, analyser]
        # The board's RS485 port on a bus of its own: `cemtool poll --port $(cat OUT/rs485.path)`
        # can poll the node while the rig runs.
        self.rs485 = BusHub(1).start()
        (out / "rs485.path").write_text(self.rs485.master_path + "\n")
        self.paths = {"bridge": bus.path, "co2": analyser.path, "rs485": self.rs485.device_paths[0],
                      "flash": str((out / "flash.img").resolve())}
        self.emu = emu.start() if emu is not None else None
        if self.emu is not None:
            self.paths["modem"] = self.emu.path

    def profile(self, console: bool, speed: int | None = None) -> dict:
        """The board profile with every path filled in; no modem entries without a modem."""
        profile = board_profile(self.template, self.paths, self.analyser)
        profile["console"] = console
        if speed is None:
            profile["clock"].pop("speed", None)
        else:
            profile["clock"]["speed"] = speed
        if self.emu is None:
            for name in ("modem", "uplink"):
                profile.pop(name)
            for name in ("modem_uart", "modem_key"):
                profile["buses"].pop(name)
        else:
            profile["modem"]["family"] = self.emu.family
        return profile

    def power_cut(self, off_s: int) -> None:
        """The board was off ``off_s`` seconds: the world moved on, every part starts afresh."""
        if self.emu is not None:
            self.emu.power(False)  # the modem shares the board's supply
        self.hub.call(self.world.advance_to, self.world.t_ms + off_s * 1000)
        for ep in self.endpoints:
            self.hub.call(ep.reset)
        for model in self.models:
            self.hub.call(model.power_cycle)
        if self.emu is not None:
            self.emu.power(True)

    def close(self) -> None:
        for ep in self.endpoints:
            if isinstance(ep, ModbusAnalyser):
                self.hub.call(ep.stop)
                ep.close()
        self.hub.stop()
        self.rs485.stop()
        (self.out / "rs485.path").unlink(missing_ok=True)
        if self.emu is not None:
            self.emu.close()


class Runner:
    def __init__(self, opts: Options, resume: bool = False, progress=None):
        self.opts = opts
        self.out = Path(opts.out)
        self.resume = resume
        self.progress = progress
        self.sc = scen.load(opts.scenario, sets=opts.sets, faults=opts.faults, seed=opts.seed)
        if opts.modem not in ("simcom", "quectel"):
            raise SimError(f"unknown modem family {opts.modem!r} (simcom or quectel)")
        self.end_t = self.sc.start + round(opts.hours * 3600)
        self._cuts = sorted(self.sc.power_cuts, key=lambda f: f.start)
        self._link = sorted(self.sc.link_faults, key=lambda f: f.start) if opts.uplink else []
        self._active: list[scen.Fault] = []
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._why = ""
        self._cut_off_s = 0
        self._saved_t = 0
        self._drain_from = 0
        self._flash_n = 0
        self._cclk_seen = 0
        self.cuts_done = 0
        self.resets = 0
        self.link_done = 0
        self.rx: ReceiverHost | None = None
        self.emu: ModemEmulator | None = None

    # -- the world's listener: runs in the hub's thread at every new simulated second ----------
    # The device is waiting at its clock barrier meanwhile, so whatever happens here happens
    # at that exact simulated second.

    def _on_second(self, t: int) -> None:
        if t - self._saved_t >= SAVE_EVERY_S:
            self._saved_t = t
            self.truth.write(self.out / "truth.json")
        if self._why:
            return
        rel = t - self.sc.start
        if self.emu is not None:
            self._hold_for_modem()
            self._link_faults(rel)
        if t > self.end_t:  # the sample of end_t is in: every period up to end_t is closed
            if self._drained(t):
                self._kill("end")
        elif self._cuts and rel >= self._cuts[0].start:
            cut = self._cuts.pop(0)
            self._cut_off_s = cut.duration or 1
            self._kill("cut")

    def _hold_for_modem(self) -> None:
        """Let real time pass at this simulated second where the device's modem needs it.

        The device's modem timeouts are real milliseconds, which at full speed would be minutes
        of simulated time each: while the device waits on a silent modem (hung, off, booting),
        the world runs at one simulated second per ``PACE_S``. And the device reads a reply a
        few real milliseconds after the emulator wrote it (its AT engine polls every 5 ms):
        after an ``AT+CCLK?`` the world holds long enough for the network time to be read at
        the second it names.
        """
        if self.emu.pty.waiting:
            time.sleep(PACE_S)
        log = self.emu.log
        if len(log) > self._cclk_seen:
            self._cclk_seen = len(log)
            if log[-1].upper() == b"AT+CCLK?":
                time.sleep(CCLK_HOLD_S)

    def _drained(self, t: int) -> bool:
        """True when the run may end: no uplink, the receiver holds all of flash, or time is up."""
        if self.rx is None:
            return True
        if not self._drain_from:
            self._drain_from = t
        if t - self._drain_from >= DRAIN_MAX_S:
            return True
        held = stored_keys(self.out / "receiver.sqlite")
        if len(held) < self._flash_n:
            return False  # the flash only grows: no need to read it again yet
        try:
            flash = {(r.kind, r.seq) for r in device_records(self.out)}
        except SimError:
            return True  # the summary reads the image again and reports the error
        self._flash_n = len(flash)
        return flash <= held

    def _link_faults(self, rel: int) -> None:
        while self._link and rel >= self._link[0].start:
            f = self._link.pop(0)
            self._active.append(f)
            self.link_done += 1
            self._begin(f)
        for f in list(self._active):
            if f.duration is not None and rel >= f.start + f.duration:
                self._active.remove(f)
                self._end(f)
            elif f.kind == "hang" and self._cured():
                self.emu.hang("reset")  # a modem that keeps hanging until the window ends
                self._hung_at = dict(self.emu.counts)
            elif f.kind == "garble" and len(self.emu.log) > self._garbled_at:
                self.emu.garble(1)  # one reply line in noise per simulated second with traffic
                self._garbled_at = len(self.emu.log)

    def _cured(self) -> bool:
        c = self.emu.counts
        return (c["resets"], c["power_ons"]) != (self._hung_at["resets"], self._hung_at["power_ons"])

    def _begin(self, f: scen.Fault) -> None:
        if f.kind == "outage":
            self.emu.outage(True)
        elif f.kind == "hang":
            self.emu.hang("reset")
            self._hung_at = dict(self.emu.counts)
        elif f.kind == "garble":
            self._garbled_at = len(self.emu.log)
            self.emu.garble(1)
        elif f.kind == "restart":
            self.rx.stop()
        if f.duration == 0:
            self._active.remove(f)
            self._end(f)

    def _end(self, f: scen.Fault) -> None:
        if f.kind == "outage":
            self.emu.outage(False)
        elif f.kind == "restart":
            self.rx.start()

    def _kill(self, why: str) -> None:
        self._why = why
        if self._proc and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)

    # -- setting up --------------------------------------------------------------------------

    def _prepare(self) -> None:
        out = self.out
        fs = out / "fs"
        if not self.resume:
            for name in ("flash.img", "flash.img.erases", "truth.json", "records.jsonl", "device.log",
                         "receiver.sqlite", "receiver.sqlite-wal", "receiver.sqlite-shm",
                         "receiver.log", "cemtool.keys"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(fs, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        build.compile_firmware(fs / "lib")
        build.install_sources_only(fs)
        (out / "sim.json").write_text(json.dumps(asdict(self.opts), indent=1))
        site.for_simulation(out, DEVICE_ID, self.sc)
        if self.opts.uplink and not (fs / "device.key").exists():
            self._provision()
        if self.opts.uplink:
            self.rx = ReceiverHost(out / "receiver.sqlite", out / "cemtool.keys", out / "receiver.log",
                                   clock=lambda: self.world.t_ms)
            self.rx.start()
        if not self.resume:
            target = ("127.0.0.1", self.rx.port) if self.rx else None
            (fs / "config.json").write_text(json.dumps(device_config(self.sc, target)))

    def _provision(self) -> None:
        """What ``cemtool provision`` does for a new device: one key, on the device and the host."""
        key = secrets.token_bytes(keys.KEY_SIZE)
        path = self.out / "fs" / "device.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        host_key = secrets.token_bytes(keys.KEY_SIZE) if self.opts.wrong_key else key
        keys.save(self.out / "cemtool.keys", {DEVICE_ID: host_key})

    def _start_world(self) -> None:
        self.world = World(self.sc)
        if self.resume and (self.out / "truth.json").exists():
            self.truth = Truth.read(self.out / "truth.json", self.sc)
            self.world.t_ms = self.truth.t * 1000
        else:
            self.truth = Truth(self.sc)
        self.world.listeners.append(self.truth.advance_to)
        self.world.listeners.append(self._on_second)
        self._saved_t = self.world.t
        if self.resume:
            # The device must never see time run backwards past what it already recorded.
            last = last_record_end(self.out)
            if last and last * 1000 > self.world.t_ms:
                self.world.advance_to(last * 1000)
            done = self.world.t - self.sc.start
            self._cuts = [c for c in self._cuts if c.start >= done]
            self._link = [f for f in self._link if f.start >= done]

    def _start_hub(self) -> dict[str, str]:
        emu = None
        if self.rx is not None:
            world = self.world
            # Network time and registration count simulated time; the socket goes to the receiver
            # wherever the device's settings point (its port changes on --resume).
            emu = ModemEmulator(self.opts.modem, pty=WatchedPty(), clock=lambda: world.t,
                                timer=lambda: world.t_ms / 1000, reg_delay=REG_DELAY_S,
                                boot_delay=0.05, redirect=("127.0.0.1", self.rx.port))
        self.rig = Rig(self.world, self.out, emu)
        self.hub, self.emu = self.rig.hub, self.rig.emu
        self.endpoints, self.models = self.rig.endpoints, self.rig.models
        profile = self.rig.profile(console=False)
        (self.out / "fs" / "board.json").write_text(json.dumps(profile, indent=1))
        return self.rig.paths

    def _start_device(self) -> None:
        fs = self.out / "fs"
        env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str((fs / "lib").resolve())]))
        log = open(self.out / "device.log", "ab")
        self._why = ""
        self._proc = subprocess.Popen([build.tool("micropython"), "-X", f"heapsize={self.opts.heap}",
                                       "main.py"], cwd=fs, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        log.close()

    # -- running -----------------------------------------------------------------------------

    def run(self) -> Summary:
        try:
            self._prepare()
            self._start_world()
            first_t = self.world.t
            self._start_hub()
            wall0 = time.monotonic()
            try:
                self._run_device(first_t)
            finally:
                self._kill(self._why or "stop")
                self.hub.call(self.truth.write, self.out / "truth.json")
                self.rig.close()
            wall = time.monotonic() - wall0
            counters = self.rx.counters() if self.rx else None
        finally:
            if self.rx is not None:
                self.rx.close()
        return self._summarise(wall, self.world.t - first_t, counters)

    def _run_device(self, first_t: int) -> None:
        self._start_device()
        while True:
            seen, since = self.world.t_ms, time.monotonic()
            while self._proc.poll() is None:
                time.sleep(0.05)
                if self.progress:
                    self.progress(self.world.t - first_t, self.end_t - first_t)
                if self.world.t_ms != seen:
                    seen, since = self.world.t_ms, time.monotonic()
                elif time.monotonic() - since > STALL_S:
                    # alive but not sampling (e.g. a safe mode): the run would never end
                    self._kill("stall")
                    self._proc.wait()
                    raise SimError(f"the device stopped moving simulated time for {STALL_S} s: "
                                   + last_line(self.out / "device.log"))
            if self._why == "end":
                return
            if self._why != "cut" and self._proc.returncode == RESET_EXIT:
                self.resets += 1  # the firmware reset the board: it boots again at once
                self._start_device()
                continue
            if self._why != "cut":
                raise SimError(f"the device stopped unexpectedly (exit {self._proc.returncode}): "
                               + last_line(self.out / "device.log"))
            self.cuts_done += 1
            self.rig.power_cut(self._cut_off_s)
            self._start_device()

    def _summarise(self, wall: float, simulated_s: int, counters: Counters | None) -> Summary:
        recs = sorted(device_records(self.out), key=lambda r: (r.kind, r.seq))
        with open(self.out / "records.jsonl", "w") as f:
            for rec in recs:
                f.write(json.dumps(rec.row()) + "\n")
        hours = [r for r in recs if r.kind == HOUR]
        device_kg = sum(r.row()["co2_kg"] for r in hours)
        truth_hours = {scen.iso(h): kg for h, kg in self.truth.hours.items()}
        truth_kg = sum(truth_hours.get(r.row()["t"], 0.0) for r in hours)
        summary = Summary(
            hours=round(simulated_s / 3600, 3), wall_s=wall, speedup=simulated_s / wall if wall else 0,
            records=len(recs), minutes=sum(r.kind == MINUTE for r in recs), hours_recorded=len(hours),
            device_kg=device_kg, truth_kg=truth_kg,
            error_pct=(device_kg - truth_kg) / truth_kg * 100 if truth_kg else 0.0,
            power_cuts=self.cuts_done, out=str(self.out), board_resets=self.resets)
        if counters is None:
            return summary
        db = self.out / "receiver.sqlite"
        held = stored_keys(db)
        with Store(db, readonly=True) as store:
            db_hours = [r for _, r in store.records(DEVICE_ID, HOUR)]
        db_kg = sum(r.row()["co2_kg"] for r in db_hours)
        db_truth = sum(truth_hours.get(r.row()["t"], 0.0) for r in db_hours)
        summary.uplink = True
        summary.delivered = len(held & {(r.kind, r.seq) for r in recs})
        summary.stored = len(held)
        summary.duplicates = counters.duplicates
        summary.conflicts = counters.conflicts
        summary.rejected = counters.rejected
        summary.db_hours = len(db_hours)
        summary.db_device_kg = db_kg
        summary.db_truth_kg = db_truth
        summary.db_error_pct = (db_kg - db_truth) / db_truth * 100 if db_truth else 0.0
        summary.drain_s = max(0, self.world.t - self.end_t - 1) if self._drain_from else 0
        summary.modem_resets = self.emu.counts["resets"] if self.emu else 0
        summary.link_faults = self.link_done
        return summary


def device_records(out: Path) -> list:
    """The records the device committed to ``OUT/flash.img`` (docs/storage.md, host reader)."""
    try:
        image = flashimage.load(out / "flash.img")
    except (OSError, flashimage.ImageError) as e:
        raise SimError(f"cannot read {out / 'flash.img'}: {e}") from None
    if image.problems:
        raise SimError(f"{out / 'flash.img'}: {image.problems[0]}")
    return list(image.records())


def last_record_end(out: Path) -> int | None:
    """End (UTC s) of the newest minute record in the run's flash image, or None."""
    if not (out / "flash.img").exists():
        return None
    minutes = [r for r in device_records(out) if r.kind == MINUTE]
    return max(r.t for r in minutes) + 60 if minutes else None


def last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else "(no output)"


def load_options(out: Path) -> Options:
    try:
        return Options(**json.loads((out / "sim.json").read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise SimError(f"cannot resume: no readable run settings in {out / 'sim.json'} ({e})")

