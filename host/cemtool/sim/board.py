"""`cemtool sim board`: the simulator as a board on a USB cable.

``Board(out)`` is the sim board of ``cemtool sim run`` (the same world, sensor emulators, bus
bridge, RS485 port and modem emulator, ``cemtool.sim.runner.Rig``) running in real time, or
``speed`` times real time, with its USB port a pseudo-terminal (``cemtool.sim.usb``) that
``mpremote`` and ``cemtool.link`` open like a board's:

    with Board("out/board", speed=10) as b:
        Link(SerialTransport(b.port)).probe()
        b.inject("co2:gas=0")       # zero gas on the analyser's calibration port, from now
        b.clear("co2:gas")

The board's filesystem is ``OUT/fs`` (the device process's working directory). Unless ``bare``
the board gets the compiled firmware in ``lib/``, ``boot.py``, ``main.py``, its profile
``board.json`` (``boards/sim.json`` with its placeholders) and, if it has none, settings for the
scenario's stack in ``config.json``; a bare board has only what ``cemtool flash-runtime`` leaves.
At every start the board writes ``OUT/fs/sim.ports.json``, the values of the profile's
placeholders (pty paths, flash image, speed), which the unix port reads. The flash image
``OUT/flash.img`` and the filesystem are kept across restarts. ``OUT/usb.path`` and
``OUT/rs485.path`` name the ports while the board runs. A running board takes ``inject`` and
``clear`` from other processes on a unix socket (``cemtool sim inject --out OUT FAULT``).

Unlike ``sim run``, the board's world starts at the host's current UTC second and, each time
the device starts, catches up with the real clock (``World.wall``), so that at ``speed`` 1 the
network time its modem gives is the host's clock even after the device sat at the REPL; and its
CO2 analyser reads with a zero and span error (``BOARD_DEFAULTS``) that calibration takes out.
A built-in scenario's values give way to these; a scenario file's own keys and ``sets`` win.
"""
from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from pathlib import Path

from cemtool import build
from cemtool.sim import scenario as scen
from cemtool.sim.modem import ModemEmulator
from cemtool.sim.runner import Rig, SimError, board_profile, device_config
from cemtool.sim.simbus import World
from cemtool.sim.usb import UsbPort

PORTS_FILE = "sim.ports.json"
POWER_OFF_S = 1  # an injected power cut without a duration
# A board's analyser is off until calibrated, so that calibrating it does something.
BOARD_DEFAULTS = {"co2_zero_error_pct": 0.15, "co2_gain_error": 0.02}


def control_address(out: Path) -> str:
    """The running board's control socket (abstract namespace: no path length limit, no file)."""
    digest = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:24]
    return "\0cemt-sim-board-" + digest


def parse_runtime_fault(text: str, now_rel: int) -> scen.Fault:
    """A fault injected into a running board: ``DEVICE:KIND[=P][@START][+DURATION]`` or
    ``power[+OFF]``, its times counted from now (without ``@`` it starts now)."""
    given = text.strip()
    text = given
    if "@" not in text:
        head, plus, dur = text.partition("+")
        text = head + "@0" + plus + dur
    try:
        f = scen.parse_fault(text)
    except scen.ScenarioError as e:
        raise scen.ScenarioError(str(e).replace(repr(text), repr(given), 1)) from None
    if f.device in scen.LINK_FAULTS:
        raise scen.ScenarioError(f"bad fault {given!r}: a sim board takes sensor faults and power "
                                 "cuts; link faults belong to sim run")
    return scen.Fault(f.device, f.kind, f.start + now_rel, f.duration, f.param)


def parse_clear(text: str) -> tuple[str, str]:
    device, colon, kind = text.strip().partition(":")
    if not colon or device not in scen.DEVICES or kind not in scen.FAULT_KINDS:
        raise scen.ScenarioError(f"bad fault {text!r} to clear: expected DEVICE:KIND with DEVICE "
                                 f"one of {', '.join(scen.DEVICES)} and KIND one of "
                                 f"{', '.join(scen.FAULT_KINDS)}")
    return device, kind


class Board:
    def __init__(self, out: str | Path, *, speed: int = 1, bare: bool = False,
                 scenario: str = "constant", sets: tuple[str, ...] | list[str] = (),
                 faults: tuple[str, ...] | list[str] = (), seed: int | None = None,
                 heap: str = "512K", baud: int | None = None, modem: str = "simcom") -> None:
        if not isinstance(speed, int) or isinstance(speed, bool) or speed < 1:
            raise SimError(f"bad speed {speed!r}: a whole number, 1 (real time) or more")
        if baud is not None and baud < 300:
            raise SimError(f"bad baud rate {baud}: 300 or more")
        if modem not in ("simcom", "quectel"):
            raise SimError(f"unknown modem family {modem!r} (simcom or quectel)")
        self.out = Path(out)
        self.speed = speed
        self.bare = bare
        self.heap = heap
        self.baud = baud
        self.modem = modem
        defaults = dict(BOARD_DEFAULTS, start=int(time.time()))
        self.sc = scen.load(scenario, sets=list(sets), faults=list(faults), seed=seed,
                            defaults=defaults)
        for f in self.sc.faults:
            if f.device not in scen.DEVICES:
                raise SimError(f"fault {f}: a sim board schedules sensor faults only; inject a "
                               "power cut with `cemtool sim inject --out DIR power+SECONDS`")
        self.world: World | None = None
        self.rig: Rig | None = None
        self.usb: UsbPort | None = None
        self._server: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> str:
        return self.usb.path

    @property
    def fs(self) -> Path:
        return self.out / "fs"

    def __enter__(self) -> Board:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- starting and stopping ---------------------------------------------------------------

    def start(self) -> Board:
        try:
            self._prepare()
            self.world = World(self.sc)
            world = self.world
            t0, ms0 = time.monotonic(), self.sc.start * 1000
            world.wall = lambda: ms0 + int((time.monotonic() - t0) * 1000) * self.speed
            emu = ModemEmulator(self.modem, clock=lambda: world.t)
            self.rig = Rig(world, self.out, emu)
            ports = dict(self.rig.paths, speed=self.speed)
            (self.fs / PORTS_FILE).write_text(json.dumps(ports, indent=1) + "\n")
            self.usb = UsbPort(self.fs, self.out, self.heap, self.baud).start()
            (self.out / "usb.path").write_text(self.usb.path + "\n")
            self._serve()
        except BaseException:
            self.stop()
            raise
        return self

    def _prepare(self) -> None:
        fs = self.fs
        fs.mkdir(parents=True, exist_ok=True)
        if self.bare:
            return
        build.compile_firmware(fs / "lib")
        build.install_sources_only(fs)
        template = json.loads((build.firmware_dir().parent / "boards" / "sim.json").read_text())
        profile = board_profile(template, {}, self.sc.co2_analyser)  # placeholders kept
        profile["modem"]["family"] = self.modem
        (fs / "board.json").write_text(json.dumps(profile, indent=1) + "\n")
        if not (fs / "config.json").exists():
            (fs / "config.json").write_text(json.dumps(device_config(self.sc)) + "\n")

    def stop(self) -> None:
        """Switch the board off and release everything (idempotent)."""
        if self._server is not None:
            server, self._server = self._server, None
            try:
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server.close()
        if self.usb is not None:
            self.usb.stop()
            self.usb = None
            (self.out / "usb.path").unlink(missing_ok=True)
        if self.rig is not None:
            self.rig.close()
            self.rig = None

    # -- faults ------------------------------------------------------------------------------

    def inject(self, fault: str) -> scen.Fault:
        """Apply a sensor fault now (``co2:gas=0``, ``dp:disconnect+60``), or cut the power
        (``power``, ``power+10``: off for that many simulated seconds)."""
        with self._lock:
            now_rel = self.rig.hub.call(lambda: self.world.t - self.sc.start)
            f = parse_runtime_fault(fault, now_rel)
            if f.kind == "power":
                self.power_cut(f.duration or POWER_OFF_S)
            else:
                self.rig.hub.call(self.world.inject, f)
            return f

    def clear(self, fault: str) -> int:
        """Remove every ``DEVICE:KIND`` fault (injected or the scenario's); how many there were."""
        device, kind = parse_clear(fault)
        with self._lock:
            return self.rig.hub.call(self.world.clear, device, kind)

    def power_cut(self, off_s: int) -> None:
        """Switch the board off for ``off_s`` simulated seconds, then on (a hard reset)."""
        self.usb.power(False)
        self.rig.power_cut(off_s)
        self.usb.power(True)

    # -- the control socket: ``cemtool sim inject`` / ``clear`` from another process -----------

    def _serve(self) -> None:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(control_address(self.out))
        except OSError:
            server.close()
            raise SimError(f"a sim board is already running in {self.out}") from None
        server.listen(4)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="sim-board-ctl",
                         daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed by stop()
            with conn:
                conn.settimeout(10)
                try:
                    reply = self._order(json.loads(_read_line(conn)))
                except (OSError, ValueError) as e:
                    reply = {"error": f"bad request: {e}"}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass

    def _order(self, req: dict) -> dict:
        try:
            if req.get("op") == "inject":
                return {"ok": True, "fault": str(self.inject(str(req.get("fault", ""))))}
            if req.get("op") == "clear":
                return {"ok": True, "cleared": self.clear(str(req.get("fault", "")))}
        except scen.ScenarioError as e:
            return {"error": str(e)}
        return {"error": f"unknown order {req.get('op')!r}"}


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def order(out: str | Path, op: str, fault: str, timeout: float = 30) -> dict:
    """Send ``inject`` or ``clear`` to the board running in ``out``; raises SimError."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(control_address(Path(out)))
    except OSError:
        conn.close()
        raise SimError(f"no sim board is running in {out}") from None
    with conn:
        try:
            conn.sendall(json.dumps({"op": op, "fault": fault}).encode() + b"\n")
            reply = json.loads(_read_line(conn) or b"{}")
        except (OSError, ValueError) as e:
            raise SimError(f"the sim board in {out} did not answer: {e}") from None
    if "error" in reply or not reply.get("ok"):
        raise SimError(reply.get("error", "the sim board refused the order"))
    return reply
