"""Sensor drivers: one uniform, allocation-light interface over the board seam.

Every driver is built from a profile entry (a dict) and the bus object it talks through::

    drv = make(kind, cfg, bus, clock)   # kind: see make(); bus: UART, I2C, ADC or SPI
    drv.start()      # initialise and verify the device; never raises; True when ready
    v = drv.read()   # one reading as a fixed-point int; never raises; sets drv.status

``drv.status`` is a flag code of ``cemt.schema``: N normal, M warming up, D device fault (the
device reports an error, or its data is implausible), B communication fault (timeout, bad
CRC, garbled reply, NAK), T over range. ``drv.reason`` names the cause in a word ("crc",
"timeout", "abc"...; "" when N) and ``drv.errors[code]`` counts the failed starts and reads by
status code, for health records.

``read()`` returns the decoded value, or 0 when nothing could be decoded (B, most D). Units are
the edge's inputs: CO2 0.001 %vol, differential pressure 0.01 Pa, temperature 0.01 degC,
absolute pressure Pa. Serial drivers wait for a reply at most ``timeout_ms``; I2C, SPI and ADC
exchanges are bounded by the bus itself, so no call blocks the sampling loop for long.

A driver whose start failed, or that lost its device for ``restart_after`` reads in a row, runs
``start()`` again from ``read()`` at most every ``retry_ms``, so a replugged or power-cycled
sensor is re-initialised and re-verified. docs/sensors.md has every driver's bytes and keys.
"""
from micropython import const

from cemt.schema import B, M, N

_RETRY_MS = const(10000)
_RESTART_AFTER = const(3)
# Keys every driver accepts besides its own.
COMMON_KEYS = ("warmup_ms", "retry_ms", "restart_after")


def rdiv(a, b):
    """a / b rounded half away from zero, for b > 0, in integers."""
    if a >= 0:
        return (a + (b >> 1)) // b
    return -((-a + (b >> 1)) // b)


class Sensor:
    """What every driver shares: status and counters, warm-up gating and restarts.

    A driver subclass sets ``NAME``, ``KEYS`` (its own config keys) and ``WARMUP_MS``, and
    implements ``_start()`` (True when the device is verified) and ``_read()`` (the value).
    Both report failures through ``_fail(code, reason)`` and may raise OSError for a bus error.
    """

    NAME = "sensor"
    KEYS = ()
    WARMUP_MS = 0

    def __init__(self, cfg, clock):
        for key in cfg:
            if key not in self.KEYS and key not in COMMON_KEYS:
                raise ValueError("%s: unknown config key %r" % (self.NAME, key))
        self.clock = clock
        self.warmup_ms = cfg.get("warmup_ms", self.WARMUP_MS)
        self.retry_ms = cfg.get("retry_ms", _RETRY_MS)
        self.restart_after = cfg.get("restart_after", _RESTART_AFTER)
        self.status = B
        self.reason = "not started"
        self.errors = [0] * 8
        self.value = 0
        self.ready = False
        self._t0 = None
        self._tried = None
        self._warm = False
        self._lost = 0

    def _fail(self, code, reason):
        self.status = code
        self.reason = reason
        return 0

    def start(self):
        clock = self.clock
        now = clock.ticks_ms()
        if self._t0 is None:
            self._t0 = now
        self._tried = now
        self.status = N
        self.reason = ""
        try:
            ok = self._start()
        except OSError:
            ok = self._fail(B, "bus")
        self.ready = bool(ok) and self.status == N
        self._lost = 0
        if not self.ready:
            self.errors[self.status] += 1
        return self.ready

    def read(self):
        clock = self.clock
        if not self.ready:
            if self._tried is None or clock.ticks_diff(clock.ticks_ms(), self._tried) >= self.retry_ms:
                self.start()
            if not self.ready:
                self.value = 0
                return self._warming(0)
        self.status = N
        self.reason = ""
        try:
            v = self._read()
        except OSError:
            v = self._fail(B, "bus")
        if self.status != N:
            self.errors[self.status] += 1
        if self.status != B:
            self._lost = 0  # the device answered
        else:
            self._lost += 1
            if self._lost >= self.restart_after:
                self.ready = False
        self.value = v
        return self._warming(v)

    def _warming(self, v):
        # A good reading from a device still warming up is not yet valid: M. Faults show as
        # they are, so a bad installation is seen at once rather than after the warm-up.
        if not self._warm:
            if self._t0 is not None and self.clock.ticks_diff(self.clock.ticks_ms(), self._t0) >= self.warmup_ms:
                self._warm = True
            elif self.status == N:
                self.status = M
                self.reason = "warmup"
        return v


def make(kind, cfg, bus, clock, cs=None):
    """A driver for a profile entry: ``kind`` picks the driver, ``cfg`` its settings.

    ``bus`` is the object the device hangs on: a UART for "modbus_co2" and "gss_co2", an I2C
    bus for "sdp" and "bmp280", an ADC channel (``read_uv()``) for "loop_4_20", an SPI bus
    with chip-select pin ``cs`` for "max31865". Drivers are imported on demand, so a board
    pays RAM only for the ones it fits.
    """
    if kind == "modbus_co2":
        from cemt.sensors.modbus import ModbusCO2
        return ModbusCO2(cfg, bus, clock)
    if kind == "gss_co2":
        from cemt.sensors.gss import GssCO2
        return GssCO2(cfg, bus, clock)
    if kind == "sdp":
        from cemt.sensors.sdp import SDP
        return SDP(cfg, bus, clock)
    if kind == "loop_4_20":
        from cemt.sensors.loop import CurrentLoop
        return CurrentLoop(cfg, bus, clock)
    if kind == "max31865":
        from cemt.sensors.max31865 import MAX31865
        return MAX31865(cfg, bus, cs, clock)
    if kind == "bmp280":
        from cemt.sensors.bmp280 import BMP280
        return BMP280(cfg, bus, clock)
    raise ValueError("unknown sensor kind %r" % (kind,))
