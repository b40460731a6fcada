"""One node of the RS485 multi-drop test (tests/test_rs485_bus.py): ``cemt.rs485`` + ``cemt.rpc``
over two real ring logs on a NOR-flash image, on a pty of the simulated bus.

    micropython rpc_node.py BUS_PATH ADDR DEVICE IMAGE MINUTES KEY_HEX

The minute log holds MINUTES records and the long log a boot event then MINUTES // 60 hour
records, all functions of (ADDR, index) that the host test recomputes: a start appends what the
image lacks (a restart with a larger MINUTES brings new records), and keeps the rest.
"""
import sys
from binascii import unhexlify

import asyncio
from cemt.board import unix
from cemt.ringlog import RingLog
from cemt.rpc import Rpc
from cemt.rs485 import Slave

T0 = 1767225600  # 2026-01-01T00:00:00Z


def minute(addr, i):
    return [1, 0, T0 + 60 * i, 2, 1, 0, 60, 60, 1000 + 10 * addr + i % 50, 900, 1200, 1500,
            1480 + i % 7, -150, 52000 + i, 19000 + addr * 100 + i]


def hour(addr, i):
    return [2, 0, T0 + 3600 * i, 2, 1, 0, 60, 60, 1000 + 10 * addr, 900, 1200, 1500, 1400,
            1600, 1480, 1470, 1490, -150, 101325, 800, 52000, 51000, 53000, 1140000 + addr + i]


class Config:
    ver = 1
    data = {}


class Node:
    def __init__(self, addr, device, image, minutes, key):
        self.addr = addr
        self.device = device
        self.key = key
        self.clock = unix.Clock()
        self.config = Config()
        flash = unix.flash(image, 4096, 24)
        self.logs = {"minute": RingLog(flash, 0, 16, 1), "long": RingLog(flash, 16, 8, 2)}
        mins = self.logs["minute"]
        for i in range(mins.last_seq, minutes):
            mins.append(minute(addr, i))
        long = self.logs["long"]
        if long.last_seq == 0:
            long.append([16, 0, T0, 2, 1, 1, 1, 0, "cemt bus test"])
        for i in range(long.last_seq - 1, minutes // 60):
            long.append(hour(addr, i))

    def info(self):
        return {"device": self.device, "site": "bus", "point": "p%d" % self.addr,
                "fw": "cemt bus test", "board": "unix"}

    def stats(self):
        return {"addr": self.addr}


def main():
    path, addr, device, image, minutes, key = sys.argv[1:7]
    addr = int(addr)
    node = Node(addr, device, image, int(minutes), unhexlify(key))
    slave = Slave(Rpc(node), unix.uart(path, 115200), unix.pin("de"), addr, 115200)
    print("ready", addr)
    asyncio.run(slave.run())


main()
