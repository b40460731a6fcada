"""The board seam on the MicroPython unix port: the simulator's board and the tests' bench.

UARTs are pseudo-terminals (or any character device) opened raw; I2C and SPI buses carry
in-process device models; flash is a block device over a file; the watchdog and pins only keep
state that tests can inspect. Time comes from ``cemt.board.clock``.
"""
import select
import termios

from cemt.board.clock import Clock, VirtualClock  # noqa: F401  (part of the seam)

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


class I2C:
    """``machine.I2C``-like bus whose devices are models attached by address.

    A model offers ``write(data)`` and ``read(n)`` and raises OSError for a NAK, so drivers see
    the same bytes and errors as on real hardware.
    """

    def __init__(self, devices=None):
        self.devices = devices if devices is not None else {}

    def attach(self, addr, model):
        self.devices[addr] = model

    def _dev(self, addr):
        dev = self.devices.get(addr)
        if dev is None:
            raise OSError(19)  # ENODEV, as machine.I2C reports a missing device
        return dev

    def scan(self):
        return sorted(self.devices)

    def writeto(self, addr, buf, stop=True):
        self._dev(addr).write(bytes(buf))
        return len(buf)

    def readfrom(self, addr, n, stop=True):
        return self._dev(addr).read(n)

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self._dev(addr).read(len(buf))

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        self._dev(addr).write(bytes([reg]) + bytes(buf))

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        dev = self._dev(addr)
        dev.write(bytes([reg]))
        return dev.read(n)

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        buf[:] = self.readfrom_mem(addr, reg, len(buf))


class SPI:
    """``machine.SPI``-like bus: the model selected by the chip-select pin answers each transfer."""

    def __init__(self):
        self.models = {}

    def attach(self, cs, model):
        self.models[cs] = model
        cs.bus = self

    def _selected(self):
        for cs, model in self.models.items():
            if cs.value() == 0:
                return model
        return None

    def write_readinto(self, out, into):
        model = self._selected()
        into[:] = model.transfer(bytes(out)) if model else b"\xff" * len(out)

    def readinto(self, buf, write=0):
        self.write_readinto(bytes([write]) * len(buf), buf)

    def write(self, buf):
        model = self._selected()
        if model:
            model.transfer(bytes(buf))


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


class FileBlockDevice:
    """Block device over a file, with the ``readblocks/writeblocks/ioctl`` protocol.

    Plain storage: no NOR rules. ``cemt.board.norflash`` adds erase-before-program and power cuts.
    """

    def __init__(self, path, block_size=4096, blocks=256):
        self.block_size = block_size
        self.blocks = blocks
        try:
            self._f = open(path, "r+b")
        except OSError:
            self._f = open(path, "w+b")
        self._f.seek(0, 2)
        if self._f.tell() < block_size * blocks:
            self._f.write(b"\xff" * (block_size * blocks - self._f.tell()))
            self._f.flush()

    def readblocks(self, n, buf, off=0):
        self._f.seek(n * self.block_size + off)
        self._f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:
            off = 0
        self._f.seek(n * self.block_size + off)
        self._f.write(buf)
        self._f.flush()

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase block
            self.writeblocks(arg, b"\xff" * self.block_size)
            return 0
        return 0


class ADC:
    """``machine.ADC``-like input (a 4-20 mA shunt) that reads the microvolts a test set."""

    def __init__(self, ident=None, uv=0):
        self.ident = ident
        self.uv = uv

    def read_uv(self):
        return self.uv


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
    return UART(path, baudrate, timeout)


def i2c(devices=None, via=None, bus_id=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.I2C(via, bus_id)
    return I2C(devices)


def spi(via=None, bus_id=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.SPI(via, bus_id)
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
    return ADC(ident)


def bridge(path, **kw):
    from cemt.board import simbus
    return simbus.Bus(path)


def clock(via=None, start=None, speed=None, quality=0, **kw):
    if via is not None:
        from cemt.board import simbus
        return simbus.SimClock(via, quality)
    if start is not None:
        return VirtualClock(start, speed)
    return Clock()


def flash(path, block_size=4096, blocks=256, nor=True, **kw):
    if nor:
        from cemt.board.norflash import NorFlash
        return NorFlash(path, block_size, blocks)
    return FileBlockDevice(path, block_size, blocks)


def watchdog(clock, timeout_ms):
    return WDT(clock, timeout_ms)
