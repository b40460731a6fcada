"""The board seam on the MicroPython unix port: the simulator's board and the tests' bench.

UARTs are pseudo-terminals (or any character device) opened raw; on the simulator's board I2C,
SPI, ADC and the clock travel over its bridge (``cemt.board.simbus``), in tests they are the
in-process models of ``cemt.board.bench``; flash is the NOR simulator over a file; the watchdog
and pins only keep state that tests can inspect.

A profile value ``"<name>"`` (a pty path, the flash image, the clock's speed in ``boards/sim.json``)
belongs to the simulator's board: it is looked up in ``sim.ports.json``, which the board writes in
the root of its filesystem at every start, so the template deploys unchanged.
"""
import select
import termios

from cemt.board.clock import Clock, VirtualClock  # noqa: F401  (part of the seam)

PORTS = "sim.ports.json"
_ports = None


def fill(v):
    """``v``, or the sim board's value for a ``"<name>"`` placeholder (OSError if it has none)."""
    if type(v) is not str or len(v) < 3 or v[0] != "<" or v[-1] != ">":
        return v
    global _ports
    if _ports is None:
        from cemt.config import load_json
        _ports = load_json(PORTS, {})
    name = v[1:-1]
    if name not in _ports:
        raise OSError("board profile value %s: no %r in %s" % (v, name, PORTS))
    return _ports[name]


class UART:
    """``machine.UART``-like byte stream over a raw pseudo-terminal.

    The unix port's files have no non-blocking read, so bytes are taken one at a time while
    ``poll`` says more are waiting: a read returns what has arrived and never blocks past its
    timeout.
    """

    def __init__(self, path, baudrate=9600, timeout=100):
        self._f = open(path, "r+b")
        try:
            termios.setraw(self._f.fileno())
        except OSError:
            pass  # not a terminal (a FIFO or a plain file in tests)
        self.baudrate = baudrate
        self.timeout = timeout
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)

    def fileno(self):
        return self._f.fileno()

    def any(self):
        return 1 if self._poll.poll(0) else 0

    def readinto(self, buf, nbytes=None, timeout=None):
        """Bytes that arrive within ``timeout`` ms (default: the UART's) into ``buf``; None if none."""
        n = len(buf) if nbytes is None else nbytes
        if not self._poll.poll(self.timeout if timeout is None else timeout):
            return None
        got = 0
        mv = memoryview(buf)
        while got < n:
            if not self._f.readinto(mv[got:got + 1]):
                break
            got += 1
            if not self._poll.poll(0):
                break
        return got or None

    def read(self, n=256, timeout=None):
        buf = bytearray(n)
        got = self.readinto(buf, n, timeout)
        return bytes(buf[:got]) if got else None

    def write(self, data):
        return self._f.write(data)  # unbuffered: a tty refuses fsync, so no flush

    def flush(self):
        pass

    def deinit(self):
        self._f.close()


class Pin:
    """``machine.Pin``-like pin that keeps its level; input pins read what a test set."""

    IN, OUT, PULL_UP = 0, 1, 2

    def __init__(self, ident, mode=OUT, value=1):
        self.ident = ident
        self.mode = mode
        self._v = value
        self.bus = None

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0

    def on(self):
        self._v = 1

    def off(self):
        self._v = 0

    __call__ = value


class WDT:
    """Watchdog that records feeds; ``expired()`` tells whether a real one would have reset."""

    def __init__(self, clock, timeout_ms):
        self._clock = clock
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self._last = clock.ticks_ms()

    def feed(self):
        self.feeds += 1
        self._last = self._clock.ticks_ms()

    def expired(self):
        return self._clock.ticks_diff(self._clock.ticks_ms(), self._last) > self.timeout_ms


# Factories, called by cemt.hardware with a board-profile entry. ``via`` is an open sim bridge
# (cemt.board.simbus.Bus): on the simulator's board I2C, SPI, ADC, chip selects and the clock
# travel over it; without it they are in-process models for tests.

def uart(path, baudrate=9600, timeout=100, **kw):
    return UART(fill(path), baudrate, timeout)


def i2c(devices=None, via=None, bus_id=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.I2C(via, bus_id)
    from cemt.board.bench import I2C
    return I2C(devices)


def spi(via=None, bus_id=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.SPI(via, bus_id)
    from cemt.board.bench import SPI
    return SPI()


def pin(ident, mode=Pin.OUT, value=1, via=None):
    if via is not None:
        from cemt.board import simbus
        return simbus.Pin(ident, mode, value)
    return Pin(ident, mode, value)


def adc(ident=None, via=None, channel=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.ADC(via, channel)
    from cemt.board.bench import ADC
    return ADC(ident)


def bridge(path, **kw):
    from cemt.board import simbus
    return simbus.Bus(fill(path))


def clock(via=None, start=None, speed=None, quality=0, **kw):
    speed = fill(speed)
    if via is not None:
        if speed:
            from cemt.board.simpace import PacedClock
            return PacedClock(via, quality, speed)
        from cemt.board import simbus
        return simbus.SimClock(via, quality)
    if start is not None:
        return VirtualClock(start, speed)
    return Clock()


def flash(path, block_size=4096, blocks=256, nor=True, **kw):
    path = fill(path)
    if nor:
        from cemt.board.norflash import NorFlash
        return NorFlash(path, block_size, blocks)
    from cemt.board.bench import FileBlockDevice
    return FileBlockDevice(path, block_size, blocks)


def watchdog(clock, timeout_ms):
    return WDT(clock, timeout_ms)


def reset_cause():
    """The boot record's ``reset`` code: what the simulator put in ``CEMT_RESET``, else 0."""
    import os
    try:
        return int(os.getenv("CEMT_RESET") or 0)
    except ValueError:
        return 0
