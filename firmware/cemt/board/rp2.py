"""The board seam on RP2040: machine buses, a raw region of the on-board flash, the watchdog.

RP2040 flash programs whole 256-byte pages with interrupts off. ``PageFlash`` turns an append of
a few bytes into a program of the pages they touch, padded with 0xFF: NOR programming only clears
bits, so the padding leaves every other byte of those pages as it was and no RAM staging (and no
loss window) is needed.
"""
import machine

from cemt.board.causes import reset_cause  # noqa: F401  (part of the seam)
from cemt.board.clock import Clock as _Clock

PAGE = 256


def clock(**kw):
    return _Clock(0)


class PageFlash:
    """Block device over ``rp2.Flash(start, len)`` that programs only whole pages."""

    def __init__(self, dev):
        self._dev = dev
        self.block_size = dev.ioctl(5, 0)
        self._page = bytearray(PAGE)

    def readblocks(self, n, buf, off=0):
        self._dev.readblocks(n, buf, off)

    def writeblocks(self, n, buf, off=0):
        page = self._page
        done = 0
        while done < len(buf):
            pos = off + done
            start = pos - pos % PAGE
            take = min(len(buf) - done, start + PAGE - pos)
            for i in range(PAGE):
                page[i] = 0xFF
            at = pos - start
            for i in range(take):  # byte by byte: a slice would allocate
                page[at + i] = buf[done + i]
            self._dev.writeblocks(n, page, start)
            done += take

    def ioctl(self, op, arg):
        return self._dev.ioctl(op, arg)


class ADC:
    """``machine.ADC`` with ``read_uv()``: the RP2040 reads 0..65535 over 0..vref."""

    def __init__(self, pin, vref_uv):
        self._adc = machine.ADC(machine.Pin(pin))
        self._uv_q8 = vref_uv >> 8  # uV per count x 256; the product stays a small int

    def read_uv(self):
        return self._adc.read_u16() * self._uv_q8 >> 8


def uart(ident, baudrate=9600, tx=None, rx=None, timeout=100, **kw):
    return machine.UART(ident, baudrate=baudrate, tx=machine.Pin(tx), rx=machine.Pin(rx),
                        timeout=timeout, rxbuf=512)


def i2c(ident=0, scl=None, sda=None, freq=100000, **kw):
    return machine.I2C(ident, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)


def spi(ident=0, sck=None, mosi=None, miso=None, baudrate=1000000, polarity=0, phase=1, **kw):
    return machine.SPI(ident, baudrate=baudrate, polarity=polarity, phase=phase,
                       sck=machine.Pin(sck), mosi=machine.Pin(mosi), miso=machine.Pin(miso))


def pin(ident, mode=1, value=1):
    return machine.Pin(ident, machine.Pin.OUT if mode else machine.Pin.IN, value=value)


def adc(pin, vref_uv=3300000, **kw):
    return ADC(pin, vref_uv)


def flash(start=None, length=None, **kw):
    import rp2
    return PageFlash(rp2.Flash(start=start, len=length))


def watchdog(clock, timeout_ms):
    return machine.WDT(timeout=min(timeout_ms, 8388))  # the RP2040 watchdog's longest period


def reset():
    machine.reset()

