"""Ring log: append/read/iterate, recovery after reboots, wrap with exact drop counting, the cursor."""
import gc

# Compile the firmware leaf first with a collection after each module: on a 64K heap the
# garbage of one compile otherwise fragments the memory the next one needs.
for _m in ("cemt.schema", "cemt.packdelta", "cemt.pack", "cemt.ringarea", "cemt.ringwalk",
           "cemt.ringsect", "cemt.ringlog", "cemt.board.norflash"):
    __import__(_m)
    gc.collect()

from ringlog_util import (NorFlash, RingLog, expect_all, fill, ram_log, reboot,  # noqa: E402
                          record, remove, scratch)


def test_empty_log():
    log = ram_log()
    assert (log.first_seq, log.last_seq, log.acked, log.dropped) == (1, 0, 0, 0)
    assert log.read(1) is None and list(log.iter_from(0)) == []
    assert reboot(log).last_seq == 0


def test_append_read_iterate_across_sectors_and_reboots():
    log = ram_log()
    for seq in range(1, 121):
        assert log.append(record(seq)) == seq  # the record's own seq is ignored
    for _ in range(3):
        log = reboot(log)
        assert (log.first_seq, log.last_seq) == (1, 120 + _ * 10)
        expect_all(log)
        assert log.read(57) == record(57) and log.read(121 + _ * 10) is None
        fill(log, 10)  # appending after a reboot continues the newest sector's deltas
    assert log.stats()["used"] >= 3


def test_wrap_many_times_with_exact_drop_count():
    log = ram_log(6)
    acked = dropped = 0
    held = []
    for step in range(60):
        first = log.first_seq
        fill(log, 37)
        if step % 5 == 4:
            log.maintain()
        gone = log.first_seq - first
        dropped += max(0, log.first_seq - max(first, acked + 1))
        assert log.dropped == dropped
        if step % 3 == 0:
            acked = log.last_seq - 20
            log.ack(acked)
        held.append(log.last_seq - log.first_seq + 1)
        if step % 11 == 0:
            log = reboot(log)
            assert log.dropped == dropped and log.acked == acked
            expect_all(log)
    assert log.last_seq == 60 * 37 and dropped > 0 and gone >= 0
    assert min(held[10:]) >= 2 * 45  # at least two full 512-byte sectors stay readable
    s = log.stats()
    assert s["cycles"] >= 10 and s["fill_pct"] > 40 and s["dropped"] == dropped


def test_without_maintain_every_sector_holds_records():
    log = ram_log(6)
    fill(log, 400)
    assert log.stats()["used"] == 4
    log.maintain()  # erases the oldest sector ahead of need
    assert log.stats()["used"] == 3 and log.first_seq > 1
    expect_all(log)


def test_cursor_is_monotonic_durable_and_bounded():
    log = ram_log()
    fill(log, 50)
    log.ack(30)
    log.ack(10)  # never back
    assert log.acked == 30
    try:
        log.ack(51)
    except ValueError:
        pass
    else:
        raise AssertionError("acked a record not yet written")
    for seq in range(31, 51):  # many slots: both state blocks fill and alternate
        for _ in range(20):
            fill(log, 1)
            log.ack(log.last_seq - 1)
    log = reboot(log)
    assert log.acked == log.last_seq - 1 and log.stats()["cycles"] > 0
    expect_all(log)


def test_iterator_overtaken_by_the_ring_resumes_at_the_oldest():
    log = ram_log(6)
    fill(log, 100)
    it = log.iter_from(1)
    assert next(it)[1] == 1
    fill(log, 400)  # the sector the reader was in is long reused
    rec = next(it)
    start = rec[1]  # the list is reused for the next record
    assert start == log.first_seq and rec == record(start)
    for r in it:
        start += 1
        assert r[1] == start
    assert start == log.last_seq


def test_file_flash_of_4k_blocks():
    path = scratch("ringlog")
    try:
        log = RingLog(NorFlash(path, 4096, 6), 1, 5, 7)  # a region that does not start at block 0
        fill(log, 2000)
        log.ack(1900)
        log = reboot(log)
        assert log.acked == 1900 and log.last_seq == 2000 and log.first_seq > 1
        expect_all(log)
        log._dev.close()
    finally:
        remove(path)
