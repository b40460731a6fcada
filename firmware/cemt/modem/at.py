"""The AT engine: one command at a time over a UART, typed results, URCs dispatched.

A command ends in a final result: ``OK`` (or a command's own success word such as ``SEND OK``),
``ERROR``/``SEND FAIL``, ``+CME ERROR: n`` or ``+CMS ERROR: n``. Lines before it that start with
the command's ``expect`` prefix are its information lines (``self.info``). Any other line that
starts with a registered URC prefix goes to that URC's handler, at any time, also in the middle of
a response. Echoed commands are skipped, so a modem that rebooted with echo on still parses.

A line holding control or non-ASCII bytes is garbled: the command's result becomes GARBLED
(after a short settle wait instead of its full timeout), never an exception. Bytes are parsed
from a preallocated chunk into a preallocated line buffer; only complete lines become objects.

The UART is polled (``any`` + ``readinto``) with ``asyncio.sleep_ms`` in between, so a long
command timeout never blocks other tasks; timeouts count real milliseconds (``time.ticks_ms``).
"""
import asyncio
import time

from micropython import const

# Results of a command.
OK = const(0)
ERROR = const(1)
CME = const(2)
CMS = const(3)
TIMEOUT = const(4)
GARBLED = const(5)
UNEXPECTED = const(6)
# Outcomes the adapters add on top: the modem answered but the operation did not succeed
# (+CIPOPEN error, SEND FAIL, SIM not ready, not registered), or the link is gone.
FAILED = const(7)
CLOSED = const(8)

_NONE = const(0)
_LINE = const(1)
_PROMPT = const(2)
_RAW = const(3)

GARBLE_SETTLE_MS = const(200)


class AT:
    def __init__(self, uart, line_max=256, chunk=64, poll_ms=5):
        self._u = uart
        self._line = bytearray(line_max)
        self._lmv = memoryview(self._line)
        self._n = 0
        self._bad = False
        self._rx = bytearray(chunk)
        self._rxmv = memoryview(self._rx)
        self._rxi = 0
        self._rxn = 0
        self._raw = None
        self._raw_off = 0
        self._raw_left = 0
        self._urcs = []
        self.poll_ms = poll_ms
        self.info = []    # information lines of the last command
        self.err = 0      # the number of the last +CME/+CMS ERROR
        self.raw_len = 0  # bytes of binary data the last command read (see ``cmd(raw=...)``)
        self.stray = 0    # garbled or unknown lines seen while no command was waiting

    def urc(self, prefix, handler):
        """Call ``handler(line)`` for each unsolicited line starting with ``prefix``."""
        self._urcs.append((prefix, handler))

    def _pull(self):
        if self._rxi < self._rxn:
            return True
        avail = self._u.any()
        if not avail:
            return False
        got = self._u.readinto(self._rx, min(avail, len(self._rx)))
        if not got:
            return False
        self._rxi = 0
        self._rxn = got
        return True

    def _scan(self, prompt):
        """Consume buffered bytes until a line, prompt or raw block completes."""
        rx = self._rx
        while self._rxi < self._rxn:
            if self._raw_left:
                k = min(self._raw_left, self._rxn - self._rxi)
                self._raw[self._raw_off:self._raw_off + k] = self._rxmv[self._rxi:self._rxi + k]
                self._rxi += k
                self._raw_off += k
                self._raw_left -= k
                if not self._raw_left:
                    return _RAW
                continue
            b = rx[self._rxi]
            self._rxi += 1
            if b == 10:
                if self._n or self._bad:
                    return _LINE
            elif b == 13:
                pass
            elif prompt and b == 62 and self._n == 0 and not self._bad:  # '>' opens a data send
                return _PROMPT
            elif self._n < len(self._line):
                if b < 32 or b > 126:
                    self._bad = True
                self._line[self._n] = b
                self._n += 1
            else:
                self._bad = True  # overlong: keep the tail out, mark the line
        return _NONE

    def _take(self):
        """The completed line as bytes (None if garbled); resets the line buffer."""
        line = None if self._bad else bytes(self._lmv[:self._n]).strip()
        self._n = 0
        self._bad = False
        return line

    def _dispatch(self, line):
        for prefix, handler in self._urcs:
            if line.startswith(prefix):
                handler(line)
                return True
        return False

    def flush(self):
        """Drop every byte waiting and any partial line (after a reset or power-up)."""
        while self._pull():
            self._rxi = self._rxn
        self._n = 0
        self._bad = False
        self._raw_left = 0

    def pump(self):
        """Handle the lines already received (URCs) without waiting; a garbled partial line is dropped."""
        while self._pull():
            ev = self._scan(False)
            if ev == _LINE:
                line = self._take()
                if not line or not self._dispatch(line):
                    self.stray += 1
        if self._bad:
            self._n = 0
            self._bad = False
            self.stray += 1

    async def _idle(self):
        await asyncio.sleep_ms(self.poll_ms)

    async def wait(self, timeout, done=None, want=None):
        """Handle URCs until ``done()`` is true or a line starting with ``want`` arrives (kept as
        ``self.info``; also found there if the last command already got it): OK, else TIMEOUT."""
        if want is not None:
            for line in self.info:
                if line.startswith(want):
                    self.info = [line]
                    return OK
        t0 = time.ticks_ms()
        while done is None or not done():
            if time.ticks_diff(time.ticks_ms(), t0) >= timeout:
                return TIMEOUT
            if not self._pull():
                await self._idle()
                continue
            if self._scan(False) == _LINE:
                line = self._take()
                if line and want is not None and line.startswith(want):
                    self.info = [line]
                    return OK
                if not line or not self._dispatch(line):
                    self.stray += 1
        return OK

    async def cmd(self, command, timeout=1000, expect=None, data=None, raw=None, into=None,
                  ok=b"OK"):
        """Send ``command`` (bytes, no CR) and wait for its final result.

        ``expect``: prefix of the information lines (kept in ``self.info``); without it every
        line that is not a URC counts as information. ``data``: bytes written after the ``>``
        prompt (binary-safe, length given in the command). ``raw(line)``: for an information
        line, the number of binary bytes that follow it, read into ``into``. ``ok``: the
        command's success word.
        """
        self.pump()
        self.info = []
        self.err = 0
        self.raw_len = 0
        self._raw = into
        self._raw_off = 0
        self._raw_left = 0
        u = self._u
        u.write(command)
        u.write(b"\r")
        garbled = False
        t0 = time.ticks_ms()
        limit = timeout
        prompt = data is not None
        while True:
            if time.ticks_diff(time.ticks_ms(), t0) >= limit:
                return GARBLED if garbled else TIMEOUT
            if not self._pull():
                await self._idle()
                continue
            ev = self._scan(prompt)
            if ev == _PROMPT:
                prompt = False
                u.write(data)
                continue
            if ev == _RAW:
                self.raw_len = self._raw_off
                continue
            if ev != _LINE:
                continue
            line = self._take()
            if line is None:
                garbled = True
                limit = min(limit, time.ticks_diff(time.ticks_ms(), t0) + GARBLE_SETTLE_MS)
                continue
            if not line or line.startswith(b"AT") or line.startswith(b"at"):
                continue  # blank, or the echo of a command
            res = self._final(line, ok)
            if res >= 0:
                if garbled:
                    return GARBLED
                if res == OK and expect is not None and not self.info:
                    return UNEXPECTED
                return res
            if expect is not None and line.startswith(expect):
                self.info.append(line)
                if raw is not None:
                    n = raw(line)
                    if n is None or into is None or n > len(into):
                        garbled = True
                    elif n:
                        self._raw_left = n
            elif not self._dispatch(line):
                if expect is None:
                    self.info.append(line)
                else:
                    self.stray += 1

    def _final(self, line, ok):
        if line == ok:
            return OK
        if line == b"ERROR" or line == b"SEND FAIL":
            return ERROR
        if line.startswith(b"+CME ERROR:") or line.startswith(b"+CMS ERROR:"):
            try:
                self.err = int(line[11:])
            except ValueError:
                self.err = -1  # a verbose (text) error report
            return CME if line[3] == 69 else CMS  # 'E' of +CME
        return -1
