"""NDIR CO2 analyser speaking the GSS ASCII protocol (ExplorIR, SprintIR, 9600 8N1).

Commands end in CR LF and every reply is a line `` <letter> <digits>\\r\\n``. ``start()`` puts
the sensor in polling mode (``K 2`` -> `` K 00002``), reads the ppm multiplier (``.`` ->
`` . 00010``), switches auto-zeroing off (``@ 0`` -> `` @ 0``) and reads the setting back
(``@`` -> `` @ 0``; `` @ 1.0 8.0`` would mean still on). ``read()`` polls ``Z`` ->
`` Z 01234``: ppm = Z x multiplier.

Config keys: max (0.001 %vol above which the reading is T), timeout_ms.
"""
from micropython import const

from cemt.schema import B, D, T
from cemt.sensors import Sensor, rdiv
from cemt.sensors.uartio import Link

_LINE = const(16)
_MAX_DIGITS = const(7)


class GssCO2(Sensor):
    NAME = "gss_co2"
    KEYS = ("max", "timeout_ms")
    WARMUP_MS = 60000

    def __init__(self, cfg, uart, clock):
        super().__init__(cfg, clock)
        self._max = cfg.get("max")
        self.link = Link(uart, clock, cfg.get("timeout_ms", 250), _LINE)
        self.multiplier = 0

    def _ask(self, cmd):
        """Send ``cmd``; the length of the reply line in ``link.buf``, or 0 (status set)."""
        link = self.link
        link.request(cmd)
        n = link.recv(0, _LINE, True)
        if n == 0:
            return self._fail(B, "timeout")
        r = link.buf
        if r[n - 1] != 10:
            return self._fail(B, "short" if n < _LINE else "garbled")
        if n < 4 or r[n - 2] != 13 or r[0] != 32 or r[2] != 32:
            return self._fail(B, "garbled")
        if r[1] != cmd[0]:
            return self._fail(B, "echo")
        return n

    def _number(self, cmd):
        """Send ``cmd`` and parse `` X ddddd``; the number, or -1 (status set)."""
        n = self._ask(cmd)
        if not n:
            return -1
        r = self.link.buf
        if not 1 <= n - 5 <= _MAX_DIGITS:
            self._fail(B, "garbled")
            return -1
        v = 0
        for i in range(3, n - 2):
            c = r[i] - 48
            if not 0 <= c <= 9:
                self._fail(B, "garbled")
                return -1
            v = v * 10 + c
        return v

    def _start(self):
        mode = self._number(b"K 2\r\n")
        if mode < 0:
            return False
        if mode != 2:
            return self._fail(D, "mode")
        mult = self._number(b".\r\n")
        if mult < 0:
            return False
        if mult == 0:
            return self._fail(D, "multiplier")
        self.multiplier = mult
        # A reply that is not exactly " @ 0" means auto-zeroing cannot be shown off: that is
        # a fault of the set-up (D), whereas silence stays a communication fault (B).
        for cmd in (b"@ 0\r\n", b"@\r\n"):
            n = self._ask(cmd)
            if not n:
                if self.status == B and self.reason in ("timeout", "short"):
                    return False
                return self._fail(D, "abc")
            r = self.link.buf
            if n != 6 or r[3] != 48:
                return self._fail(D, "abc")
        return True

    def _read(self):
        z = self._number(b"Z\r\n")
        if z < 0:
            return 0
        v = rdiv(z * self.multiplier, 10)  # ppm to 0.001 %vol
        if self._max is not None and v > self._max:
            self._fail(T, "range")
        return v
