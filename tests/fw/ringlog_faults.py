"""Random power cuts against the ring log, checked against a model after every reboot.

``run(cuts, seed, store, blocks, block_size)`` arms a cut at a random byte of the programming and
erasing to come, drives appends, acks and maintenance until the power fails, reboots (a new
``NorFlash`` and ``RingLog`` over the same store) and checks: every record whose append returned
is still there and intact (or was counted out as dropped), nothing else is returned, seqs are
consecutive, the cursor never moves back, the drop count is exact. Returns a dict of counts.
"""
import random

from cemt.board.norflash import NorFlash, PowerCut
from cemt.ringlog import RingLog
from ringlog_util import record


def _unacked(lo, hi, acked):
    """Seqs in [lo, hi) above ``acked``."""
    return max(0, hi - max(lo, acked + 1))


class Model:
    def __init__(self):
        self.last = 0      # highest seq whose append returned
        self.acked = 0     # highest ack that returned
        self.first = 1
        self.dropped = 0

    def after(self, log, acked_before):
        """Account for the records the log let go during an operation (or its cut)."""
        assert log.first_seq >= self.first, "first seq went back"
        self.dropped += _unacked(self.first, log.first_seq, acked_before)
        self.first = log.first_seq
        assert log.dropped == self.dropped, "dropped %d, expected %d" % (log.dropped, self.dropped)


def check(log, m, full):
    """Recovery checks after a reboot (all records when ``full``, else the newest few)."""
    assert m.first <= log.first_seq <= log.last_seq + 1
    assert log.last_seq == m.last, "last seq %d, expected %d" % (log.last_seq, m.last)
    assert log.acked >= m.acked
    start = log.first_seq if full else max(log.first_seq, log.last_seq - 3)
    seq = start
    for rec in log.iter_from(start):
        assert rec[1] == seq, "seq %d where %d was due" % (rec[1], seq)
        assert rec == record(seq), "record %d altered" % seq
        seq += 1
    assert seq == log.last_seq + 1, "records %d..%d missing" % (seq, log.last_seq)
    assert log.damaged == 0


def run(cuts, seed, store, blocks, block_size, full_every=8, span=1500):
    random.seed(seed)
    rnd = random
    m = Model()
    kinds = {"append": 0, "ack": 0, "maintain": 0}
    erases = None
    log = RingLog(NorFlash(store, block_size, blocks), 0, blocks, 1)
    up = True  # the uplink comes and goes for stretches of episodes; while down, records drop
    for episode in range(cuts):
        if rnd.randrange(20) == 0:
            up = not up
        dev = log._dev
        dev.cut_after(rnd.randrange(span))
        op = None
        try:
            while True:
                r = rnd.randrange(100)
                before = log.acked
                if r < 88:
                    op = "append"
                    seq = log.append(record(m.last + 1))
                    assert seq == m.last + 1
                    m.last = seq
                elif r < 98 and up:
                    op = "ack"
                    target = rnd.randrange(log.acked, log.last_seq + 1)
                    pending = target
                    log.ack(target)
                    m.acked = max(m.acked, target)
                elif r >= 98:
                    op = "maintain"
                    log.maintain()
                m.after(log, before)
        except PowerCut:
            kinds[op] += 1
        erases = dev.erases
        dev.close()
        op_ack = log.acked  # the RAM copy from before the reboot: what the model had seen
        try:
            log = RingLog(NorFlash(store, block_size, blocks, erases), 0, blocks, 1)
        except PowerCut:
            raise AssertionError("boot touched a dead flash")
        if log.last_seq == m.last + 1 and op == "append":
            m.last += 1  # the append in flight was complete when the power failed
        if op == "ack":
            assert log.acked in (op_ack, max(op_ack, pending)), "cursor %d after a cut" % log.acked
        m.after(log, before)
        check(log, m, episode % full_every == 0)
        m.acked = log.acked
    kinds["records"] = m.last
    kinds["dropped"] = m.dropped
    kinds["erases"] = sum(erases)
    return kinds
