"""GSS-style NDIR CO2 analyser (ExplorIR / SprintIR ASCII protocol) on a pseudo-terminal.

Commands are lines ending in CR LF; replies are `` <letter> <value>\\r\\n``. Understood:
``K n`` (mode; replies `` K 0000n``), ``Z`` and ``z`` (filtered / unfiltered CO2 in units of
the multiplier, five digits), ``.`` (the ppm multiplier), ``@`` (autozero setting: `` @ 0`` off,
`` @ 1.0 8.0`` on, the factory default), ``@ 0`` / ``@ a b`` (switch it), ``Y`` (version);
anything else gets `` ?``. The emulator never streams (mode 1): in simulated time a stream has
no meaning, and a driver must not depend on it. Its readings carry the scenario's zero and
span errors (``Scenario.co2_read``), calibration gases as much as the stack.
"""
from __future__ import annotations

from ..pty import Endpoint
from ..simbus import World


class GssAnalyser(Endpoint):
    def __init__(self, world: World, cfg: dict | None = None, device: str = "co2",
                 multiplier: int = 10, range_pct: float = 20.0):
        super().__init__()
        self.world = world
        self.device = device
        self.multiplier = multiplier
        self.range_pct = range_pct
        self.requests = 0
        self._line = bytearray()
        self.power_cycle()

    def power_cycle(self) -> None:
        self.mode = 1
        self.autozero = (1.0, 8.0)

    def reset(self) -> None:
        super().reset()
        self._line.clear()

    def reading(self) -> int:
        pct, mode = self.world.measure(self.device)
        pct = self.world.scenario.co2_read(pct)
        if mode == "overrange":
            pct = self.range_pct * 1.25
        return max(0, min(99999, round(pct * 10000 / self.multiplier)))

    def feed(self, data: bytes) -> None:
        line = self._line
        line += data
        while (end := line.find(b"\n")) >= 0:
            cmd = bytes(line[:end]).rstrip(b"\r").strip()
            del line[:end + 1]
            self.requests += 1
            reply = self.answer(cmd.decode("latin-1"))
            f = self.world.fault(self.device)
            if f is not None and f.kind == "disconnect":
                continue
            if f is not None and f.kind == "garble":
                reply = reply[:3] + b"x" + reply[4:] if len(reply) > 4 else b"\x00" + reply
            self.send(reply)

    def answer(self, cmd: str) -> bytes:
        head, _, arg = cmd.partition(" ")
        arg = arg.strip()
        if head == "K" and arg.isdigit() and int(arg) in (0, 1, 2):
            self.mode = int(arg)
            return b" K %05d\r\n" % self.mode
        if head in ("Z", "z") and not arg:
            return b" %s %05d\r\n" % (head.encode(), self.reading())
        if head == "." and not arg:
            return b" . %05d\r\n" % self.multiplier
        if head == "@":
            if arg == "0":
                self.autozero = None
            elif arg:
                parts = arg.split()
                try:
                    self.autozero = (float(parts[0]), float(parts[1]))
                except (ValueError, IndexError):
                    return b" ?\r\n"
            if self.autozero is None:
                return b" @ 0\r\n"
            return b" @ %.1f %.1f\r\n" % self.autozero
        if head == "Y" and not arg:
            return b" Y,cemt-sim,00001\r\n"
        return b" ?\r\n"
