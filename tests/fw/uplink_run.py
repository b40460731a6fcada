"""Helpers shared by the cemt.uplink firmware tests."""
import asyncio
import gc

from cemt import uplink
from cemt.board.clock import VirtualClock
from uplink_peer import KEY

T0 = 1767225600


def make(peer, logs, clock=None):
    gc.collect()
    up = uplink.Uplink(peer, "receiver", 7070, "stack-01", KEY, logs, clock or VirtualClock(T0),
                       fw="cemt 0.1.0", cfg=4, boots=2)
    up.reply_ms = 200
    up.idle_ms = 0
    return up


def run(up, until, steps=2000):
    async def go():
        task = asyncio.create_task(up.run())
        for _ in range(steps):
            if until():
                break
            await asyncio.sleep_ms(1)
        task.cancel()
        await asyncio.sleep_ms(0)
    asyncio.run(go())
    gc.collect()
