"""Writing the MicroPython runtime itself: what ``cemtool flash-runtime`` does (docs/flashing.md).

An ESP32 ``.bin`` (MicroPython's merged image: bootloader, partition table and app) goes through
esptool as a library: connect and detect the chip, optionally erase the whole flash, write the
image at the chip's bootloader offset, hard-reset. An RP2040 ``.uf2`` is copied to the mass-storage
drive of the chip's bootloader; a board running MicroPython is first sent there with
``machine.bootloader()`` over its REPL. Nothing is downloaded: the file is the user's.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import struct
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cemtool import ports
from cemtool.link import PortError

# Where MicroPython's .bin for each chip starts (its bootloader's offset), as the MicroPython
# download pages give it; tests check the table against esptool's own chip definitions.
OFFSETS = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c2": 0x0, "esp32c3": 0x0,
           "esp32c6": 0x0, "esp32h2": 0x0, "esp32c5": 0x2000, "esp32p4": 0x2000}
ESP_IMAGE_MAGIC = 0xE9
UF2_MAGIC = (0x0A324655, 0x9E5D5157)
UF2_FAMILY_FLAG = 0x2000
# RP2040, and the RP2350's families (absolute, data, Arm secure, RISC-V, Arm non-secure).
RP_FAMILIES = {0xE48BFF56: "rp2040", 0xE48BFF57: "absolute", 0xE48BFF58: "data",
               0xE48BFF59: "rp2350-arm-s", 0xE48BFF5A: "rp2350-riscv", 0xE48BFF5B: "rp2350-arm-ns"}


class RuntimeFlashError(Exception):
    """flash-runtime failed; ``str()`` is one line for the user."""


def kind_of(path: Path) -> str:
    """``"bin"`` or ``"uf2"``, from the name and checked against the file's first bytes."""
    suffix = path.suffix.lower()
    if suffix not in (".bin", ".uf2"):
        raise RuntimeFlashError(f"{path}: not a runtime image (.bin for an ESP32, .uf2 for an RP2040)")
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError as e:
        raise RuntimeFlashError(f"cannot read {path}: {e.strerror}") from None
    if suffix == ".bin":
        if not head or head[0] != ESP_IMAGE_MAGIC:
            raise RuntimeFlashError(f"{path}: not an ESP32 firmware image (no 0xE9 header)")
        return "bin"
    if len(head) < 32 or struct.unpack_from("<II", head) != UF2_MAGIC:
        raise RuntimeFlashError(f"{path}: not a UF2 file")
    flags, family = struct.unpack_from("<I", head, 8)[0], struct.unpack_from("<I", head, 28)[0]
    if flags & UF2_FAMILY_FLAG and family not in RP_FAMILIES:
        raise RuntimeFlashError(f"{path}: a UF2 for another chip family (0x{family:08x}), "
                                "not an RP2040")
    return "uf2"


# -- ESP32 through esptool ----------------------------------------------------------------------

def chip_key(chip_name: str) -> str:
    """esptool's ``CHIP_NAME`` (``ESP32-S3``) as its command-line name (``esp32s3``)."""
    return chip_name.lower().replace("-", "")


class Esptool:
    """The few esptool library calls flash-runtime makes (a test puts a recording fake here)."""

    def connect(self, port: str, chip: str) -> Any:
        from esptool.cmds import attach_flash, connect_esp, run_stub
        esp = run_stub(connect_esp(port=port, chip=chip))
        attach_flash(esp)
        return esp

    def chip(self, esp: Any) -> str:
        return chip_key(esp.CHIP_NAME)

    def erase(self, esp: Any) -> None:
        from esptool.cmds import erase_flash
        erase_flash(esp)

    def write(self, esp: Any, offset: int, path: Path) -> None:
        from esptool.cmds import write_flash
        write_flash(esp, [(offset, str(path))])

    def reset(self, esp: Any) -> None:
        from esptool.cmds import reset_chip
        reset_chip(esp, "hard-reset")

    def close(self, esp: Any) -> None:
        esp._port.close()


def flash_bin(path: Path, port: str, chip: str = "auto", erase: bool = False,
              tool: Esptool | None = None) -> dict[str, Any]:
    """Write an ESP32 ``.bin`` at its chip's offset; esptool's output goes to stderr."""
    if chip != "auto" and chip not in OFFSETS:
        raise RuntimeFlashError(f"unknown chip {chip!r}: auto or one of {', '.join(OFFSETS)}")
    tool = tool or Esptool()
    esp = None
    try:
        # esptool prints its progress on stdout; ours is kept for the summary or --json
        with contextlib.redirect_stdout(sys.stderr):
            esp = tool.connect(port, chip)
            found = tool.chip(esp)
            if found not in OFFSETS:
                raise RuntimeFlashError(f"{found}: no MicroPython image offset known for this chip")
            if erase:
                tool.erase(esp)
            tool.write(esp, OFFSETS[found], path)
            tool.reset(esp)
    except RuntimeFlashError:
        raise
    except Exception as e:  # esptool's FatalError, pyserial's errors: one line either way
        raise RuntimeFlashError(f"esptool: {_one_line(e)}") from None
    finally:
        if esp is not None:
            with contextlib.suppress(Exception):
                tool.close(esp)
    return {"kind": "bin", "port": port, "chip": found, "offset": OFFSETS[found],
            "bytes": path.stat().st_size, "erased": erase}


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# -- RP2040 through its bootloader drive --------------------------------------------------------

def _bootloader_via_repl(port: str) -> None:
    """Send a MicroPython RP2040 to its bootloader (it drops off USB: no answer is waited for)."""
    import serial
    from mpremote.transport import TransportError

    from cemtool.deploy import DeployError, Device
    try:
        dev = Device(port)
    except DeployError as e:
        raise RuntimeFlashError(str(e)) from None
    try:
        dev.enter()
        dev.t.exec_raw_no_follow("import machine\nmachine.bootloader()")
    except DeployError as e:
        raise RuntimeFlashError(str(e)) from None
    except (TransportError, serial.SerialException, OSError, struct.error):
        pass  # the port going away as the chip restarts is what was asked for
    finally:
        dev.close()


def rp2040_port(port: str | None, found: Iterable[ports.PortInfo] | None = None) -> str:
    """The MicroPython RP2040 to reboot: ``port`` if given, else the only one plugged in."""
    if port is not None:
        return port
    boards = [p.device for p in (ports.list_ports() if found is None else found)
              if p.kind == ports.MICROPYTHON_RP2040]
    if len(boards) == 1:
        return boards[0]
    if not boards:
        raise RuntimeFlashError("no RP2040 bootloader drive and no MicroPython RP2040 found — "
                                "hold BOOTSEL while plugging the board in, or give --port")
    raise RuntimeFlashError(f"several MicroPython RP2040 boards: {', '.join(boards)} — "
                            "pick one with --port")


def _drive(patterns: Iterable[str]) -> Path | None:
    try:
        return ports.find_uf2_drive(patterns)
    except PortError as e:
        if str(e).startswith("several"):
            raise RuntimeFlashError(str(e)) from None
        return None


def flash_uf2(path: Path, port: str | None = None, *, timeout: float = 30.0,
              patterns: Iterable[str] = ports.UF2_MOUNTS,
              enter_bootloader: Callable[[str], None] = _bootloader_via_repl,
              find_port: Callable[[str | None], str] = rp2040_port,
              log: Callable[[str], None] = lambda m: None, poll: float = 0.2) -> dict[str, Any]:
    """Copy a ``.uf2`` to the RP2040 bootloader's drive, rebooting a MicroPython board into it."""
    patterns = tuple(patterns)
    drive = _drive(patterns)
    rebooted = None
    if drive is None:
        rebooted = find_port(port)
        log(f"rebooting the RP2040 on {rebooted} into its bootloader")
        enter_bootloader(rebooted)
        drive = _wait(lambda: _drive(patterns), timeout, poll)
        if drive is None:
            raise RuntimeFlashError(f"the RP2040 bootloader drive did not appear within {timeout:g} s")
    log(f"copying {path.name} to {drive}")
    dest = drive / path.name
    try:
        with open(path, "rb") as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 64 * 1024)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as e:
        raise RuntimeFlashError(f"copying to {drive} failed: {e.strerror or e}") from None
    # The bootloader restarts the chip once the last block is in: the drive goes away.
    if _wait(lambda: None if (drive / ports.UF2_MARKER).exists() else True, timeout, poll) is None:
        raise RuntimeFlashError(f"{drive} is still mounted {timeout:g} s after the copy: "
                                "the RP2040 did not take the image")
    return {"kind": "uf2", "drive": str(drive), "rebooted": rebooted,
            "bytes": path.stat().st_size}


def _wait(check: Callable[[], Any], timeout: float, poll: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got is not None or time.monotonic() >= deadline:
            return got
        time.sleep(poll)


def summary(result: dict[str, Any]) -> str:
    if result["kind"] == "bin":
        return (f"wrote {result['bytes']} bytes to the {result['chip']} on {result['port']} at "
                f"0x{result['offset']:x}{' after erasing the flash' if result['erased'] else ''}; "
                "next: cemtool flash --board NAME")
    via = f" (rebooted {result['rebooted']} into the bootloader)" if result["rebooted"] else ""
    return (f"copied {result['bytes']} bytes to {result['drive']}{via}; the RP2040 restarted "
            "into MicroPython; next: cemtool flash --board NAME")
