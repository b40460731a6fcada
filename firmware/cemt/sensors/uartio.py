"""Request and reply over a UART: drop stale input, send, then gather the reply with bounded waits.

A UART read waits at most the port's timeout for its first byte and returns what has arrived, so a
reply may come in pieces. ``recv`` keeps reading until the reply is complete (or its line ends),
a read brings nothing, ``timeout_ms`` has passed on the driver's clock since the request, or
``_ROUNDS`` reads were made, whichever comes first: a silent or babbling device costs at most
that, never a hang.
"""
from micropython import const

_ROUNDS = const(8)
_FLUSH_ROUNDS = const(64)


class Link:
    """One serial device: its UART, a preallocated reply buffer and the reply deadline."""

    def __init__(self, uart, clock, timeout_ms, size):
        self.uart = uart
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.buf = bytearray(size)
        self._mv = memoryview(self.buf)
        self._t = 0
        self.stale = 0  # bytes found waiting before a request and thrown away

    def request(self, data):
        uart = self.uart
        buf = self.buf
        # machine.UART.any() counts the bytes waiting (the unix port says only 0 or 1), so ask
        # for no more than that: reading a full buffer would wait out the timeout.
        for _ in range(_FLUSH_ROUNDS):
            n = uart.any()
            if not n:
                break
            n = uart.readinto(buf, min(n, len(buf)))
            if n:
                self.stale += n
        uart.write(data)
        self._t = self.clock.ticks_ms()

    def recv(self, got, need, line=False):
        """Read until ``buf`` holds ``need`` bytes (or, with ``line``, a line feed).

        Returns how many bytes of the reply ``buf`` holds: up to and including the line feed for a
        line, else ``need``, or fewer when the device fell silent.
        """
        uart = self.uart
        buf = self.buf
        clock = self.clock
        for _ in range(_ROUNDS):
            if got >= need or clock.ticks_diff(clock.ticks_ms(), self._t) > self.timeout_ms:
                break
            n = uart.readinto(self._mv[got:need] if got else buf, need - got)
            if not n:
                break
            if line:
                at = buf.find(b"\n", got, got + n)
                if at >= 0:
                    return at + 1
            got += n
        return got
