"""NOR-flash simulator: a block device over a file or RAM that refuses to set bits without an
erase, counts erases per block and can lose power after any byte (docs/storage.md, "Simulator").
"""
import struct

_CHUNK = 256
_FF = b"\xff" * _CHUNK
_OLD = bytearray(_CHUNK)  # what a write would program over


class PowerCut(Exception):
    """The simulated power failed: nothing more reaches the flash until a reboot."""


class NorFlash:
    def __init__(self, store, block_size=4096, blocks=None, erases=None):
        self.store = store  # reopen with NorFlash(dev.store, ...) to "reboot"
        self.block_size = block_size
        self._budget = -1
        self._dead = False
        if isinstance(store, str):
            self._ram = None
            try:
                self._f = open(store, "r+b")
            except OSError:
                if blocks is None:
                    raise
                self._f = open(store, "w+b")
            self._f.seek(0, 2)
            size = self._f.tell()
            if blocks is None:
                blocks = size // block_size
            for _ in range(size, block_size * blocks, _CHUNK):
                self._f.write(_FF)
            self._f.flush()
            self._ef = _open_counts(store + ".erases", blocks)
            self.erases = list(struct.unpack("<%dI" % blocks, self._ef.read(4 * blocks)))
        else:
            self._ram = store
            self._f = self._ef = None
            blocks = len(store)
            self.erases = erases if erases is not None else [0] * blocks
        self.blocks = blocks

    def cut_after(self, n):
        """Lose power once ``n`` more bytes have been programmed or erased (-1 disarms)."""
        self._budget = n

    def _live(self, n, off, length):
        if self._dead:
            raise PowerCut()
        if not (0 <= n < self.blocks and 0 <= off and off + length <= self.block_size):
            raise OSError(22)  # EINVAL: outside the device or across a block boundary

    def _spend(self, length):
        """Bytes of an operation of ``length`` that happen before the power fails."""
        if self._budget < 0:
            return length
        if self._budget > length:
            self._budget -= length
            return length
        self._dead = True
        return self._budget

    def readblocks(self, n, buf, off=0):
        self._live(n, off, len(buf))
        if self._ram is not None:
            memoryview(buf)[:] = memoryview(self._ram[n])[off:off + len(buf)]
        else:
            self._f.seek(n * self.block_size + off)
            self._f.readinto(buf)

    def writeblocks(self, n, buf, off=0):
        length = len(buf)
        self._live(n, off, length)
        for start in range(0, length, _CHUNK):
            old = memoryview(_OLD)[:min(_CHUNK, length - start)]
            self.readblocks(n, old, off + start)
            for i in range(len(old)):
                if buf[start + i] & ~old[i] & 0xFF:
                    raise OSError(5, "NOR flash: programming would set a bit at block %d offset %d"
                                  % (n, off + start + i))
        done = self._spend(length)
        self._store(n, off, memoryview(buf)[:done])
        if self._dead:
            raise PowerCut()

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.block_size
        if op == 6:
            self._live(arg, 0, self.block_size)
            done = self._spend(self.block_size)
            for start in range(0, done, _CHUNK):
                self._store(arg, start, memoryview(_FF)[:min(_CHUNK, done - start)])
            if done:
                self._count(arg)
            if self._dead:
                raise PowerCut()
            return 0
        return 0  # init, deinit, sync

    def _count(self, n):
        self.erases[n] += 1
        if self._ef is not None:
            self._ef.seek(4 * n)
            self._ef.write(struct.pack("<I", self.erases[n]))
            self._ef.flush()

    def _store(self, n, off, data):
        if self._ram is not None:
            memoryview(self._ram[n])[off:off + len(data)] = data
        elif len(data):
            self._f.seek(n * self.block_size + off)
            self._f.write(data)
            self._f.flush()

    def close(self):
        if self._f is not None:
            self._f.close()
            self._ef.close()
            self._f = self._ef = None


def ram(blocks, block_size=4096):
    """An erased in-memory store for ``NorFlash``."""
    return [bytearray(b"\xff" * block_size) for _ in range(blocks)]


def _open_counts(path, blocks):
    try:
        f = open(path, "r+b")
    except OSError:
        f = open(path, "w+b")
    f.seek(0, 2)
    have = f.tell()
    if have < 4 * blocks:
        f.write(bytes(4 * blocks - have))
        f.flush()
    f.seek(0)
    return f
