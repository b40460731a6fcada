"""RP2040 PageFlash: any append becomes whole, aligned 256-byte page programs.

The flash under it is modelled with real NOR physics: programming ANDs the data into the cells, so
a 1 leaves a bit as it is. (cemt.board.norflash is stricter on purpose: it refuses a 1 over a 0, to
catch a ring log that expects bytes to change back; PageFlash's 0xFF padding relies on the physics.)
"""
from cemt.board.rp2 import PAGE, PageFlash


class Nor:
    """Two 4 KiB blocks of NOR cells that record every program call."""

    def __init__(self):
        self.cells = bytearray(b"\xff" * 8192)
        self.calls = []

    def readblocks(self, n, buf, off=0):
        base = n * 4096 + off
        for i in range(len(buf)):
            buf[i] = self.cells[base + i]

    def writeblocks(self, n, buf, off=0):
        if self.calls is not None:
            self.calls.append((n, off, len(buf)))
        assert off % PAGE == 0 and len(buf) == PAGE, "RP2040 programs whole, aligned pages"
        base = n * 4096 + off
        for i in range(len(buf)):
            self.cells[base + i] &= buf[i]

    def ioctl(self, op, arg):
        return 4096 if op == 5 else 2


def test_small_appends_program_whole_aligned_pages_and_keep_neighbours():
    rec = Nor()
    flash = PageFlash(rec)
    flash.writeblocks(1, b"\x11\x22\x33", 10)
    flash.writeblocks(1, b"\x44", 13)  # same page again: only clears bits, as NOR allows
    assert rec.calls == [(1, 0, PAGE), (1, 0, PAGE)]
    buf = bytearray(16)
    flash.readblocks(1, buf, 8)
    assert bytes(buf[:8]) == b"\xff\xff\x11\x22\x33\x44\xff\xff"


def test_a_write_across_a_page_boundary_programs_both_pages():
    rec = Nor()
    flash = PageFlash(rec)
    data = bytes(range(40))
    flash.writeblocks(0, data, PAGE - 16)
    assert rec.calls == [(0, 0, PAGE), (0, PAGE, PAGE)]
    buf = bytearray(40)
    flash.readblocks(0, buf, PAGE - 16)
    assert bytes(buf) == data


def test_programming_allocates_nothing():
    import micropython
    rec = Nor()
    rec.calls = None  # nothing recorded, so only PageFlash could allocate
    flash = PageFlash(rec)
    data = bytes(range(8))
    flash.writeblocks(0, data, 100)  # warm up
    micropython.heap_lock()
    try:
        flash.writeblocks(0, data, 300)
    finally:
        micropython.heap_unlock()
