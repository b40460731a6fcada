"""The node's hardware, built from its board profile: clock, buses, sensors, ring logs, watchdog,
the 4G modem and the board reset.

A board profile (``boards/*.json``, deployed as ``board.json``) is data: which buses exist and on
which pins, which sensor hangs on which bus, where the logs live in flash, which modem sits on
which UART. This module turns it into objects through the port's factories (``cemt.board``), so
nothing board-specific reaches the application. docs/boards.md describes the keys.
"""
from cemt.board import port

# Edge channels, in the order of cemt.edge (CO2, DP, TEMP, PS, PA, XSW).
CHANNELS = ("co2", "dp", "temp", "ps", "pa", "xsw")
LOG_MINUTE = 1  # log ids in sector headers (docs/storage.md)
LOG_LONG = 2
RESET_EXIT = 3  # exit status of a "reset" on a port that cannot reset itself


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
        buses = profile.get("buses", {})
        # Buses that travel over another (``via``) come after it: MicroPython's dicts do not
        # keep the file's order.
        for routed in (False, True):
            for name, entry in buses.items():
                if ("via" in entry) is routed:
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

    def modem(self, store=None, board_reset=None, clock=None):
        """The ``cemt.modem`` driver of the profile's ``modem`` entry, or None without one.

        The entry names a UART bus, the ``family`` (simcom or quectel), the ``apn``, optionally a
        ``pwrkey`` and a ``power`` pin (buses of kind pin) and ``timeouts``: driver attributes in
        real milliseconds (``t_cmd``, ``t_reg``, ...) that replace the defaults. The modem modules
        are imported only here, so a board without a modem never loads them.
        """
        entry = self.profile.get("modem")
        if not entry:
            return None
        from cemt.modem.driver import Modem
        key = entry.get("pwrkey")
        power = entry.get("power")
        m = Modem(self.buses[entry["uart"]], entry.get("family", "simcom"), entry.get("apn", ""),
                  self.buses[key] if key else None, entry.get("pwrkey_active", 1),
                  self.buses[power] if power else None, store, board_reset, clock)
        for name, ms in entry.get("timeouts", {}).items():
            if not (name.startswith("t_") or name == "probes") or not hasattr(m, name):
                raise ValueError("modem: unknown timeout %r" % name)
            setattr(m, name, ms)
        return m

    def reset(self):
        """Reset the board. A port without a reset (the unix port) ends the program instead."""
        fn = getattr(self._port, "reset", None)
        if fn is None:
            raise SystemExit(RESET_EXIT)
        fn()

    def watchdog(self):
        ms = self.profile.get("watchdog_ms")
        return self._port.watchdog(self.clock, ms) if ms else None
