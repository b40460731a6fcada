"""The device end of tests/test_calib_app.py: the real app (``Node.run``: sampler, housekeeper,
USB console on stdin/stdout) with scripted sensors, on a virtual clock 20 times real time.

    micropython calib_device.py DIR

The CO2 and Δp sensors report what the files DIR/co2 and DIR/dp say, read at every sample:
``VALUE [NOISE]`` in the sensor's raw unit, the noise alternating in sign; the host rewrites
them to put zero gas, span gas or vented lines on the "analyser". Flue temperature and
pressures are constant. Settings and logs live in DIR.
"""
import sys

import asyncio
from cemt import app
from cemt.config import Config
from cemt.edge import CO2, DP, PA, PS, TEMP
from cemt.hardware import Channel, Hardware

T0 = 1767225600


class FileSensor:
    def __init__(self, path):
        self.path = path
        self.status = 0
        self.errors = (0,)
        self._n = 0

    def read(self):
        with open(self.path) as f:
            words = f.read().split()
        self._n += 1
        noise = int(words[1]) if len(words) > 1 else 0
        return int(words[0]) + (noise if self._n % 2 else -noise)


class Fixed:
    def __init__(self, value):
        self.value = value
        self.status = 0
        self.errors = (0,)

    def read(self):
        return self.value


def main(d):
    hw = Hardware({"name": "calib-bench", "port": "unix", "console": True,
                   "clock": {"start": T0, "speed": 20},
                   "flash": {"main": {"path": d + "/flash.img", "block_size": 4096,
                                      "blocks": 12}},
                   "logs": {"minute": {"flash": "main", "first_block": 0, "blocks": 8},
                            "long": {"flash": "main", "first_block": 8, "blocks": 4}}})
    for index, drv in ((CO2, FileSensor(d + "/co2")), (DP, FileSensor(d + "/dp")),
                       (TEMP, Fixed(15000)), (PS, Fixed(-150)), (PA, Fixed(101325))):
        hw.channels.append(Channel(index, drv, 1))
    node = app.Node(hw, Config(d + "/config.json"), 1, key_path=d + "/device.key")
    asyncio.run(node.run())


main(sys.argv[1])
