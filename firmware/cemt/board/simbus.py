"""The simulator's bus bridge, device side (unix port only).

The sim board has no real I2C, SPI or ADC: every transaction travels over one pseudo-terminal to the
host (``cemtool.sim.simbus``), which answers from its device models. ``I2C``, ``SPI``, ``ADC`` and
``SimClock`` here have the interfaces of ``cemt.board.unix``, ``machine.ADC`` and
``cemt.board.clock.VirtualClock``, so drivers cannot tell the difference.

Frames (docs/simulator.md): request ``op, len, payload, crc``; reply ``status, len, payload, crc``;
crc is CRC-16/CCITT-FALSE over everything before it, big-endian. One request is in flight at a time.
"""
import select
import termios
from array import array

from micropython import const

from cemt.board import unix
from cemt.board.clock import TQ_UNSYNCED

VERSION = const(1)

OP_HELLO = const(0x01)
OP_TIME = const(0x02)
OP_I2C_WRITE = const(0x10)
OP_I2C_READ = const(0x11)
OP_I2C_WRITE_READ = const(0x12)
OP_SPI_XFER = const(0x20)
OP_ADC_READ = const(0x30)

ST_OK = const(0)
ST_NODEV = const(1)  # no device at that address / channel: OSError(ENODEV)
ST_NAK = const(2)    # the device NAKed: OSError(EIO)
ST_BAD = const(3)    # the host rejected the frame

_ENODEV = const(19)
_EIO = const(5)
_MAX = const(255)


def _crc_table():
    t = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_T = _crc_table()


def crc16(buf, n, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``buf[:n]`` (check value of b"123456789": 0x29B1)."""
    t = _T
    for i in range(n):
        crc = ((crc << 8) & 0xFFFF) ^ t[(crc >> 8) ^ buf[i]]
    return crc


class Bus:
    """One pseudo-terminal to the host; ``call`` sends a request and returns the reply length."""

    def __init__(self, path):
        self._f = open(path, "r+b")
        termios.setraw(self._f.fileno())
        self._drain()
        self.tx = bytearray(_MAX + 4)
        self.rx = bytearray(_MAX + 2)
        self._hdr = bytearray(2)

    def _drain(self):
        # A reply meant for a previous process (killed mid-exchange) must not be taken for ours.
        p = select.poll()
        p.register(self._f, select.POLLIN)
        one = bytearray(1)
        while p.poll(0):
            self._f.readinto(one, 1)

    def call(self, op, n):
        """Send ``op`` with payload ``self.tx[2:2+n]``; the reply payload lands in ``self.rx``."""
        tx = self.tx
        tx[0] = op
        tx[1] = n
        c = crc16(tx, n + 2)
        tx[n + 2] = c >> 8
        tx[n + 3] = c & 0xFF
        self._f.write(tx, 0, n + 4)
        hdr = self._hdr
        rx = self.rx
        self._f.readinto(hdr, 2)
        m = hdr[1]
        self._f.readinto(rx, m + 2)
        if crc16(rx, m, crc16(hdr, 2)) != (rx[m] << 8) | rx[m + 1]:
            raise OSError(_EIO)
        st = hdr[0]
        if st != ST_OK:
            raise OSError(_ENODEV if st == ST_NODEV else _EIO)
        return m

    def put_u64(self, pos, v):
        tx = self.tx
        for i in range(8):
            tx[pos + i] = (v >> (8 * i)) & 0xFF

    def get_u64(self, pos):
        rx = self.rx
        v = 0
        for i in range(7, -1, -1):
            v = (v << 8) | rx[pos + i]
        return v

    def hello(self):
        """Announce a (re)started device; returns the host's simulated time in ms."""
        self.tx[2] = VERSION
        for _ in range(3):  # a reply torn by the previous process's death is answered ST_BAD once
            try:
                if self.call(OP_HELLO, 1) == 9 and self.rx[0] == VERSION:
                    return self.get_u64(1)
            except OSError:
                pass
        raise OSError(_EIO)

    def close(self):
        self._f.close()


class SimClock:
    """``VirtualClock(speed=None)`` whose time the host follows.

    Time moves only by sleeps. Whenever a sleep enters a new simulated second the clock sends the
    TIME barrier, which returns once the host's model and faults are at that second, so every sensor
    read that follows sees the world at the device's time. ``set`` moves the device's idea of UTC,
    not simulated time.
    """

    def __init__(self, bus, quality=TQ_UNSYNCED):
        self._bus = bus
        self._t_ms = bus.hello()
        self._sent = self._t_ms // 1000
        self._off = 0
        self.quality = quality

    def now(self):
        return (self._t_ms + self._off) // 1000

    def ticks_ms(self):
        return self._t_ms

    def ticks_diff(self, a, b):
        return a - b

    def set(self, unix_s, quality):
        self._off = unix_s * 1000 + self._t_ms % 1000 - self._t_ms
        self.quality = quality

    def advance(self, ms):
        if ms <= 0:
            return  # time never runs backwards
        self._t_ms += ms
        if self._t_ms // 1000 != self._sent:
            self._sent = self._t_ms // 1000
            self._bus.put_u64(2, self._t_ms)
            self._bus.call(OP_TIME, 8)

    def sleep_ms(self, ms):
        self.advance(ms)

    async def asleep_ms(self, ms):
        import asyncio  # only an asyncio app pays for it
        self.advance(ms)
        await asyncio.sleep_ms(0)


class I2C:
    """``machine.I2C``-like bus ``bus_id`` whose devices live on the host."""

    def __init__(self, bus, bus_id=0):
        self._bus = bus
        self._id = bus_id

    def _head(self, addr):
        tx = self._bus.tx
        tx[2] = self._id
        tx[3] = addr

    def _write(self, addr, pre, npre, buf):
        n = len(buf)
        if n + npre + 2 > _MAX:
            raise ValueError("too long")
        self._head(addr)
        tx = self._bus.tx
        for i in range(npre):
            tx[4 + i] = (pre >> (8 * (npre - 1 - i))) & 0xFF
        for i in range(n):
            tx[4 + npre + i] = buf[i]
        self._bus.call(OP_I2C_WRITE, n + npre + 2)

    def _read_into(self, buf, pre, npre, addr):
        n = len(buf)
        if n > _MAX or npre + 3 > _MAX:
            raise ValueError("too long")
        self._head(addr)
        tx = self._bus.tx
        tx[4] = n
        if npre:
            for i in range(npre):
                tx[5 + i] = (pre >> (8 * (npre - 1 - i))) & 0xFF
            self._bus.call(OP_I2C_WRITE_READ, npre + 3)
        else:
            self._bus.call(OP_I2C_READ, 3)
        rx = self._bus.rx
        for i in range(n):
            buf[i] = rx[i]

    def scan(self):
        return [a for a in range(0x08, 0x78) if self._probe(a)]

    def _probe(self, addr):
        try:
            self._write(addr, 0, 0, b"")
            return True
        except OSError:
            return False

    def writeto(self, addr, buf, stop=True):
        self._write(addr, 0, 0, buf)
        return len(buf)

    def readfrom(self, addr, n, stop=True):
        buf = bytearray(n)
        self._read_into(buf, 0, 0, addr)
        return bytes(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._read_into(buf, 0, 0, addr)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._write(addr, memaddr, addrsize // 8, buf)

    def readfrom_mem(self, addr, memaddr, n, addrsize=8):
        buf = bytearray(n)
        self._read_into(buf, memaddr, addrsize // 8, addr)
        return bytes(buf)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._read_into(buf, memaddr, addrsize // 8, addr)


class Pin(unix.Pin):
    """A unix ``Pin`` that counts falling edges, so the SPI bridge can mark where a transaction starts."""

    def __init__(self, ident, mode=unix.Pin.OUT, value=1):
        super().__init__(ident, mode, value)
        self.falls = 0

    def value(self, v=None):
        if v is None:
            return self._v
        if self._v and not v:
            self.falls += 1
        self._v = 1 if v else 0

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    __call__ = value


class SPI:
    """``machine.SPI``-like bus; the device whose chip-select pin (attached here) is low answers.

    Each transfer carries a start flag, set on the first transfer after the pin's falling edge, so a
    transaction split over several calls (address, then data) reaches the host model as one.
    """

    def __init__(self, bus, bus_id=0):
        self._bus = bus
        self._id = bus_id
        self._pins = []
        self._seen = []

    def attach(self, cs, cs_id=None):
        """Route transfers to host chip-select ``cs_id`` (default ``cs.ident``) while ``cs`` is low."""
        self._pins.append((cs, cs.ident if cs_id is None else cs_id))
        self._seen.append(-1)

    def _xfer(self, out, into, fill, n):
        if n + 3 > _MAX:
            raise ValueError("too long")
        for k in range(len(self._pins)):
            cs, ident = self._pins[k]
            if cs.value() == 0:
                break
        else:
            if into is not None:
                for i in range(n):
                    into[i] = 0xFF  # nobody drives MISO: the pull-up reads ones
            return
        falls = getattr(cs, "falls", None)
        start = 1 if falls is None or falls != self._seen[k] else 0
        self._seen[k] = -1 if falls is None else falls
        tx = self._bus.tx
        tx[2] = self._id
        tx[3] = ident
        tx[4] = start
        for i in range(n):
            tx[5 + i] = fill if out is None else out[i]
        self._bus.call(OP_SPI_XFER, n + 3)
        if into is not None:
            rx = self._bus.rx
            for i in range(n):
                into[i] = rx[i]

    def write_readinto(self, out, into):
        self._xfer(out, into, 0, len(out))

    def readinto(self, buf, write=0):
        self._xfer(None, buf, write, len(buf))

    def read(self, n, write=0):
        buf = bytearray(n)
        self._xfer(None, buf, write, n)
        return bytes(buf)

    def write(self, buf):
        self._xfer(buf, None, 0, len(buf))


class ADC:
    """``machine.ADC``-like input: the host's reading of ``channel`` in microvolts (``read_uv``), or
    scaled to 16 bits of ``vref_uv`` (``read_u16``)."""

    def __init__(self, bus, channel, vref_uv=3300000):
        self._bus = bus
        self._ch = channel
        self._vref = vref_uv

    def read_uv(self):
        self._bus.tx[2] = self._ch
        self._bus.call(OP_ADC_READ, 1)
        rx = self._bus.rx
        return rx[0] << 24 | rx[1] << 16 | rx[2] << 8 | rx[3]

    def read_u16(self):
        return min(self.read_uv() * 65535 // self._vref, 65535)
