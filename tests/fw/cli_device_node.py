"""The device end of tests/test_cli_device*.py: the real console and dispatcher with a fake node.

Run as ``micropython -i cli_device_node.py MINUTES GAS NOISE [PROVISIONED [MODE]]``: the analyser reads
GAS (0.001 %vol) with a zero error of +130 and NOISE (0.001 %vol) of alternating noise; every
``live`` is a new 1 s sample. Calibration follows docs/protocol.md (``calibrate``) with simple
limits, so the host's commands can be run end to end before the real provider is on a board.
The ``maint`` op's mode is kept as the app keeps it: while on, ``live`` flags every sample C or
M and the sensors' own statuses go to ``sensor``; ``modes`` lists every start and end. MODE 0
is a node from before the op (no mode at all).
"""
import sys

import asyncio
from cemt.console import Console
from cemt.rpc import Rpc

from rpc_fake import FakeNode

ZERO_ERROR = 130
ZERO_LIMIT = 2000   # a zero gas reading further off than 2 %vol is refused
FULL_SCALE = 25000  # CO2 0-25 %vol


class CliNode(FakeNode):
    def __init__(self, minutes, gas, noise, provisioned):
        FakeNode.__init__(self, "cli", minutes=minutes, hours=3)
        if not provisioned:
            self.config.data["device"].update({"id": "", "site": "", "point": ""})
        self.gas = gas
        self.noise = noise
        self.n = 0
        self.mode = 0
        self.until = 0
        self.modes = []  # (mode, seconds) of every maint request

    def raw(self):
        return self.gas + ZERO_ERROR + (self.noise if self.n % 2 else -self.noise)

    def co2(self):
        cal = self.config.data["cal"]
        return (self.raw() - cal["co2_zero"]) * cal["co2_gain"] // 10000

    def info(self):
        out = FakeNode.info(self)
        out.update({"boots": 4, "reset": 3, "safe": 0})
        return out

    def live(self):
        self.n += 1
        self.clock.t += 1
        st = self.mode if self.mode and self.maint_state() else 0
        return {"co2": ((self.co2() + 5) // 10, st), "dp": (2 + self.n % 2, st),
                "temp": (1500, st)}

    def calibrate(self, req):
        ch, action, ref = req["channel"], req["action"], req["ref"]
        cal = self.config.data["cal"]
        if ch == 1 and self.noise > 50:
            raise RuntimeError("reading not stable (spread %d over 10 samples)" % (2 * self.noise))
        reading = self.co2()
        if ch == 1 and action == 4:
            return {"result": 3, "reading": reading, "before": cal["co2_zero"],
                    "after": cal["co2_zero"], "ver": self.config.ver, "drift": reading - ref,
                    "limit": FULL_SCALE * 25 // 1000}
        if ch == 1 and action == 1:
            key, before, after = "co2_zero", cal["co2_zero"], self.raw() - ref
            ok = abs(reading - ref) <= ZERO_LIMIT
        elif ch == 1 and action == 2:
            key, before = "co2_gain", cal["co2_gain"]
            after = ref * 10000 // (self.raw() - cal["co2_zero"])
            ok = 8000 <= after <= 12000
        elif ch == 2 and action == 3:
            key, before, after, ok = "kp", self.config.data["edge"]["kp"], ref, 5000 <= ref <= 15000
        elif ch == 6 and action == 3:
            key, before, after, ok = "kv", self.config.data["edge"]["kv"], ref, 5000 <= ref <= 15000
        else:
            raise NotImplementedError("no calibration for channel %d action %d" % (ch, action))
        if ok:
            self.config.update("edge" if key in ("kp", "kv") else "cal", {key: after})
        return {"result": 0 if ok else 1, "reading": reading, "before": before,
                "after": after if ok else before, "ver": self.config.ver}


class ModeNode(CliNode):
    def maint(self, name, seconds):
        mode = {"cal": 5, "maint": 2, "off": 0}.get(name) if type(name) is str else None
        if mode is None:
            raise ValueError('mode must be "cal", "maint" or "off"')
        self.modes.append((mode, seconds))
        self.mode = mode
        self.until = self.clock.now() + seconds if mode else 0
        return {"mode": name, "until": self.until}

    def maint_state(self):
        if self.mode and self.clock.now() >= self.until:
            self.mode = 0
        return (self.mode, self.until) if self.mode else None

    def info(self):
        out = CliNode.info(self)
        if self.maint_state():
            out["maint"] = ["cal" if self.mode == 5 else "maint", self.until]
        return out

    def mode_live(self, ok):
        if self.maint_state():
            ok["maint"] = ["cal" if self.mode == 5 else "maint", self.until]
            ok["sensor"] = {"co2": 0, "dp": 0, "temp": 0}

    def stats(self):
        out = FakeNode.stats(self)
        out["modes"] = len(self.modes)
        out["mode"] = self.mode
        return out


args = [int(a) for a in sys.argv[1:]]
node = (ModeNode if len(args) < 5 or args[4] else CliNode)(args[0], args[1], args[2],
                                                          args[3] if len(args) > 3 else 1)
try:
    asyncio.run(Console(Rpc(node)).run())
finally:
    node.cleanup()
