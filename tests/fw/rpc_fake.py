"""A fake node for the command-protocol tests.

``FakeNode`` has everything ``cemt.rpc`` documents: a real ``Config`` on a file under /tmp, the
fake clock and logs of ``rpc_logs``, and providers that record what they were asked. (The real
ring log serves the RS485 multi-drop test.)
"""
import os
from binascii import hexlify
from hashlib import sha256

from cemt.config import Config

from rpc_logs import HOUR, MINUTE, T0, Clock, FakeLog

KEY = b"k" * 16 + bytes(range(16))


class FakeNode:
    def __init__(self, name="rpc", minutes=0, hours=0, key=KEY):
        self._path = "/tmp/cemt_%s_%s.json" % (name, hexlify(os.urandom(4)).decode())
        self.key = key
        self.config = Config(self._path)
        self.config.data["device"].update({"id": "dev-1", "site": "plant", "point": "stack-2"})
        self.clock = Clock(T0 + 86400)
        self.logs = {"minute": FakeLog(MINUTE, 60, minutes), "long": FakeLog(HOUR, 3600, hours)}
        self.sources = []
        self.calibrations = []
        self.provisioned = None
        self.reboots = 0
        self.boom = False

    def cleanup(self):
        """Remove the config file a change saved."""
        for p in (self._path, self._path + ".new"):
            try:
                os.remove(p)
            except OSError:
                pass

    def info(self):
        dev = self.config.data["device"]
        return {"device": dev["id"], "site": dev["site"], "point": dev["point"],
                "fw": "cemt 0.1.0", "board": "unix"}

    def files(self):
        for i in range(40):
            path = "cemt/module_%02d.mpy" % i
            yield path, sha256(path.encode()).digest()

    def live(self):
        if self.boom:
            raise TypeError("sensor table broken")
        return {"co2": (1234, 0), "dp": (5210, 0), "temp": (1500, 7)}

    def configure(self, section, changes, source):
        self.sources.append(source)
        return self.config.update(section, changes)

    def stats(self):
        return {"boots": 3, "uptime": 4000}

    def calibrate(self, req):
        self.calibrations.append(req)
        ch = req["channel"]
        if ch == 6:
            raise NotImplementedError("no velocity reference fitted")
        if ch == 2:
            raise RuntimeError("pressure not stable")
        if req["ref"] < 0:
            raise ValueError("reference gas must be positive")
        return {"result": 0, "reading": req["ref"] + 13, "before": 0, "after": -13,
                "ver": self.config.ver + 1}

    def provision(self, device, site, point, key):
        self.provisioned = (device, site, point, key)
        self.key = key
        self.config.data["device"].update({"id": device, "site": site, "point": point})
        return self.config.ver

    def reboot(self):
        self.reboots += 1
