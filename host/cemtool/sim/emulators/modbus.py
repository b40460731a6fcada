"""Modbus RTU NDIR CO2 analyser (Senseair-style register map), served by pymodbus on a pty.

Input registers (function 0x04): ``status_reg`` the meter status (bit 5 out of range, bit 2
a sensor fault), ``co2_reg`` the CO2 as count = 0.001 %vol × div / mul (the driver's config;
ppm with the defaults, so a high-range unit is configured as e.g. mul 10, div 1 for 0.01 %vol).
Holding register ``abc_reg`` (functions 0x03, 0x06) is the ABC period in hours, 180 at power-on.
Values are taken from the world on every access, so each reply is the model at the device's
second. Faults: ``disconnect`` sends nothing, ``garble`` flips a bit of the reply (its CRC
fails), ``overrange`` sets the range bit and saturates the register. The CO2 carries the
scenario's zero and span errors (``Scenario.co2_read``), calibration gases as much as the stack.

pymodbus runs its server in the hub's event loop: ``await ModbusAnalyser(world, cfg).start()``
(or ``hub.call(analyser.start)``); ``await analyser.stop()`` at the end.
"""
from __future__ import annotations

import serial
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ..pty import Pty
from ..simbus import World

serial.protocol_handler_packages.append(__package__)   # the ptyfd:// handler beside this module

STATUS_FAULT = 0x0004
STATUS_RANGE = 0x0020
ABC_DEFAULT_H = 180


class ModbusAnalyser:
    def __init__(self, world: World, cfg: dict | None = None, device: str = "co2",
                 baudrate: int = 9600):
        cfg = cfg or {}
        self.world = world
        self.device = device
        self.addr = cfg.get("addr", 0xFE)
        self.status_reg = cfg.get("status_reg", 0)
        self.co2_reg = cfg.get("co2_reg", 3)
        self.mul = cfg.get("mul", 1)
        self.div = cfg.get("div", 10)
        self.abc_reg = cfg.get("abc_reg", 31)
        self.baudrate = baudrate
        self.pty = Pty()
        self.requests = 0
        self.server: ModbusSerialServer | None = None
        n_ir = max(r for r in (self.status_reg, self.co2_reg, 3) if r is not None) + 1
        n_hr = (self.abc_reg if self.abc_reg is not None else 0) + 1
        self.ir = [0] * n_ir
        self.hr = [0] * n_hr
        self.power_cycle()

    @property
    def path(self) -> str:
        return self.pty.path

    def power_cycle(self) -> None:
        if self.abc_reg is not None:
            self.hr[self.abc_reg] = ABC_DEFAULT_H

    @property
    def abc_period(self) -> int | None:
        """The ABC period (hours) the analyser holds now."""
        return None if self.abc_reg is None else self.hr[self.abc_reg]

    def registers(self) -> tuple[int, int]:
        """(status word, CO2 count) at the current second."""
        pct, mode = self.world.measure(self.device)
        count = round(self.world.scenario.co2_read(pct) * 1000 * self.div / self.mul)
        status = 0
        if mode == "overrange" or count > 0xFFFF:
            status |= STATUS_RANGE
            count = 0xFFFF
        return status, max(0, count)

    async def _action(self, fc, start, address, count, regs, set_values):
        self.requests += 1
        if fc in (3, 6, 16):
            self.hr = regs   # pymodbus's live holding registers (start 0): power_cycle resets them
        elif fc == 4:
            status, co2 = self.registers()
            if self.status_reg is not None:
                regs[self.status_reg - start] = status
            regs[self.co2_reg - start] = co2
        return None

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        f = self.world.fault(self.device)
        if f is None:
            return data
        if f.kind == "disconnect":
            return b""
        if f.kind == "garble" and len(data) > 3:
            return data[:3] + bytes((data[3] ^ 0x01,)) + data[4:]
        return data

    def sim_device(self) -> SimDevice:
        return SimDevice(
            id=self.addr,
            simdata=([SimData(0, values=False, datatype=DataType.BITS)],
                     [SimData(0, values=False, datatype=DataType.BITS)],
                     [SimData(0, values=self.hr, datatype=DataType.REGISTERS)],
                     [SimData(0, values=self.ir, datatype=DataType.REGISTERS)]),
            action=self._action)

    async def start(self) -> None:
        """Start serving (inside the hub's event loop)."""
        self.server = ModbusSerialServer(self.sim_device(), framer=FramerType.RTU,
                                         port=f"ptyfd://{self.pty.master}", baudrate=self.baudrate,
                                         trace_packet=self._trace)
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    def reset(self) -> None:
        self.pty.drain()

    def close(self) -> None:
        self.pty.close()
