"""A device delivering its ring logs through cemt.uplink to a real receiver (host uplink tests).

    micropython uplink_device.py IMAGE HOST PORT DEVICE KEYHEX MINUTES EVENTS [FAULT]

Opens the two ring logs on the NOR flash image IMAGE (kept across runs, like a board's flash),
appends MINUTES minute records and EVENTS boot events, runs the uplink over a TCP socket until
every record is acknowledged, and prints one line ``STATS {json}``. FAULT injects one failure
into the transport, counting its sends from 1 across sessions (the hello of the first session is
send 1, its first batch send 2):

    cut:K:B   send only the first B bytes of send K, then drop the link (a cut mid-batch)
    noack:K   drop the link right after send K, before any reply is read
    hang:K    after send K, print HUNG and block the whole process (the test kills it)
    errors:N  no fault, but give up after N failed sessions (a device the receiver refuses)
    pause:K   after send K, print PAUSED, block until a line comes on stdin, then drop the
              link with any reply unread (the test restarts the receiver meanwhile)
"""
import asyncio
import json
import sys
import time

from cemt.board.clock import Clock
from cemt.board.norflash import NorFlash
from cemt.ringlog import RingLog
from cemt.uplink import IDLE, Uplink
from uplink_tcp import SocketLink

BLOCK = 1024
LOG_BLOCKS = 24
T0 = 1767225600


def minute(i):
    """A plausible minute record, a pure function of i (the host test builds the same)."""
    co2 = 1200 + i % 97
    return [1, 0, T0 + 60 * i, 2, 3, 0, 60, 60 - i % 3, co2, co2 - 40, co2 + 35, 1500 + i % 13,
            1805, -150, 52000 + i % 500, 19000 + i % 1000]


def boot(i):
    return [16, 0, T0 + 3600 * i, 2, 3, i, 1, 0, "cemt-test %d" % i]


class FaultyLink(SocketLink):
    def __init__(self, fault):
        SocketLink.__init__(self)
        self.sends = 0
        f = fault.split(":") if fault else [""]
        self.kind = f[0]
        self.at = int(f[1]) if len(f) > 1 else 0
        self.keep = int(f[2]) if len(f) > 2 else 0

    async def send(self, data):
        self.sends += 1
        if self.sends != self.at:
            return await SocketLink.send(self, data)
        if self.kind == "cut":
            await SocketLink.send(self, bytes(data[:self.keep]))
            await self.close()
            return False
        ok = await SocketLink.send(self, data)
        if self.kind == "noack":
            await self.close()
        elif self.kind == "hang":
            print("HUNG")
            while True:
                time.sleep(1)  # blocks the event loop: the ack is never read
        elif self.kind == "pause":
            print("PAUSED")
            sys.stdin.readline()
            await self.close()
        return ok


async def deliver(up, deadline_ms, max_errors):
    task = asyncio.create_task(up.run())
    t0 = time.ticks_ms()
    while up.backlog() or up.state != IDLE:
        if time.ticks_diff(time.ticks_ms(), t0) > deadline_ms or up.errors >= max_errors:
            break
        await asyncio.sleep_ms(10)
    task.cancel()
    await asyncio.sleep_ms(0)


def main(argv):
    image, host, port, device, keyhex, minutes, events = argv[:7]
    fault = argv[7] if len(argv) > 7 else ""
    dev = NorFlash(image, BLOCK, 2 * LOG_BLOCKS)
    logs = (RingLog(dev, 0, LOG_BLOCKS, 0), RingLog(dev, LOG_BLOCKS, LOG_BLOCKS, 1))
    base = logs[0].last_seq
    for i in range(int(minutes)):
        logs[0].append(minute(base + i))
    base = logs[1].last_seq
    for i in range(int(events)):
        logs[1].append(boot(base + i))
    link = FaultyLink(fault)
    up = Uplink(link, host, int(port), device, bytes.fromhex(keyhex), logs, Clock(),
                fw="cemt-test", cfg=3, boots=1)
    up.backoff_min_ms = 50
    up.backoff_max_ms = 200
    up.poll_ms = 10
    up.idle_ms = 0
    up.reply_ms = 5000
    asyncio.run(deliver(up, 20000, link.at if link.kind == "errors" else 1000))
    import gc
    gc.collect()
    s = up.stats()
    s["acked"] = [lg.acked for lg in logs]
    s["last"] = [lg.last_seq for lg in logs]
    s["mem_free"] = gc.mem_free()
    print("STATS", json.dumps(s))


main(sys.argv[1:])
