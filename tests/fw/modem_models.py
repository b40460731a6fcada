"""Scripted modem models for the modem driver's firmware tests.

``ScriptUART`` is a ``machine.UART``-like object that checks every byte the driver writes
against a script and answers with byte-exact replies, delivered in the chunks given (each chunk
is one ``readinto``), optionally after a real-time delay (an int in the reply list, in ms).
"""
import time


class ScriptUART:
    def __init__(self, script=()):
        self.steps = list(script)
        self.written = 0  # bytes the driver wrote
        self._w = bytearray()
        self._rx = []  # [due_ms, bytes, offset]
        self._advance()

    def feed(self, *chunks):
        """Queue bytes as if the modem sent them now (URCs, noise)."""
        self._queue(chunks)

    def _queue(self, reply):
        if reply is None:
            return
        if isinstance(reply, bytes):
            reply = (reply,)
        due = time.ticks_ms()
        for part in reply:
            if isinstance(part, int):
                due = time.ticks_add(due, part)
            else:
                self._rx.append([due, part, 0])

    def _advance(self):
        while self.steps:
            expect, reply = self.steps[0]
            if expect is not None:
                w = self._w
                n = len(expect)
                for i in range(min(len(w), n)):  # compare in place: payloads can be large
                    if w[i] != expect[i]:
                        raise AssertionError("driver wrote %r, script expects %r"
                                             % (bytes(w), bytes(expect)))
                if len(w) < n:
                    return
                self._w = w[n:]
            self.steps.pop(0)
            self._queue(reply)

    def write(self, data):
        self.written += len(data)
        self._w += data
        self._advance()
        return len(data)

    def _ready(self):
        return self._rx and time.ticks_diff(time.ticks_ms(), self._rx[0][0]) >= 0

    def any(self):
        return len(self._rx[0][1]) - self._rx[0][2] if self._ready() else 0

    def readinto(self, buf, nbytes=None):
        if not self._ready():
            return None
        head = self._rx[0]
        chunk, off = head[1], head[2]
        k = min(len(buf) if nbytes is None else nbytes, len(chunk) - off)
        buf[:k] = memoryview(chunk)[off:off + k]
        head[2] = off + k
        if head[2] == len(chunk):
            self._rx.pop(0)
        return k

    def done(self):
        return not self.steps and not self._w


def ok(cmd, *lines):
    """A script step: ``cmd`` answered by info ``lines`` then OK, as a V1 modem with echo off."""
    out = b""
    for line in lines:
        out += b"\r\n" + line + b"\r\n"
    return (cmd + b"\r", out + b"\r\nOK\r\n")


def run(coro):
    import asyncio
    return asyncio.run(coro)

