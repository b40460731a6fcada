"""The command protocol on the USB serial port, beside the REPL (docs/framing.md, "USB").

``Console(rpc).run()`` is an asyncio task that owns stdin while the app runs: it disarms the
interrupt character (``micropython.kbd_intr(-1)``) so that 0x03 inside a frame is data, takes
stdin one byte at a time whenever ``select.poll`` says one is waiting (so whatever follows a
break stays in the port's buffer for the REPL), and feeds a point-to-point decoder whose break
byte is Ctrl-C. Good frames go to ``rpc.handle``; each response payload goes out as one frame in
one ``write`` call. A Ctrl-C outside a frame re-arms the interrupt character and raises
KeyboardInterrupt, which ends ``asyncio.run``: the app stops and ``mpremote`` gets the REPL. A run
cut off for 100 ms is abandoned, so a half-sent frame never swallows a later Ctrl-C.

On the unix port stdin may be a terminal in line mode; the console then puts it in raw mode while
it runs, and restores it. (That discards input already waiting, so a simulator that writes
early should hand over a raw terminal, which is left alone.) The boards' USB ports are raw
already. End of input (a closed pipe) ends the task.
"""
import select
import sys
import time

import asyncio
import micropython
from micropython import const

from cemt import frame

_BRK = const(0x03)     # Ctrl-C
_GAP_MS = const(100)   # a frame arrives in one USB burst: a longer silence ends the run
_IDLE_MS = const(10)   # poll period while nothing is waiting
_BURST = const(256)    # bytes taken before letting the other tasks run


_LINE_MODE = const(0o13)  # Linux lflag ISIG | ICANON | ECHO: the terminal is not raw


def _raw(stream):
    """Put a terminal in raw mode; return what restores it, or None (nothing to restore)."""
    try:
        import termios
        fd = stream.fileno()
        old = termios.tcgetattr(fd)
    except (ImportError, AttributeError, OSError):
        return None  # a board, a pipe or a file
    if not old[3] & _LINE_MODE:
        return None
    termios.setraw(fd)
    return fd, old


class Console:
    def __init__(self, rpc, inp=None, out=None, name="usb"):
        self._rpc = rpc
        self._in = inp if inp is not None else sys.stdin.buffer
        self._out = out if out is not None else sys.stdout.buffer
        self._dec = frame.Decoder(self._on_frame, 0, _BRK)
        self._frame = bytearray(frame.encoded_size(frame.MAX_PAYLOAD))
        self._one = bytearray(1)
        self._todo = None
        rpc.links[name] = self._dec  # its counters() go into ``stats``

    def _on_frame(self, addr, payload):
        self._todo = self._rpc.handle(payload, False, addr)

    async def _reply(self):
        gen = self._todo
        self._todo = None
        buf = self._frame
        for payload in gen:
            n = frame.encode_into(buf, 0, payload)
            self._out.write(memoryview(buf)[:n])
            await asyncio.sleep_ms(0)

    async def run(self):
        inp = self._in
        one = self._one
        dec = self._dec
        poll = select.poll()
        poll.register(inp, select.POLLIN)
        tty = _raw(inp)
        micropython.kbd_intr(-1)
        try:
            last = time.ticks_ms()
            pending = False  # bytes came since the decoder was last reset
            while True:
                n = 0
                while n < _BURST and poll.poll(0):
                    if not inp.readinto(one):
                        return  # end of input
                    n += 1
                    if dec.feed(one[0]) is not None:
                        raise KeyboardInterrupt
                    if self._todo is not None:
                        await self._reply()
                now = time.ticks_ms()
                if n:
                    last = now
                    pending = True
                elif pending and time.ticks_diff(now, last) > _GAP_MS:
                    dec.reset()
                    pending = False
                await asyncio.sleep_ms(0 if n else _IDLE_MS)
        finally:
            micropython.kbd_intr(_BRK)
            if tty:
                import termios
                termios.tcsetattr(tty[0], termios.TCSANOW, tty[1])
