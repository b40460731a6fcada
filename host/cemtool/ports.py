"""Serial ports at the bench: what each one probably is, and which one a command should use.

``list_ports()`` classifies the ports pyserial finds by USB VID:PID (and by the manufacturer string
where a VID is shared); ``choose()`` picks the port a command talks to: the one the user gave, or the
only plausible board, and never a guess between several. ``find_uf2_drive()`` finds the mass-storage
volume of an RP2040 in its bootloader, which is not a serial port at all.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from serial.tools import list_ports as _pyserial_ports

from cemtool.link import PortError

MICROPYTHON_RP2040 = "micropython-rp2040"
RP2040_BOOT = "rp2040-boot"
ESPRESSIF_USB = "espressif-usb"
CP210X = "cp210x"
CH340 = "ch340"
FTDI = "ftdi"
MICROPYTHON = "micropython"
UNKNOWN = "unknown"

KIND_LABELS = {
    MICROPYTHON_RP2040: "MicroPython on RP2040",
    RP2040_BOOT: "RP2040 bootloader",
    ESPRESSIF_USB: "Espressif native USB",
    CP210X: "CP210x USB-UART",
    CH340: "CH340/CH341 USB-UART",
    FTDI: "FTDI USB-UART",
    MICROPYTHON: "MicroPython",
    UNKNOWN: "unknown",
}

# Kinds that are probably a board: what choose() considers when no --port is given.
BOARD_KINDS = frozenset({MICROPYTHON_RP2040, ESPRESSIF_USB, CP210X, CH340, FTDI, MICROPYTHON})

_RPI_VID = 0x2E8A
_ESPRESSIF_VID = 0x303A
_BY_ID = {
    (_RPI_VID, 0x0005): MICROPYTHON_RP2040,
    # The bootloader offers mass storage and PICOBOOT, no CDC interface: pyserial does not list it.
    # It is classified anyway, for a platform or a future pyserial that would.
    (_RPI_VID, 0x0003): RP2040_BOOT,
    (0x10C4, 0xEA60): CP210X,
    (0x1A86, 0x7523): CH340,
    (0x1A86, 0x55D4): CH340,
    (0x0403, 0x6001): FTDI,
    (0x0403, 0x6015): FTDI,
}

UF2_MOUNTS = ("/media/*/*", "/run/media/*/*", "/Volumes/*")
UF2_MARKER = "INFO_UF2.TXT"


@dataclass(frozen=True)
class PortInfo:
    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    manufacturer: str | None
    product: str | None
    description: str | None
    kind: str

    @property
    def usb_id(self) -> str:
        """``VID:PID`` in hex as lsusb prints it, or ``-`` for a port that is not on USB."""
        if self.vid is None or self.pid is None:
            return "-"
        return f"{self.vid:04X}:{self.pid:04X}"

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


def classify(vid: int | None, pid: int | None, manufacturer: str | None = None) -> str:
    """The kind of a USB serial device (one of ``KIND_LABELS``)."""
    if vid is None or pid is None:
        return UNKNOWN
    kind = _BY_ID.get((vid, pid))
    if kind is not None:
        return kind
    if vid == _ESPRESSIF_VID:
        # Every Espressif PID is one of their chips' USB: the ROM/JTAG serial (1001) or TinyUSB.
        return ESPRESSIF_USB
    if manufacturer == "MicroPython":
        # MicroPython boards under a board maker's own VID (e.g. Adafruit's) say so in this string.
        return MICROPYTHON
    return UNKNOWN


def port_info(p) -> PortInfo:
    """A ``PortInfo`` from one of pyserial's ``ListPortInfo`` entries."""
    return PortInfo(device=p.device, vid=p.vid, pid=p.pid, serial_number=p.serial_number,
                    manufacturer=p.manufacturer, product=p.product, description=p.description,
                    kind=classify(p.vid, p.pid, p.manufacturer))


def list_ports() -> list[PortInfo]:
    """Every serial port pyserial finds, ordered by device name."""
    return sorted((port_info(p) for p in _pyserial_ports.comports()), key=lambda p: p.device)


def choose(port: str | None, ports: Iterable[PortInfo] | None = None) -> str:
    """The port to use: ``port`` if given and present, else the only board; ``PortError`` otherwise.

    A given port may also be a path that pyserial does not list (a pty, such as the simulator's
    board) or a pyserial URL (``socket://…``); those are taken as they are when the path exists.
    """
    found = list_ports() if ports is None else list(ports)
    if port is not None:
        if "://" in port or any(p.device == port for p in found) or os.path.exists(port):
            return port
        raise PortError(f"no such port: {port}")
    boards = [p.device for p in found if p.kind in BOARD_KINDS]
    if len(boards) == 1:
        return boards[0]
    if not boards:
        raise PortError("no board found — plug one in or give --port")
    raise PortError(f"several boards: {', '.join(boards)} — pick one with --port")


def find_uf2_drive(patterns: Iterable[str] = UF2_MOUNTS) -> Path:
    """The mounted volume of an RP2040 in its bootloader (it holds ``INFO_UF2.TXT``).

    ``patterns`` are glob patterns of mount points. Raises ``PortError`` when there is none, or
    when there are several (copying a runtime to the wrong board is not something to guess at).
    """
    drives = sorted({Path(d) for pattern in patterns for d in glob.glob(pattern)
                     if os.path.isfile(os.path.join(d, UF2_MARKER))})
    if len(drives) == 1:
        return drives[0]
    if not drives:
        raise PortError("no RP2040 bootloader drive found — hold BOOTSEL while plugging the board in")
    raise PortError(f"several RP2040 bootloader drives: {', '.join(map(str, drives))} — "
                    "unplug all but one")
