"""Random power cuts against the ring log, checked against a model after every reboot.

``run`` arms a cut at a random byte of the programming and erasing to come, drives appends, acks
(while the uplink is up) and maintenance until the power fails, reboots (new ``NorFlash`` and
``RingLog`` over the same store) and checks: every record whose append returned is there and
intact unless counted out as dropped, nothing else is returned, seqs run on without a gap, the
cursor never goes back, the drop count is exact.
"""
import gc
import random

from cemt.board.norflash import NorFlash, PowerCut
from cemt.ringlog import RingLog
from ringlog_util import record


def run(cuts, seed, store, blocks, block_size, full_every=8, span=1500):
    random.seed(seed)
    cut = {"append": 0, "ack": 0, "maintain": 0}
    last = acked = dropped = 0
    first = 1
    log = RingLog(NorFlash(store, block_size, blocks), 0, blocks, 1)
    up = True  # the uplink comes and goes for stretches; while it is down, records drop
    for episode in range(cuts):
        if random.randrange(20) == 0:
            up = not up
        log._dev.cut_after(random.randrange(span))
        try:
            while True:
                r = random.randrange(100)
                before = log.acked
                if r < 88:
                    op = "append"
                    last = log.append(record(last + 1))
                elif r < 98 and up:
                    op = "ack"
                    target = random.randrange(log.acked, log.last_seq + 1)
                    log.ack(target)
                    acked = max(acked, target)
                elif r >= 98:
                    op = "maintain"
                    log.maintain()
                dropped += max(0, log.first_seq - max(first, before + 1))
                first = log.first_seq
                assert log.dropped == dropped
        except PowerCut:
            cut[op] += 1
        dev = log._dev
        dev.close()
        log = None  # the old log's memory is free before the new one is built
        gc.collect()
        log = RingLog(NorFlash(store, block_size, blocks, dev.erases), 0, blocks, 1)
        if op == "append" and log.last_seq == last + 1:
            last += 1  # the append in flight was complete when the power failed
        if op == "ack":
            assert log.acked in (before, max(before, target)), "cursor after a cut"
        assert log.acked >= acked and log.last_seq == last, "lost or invented records"
        assert log.first_seq >= first, "first seq went back"
        dropped += max(0, log.first_seq - max(first, before + 1))
        first = log.first_seq
        assert log.dropped == dropped, "dropped %d, expected %d" % (log.dropped, dropped)
        seq = first if episode % full_every == 0 else max(first, last - 3)
        for rec in log.iter_from(seq):
            assert rec == record(seq), "record %d altered or out of order" % seq
            seq += 1
        assert seq == last + 1 and log.damaged == 0, "records %d..%d missing" % (seq, last)
        acked = log.acked
    cut["records"] = last
    cut["dropped"] = dropped
    cut["erases"] = sum(dev.erases)
    return cut
