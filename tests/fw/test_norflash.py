"""The NOR-flash simulator: erase-before-program, erase counts, power cuts at any byte."""
import binascii
import os

from cemt.board.norflash import NorFlash, PowerCut, ram


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    raise AssertionError("%s not raised" % exc.__name__)


def _ram(blocks=4):
    return NorFlash(ram(blocks, 512), 512)


def _reboot(dev, **kw):
    return NorFlash(dev.store, 512, **kw)  # a new device over the same memory


def test_geometry():
    dev = _ram(4)
    assert dev.ioctl(4, 0) == 4 and dev.ioctl(5, 0) == 512


def test_programming_only_clears_bits():
    dev = _ram()
    dev.writeblocks(1, b"\xf0\x0f", 10)
    dev.writeblocks(1, b"\x30\x03", 10)  # clearing more bits is fine
    buf = bytearray(2)
    dev.readblocks(1, buf, 10)
    assert buf == b"\x30\x03"
    _raises(OSError, dev.writeblocks, 1, b"\x31", 10)  # would set bit 0 again
    dev.readblocks(1, buf, 10)
    assert buf == b"\x30\x03", "a refused write changed the flash"


def test_erase_sets_ff_and_counts():
    dev = _ram()
    dev.writeblocks(2, b"\x00" * 512, 0)
    dev.ioctl(6, 2)
    dev.ioctl(6, 2)
    buf = bytearray(512)
    dev.readblocks(2, buf, 0)
    assert buf == b"\xff" * 512
    assert dev.erases == [0, 0, 2, 0]


def test_no_access_outside_or_across_blocks():
    dev = _ram(2)
    _raises(OSError, dev.writeblocks, 2, b"\x00", 0)
    _raises(OSError, dev.writeblocks, 0, b"\x00\x00", 511)
    _raises(OSError, dev.readblocks, 1, bytearray(4), 510)


def test_cut_keeps_the_bytes_before_it():
    dev = _ram()
    dev.cut_after(5)
    dev.writeblocks(0, b"\x01\x02", 0)  # 2 of 5 bytes
    _raises(PowerCut, dev.writeblocks, 0, b"\x03\x04\x05\x06\x07", 2)
    _raises(PowerCut, dev.readblocks, 0, bytearray(1), 0)  # dead until reboot
    again = _reboot(dev)
    buf = bytearray(8)
    again.readblocks(0, buf, 0)
    assert buf == b"\x01\x02\x03\x04\x05\xff\xff\xff"


def test_cut_on_the_last_byte_of_a_write_still_fails_it():
    dev = _ram()
    dev.cut_after(3)
    _raises(PowerCut, dev.writeblocks, 0, b"\x00\x00\x00", 0)
    buf = bytearray(4)
    _reboot(dev).readblocks(0, buf, 0)
    assert buf == b"\x00\x00\x00\xff"


def test_interrupted_erase_leaves_a_prefix_erased():
    dev = _ram()
    dev.writeblocks(1, b"\x00" * 512, 0)
    dev.cut_after(100)
    _raises(PowerCut, dev.ioctl, 6, 1)
    buf = bytearray(512)
    again = _reboot(dev, erases=dev.erases)
    again.readblocks(1, buf, 0)
    assert buf[:100] == b"\xff" * 100 and buf[100:] == b"\x00" * 412
    assert again.erases[1] == 1


def test_file_store_persists_data_and_erase_counts():
    try:
        os.mkdir("build")
    except OSError:
        pass
    path = "build/norflash-%s.img" % binascii.hexlify(os.urandom(4)).decode()  # runs may overlap
    try:
        _file_store(path)
    finally:
        for p in (path, path + ".erases"):
            os.remove(p)


def _file_store(path):
    dev = NorFlash(path, 512, 3)
    dev.writeblocks(2, b"abc", 7)
    dev.ioctl(6, 1)
    dev.ioctl(6, 1)
    dev.cut_after(1)
    _raises(PowerCut, dev.writeblocks, 0, b"xy", 0)
    dev.close()
    again = NorFlash(path, 512)
    assert again.blocks == 3 and again.erases == [0, 2, 0]
    buf = bytearray(3)
    again.readblocks(2, buf, 7)
    assert buf == b"abc"
    again.readblocks(0, buf, 0)
    assert buf == b"x\xff\xff"
    again.close()
    assert os.stat(path)[6] == 3 * 512
