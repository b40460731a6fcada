"""Shared pieces of the sensor driver tests: frame builders, a scripted UART peer, an I2C register chip.

Every model records the bytes the driver sent, so a test can assert the exact request, and
answers with bytes built here, by an implementation of its own (a generic CRC, checked
against the published check values in the tests), never by the driver's code. A chip's own
behaviour (SDP, BMP280, MAX31865) lives beside its tests: compiling one module holding every
model, from source, next to the unix board module does not fit the 64K heap.
"""


def _crc(data, poly, init, reflected):
    # A generic bit-serial CRC, written apart from the drivers' own loops.
    crc = init
    top = 0x8000 if poly > 0xFF else 0x80
    for b in data:
        if reflected:
            crc ^= b
            for _ in range(8):
                crc = (crc >> 1) ^ (poly if crc & 1 else 0)
        else:
            crc ^= b << (8 if top == 0x8000 else 0)
            for _ in range(8):
                crc = ((crc << 1) ^ (poly if crc & top else 0)) & (top * 2 - 1)
    return crc


def modbus_crc(data):
    return _crc(data, 0xA001, 0xFFFF, True)


def modbus_frame(*body):
    """A Modbus RTU frame: the body bytes and their CRC, low byte first."""
    crc = modbus_crc(bytes(body))
    return bytes(body) + bytes((crc & 0xFF, crc >> 8))


def sensirion_crc(data):
    return _crc(data, 0x31, 0xFF, False)


def sensirion_words(*words):
    """Each 16-bit word big-endian, followed by its CRC-8."""
    out = bytearray()
    for w in words:
        pair = bytes(((w >> 8) & 0xFF, w & 0xFF))
        out += pair
        out.append(sensirion_crc(pair))
    return bytes(out)


class ScriptedUART:
    """A UART peer that answers each write with the next scripted reply.

    A reply is bytes (arrives whole), a tuple of bytes (arrives one piece per read, as a slow
    line would deliver it) or None (silence). ``stale()`` puts bytes in the input before the
    next request. ``written`` keeps every request; ``reads`` counts the driver's reads.
    """

    def __init__(self, *replies):
        self.replies = list(replies)
        self.written = []
        self.chunks = []
        self.reads = 0

    def stale(self, data):
        self.chunks.append(data)

    def write(self, data):
        self.written.append(bytes(data))
        reply = self.replies.pop(0) if self.replies else None
        if isinstance(reply, tuple):
            self.chunks.extend(reply)
        elif reply is not None:
            self.chunks.append(reply)
        return len(data)

    def any(self):
        return sum(len(c) for c in self.chunks)

    def readinto(self, buf, nbytes=None):
        self.reads += 1
        n = len(buf) if nbytes is None else nbytes
        if not self.chunks:
            return None
        chunk = self.chunks[0]
        take = chunk[:n]
        for i in range(len(take)):
            buf[i] = take[i]
        if len(chunk) > n:
            self.chunks[0] = chunk[n:]
        else:
            self.chunks.pop(0)
        return len(take)


class RegisterChip:
    """An I2C chip with an auto-incrementing register pointer: write(reg, data...) / read(n)."""

    def __init__(self):
        self.regs = bytearray(256)
        self.writes = []
        self.nak = False
        self._ptr = 0

    def write(self, data):
        if self.nak:
            raise OSError(5)
        self.writes.append(bytes(data))
        self._ptr = data[0]
        for b in data[1:]:
            self.on_write(self._ptr, b)
            self._ptr = (self._ptr + 1) & 0xFF

    def on_write(self, reg, value):
        self.regs[reg] = value

    def read(self, n):
        if self.nak:
            raise OSError(5)
        self.before_read()
        out = bytes(self.regs[(self._ptr + i) & 0xFF] for i in range(n))
        self._ptr = (self._ptr + n) & 0xFF
        return out

    def before_read(self):
        pass
