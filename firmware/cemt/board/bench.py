"""In-process device models for the unix port: I2C and SPI buses, an ADC, a plain block device.

Firmware tests attach device models to these so drivers see real bytes without hardware or
pseudo-terminals. ``cemt.board.unix`` hands them out when a profile entry has no sim bridge.
"""


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
