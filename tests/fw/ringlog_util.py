"""Helpers for the ring-log tests: numbered records, logs over RAM or file flash, reboots."""
import binascii
import os

from cemt.board.norflash import NorFlash, ram
from cemt.ringlog import RingLog


def scratch(name):
    """A fresh image path under build/, unique to this run (test runs may overlap)."""
    try:
        os.mkdir("build")
    except OSError:
        pass
    return "build/%s-%s.img" % (name, binascii.hexlify(os.urandom(4)).decode())


def remove(path):
    for p in (path, path + ".erases"):
        try:
            os.remove(p)
        except OSError:
            pass


def record(seq):
    """The minute record that seq ``seq`` holds in these tests: noisy values, a function of seq."""
    h = (seq * 2654435761) & 0xFFFFFF
    return [1, seq, 1767225600 + 60 * seq + 300 * (seq // 500), 2, 3, (seq % 97 == 0) * 5,
            60, 60 - (seq % 97 == 0) * 60, 1200 + h % 9, 1150 + h % 13, 1250 + h % 11,
            1500 + (h >> 4) % 21, 1500 + (h >> 8) % 5, -150 + (h >> 12) % 7,
            64000 + (h >> 3) % 400, 25000 + (h >> 5) % 200]


def ram_log(blocks=8, block_size=512):
    return RingLog(NorFlash(ram(blocks, block_size), block_size), 0, blocks, 1)


def reboot(log):
    """A new device and log over the same flash, as after a reset."""
    dev = log._dev
    log._buf = log._out = log._packer = log._reader = None  # dead now: let its memory go
    if isinstance(dev, NorFlash):
        dev.close()
        dev = NorFlash(dev.store, dev.block_size, erases=dev.erases)
    return RingLog(dev, log._b0, log._blocks, log._id)


def fill(log, count):
    for _ in range(count):
        log.append(record(log.last_seq + 1))


def expect_all(log):
    """Every record held reads back intact, in order, with no gap."""
    seq = log.first_seq
    for rec in log.iter_from(seq):
        assert rec == record(seq), "record %d: %r" % (seq, rec)
        seq += 1
    assert seq == log.last_seq + 1, "stopped at %d of %d" % (seq, log.last_seq)
