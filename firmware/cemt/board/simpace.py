"""The sim board's clock at a real pace (``cemtool sim board``; unix port only).

``PacedClock(bus, quality, speed)`` is ``simbus.SimClock`` whose simulated time also follows the
real clock ``speed`` times faster, and whose sleeps wait the real time they stand for, so the
world advances at that pace and the USB console stays responsive while the app sleeps. The
TIME barrier is sent whenever simulated time enters a new second, as by ``SimClock``. Kept apart
so that ``cemtool sim run``, whose time moves only by sleeps, loads none of it.
"""
import time

from cemt.board.simbus import SimClock


class PacedClock(SimClock):
    def __init__(self, bus, quality, speed):
        super().__init__(bus, quality)
        self._speed = speed
        self._vt = self._t_ms  # the simulated time the real clock has run to
        self._real = time.ticks_ms()

    def _follow(self):
        now = time.ticks_ms()
        # rebased at every call, so the port's ticks wrapping around never matters
        self._vt += time.ticks_diff(now, self._real) * self._speed
        self._real = now
        self.advance(self._vt - self._t_ms)

    def now(self):
        self._follow()
        return super().now()

    def ticks_ms(self):
        self._follow()
        return self._t_ms

    def set(self, unix_s, quality):
        self._follow()
        super().set(unix_s, quality)

    def _real_ms(self, target):
        # real milliseconds until the real clock's simulated time reaches ``target``
        self._follow()
        return max(0, (target - self._vt + self._speed - 1) // self._speed)

    def sleep_ms(self, ms):
        target = self.ticks_ms() + ms
        time.sleep_ms(self._real_ms(target))
        self._follow()
        self.advance(target - self._t_ms)

    async def asleep_ms(self, ms):
        import asyncio
        target = self.ticks_ms() + ms
        await asyncio.sleep_ms(self._real_ms(target))
        self._follow()
        self.advance(target - self._t_ms)
