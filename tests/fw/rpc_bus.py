"""For the RS485 slave tests: a UART and a DE pin on a fake bus, and a stand-in dispatcher.

The UART decodes what the node writes as a bus master would, keeping each frame's address and
payload, and the level of the DE pin at every write and every drain poll. ``StubRpc`` records
how each request was handed over and answers with ``parts`` payloads of ``size`` bytes, so the
slave's link behaviour is tested apart from the protocol (which test_rpc_* cover).
"""
from cemt import frame


class Pin:
    def __init__(self):
        self.level = None
        self.changes = []

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        self.changes.append(v)


class UART:
    """``rx`` is what the bus brings; ``frames`` what the node sent, ``levels`` DE at each write."""

    def __init__(self, de, busy_polls=2):
        self.de = de
        self.rx = bytearray()
        self.frames = []
        self.levels = []
        self.busy_polls = busy_polls
        self.drain_levels = []
        self._busy = 0
        self._dec = frame.Decoder(lambda a, p: self.frames.append((a, bytes(p))), None)

    def any(self):
        return len(self.rx)

    def readinto(self, buf, n):
        n = min(n, len(self.rx), len(buf))
        buf[:n] = self.rx[:n]
        self.rx[:n] = b""
        return n

    def write(self, data):
        self.levels.append(self.de.level)
        self._dec.feed(data)
        self._busy = self.busy_polls
        return len(data)

    def txdone(self):
        self.drain_levels.append(self.de.level)
        if self._busy:
            self._busy -= 1
            return False
        return True


class StubRpc:
    def __init__(self, parts=1, size=8):
        self.links = {}
        self.calls = []  # (request payload, remote, addr)
        self.parts = parts
        self.size = size
        self.done = 0    # generators run to their end

    def handle(self, payload, remote=False, addr=0):
        self.calls.append((bytes(payload), remote, addr))
        return self._answer(bytes(payload))

    def _answer(self, req):
        for i in range(self.parts):
            yield (req + b"#%d:" % i + b"x" * self.size)[:max(self.size, 1)]
        self.done += 1
