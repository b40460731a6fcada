"""The board seam on ESP32: machine buses, an ``esp32.Partition`` for the log, the hardware watchdog.

The log lives in a data partition of its own (``boards/esp32_partitions.csv``); its block device
is the partition itself, which speaks ``readblocks/writeblocks/ioctl`` natively.
"""
import machine

from cemt.board.causes import reset_cause  # noqa: F401  (part of the seam)
from cemt.board.clock import EPOCH_2000, Clock as _Clock

# MicroPython's ESP32 port counts time.time() from 2000-01-01.
_PORT_EPOCH = EPOCH_2000 if __import__("time").gmtime(0)[0] == 2000 else 0


def clock(**kw):
    return _Clock(_PORT_EPOCH)


def uart(ident, baudrate=9600, tx=None, rx=None, timeout=100, **kw):
    return machine.UART(ident, baudrate=baudrate, tx=tx, rx=rx, timeout=timeout, rxbuf=512)


def i2c(ident=0, scl=None, sda=None, freq=100000, **kw):
    return machine.I2C(ident, scl=machine.Pin(scl), sda=machine.Pin(sda), freq=freq)


def spi(ident=1, sck=None, mosi=None, miso=None, baudrate=1000000, polarity=0, phase=1, **kw):
    return machine.SPI(ident, baudrate=baudrate, polarity=polarity, phase=phase,
                       sck=machine.Pin(sck), mosi=machine.Pin(mosi), miso=machine.Pin(miso))


def pin(ident, mode=1, value=1):
    return machine.Pin(ident, machine.Pin.OUT if mode else machine.Pin.IN, value=value)


def adc(pin, **kw):
    # 11 dB attenuation reads up to about 3.1 V; read_uv() applies the chip's calibration.
    return machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)


def flash(label="cemtlog", **kw):
    import esp32
    found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=label)
    if not found:
        raise OSError(2)  # ENOENT: the partition table lacks the log partition
    return found[0]


def watchdog(clock, timeout_ms):
    return machine.WDT(timeout=timeout_ms)


def reset():
    machine.reset()

