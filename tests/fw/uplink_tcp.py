"""A cemt.uplink transport over a TCP socket, for the unix port (tests/fw/uplink_device.py)."""
import asyncio


class SocketLink:
    """connect/send/recv/close over asyncio streams; recv times out in real milliseconds."""

    connect_ms = 30000

    def __init__(self):
        self._r = self._w = None

    async def connect(self, host, port):
        try:
            self._r, self._w = await asyncio.wait_for_ms(asyncio.open_connection(host, port),
                                                         self.connect_ms)
        except asyncio.TimeoutError:
            return False
        return True

    async def send(self, data):
        if self._w is None:
            return False
        self._w.write(data)
        await self._w.drain()
        return True

    async def recv(self, buf, timeout_ms):
        if self._r is None:
            return -1
        try:
            n = await asyncio.wait_for_ms(self._r.readinto(buf), timeout_ms)
        except asyncio.TimeoutError:
            return 0
        return n if n else -1

    async def close(self):
        w = self._w
        self._r = self._w = None
        if w is not None:
            w.close()
            await w.wait_closed()
