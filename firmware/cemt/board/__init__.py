"""The hardware seam: every access to time, buses, pins, flash and the watchdog goes through here.

``port()`` returns the module that implements the seam on the running port (``esp32``, ``rp2`` or
``unix``); each offers the same names: ``clock``, ``uart``, ``i2c``, ``spi``, ``adc``, ``pin``,
``flash``, ``watchdog``. The rest of the firmware never imports ``machine`` directly.
"""
import sys


def port():
    if sys.platform == "esp32":
        from cemt.board import esp32 as mod
    elif sys.platform == "rp2":
        from cemt.board import rp2 as mod
    else:
        from cemt.board import unix as mod
    return mod
