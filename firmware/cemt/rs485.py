"""The node as an RS485 slave: the command protocol on a half-duplex bus (docs/protocol.md).

``Slave(rpc, uart, de, addr, baud).run()`` is an asyncio task. It feeds what the UART received to
a bus-node decoder, which keeps frames for ``addr`` (1-247) and broadcast (255) and counts the
rest as foreign. A request for ``addr`` is answered after the bus turnaround delay; a broadcast
is executed and never answered, so that nodes never talk over each other.

Direction: ``de`` drives the transceiver's DE (and /RE, tied to it) pin. It is high only while
the node transmits: raised just before a response frame is written, lowered once the UART has
shifted out the last stop bit (``txdone()`` polled where the port has it, else ``flush()``;
the unix port's pty UART is done at once). Every response frame is written whole.

Turnaround: the master needs time to switch its own transceiver to receive after the last byte
of its request, so the node waits 3.5 character times (11-bit characters, as Modbus RTU counts
them; at least 1 ms) before raising DE: 5 ms at 9600 baud, 1 ms at 115200.
"""
import asyncio
from micropython import const

from cemt import frame

_CHAR_BITS = const(11)  # start, 8 data, parity (or a second stop bit), stop
_IDLE_MS = const(5)     # poll period while the bus is quiet
_BURST = const(512)     # bytes taken before letting the other tasks run
_QUEUE = const(2)       # requests waiting for their turn; more are dropped (a master waits)


def turnaround_ms(baud):
    """3.5 character times at ``baud``, rounded up to whole ms, at least 1 ms."""
    return max(1, (35 * _CHAR_BITS * 1000 + 10 * baud - 1) // (10 * baud))


class Slave:
    def __init__(self, rpc, uart, de, addr, baud=9600, name="rs485"):
        if not 1 <= addr <= frame.MAX_NODE:
            raise ValueError("RS485 address must be 1-247")
        self._rpc = rpc
        self._uart = uart
        self._de = de
        de.value(0)
        self.addr = addr
        self.turnaround = turnaround_ms(baud)
        self._dec = frame.Decoder(self._on_frame, addr)
        self._in = bytearray(64)
        self._frame = bytearray(frame.encoded_size(frame.MAX_PAYLOAD))
        self._todo = []
        self.replies = 0     # response frames sent
        self.broadcasts = 0  # broadcast requests executed
        self.dropped = 0     # requests dropped because earlier ones were still waiting
        rpc.links[name] = self

    def counters(self):
        c = self._dec.counters()
        c["replies"] = self.replies
        c["broadcasts"] = self.broadcasts
        c["dropped"] = self.dropped
        return c

    def _on_frame(self, addr, payload):
        if len(self._todo) >= _QUEUE:
            self.dropped += 1
            return
        # decoded and authenticated now: ``payload`` is only valid during this call
        self._todo.append((self._rpc.handle(payload, True, addr), addr != frame.BROADCAST))

    async def _drain(self):
        uart = self._uart
        if hasattr(uart, "txdone"):
            while not uart.txdone():
                await asyncio.sleep_ms(1)
        else:
            uart.flush()

    async def _answer(self, gen, reply):
        if not reply:
            self.broadcasts += 1
            for _ in gen:
                await asyncio.sleep_ms(0)
            return
        await asyncio.sleep_ms(self.turnaround)
        buf = self._frame
        de = self._de
        for payload in gen:
            n = frame.encode_into(buf, self.addr, payload)
            de.value(1)
            try:
                self._uart.write(memoryview(buf)[:n])
                await self._drain()
            finally:
                de.value(0)
            self.replies += 1

    async def run(self):
        uart = self._uart
        buf = self._in
        dec = self._dec
        while True:
            got = 0
            while got < _BURST:
                n = uart.any()  # a count on the boards, 0 or 1 on the unix port
                if not n:
                    break
                n = uart.readinto(buf, min(n, len(buf)))
                if not n:
                    break
                got += n
                dec.feed(memoryview(buf)[:n])
            while self._todo:
                gen, reply = self._todo.pop(0)
                await self._answer(gen, reply)
            await asyncio.sleep_ms(0 if got else _IDLE_MS)
