"""`cemtool sim run`: the real firmware on the MicroPython unix port against a simulated stack.

The runner compiles the firmware to ``.mpy`` into the simulated board's ``/lib`` (``OUT/fs/lib``),
writes the board profile with the paths of the pseudo-terminals it serves, starts the device
process, and lets it run on the virtual clock: the device's clock barrier (docs/simulator.md)
drives the world, and the runner's listener on the world executes power cuts and the end of the
run at exact simulated seconds by killing the device while it waits at the barrier.

Outputs in ``OUT``: ``flash.img`` (the board's NOR flash), ``truth.json`` (the model's own
integration, saved every 10 simulated minutes), ``records.jsonl`` (decoded from the flash image),
``sim.json`` (the run's settings, for ``--resume``), ``device.log`` (the device's console).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cemtool import build
from cemtool.records import HOUR, MINUTE
from cemtool.sim import scenario as scen
from cemtool.sim.emulators.bmp280 import BMP280
from cemtool.sim.emulators.current_loop import CurrentLoop
from cemtool.sim.emulators.gss import GssAnalyser
from cemtool.sim.emulators.max31865 import MAX31865
from cemtool.sim.emulators.modbus import ModbusAnalyser
from cemtool.sim.emulators.sdp3x import SDP3x
from cemtool.sim.devread import DeviceReadError, profile_of, read_logs
from cemtool.sim.pty import Hub
from cemtool.sim.simbus import SimBus, World
from cemtool.sim.truth import Truth

SAVE_EVERY_S = 600
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
    heap: str = "192K"


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

    def lines(self) -> list[str]:
        return [
            f"simulated   {self.hours:g} h in {self.wall_s:.1f} s wall ({self.speedup:,.0f}x real time)",
            f"records     {self.records} ({self.minutes} minute, {self.hours_recorded} hour)",
            f"power cuts  {self.power_cuts}",
            f"CO2 device  {self.device_kg:,.2f} kg (sum of hour records)",
            f"CO2 truth   {self.truth_kg:,.2f} kg (same hours)",
            f"difference  {self.error_pct:+.3f} %",
            f"outputs     {self.out}",
        ]


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


def device_config(sc: scen.Scenario) -> dict:
    """The settings an installer would enter for this stack (cemt.config units)."""
    return {"ver": 1, "edge": {
        "area": round(sc.area_m2 * 10000), "kp": round(sc.kp * 10000), "kv": round(sc.kv * 10000),
        "xsw": round(sc.moisture * 10000), "xsw_measured": False, "co2_wet": sc.co2_wet,
        "o2": round(sc.o2_pct * 100), "period_s": 1}}


class Runner:
    def __init__(self, opts: Options, resume: bool = False, progress=None):
        self.opts = opts
        self.out = Path(opts.out)
        self.resume = resume
        self.progress = progress
        self.sc = scen.load(opts.scenario, sets=opts.sets, faults=opts.faults, seed=opts.seed)
        self.end_t = self.sc.start + round(opts.hours * 3600)
        self._cuts = sorted(self.sc.power_cuts, key=lambda f: f.start)
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._why = ""
        self._cut_off_s = 0
        self._saved_t = 0
        self.cuts_done = 0

    # -- the world's listener: runs in the hub's thread at every new simulated second ----------

    def _on_second(self, t: int) -> None:
        if t - self._saved_t >= SAVE_EVERY_S:
            self._saved_t = t
            self.truth.write(self.out / "truth.json")
        if self._why:
            return
        rel = t - self.sc.start
        if t > self.end_t:  # the sample of end_t is in: every period up to end_t is closed
            self._kill("end")
        elif self._cuts and rel >= self._cuts[0].start:
            cut = self._cuts.pop(0)
            self._cut_off_s = cut.duration or 1
            self._kill("cut")

    def _kill(self, why: str) -> None:
        self._why = why
        if self._proc and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)

    # -- setting up --------------------------------------------------------------------------

    def _prepare(self) -> None:
        out = self.out
        fs = out / "fs"
        if not self.resume:
            for name in ("flash.img", "flash.img.erases", "truth.json", "records.jsonl", "device.log"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(fs, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        build.compile_firmware(fs / "lib")
        build.install_sources_only(fs)
        (out / "sim.json").write_text(json.dumps(asdict(self.opts), indent=1))
        if not self.resume:
            (fs / "config.json").write_text(json.dumps(device_config(self.sc)))

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

    def _start_hub(self) -> dict[str, str]:
        template = json.loads(BOARD_TEMPLATE.read_text())
        co2 = template["gss_co2"] if self.sc.co2_analyser == "gss" else template["sensors"]["co2"]
        cfg = {name: entry.get("cfg", {}) for name, entry in template["sensors"].items()}
        self.hub = Hub().start()
        bus = self.hub.add(SimBus(self.world))
        sdp, bmp = SDP3x(self.world, cfg["dp"]), BMP280(self.world, cfg["pa"])
        rtd, loop = MAX31865(self.world, cfg["temp"]), CurrentLoop(self.world, cfg["ps"], device="ps")
        bus.attach_i2c(cfg["dp"].get("addr", 0x25), sdp)
        bus.attach_i2c(cfg["pa"].get("addr", 0x76), bmp)
        bus.attach_spi(template["buses"]["rtd_cs"]["ident"], rtd)
        bus.attach_adc(template["buses"]["ps_adc"]["channel"], loop)
        if self.sc.co2_analyser == "gss":
            analyser = self.hub.add(GssAnalyser(self.world, co2["cfg"]))
        else:
            analyser = ModbusAnalyser(self.world, co2["cfg"])
            self.hub.call(analyser.start)
        self.endpoints = [bus, analyser]
        self.models = [sdp, bmp, rtd, loop, analyser]
        paths = {"bridge": bus.path, "co2": analyser.path, "flash": str((self.out / "flash.img").resolve())}
        profile = board_profile(template, paths, self.sc.co2_analyser)
        (self.out / "fs" / "board.json").write_text(json.dumps(profile, indent=1))
        return paths

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
        self._prepare()
        self._start_world()
        first_t = self.world.t
        self._start_hub()
        wall0 = time.monotonic()
        try:
            self._start_device()
            while True:
                while self._proc.poll() is None:
                    time.sleep(0.05)
                    if self.progress:
                        self.progress(self.world.t - first_t, self.end_t - first_t)
                if self._why == "end":
                    break
                if self._why != "cut":
                    raise SimError(f"the device stopped unexpectedly (exit {self._proc.returncode}): "
                                   + last_line(self.out / "device.log"))
                self.cuts_done += 1
                self.hub.call(self.world.advance_to, self.world.t_ms + self._cut_off_s * 1000)
                for ep in self.endpoints:
                    self.hub.call(ep.reset)
                for model in self.models:
                    self.hub.call(model.power_cycle)
                self._start_device()
        finally:
            self._kill(self._why or "stop")
            self.hub.call(self.truth.write, self.out / "truth.json")
            for ep in self.endpoints:
                if isinstance(ep, ModbusAnalyser):
                    self.hub.call(ep.stop)
                    ep.close()
            self.hub.stop()
        wall = time.monotonic() - wall0
        return self._summarise(wall, self.world.t - first_t)

    def _summarise(self, wall: float, simulated_s: int) -> Summary:
        recs = sorted(device_records(self.out), key=lambda r: (r.kind, r.seq))
        with open(self.out / "records.jsonl", "w") as f:
            for rec in recs:
                f.write(json.dumps(rec.row()) + "\n")
        hours = [r for r in recs if r.kind == HOUR]
        device_kg = sum(r.row()["co2_kg"] for r in hours)
        truth_hours = {scen.iso(h): kg for h, kg in self.truth.hours.items()}
        truth_kg = sum(truth_hours.get(r.row()["t"], 0.0) for r in hours)
        return Summary(
            hours=round(simulated_s / 3600, 3), wall_s=wall, speedup=simulated_s / wall if wall else 0,
            records=len(recs), minutes=sum(r.kind == MINUTE for r in recs), hours_recorded=len(hours),
            device_kg=device_kg, truth_kg=truth_kg,
            error_pct=(device_kg - truth_kg) / truth_kg * 100 if truth_kg else 0.0,
            power_cuts=self.cuts_done, out=str(self.out))


def device_records(out: Path) -> list:
    """The records the device committed to ``OUT/flash.img``, read by the firmware itself."""
    try:
        return read_logs(out / "flash.img", profile_of(out), out / "fs" / "lib")
    except (OSError, ValueError, DeviceReadError) as e:
        raise SimError(str(e)) from None


def last_record_end(out: Path) -> int | None:
    """End (UTC s) of the newest minute record in the run's flash image, or None."""
    if not (out / "flash.img").exists() or not (out / "fs" / "board.json").exists():
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

