"""The sim bus, host side: simulated time, and the server that answers the device's bus bridge.

``World`` owns simulated time and what follows from it: the model's state at the current second,
the fault state of every sensor, and listeners (the truth integrator) told of each advance.
``SimBus`` serves ``cemt.board.simbus`` over one pty: HELLO, the TIME barrier, I2C, SPI and ADC
transactions, dispatched to device models attached by address (frames in docs/simulator.md).

Device models: I2C ``write(data)`` / ``read(n) -> bytes``; SPI ``transfer(data, start) -> bytes``;
ADC ``read_uv() -> int`` (microvolts). They raise ``Absent`` (nobody at that address: ENODEV on the device) or
``Nak`` (EIO) like real parts do.
"""
from __future__ import annotations

import binascii
import struct
from collections.abc import Callable

from .model import StackModel, StackState
from .pty import Endpoint
from .scenario import Fault, Scenario

VERSION = 1
OP_HELLO, OP_TIME = 0x01, 0x02
OP_I2C_WRITE, OP_I2C_READ, OP_I2C_WRITE_READ = 0x10, 0x11, 0x12
OP_SPI_XFER, OP_ADC_READ = 0x20, 0x30
ST_OK, ST_NODEV, ST_NAK, ST_BAD = 0, 1, 2, 3


class Absent(Exception):
    """No device answers at this address or channel."""


def answer_or_absent(world: "World", device: str) -> None:
    """Raise Absent while ``device`` has a disconnect fault (an I2C model then NAKs its address)."""
    f = world.fault(device)
    if f is not None and f.kind == "disconnect":
        raise Absent


class Nak(Exception):
    """The device is there but refuses the transfer."""


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; check ``b"123456789"`` → 0x29B1)."""
    return binascii.crc_hqx(data, crc)


def frame(code: int, payload: bytes = b"") -> bytes:
    """A request (code = op) or reply (code = status) frame."""
    head = bytes((code, len(payload))) + payload
    return head + crc16(head).to_bytes(2, "big")


class World:
    """Simulated time (UTC ms) and the true, faulted quantities the sensors see at that time.

    Quantities by device name: ``co2`` (%vol as the analyser sees it: wet if the scenario says so),
    ``dp`` and ``ps`` and ``pa`` (Pa), ``temp`` (°C flue temperature).
    """

    GETTERS: dict[str, Callable[[StackState], float]] = {
        "dp": lambda s: s.dp_pa,
        "temp": lambda s: s.temp_c,
        "pa": lambda s: s.ambient_pa,
        "ps": lambda s: s.static_pa,
    }

    def __init__(self, scenario: Scenario, model: StackModel | None = None):
        self.scenario = scenario
        self.model = model or StackModel(scenario)
        self.t_ms = scenario.start * 1000
        self.listeners: list[Callable[[int], None]] = []
        # The simulated ms the real clock has reached (a sim board's world goes on while its
        # device sits at the REPL or restarts); None: time moves only with the device (sim run).
        self.wall: Callable[[], int] | None = None
        self._state: StackState | None = None
        self._faults = {d: scenario.device_faults(d) for d in ("co2", "dp", "temp", "pa", "ps")}

    @property
    def t(self) -> int:
        return self.t_ms // 1000

    def advance_to(self, t_ms: int) -> None:
        """Move simulated time forward (never back) and tell the listeners the new second."""
        if t_ms <= self.t_ms:
            return
        old = self.t
        self.t_ms = t_ms
        if self.t != old:
            self._state = None
            for listener in self.listeners:
                listener(self.t)

    def catch_up(self) -> None:
        """Move to the real clock's time, if the world follows one (at a device's start)."""
        if self.wall is not None:
            self.advance_to(self.wall())

    def state(self) -> StackState:
        if self._state is None or self._state.t != self.t:
            self._state = self.model.state(self.t)
        return self._state

    def _true(self, device: str, st: StackState) -> float:
        if device == "co2":
            return st.co2_wet_pct if self.scenario.co2_wet else st.co2_pct
        return self.GETTERS[device](st)

    def inject(self, fault: Fault) -> None:
        """Add a fault (times after the scenario start); it takes precedence over the others."""
        self._faults.setdefault(fault.device, []).insert(0, fault)

    def clear(self, device: str, kind: str) -> int:
        """Remove every fault ``kind`` of ``device``, injected or from the scenario; how many."""
        faults = self._faults.get(device, [])
        kept = [f for f in faults if f.kind != kind]
        self._faults[device] = kept
        return len(faults) - len(kept)

    def fault(self, device: str) -> Fault | None:
        rel = self.t - self.scenario.start
        for f in self._faults.get(device, ()):
            if f.active(rel):
                return f
        return None

    def measure(self, device: str) -> tuple[float, str | None]:
        """(value the sensor senses, transport fault or None).

        Value faults are applied here: ``stuck`` holds the value of the fault's first second,
        ``spike`` multiplies every 10th second of the window by 1 + param, ``drift`` adds
        param × elapsed hours (relative), ``gas`` replaces the stack by a calibration gas of
        param (%vol CO2, or Pa of Δp with the pitot lines vented: no noise, no moisture). ``disconnect``, ``garble`` and ``overrange`` are
        returned for the emulator to render the way its device would.
        """
        v = self._true(device, self.state())
        f = self.fault(device)
        if f is None:
            return v, None
        rel = self.t - self.scenario.start - f.start
        if f.kind == "gas":
            return f.param, None
        if f.kind == "stuck":
            v = self._true(device, self.model.state(self.scenario.start + f.start))
        elif f.kind == "spike":
            if rel % 10 == 0:
                v *= 1.0 + f.param
        elif f.kind == "drift":
            v *= 1.0 + f.param * rel / 3600.0
        else:
            return v, f.kind
        return v, None


class SimBus(Endpoint):
    """Serves the device's bus bridge on ``.path``; attach device models before the device starts."""

    def __init__(self, world: World):
        super().__init__()
        self.world = world
        self.i2c: dict[tuple[int, int], object] = {}
        self.spi: dict[tuple[int, int], object] = {}
        self.adc: dict[int, object] = {}
        self.exchanges = 0
        self.hellos = 0
        self.errors: list[str] = []
        self._buf = bytearray()

    def attach_i2c(self, addr: int, model, bus: int = 0) -> None:
        self.i2c[(bus, addr)] = model

    def attach_spi(self, cs: int, model, bus: int = 0) -> None:
        self.spi[(bus, cs)] = model

    def attach_adc(self, channel: int, model) -> None:
        self.adc[channel] = model

    def reset(self) -> None:
        super().reset()
        self._buf.clear()

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= 2:
            n = buf[1]
            if len(buf) < n + 4:
                return
            body = bytes(buf[:n + 2])
            ok = crc16(body) == int.from_bytes(buf[n + 2:n + 4], "big")
            del buf[:n + 4]
            if not ok:
                buf.clear()   # lost sync: drop everything; the device gets ST_BAD and retries
                self.send(frame(ST_BAD))
                return
            self.exchanges += 1
            self.send(self.handle(body[0], body[2:]))

    def handle(self, op: int, p: bytes) -> bytes:
        try:
            if op == OP_TIME:
                self.world.advance_to(int.from_bytes(p[:8], "little"))
                return frame(ST_OK)
            if op == OP_I2C_READ:
                return frame(ST_OK, bytes(self._i2c(p).read(p[2])))
            if op == OP_I2C_WRITE_READ:
                dev = self._i2c(p)
                dev.write(p[3:])
                return frame(ST_OK, bytes(dev.read(p[2])))
            if op == OP_I2C_WRITE:
                self._i2c(p).write(p[2:])
                return frame(ST_OK)
            if op == OP_SPI_XFER:
                dev = self.spi.get((p[0], p[1]))
                data = p[3:]
                out = dev.transfer(data, bool(p[2])) if dev else b"\xff" * len(data)
                return frame(ST_OK, bytes(out))
            if op == OP_ADC_READ:
                dev = self.adc.get(p[0])
                if dev is None:
                    raise Absent
                return frame(ST_OK, struct.pack(">I", dev.read_uv()))
            if op == OP_HELLO:
                if not p or p[0] != VERSION:
                    return frame(ST_BAD)
                self.hellos += 1
                self.world.catch_up()
                return frame(ST_OK, bytes((VERSION,)) + self.world.t_ms.to_bytes(8, "little"))
        except Absent:
            return frame(ST_NODEV)
        except Nak:
            return frame(ST_NAK)
        except IndexError:
            pass   # a payload too short for its op
        except Exception as e:  # a model bug must not hang the device: answer, and keep it for the tests
            self.errors.append(f"op {op:#04x}: {e!r}")
        return frame(ST_BAD)

    def _i2c(self, p: bytes):
        dev = self.i2c.get((p[0], p[1]))
        if dev is None:
            raise Absent
        return dev
