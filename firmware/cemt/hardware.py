"""The node's hardware, built from its board profile: clock, buses, sensors, ring logs, watchdog.

A board profile (``boards/*.json``, deployed as ``board.json``) is data: which buses exist and on
which pins, which sensor hangs on which bus, where the logs live in flash. This module turns it
into objects through the port's factories (``cemt.board``), so nothing board-specific reaches the
application. docs/boards.md describes the keys.
"""
from cemt.board import port

# Edge channels, in the order of cemt.edge (CO2, DP, TEMP, PS, PA, XSW).
CHANNELS = ("co2", "dp", "temp", "ps", "pa", "xsw")
LOG_MINUTE = 1  # log ids in sector headers (docs/storage.md)
LOG_LONG = 2


class Channel:
    """A sensor feeding one edge channel, read every ``every_s`` seconds (value held between)."""

    def __init__(self, index, driver, every_s):
        self.index = index
        self.driver = driver
        self.every_s = every_s


class Hardware:
    def __init__(self, profile):
        self.profile = profile
        p = port()
        self.buses = {}
        for name, entry in profile.get("buses", {}).items():
            entry = dict(entry)
            kind = entry.pop("kind")
            self._resolve(entry)
            self.buses[name] = getattr(p, kind)(**entry)
        entry = dict(profile.get("clock", {}))
        self._resolve(entry)
        self.clock = p.clock(**entry)
        self.channels = []
        from cemt.sensors import make
        for name, entry in profile.get("sensors", {}).items():
            bus = self.buses[entry["bus"]]
            cs = entry.get("cs")
            if cs is not None:
                cs = self.buses[cs]  # a "pin" entry of the buses section
                if hasattr(bus, "attach"):
                    bus.attach(cs)  # the sim bridge routes transfers by chip select
            drv = make(entry["driver"], entry.get("cfg", {}), bus, self.clock, cs)
            self.channels.append(Channel(CHANNELS.index(name), drv, entry.get("every_s", 1)))
        self.flash = {}
        for name, entry in profile.get("flash", {}).items():
            self.flash[name] = p.flash(**entry)
        self._port = p

    def _resolve(self, entry):
        via = entry.get("via")
        if via is not None:
            entry["via"] = self.buses[via]

    def log(self, name, log_id):
        """The ring log ``name`` of the profile's ``logs`` section."""
        from cemt.ringlog import RingLog
        entry = self.profile["logs"][name]
        dev = self.flash[entry["flash"]]
        first = entry.get("first_block", 0)
        blocks = entry.get("blocks") or dev.ioctl(4, 0) - first
        return RingLog(dev, first, blocks, log_id)

    def watchdog(self):
        ms = self.profile.get("watchdog_ms")
        return self._port.watchdog(self.clock, ms) if ms else None
