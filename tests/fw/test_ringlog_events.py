"""The hour/day/event log: period deltas and CBOR events share a log and survive reboots."""
import gc

for _m in ("cemt.schema", "cemt.cbor", "cemt.records", "cemt.packdelta", "cemt.pack",
           "cemt.ringarea", "cemt.ringwalk", "cemt.ringsect", "cemt.ringlog"):
    __import__(_m)  # leaf first, collecting between compiles (64K heap)
    gc.collect()

from cemt import records  # noqa: E402
from cemt.ringlog import RingLog  # noqa: E402

T0 = 1767225600


class Ram:
    """A plain block device in RAM (the NOR rules are tested with the simulator elsewhere)."""

    def __init__(self, blocks, size):
        self.b = [bytearray(b"\xff" * size) for _ in range(blocks)]

    def readblocks(self, n, buf, off=0):
        buf[:] = self.b[n][off:off + len(buf)]

    def writeblocks(self, n, buf, off=0):
        self.b[n][off:off + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 6:
            self.b[arg][:] = b"\xff" * len(self.b[arg])
        return len(self.b) if op == 4 else len(self.b[0]) if op == 5 else 0


def _period(k):
    """Record k: per day a boot, 24 hours each followed by a health event, then the day."""
    day, j = divmod(k, 50)
    t = T0 + 86400 * day
    if j == 0:
        return records.boot(t, 2, 3, day + 1, 1, 0, "cemt 0.1.0")
    if j % 2 == 0 and j < 49:
        return records.health(t + 1800 * j, 2, 3, day + 1, 1800 * j, 20000, 50, 0, k, 18,
                              0, 0, 0, 0, 0)
    w = k * 7919 % 61
    v = [1200 + w % 17, 1100 + w % 13, 1300 + w % 11, 1500 + w % 23, 1350 + w, 1650 - w,
         1500 + w % 5, 1480, 1520 + w % 3, -150 + w % 7, 101000 + w, 800 + w % 9,
         64000 + 5 * w, 63000 + w, 65000 - w, 1500000 + 100 * w]
    if j == 49:
        return [3, 0, t, 2, 3, 0, 24, 24 - (day == 1)] + v
    return [2, 0, t + 1800 * (j - 1), 2, 3, w % 3 == 0 and 2 or 0, 60, 60 - w % 20] + v


def test_events_and_periods_round_trip_through_reboots():
    dev = Ram(8, 512)
    log = RingLog(dev, 0, 8, 2)
    for k in range(150):
        assert log.append(_period(k)) == k + 1
        if k % 40 == 39:
            log = RingLog(dev, 0, 8, 2)
    log = RingLog(dev, 0, 8, 2)
    seq = log.first_seq
    assert seq > 1  # the ring wrapped
    for rec in log.iter_from(seq):
        want = _period(rec[1] - 1)
        want[1] = rec[1]
        assert rec == want, (rec, want)
        seq += 1
    assert seq == 151
