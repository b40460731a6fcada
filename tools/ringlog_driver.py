"""MicroPython driver of the ring log for the bench and the host tests (one job per call).

    micropython -X heapsize=1300K tools/ringlog_driver.py fill IMAGE BLOCKS NOISE RECORDS [LAG]
        a minute log over BLOCKS blocks of NOR-simulator flash held in RAM (so the time is the
        log's, not the file system's): realistic minutes until the ring has wrapped, then
        RECORDS more; maintain() and an ack LAG records behind every 60. The flash is then
        written to IMAGE (and IMAGE.erases)
    micropython tools/ringlog_driver.py boot IMAGE BLOCKS
        times the boot scan of an existing image
    micropython tools/ringlog_driver.py cuts N SEED
        N random power cuts (tests/fw/ringlog_faults) on RAM flash
    micropython tools/ringlog_driver.py image IMAGE MINUTES PERIODS [MBLOCKS PBLOCKS]
        a simulator image holding two logs, as an app lays them out: minutes (log 1, the first
        MBLOCKS blocks, default 64) and hours/days/events (log 2, the next PBLOCKS, default 16)

    micropython tools/ringlog_driver.py load IMAGE BLOCKS BLOCK_SIZE < records.jsonl
        appends the records (JSON arrays, one a line) to a log over a new NOR-simulator image,
        then prints every record the log holds, one JSON array a line, read back by iter_from

Figures are printed as ``key=value`` pairs on one line.
"""
import sys
import time

from cemt.board.norflash import NorFlash
from cemt.ringlog import RingLog


def _say(**kw):
    print(" ".join("%s=%s" % kv for kv in sorted(kw.items())))


def fill(path, blocks, noise, count, lag=0):
    import struct

    import ringlog_data as D
    from cemt.board.norflash import ram

    dev = NorFlash(ram(blocks, 4096), 4096)
    log = RingLog(dev, 0, blocks, 1)
    gen = time.ticks_us()
    for i in range(count // 10):
        D.minute(i, 1, noise)
    gen = time.ticks_diff(time.ticks_us(), gen) * 10  # making the records is not the log's time
    t0 = time.ticks_us()
    i = 0
    more = count
    while more:
        log.append(D.minute(i, 1, noise))
        i += 1
        if i % 60 == 0:
            if log.last_seq > lag:
                log.ack(log.last_seq - lag)
            log.maintain()
        if log.first_seq > 1:
            more -= 1
    dt = time.ticks_diff(time.ticks_us(), t0) - gen * i // count
    with open(path, "wb") as f:
        for block in dev.store:
            f.write(block)
    with open(path + ".erases", "wb") as f:
        f.write(struct.pack("<%dI" % blocks, *dev.erases))
    _say(held=log.last_seq - log.first_seq + 1, appended=i, us=dt, dropped=log.dropped,
         data_erases=sum(dev.erases[2:]), state_erases=dev.erases[0] + dev.erases[1],
         used=log.stats()["used"])


def boot(path, blocks):
    best = None
    for _ in range(5):
        dev = NorFlash(path, 4096, blocks)
        t0 = time.ticks_us()
        log = RingLog(dev, 0, blocks, 1)
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if best is None else min(best, dt)
        dev.close()
    _say(us=best, last=log.last_seq)


def cuts(n, seed):
    import ringlog_faults
    from cemt.board.norflash import ram

    t0 = time.ticks_ms()
    got = ringlog_faults.run(n, seed, ram(8, 512), 8, 512)
    got["ms"] = time.ticks_diff(time.ticks_ms(), t0)
    _say(**got)


def image(path, minutes, periods, mblocks=64, pblocks=16):
    import ringlog_data as D
    from cemt import records

    dev = NorFlash(path, 4096, mblocks + pblocks)
    mlog = RingLog(dev, 0, mblocks, 1)
    plog = RingLog(dev, mblocks, pblocks, 2)
    for i in range(minutes):
        mlog.append(D.minute(i))
        if i % 60 == 59:
            mlog.ack(max(0, mlog.last_seq - 300))
    plog.append(records.boot(D.T0, 2, 3, 1, 1, 0, "cemt 0.1.0"))
    for h in range(periods):
        plog.append(D.hour(h))
        if h % 24 == 23:
            plog.append(D.day(h // 24))
            plog.append(records.health(D.T0 + 3600 * h, 2, 3, 1, 3600 * h, 20000, 5, 0,
                                       mlog.acked, 18, 0, 0, 0, 0, 0))
    plog.ack(plog.last_seq - 3)
    _say(minutes=mlog.last_seq, minute_first=mlog.first_seq, minute_acked=mlog.acked,
         periods=plog.last_seq, period_first=plog.first_seq, period_acked=plog.acked)
    dev.close()


def load(path, blocks, block_size):
    import json

    log = RingLog(NorFlash(path, block_size, blocks), 0, blocks, 1)
    for line in sys.stdin:
        if line.strip():
            log.append(json.loads(line))
    log.ack(log.last_seq // 2)
    for rec in log.iter_from(0):
        print(json.dumps(rec))


def main(argv):
    cmd = argv[0]
    if cmd == "fill":
        fill(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]) if len(argv) > 5 else 0)
    elif cmd == "boot":
        boot(argv[1], int(argv[2]))
    elif cmd == "cuts":
        cuts(int(argv[1]), int(argv[2]))
    elif cmd == "load":
        load(argv[1], int(argv[2]), int(argv[3]))
    elif cmd == "image":
        image(argv[1], *[int(a) for a in argv[2:]])
    else:
        raise SystemExit("unknown command " + cmd)


main(sys.argv[1:])
