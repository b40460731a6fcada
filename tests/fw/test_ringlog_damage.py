"""Damaged flash: a record is read back intact or reported unreadable, never returned altered."""
import gc

for _m in ("cemt.schema", "cemt.packdelta", "cemt.pack", "cemt.ringarea", "cemt.ringwalk",
           "cemt.ringsect", "cemt.ringlog", "cemt.board.norflash"):
    __import__(_m)  # leaf first, collecting between compiles (64K heap)
    gc.collect()

from ringlog_util import fill, ram_log, reboot, record  # noqa: E402


def _held(log):
    """(first, last, count) of the seqs iterated, each checked intact and in order."""
    first = last = None
    count = 0
    for rec in log.iter_from(0):
        assert rec == record(rec[1]), "record %d altered" % rec[1]
        assert last is None or rec[1] > last
        first = first or rec[1]
        last = rec[1]
        count += 1
    return first, last, count


def test_bit_rot_in_a_sealed_sector_loses_that_sector_only():
    log = ram_log()
    fill(log, 200)
    store = log._dev.store
    store[3][200] ^= 0x04  # the second data sector, sealed
    log = reboot(log)
    first, last, count = _held(log)
    assert (first, last) == (1, 200) and 0 < 200 - count < 80 and log.damaged == 200 - count
    runs = gone = 0
    was = False
    for s in range(1, 201):  # read() agrees: the lost seqs are one run
        lost = log.read(s) is None
        gone += lost
        runs += lost and not was
        was = lost
    assert gone == 200 - count and runs == 1


def test_damage_in_the_newest_sector_closes_it_and_skips_ahead():
    log = ram_log()
    fill(log, 60)
    head = log._head
    store = log._dev.store
    store[head][40] ^= 0x01
    log = reboot(log)
    assert log.last_seq > 60  # seqs that might have been there are never given again
    first_new = log.append(record(log.last_seq + 1))
    assert first_new > 60 and log._head != head
    first, last, count = _held(log)
    assert first == 1 and last == first_new and count < 60 and log.damaged > 0


def test_torn_tail_of_the_newest_sector_is_never_reused():
    log = ram_log()
    fill(log, 30)
    head, end = log._head, log._woff
    log._dev.store[head][end + 5] = 0x00  # a payload byte of an append that never committed
    log = reboot(log)
    assert log.last_seq == 30
    fill(log, 10)
    assert log._head != head
    assert _held(log) == (1, 40, 40) and log.damaged == 0


def test_a_damaged_sector_header_in_the_middle():
    log = ram_log()
    fill(log, 250)
    mid = log._after(log._old)
    log._dev.store[mid][9] ^= 0x80  # the header's block count
    log = reboot(log)
    first, last, count = _held(log)
    assert (first, last) == (log.first_seq, 250)
    assert 0 < log.damaged == 250 - first + 1 - count


def test_both_state_blocks_lost_degrades_to_no_cursor():
    log = ram_log()
    fill(log, 100)
    log.ack(90)
    for blk in (0, 1):
        for i in range(len(log._dev.store[blk])):
            log._dev.store[blk][i] = 0x00
    log = reboot(log)
    assert log.acked == 0 and log.last_seq == 100
    assert _held(log) == (log.first_seq, 100, 101 - log.first_seq)
    log.ack(95)  # the state blocks are erased and used again
    assert reboot(log).acked == 95
