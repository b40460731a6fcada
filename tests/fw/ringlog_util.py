"""Helpers for the ring-log tests: numbered records, logs over RAM or file flash, reboots."""
from cemt.ringlog import RingLog  # the largest compile first, while the heap is whole
from cemt.board.norflash import NorFlash, ram
import ringlog_data as D


def record(seq):
    """The minute record that seq ``seq`` holds in these tests (seq 1 is minute 0)."""
    rec = D.minute(seq - 1)
    rec[1] = seq
    return rec


def ram_log(blocks=8, block_size=512):
    return RingLog(NorFlash(ram(blocks, block_size), block_size), 0, blocks, 1)


def reboot(log):
    """A new device and log over the same flash, as after a reset."""
    dev = log._dev
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
