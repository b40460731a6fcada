"""Clocks: UTC seconds in the Unix epoch, a time-quality mark, and monotonic milliseconds.

Records carry UTC seconds since 1970-01-01 whatever the port's own epoch. ``quality`` says where
the time came from, so records taken before a sync can be re-timed on the host.
"""
import time

# Time-quality marks carried by every record (docs/records.md).
TQ_UNSYNCED = 0  # free-running RTC since boot, never set
TQ_HOST = 1      # set by the host over the command link
TQ_NETWORK = 2   # set from the cellular network clock

# Seconds between 1970-01-01 and 2000-01-01, the epoch of many bare-metal ports.
EPOCH_2000 = 946684800


class Clock:
    """Real time of the port: ``time.time()`` shifted to the Unix epoch, plus a settable offset."""

    def __init__(self, port_epoch=0):
        self._epoch = port_epoch
        self._offset = 0
        self.quality = TQ_UNSYNCED

    def now(self):
        return int(time.time()) + self._epoch + self._offset

    def set(self, unix_s, quality):
        self._offset += unix_s - self.now()
        self.quality = quality

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    async def asleep_ms(self, ms):
        import asyncio
        await asyncio.sleep_ms(ms)


class VirtualClock:
    """A clock that runs on simulated time.

    With ``speed=None`` time stands still until ``advance`` or a sleep moves it: a simulated day
    costs only the work done in it. With ``speed=N`` simulated time follows the real monotonic
    clock N times faster.
    """

    def __init__(self, start, speed=None):
        self._t_ms = start * 1000
        self._speed = speed
        self._real0 = time.ticks_ms()
        self.quality = TQ_UNSYNCED

    def _sync(self):
        if self._speed:
            real = time.ticks_ms()
            self._t_ms += time.ticks_diff(real, self._real0) * self._speed
            self._real0 = real

    def now(self):
        self._sync()
        return self._t_ms // 1000

    def ticks_ms(self):
        self._sync()
        return self._t_ms

    def ticks_diff(self, a, b):
        return a - b

    def set(self, unix_s, quality):
        self._sync()
        self._t_ms = unix_s * 1000 + self._t_ms % 1000
        self.quality = quality

    def advance(self, ms):
        self._t_ms += ms

    def sleep_ms(self, ms):
        if self._speed:
            time.sleep_ms(ms // self._speed)
            self._sync()
        else:
            self._t_ms += ms

    async def asleep_ms(self, ms):
        import asyncio
        if self._speed:
            await asyncio.sleep_ms(ms // self._speed)
            self._sync()
        else:
            self._t_ms += ms
            await asyncio.sleep_ms(0)
